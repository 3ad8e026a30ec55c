-- accounts 003: the administrator's writes of an account as one command
-- each (POST /v1/accounts, PATCH /v1/accounts/{id}, POST
-- /v1/accounts/{id}/disable and /enable, POST /v1/accounts/{id}/grants,
-- DELETE /v1/accounts/{id}/grants/{gid}: one statement, one round trip, group
-- committed; common 005 has the protocol), and the pieces every write of
-- an account shares, whether a command or a transaction of the sign-in
-- code (accounts_signin.c calls account_event and account_revoke through
-- acc_event and acc_revoke): the audit row and the accounts.v1 event, the
-- revocation, a grant's check against the read models and its insertion.
--
-- The C handlers have checked the bodies' fields and shapes (a grant's
-- role, regions, unit and notable id; accounts_admin.c acc_grant_check),
-- made the events' envelopes without their data, and give the time of a
-- revocation (p_before, Unix seconds); they apply it to their own verifier
-- only after the command answered 2xx and said it revoked. An account id
-- is passed as the text of the path: the audit stores it as a uuid, the
-- events' keys and account.revoked's account_id carry it as given.

-- account_event: the audit row of the change p_event's type of account
-- p_account by p_actor (its detail p_extra, '{}' when NULL) and, unless the
-- change is audited only (session.*, password.rehashed, account.locked:
-- the sessions are no one else's business), the event: the account's JSON
-- with the phone masked, p_extra as "change" when given, and "actor".
CREATE FUNCTION account_event(p_actor text, p_account text, p_extra jsonb, p_event jsonb,
                              p_topic text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_type text := p_event ->> 'type';
    data jsonb;
BEGIN
    INSERT INTO audit (actor, account_id, action, detail)
        VALUES (p_actor, p_account::uuid, v_type, coalesce(p_extra, '{}'));
    IF v_type LIKE 'session.%' OR v_type IN ('password.rehashed', 'account.locked') THEN
        RETURN;
    END IF;
    data := account_json(p_account::uuid);
    IF data IS NULL THEN
        RAISE EXCEPTION 'no account %', p_account;
    END IF;
    data := data - 'phone' || jsonb_build_object('phone', left(data ->> 'phone', 3) || '****'
                                                          || right(data ->> 'phone', 4));
    IF p_extra IS NOT NULL THEN
        data := data || jsonb_build_object('change', p_extra);
    END IF;
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_account,
                p_event || jsonb_build_object('data', data || jsonb_build_object('actor', p_actor)));
END
$$;

-- account_revoke: refuse the access tokens of account p_account issued
-- before p_before everywhere (account.revoked, its envelope p_event, for
-- p_reason), revoke its refresh tokens, audit it.
CREATE FUNCTION account_revoke(p_actor text, p_account text, p_before bigint, p_reason text,
                               p_event jsonb, p_topic text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET revoked_before = greatest(revoked_before, p_before)
        WHERE id = p_account::uuid;
    UPDATE refresh_tokens SET revoked_at = now()
        WHERE account_id = p_account::uuid AND revoked_at IS NULL;
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_account,
                p_event || jsonb_build_object('data', jsonb_build_object(
                    'account_id', p_account, 'revoked_before', p_before, 'reason', p_reason)));
    INSERT INTO audit (actor, account_id, action, detail)
        VALUES (p_actor, p_account::uuid, 'account.revoked',
                jsonb_build_object('reason', p_reason));
END
$$;

-- account_claim: lock account p_id for a change: its state and phone, or
-- the 404 of an account that is not there.
CREATE FUNCTION account_claim(p_id text, OUT o_problem command_result, OUT o_state text,
                              OUT o_phone text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT a.state, a.phone INTO o_state, o_phone FROM accounts a
        WHERE a.id = p_id::uuid FOR UPDATE;
    IF NOT FOUND THEN
        o_problem := command_problem(404, 'not-found', 'No such account', NULL,
                                     format('no account %s', p_id));
    END IF;
END
$$;

-- account_answer: the 200 of a change, the account's JSON
CREATE FUNCTION account_answer(p_id text) RETURNS command_result LANGUAGE sql STABLE AS $$
    SELECT ROW(200, account_json(p_id::uuid)::text, NULL, NULL, NULL, NULL, NULL)::command_result
$$;

-- grant_problem: the 422 of a grant whose regions, unit or notable the
-- read models do not know, or whose regions are not of its role's level
-- (a coordinator's are villages, another's are not), naming p_pointer and
-- the field; NULL when they are known. p_regions in the order given.
CREATE FUNCTION grant_problem(p_role text, p_regions text[], p_unit text, p_notable text,
                              p_pointer text)
RETURNS command_result LANGUAGE plpgsql STABLE AS $$
DECLARE
    rcode text;
    i bigint;
    lvl text;
    ptr text;
BEGIN
    FOR rcode, i IN SELECT t.c, t.o FROM unnest(p_regions) WITH ORDINALITY AS t(c, o) ORDER BY t.o
    LOOP
        ptr := format('%s/regions/%s', p_pointer, i - 1);
        SELECT r.level INTO lvl FROM regions r WHERE r.code = rcode;
        IF NOT FOUND THEN
            RETURN command_problem(422, 'validation', 'Unknown region', ptr,
                                   format('region %s is not a known region', rcode));
        ELSIF p_role = 'coordinator' AND lvl <> 'village' THEN
            RETURN command_problem(422, 'validation', 'Not a village', ptr,
                format('a coordinator''s regions are villages; %s is a %s', rcode, lvl));
        ELSIF p_role <> 'coordinator' AND lvl = 'village' THEN
            RETURN command_problem(422, 'validation', 'A village', ptr,
                format('a %s''s regions are towns, counties or a side; %s is a village',
                       p_role, rcode));
        END IF;
    END LOOP;
    IF p_unit IS NOT NULL AND NOT EXISTS (SELECT 1 FROM units u WHERE u.id = p_unit) THEN
        RETURN command_problem(422, 'validation', 'Unknown unit', p_pointer || '/unit',
                               format('%s is not a known handling unit', p_unit));
    END IF;
    IF p_unit IS NULL AND p_notable IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM notables n WHERE n.id = p_notable) THEN
        RETURN command_problem(422, 'validation', 'Unknown notable', p_pointer || '/notable_id',
                               format('%s is not a known notable', p_notable));
    END IF;
    RETURN NULL;
END
$$;

-- grant_write: give account p_account the grant p_grant (its duplicate key
-- p_key, made by the C check) from p_actor with its grant.added event
-- (p_event): the grant's JSON, or NULL, and nothing written, when the
-- account holds it already.
CREATE FUNCTION grant_write(p_account text, p_grant uuid, p_role text, p_regions text[],
                            p_unit text, p_notable text, p_key text, p_actor text,
                            p_event jsonb, p_topic text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    g jsonb;
BEGIN
    INSERT INTO grants (id, account_id, role, regions, unit_id, notable_id, grant_key, created_by)
        VALUES (p_grant, p_account::uuid, p_role, p_regions, p_unit, p_notable, p_key, p_actor)
        ON CONFLICT (account_id, grant_key) DO NOTHING
        RETURNING grant_json(grants) INTO g;
    IF FOUND THEN
        PERFORM account_event(p_actor, p_account, jsonb_build_object('grant', g), p_event,
                              p_topic);
    END IF;
    RETURN g;
END
$$;

-- The commands that may revoke answer, beside their result, whether they
-- did (o_revoked): the caller then refuses the account's tokens issued
-- before p_before in its own verifier at once. p_revoke is the envelope of
-- account.revoked, used only then.

-- account_update: PATCH /v1/accounts/{id}; a NULL name or phone stays as
-- it is. A new phone revokes. Answers 200 with the account's JSON, the 404
-- of account_claim, or the 409 of a phone another account has.
CREATE FUNCTION account_update(p_id text, p_name text, p_phone text, p_actor text,
                               p_before bigint, p_event jsonb, p_revoke jsonb, p_topic text,
                               OUT o_result command_result, OUT o_revoked boolean)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    o_revoked := false;
    SELECT * INTO c FROM account_claim(p_id);
    IF (c.o_problem).status IS NOT NULL THEN
        o_result := c.o_problem;
        RETURN;
    END IF;
    BEGIN
        UPDATE accounts SET name = coalesce(p_name, name), phone = coalesce(p_phone, phone),
            version = version + 1, updated_at = now()
            WHERE id = p_id::uuid;
    EXCEPTION WHEN unique_violation THEN
        o_result := command_problem(409, 'duplicate', 'Phone already has an account', '/phone',
                                    'another account has this phone');
        RETURN;
    END;
    o_revoked := p_phone IS NOT NULL AND p_phone <> c.o_phone;
    PERFORM account_event(p_actor, p_id,
        CASE WHEN p_name IS NULL THEN '{}' ELSE jsonb_build_object('name', p_name) END
            || jsonb_build_object('phone_changed', o_revoked),
        p_event, p_topic);
    IF o_revoked THEN
        PERFORM account_revoke(p_actor, p_id, p_before, 'phone_changed', p_revoke, p_topic);
    END IF;
    o_result := account_answer(p_id);
END
$$;

-- account_set_state: POST /v1/accounts/{id}/disable and /enable, p_state
-- 'disabled' or 'active' (p_event's type account.disabled or .enabled),
-- for p_reason. An account already so is left as it is; disabling
-- revokes, enabling clears the password lock-out. Answers 200 with the
-- account's JSON or the 404 of account_claim.
CREATE FUNCTION account_set_state(p_id text, p_state text, p_reason text, p_actor text,
                                  p_before bigint, p_event jsonb, p_revoke jsonb, p_topic text,
                                  OUT o_result command_result, OUT o_revoked boolean)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    o_revoked := false;
    SELECT * INTO c FROM account_claim(p_id);
    IF (c.o_problem).status IS NOT NULL THEN
        o_result := c.o_problem;
        RETURN;
    END IF;
    IF c.o_state <> p_state THEN
        UPDATE accounts SET state = p_state,
            failed_logins = CASE WHEN p_state = 'active' THEN 0 ELSE failed_logins END,
            locked_until = CASE WHEN p_state = 'active' THEN NULL ELSE locked_until END,
            version = version + 1, updated_at = now()
            WHERE id = p_id::uuid;
        PERFORM account_event(p_actor, p_id,
            CASE WHEN p_reason IS NULL THEN '{}' ELSE jsonb_build_object('reason', p_reason) END,
            p_event, p_topic);
        o_revoked := p_state = 'disabled';
        IF o_revoked THEN
            PERFORM account_revoke(p_actor, p_id, p_before, 'disabled', p_revoke, p_topic);
        END IF;
    END IF;
    o_result := account_answer(p_id);
END
$$;

-- account_grant_add: POST /v1/accounts/{id}/grants, the grant's fields as
-- grant_write takes them. Answers 201 with the grant's JSON and its
-- Location, the 404 of account_claim, the 409 of a disabled account, the
-- 422 of grant_problem or the 409 of a grant the account holds.
CREATE FUNCTION account_grant_add(p_id text, p_grant uuid, p_role text, p_regions text[],
                                  p_unit text, p_notable text, p_key text, p_actor text,
                                  p_event jsonb, p_topic text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    c record;
    r command_result;
    g jsonb;
BEGIN
    SELECT * INTO c FROM account_claim(p_id);
    IF (c.o_problem).status IS NOT NULL THEN
        RETURN c.o_problem;
    END IF;
    IF c.o_state <> 'active' THEN
        RETURN command_problem(409, 'conflict', 'Account disabled', NULL,
                               'a disabled account takes no grant; enable it first');
    END IF;
    r := grant_problem(p_role, p_regions, p_unit, p_notable, '');
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    g := grant_write(p_id, p_grant, p_role, p_regions, p_unit, p_notable, p_key, p_actor,
                     p_event, p_topic);
    IF g IS NULL THEN
        RETURN command_problem(409, 'duplicate', 'Grant already held', '',
                               'the account already holds this grant');
    END IF;
    RETURN ROW(201, g::text, format('/v1/accounts/%s/grants/%s', p_id, g ->> 'id'),
               NULL, NULL, NULL, NULL)::command_result;
END
$$;

-- account_grant_remove: DELETE /v1/accounts/{id}/grants/{gid}, which
-- revokes. Answers 204 (an empty body), the 404 of account_claim, or the
-- 404 of a grant the account does not hold.
CREATE FUNCTION account_grant_remove(p_id text, p_grant text, p_actor text, p_before bigint,
                                     p_event jsonb, p_revoke jsonb, p_topic text,
                                     OUT o_result command_result, OUT o_revoked boolean)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    g jsonb;
BEGIN
    o_revoked := false;
    SELECT * INTO c FROM account_claim(p_id);
    IF (c.o_problem).status IS NOT NULL THEN
        o_result := c.o_problem;
        RETURN;
    END IF;
    DELETE FROM grants WHERE account_id = p_id::uuid AND id = p_grant::uuid
        RETURNING grant_json(grants) INTO g;
    IF NOT FOUND THEN
        o_result := command_problem(404, 'not-found', 'No such grant', NULL,
                                    format('the account holds no grant %s', p_grant));
        RETURN;
    END IF;
    PERFORM account_event(p_actor, p_id, jsonb_build_object('grant', g), p_event, p_topic);
    PERFORM account_revoke(p_actor, p_id, p_before, 'grant_removed', p_revoke, p_topic);
    o_revoked := true;
    o_result := ROW(204, '', NULL, NULL, NULL, NULL, NULL)::command_result;
END
$$;

-- account_phone_taken: the 409 of a phone account p_other has
CREATE FUNCTION account_phone_taken(p_other uuid) RETURNS command_result LANGUAGE sql IMMUTABLE AS $$
    SELECT command_problem(409, 'duplicate', 'Phone already has an account', '/phone',
                           format('the phone belongs to account %s', p_other))
$$;

-- account_create: POST /v1/accounts (and the import's and --create-admin's
-- new accounts, without a key) under its Idempotency-Key (the last four
-- parameters). p_password_hash is the argon2id encoding C made, or NULL;
-- p_grants the grants C checked, in the order given, each
-- {id, role, regions (an array literal), unit, notable_id, key, pointer,
-- event (grant.added's envelope)}; p_event is account.created's envelope.
-- Checks the phone and every grant before it writes: answers 201 with the
-- account's JSON and its Location, the 409 of a phone with an account, the
-- 422 of grant_problem or the 409 of a grant given twice, naming its
-- pointer. The events: account.created, then each grant.added.
CREATE FUNCTION account_create(p_id uuid, p_name text, p_phone text, p_password_hash text,
                               p_actor text, p_grants jsonb, p_event jsonb, p_topic text,
                               p_principal text, p_key text, p_route text, p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    r command_result;
    g jsonb;
    other uuid;
    keys text[] := '{}';
    body text;
BEGIN
    r := idem_seen(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    SELECT a.id INTO other FROM accounts a WHERE a.phone = p_phone;
    IF FOUND THEN
        RETURN account_phone_taken(other);
    END IF;
    FOR g IN SELECT t.e FROM jsonb_array_elements(p_grants) WITH ORDINALITY AS t(e, o)
             ORDER BY t.o
    LOOP
        r := grant_problem(g ->> 'role', (g ->> 'regions')::text[], g ->> 'unit',
                           g ->> 'notable_id', g ->> 'pointer');
        IF r.status IS NOT NULL THEN
            RETURN r;
        END IF;
        IF (g ->> 'key') = ANY (keys) THEN
            RETURN command_problem(409, 'duplicate', 'Grant already held', g ->> 'pointer',
                                   'the account already holds this grant');
        END IF;
        keys := keys || (g ->> 'key');
    END LOOP;
    r := idem_claim(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    BEGIN
        INSERT INTO accounts (id, name, phone, password_hash, password_changed_at, created_by)
            VALUES (p_id, p_name, p_phone, p_password_hash,
                    CASE WHEN p_password_hash IS NOT NULL THEN now() END, p_actor);
    EXCEPTION WHEN unique_violation THEN -- a concurrent request registered the phone first
        PERFORM idem_unclaim(p_principal, p_key);
        SELECT a.id INTO other FROM accounts a WHERE a.phone = p_phone;
        RETURN account_phone_taken(other);
    END;
    PERFORM account_event(p_actor, p_id::text, NULL, p_event, p_topic);
    FOR g IN SELECT t.e FROM jsonb_array_elements(p_grants) WITH ORDINALITY AS t(e, o)
             ORDER BY t.o
    LOOP
        PERFORM grant_write(p_id::text, (g ->> 'id')::uuid, g ->> 'role',
                            (g ->> 'regions')::text[], g ->> 'unit', g ->> 'notable_id',
                            g ->> 'key', p_actor, g -> 'event', p_topic);
    END LOOP;
    body := account_json(p_id)::text;
    PERFORM idem_done(p_principal, p_key, 201, body);
    RETURN ROW(201, body, format('/v1/accounts/%s', p_id), NULL, NULL, NULL,
               NULL)::command_result;
END
$$;
