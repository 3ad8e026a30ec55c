-- common 005: what a command function needs to answer a creating request in
-- one statement, one round trip (core/service.h service_create_one): its
-- result, the problems it may answer, and the Idempotency-Key protocol in
-- SQL. A command function checks, writes its rows and its
-- outbox row, records the key's answer and returns a command_result; called
-- alone in autocommit, it is one transaction: whatever it raises rolls back
-- everything, and what it returns is committed before the answer leaves.

CREATE TYPE command_result AS (
    status   integer, -- the HTTP status
    body     text,    -- the answer's JSON (2xx, or a replayed answer)
    location text,    -- the Location of a created resource, or NULL
    slug     text,    -- a problem's type (https://shantang.cn/problems/<slug>)
    title    text,    -- a problem's title
    pointer  text,    -- the JSON pointer of the field a problem names
    detail   text     -- a problem's detail
);

-- command_problem: a 4xx answer; nothing the function wrote before is kept
-- only if it raises instead, so a command checks before it writes.
CREATE FUNCTION command_problem(status integer, slug text, title text, pointer text, detail text)
RETURNS command_result LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW(status, NULL, NULL, slug, title, pointer, detail)::command_result
$$;

-- A command tests a result with r.status IS NOT NULL, never r IS NOT NULL
-- (true of a composite only when every field is, and a result has NULLs).

-- idem_seen: the first answer to (principal, key) when it was given for the
-- same request (route and hash), a 422 when the key was used for another
-- one, NULL when the key is new (or NULL: no key) and the command goes on.
-- A key older than 24 hours is forgotten first.
CREATE FUNCTION idem_seen(principal text, idem_key text, idem_route text, request_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    k idempotency_keys%ROWTYPE;
BEGIN
    IF idem_key IS NULL THEN
        RETURN NULL;
    END IF;
    DELETE FROM idempotency_keys i WHERE i.principal = idem_seen.principal AND i.key = idem_key
        AND i.created_at < now() - interval '24 hours';
    SELECT * INTO k FROM idempotency_keys i
        WHERE i.principal = idem_seen.principal AND i.key = idem_key;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF k.route <> idem_route OR k.request_hash <> request_hash THEN
        RETURN command_problem(422, 'idempotency-key-reused', 'Idempotency-Key reused', NULL,
                               'this key was used for a different request');
    END IF;
    IF k.status IS NULL THEN -- not possible once committed; kept for safety
        RAISE EXCEPTION 'the key''s first request is still being answered'
            USING ERRCODE = '40001';
    END IF;
    RETURN ROW(k.status, k.body, NULL, NULL, NULL, NULL, NULL)::command_result;
END
$$;

-- idem_claim: claim the key for this request (after the command's checks,
-- before its writes): NULL when claimed; otherwise what idem_seen answers
-- now that a concurrent request with the same key has committed (the insert
-- waited for it).
CREATE FUNCTION idem_claim(principal text, idem_key text, idem_route text, request_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
BEGIN
    IF idem_key IS NULL THEN
        RETURN NULL;
    END IF;
    IF random() < 0.001 THEN -- now and then, the keys past their 24 hours
        DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY (SELECT ctid FROM idempotency_keys
            WHERE created_at < now() - interval '24 hours' LIMIT 1000 FOR UPDATE SKIP LOCKED));
    END IF;
    INSERT INTO idempotency_keys (principal, key, route, request_hash)
        VALUES (principal, idem_key, idem_route, request_hash) ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN idem_seen(principal, idem_key, idem_route, request_hash);
END
$$;

-- idem_done: the key's answer, stored in the command's transaction
CREATE FUNCTION idem_done(principal text, idem_key text, status integer, body text)
RETURNS void LANGUAGE sql AS $$
    UPDATE idempotency_keys i SET status = idem_done.status, body = idem_done.body
        WHERE idem_key IS NOT NULL AND i.principal = idem_done.principal AND i.key = idem_key
$$;
