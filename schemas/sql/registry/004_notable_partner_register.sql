-- registry 004: a notable's and a partner's registration as one command each
-- (POST /v1/notables and POST /v1/partners in one statement and one round
-- trip; common 005 has the protocol). The C handlers have checked the
-- bodies' fields (the phone normalised, the credit code's check character);
-- these check what needs the registry, claim the Idempotency-Key, write the
-- row (and for a notable its notable.registered event, the envelope from
-- the caller, its data the whole record) and answer 201.

-- notable_json: a notable as the API shows it, the phone whole or masked
-- (reads and the registration's answer; side is its village's side).
CREATE FUNCTION notable_json(n notables, side text, whole boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('id', n.id, 'name', n.name,
        'phone', CASE WHEN whole THEN n.phone
                 ELSE left(n.phone, 3) || '****' || right(n.phone, 4) END,
        'home_village', n.home_village, 'side', side, 'council', n.council,
        'lead_role', n.lead_role, 'created_at', n.created_at)
$$;

CREATE FUNCTION partner_json(p partners) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('id', p.id, 'name', p.name, 'kind', p.kind, 'uscc', p.uscc,
                              'created_at', p.created_at)
$$;

-- A second registration of the same phone or code answers 409 naming the
-- one registered. One that raced in concurrently is caught by the unique
-- index (the insert waits for it); nothing is written then but the key's
-- claim, taken back so that the 409 is not remembered under the key.
CREATE FUNCTION notable_register(
    p_id uuid, p_name text, p_phone text, p_village text, p_council text, p_lead_role text,
    p_created_by text, p_event jsonb, p_topic text,
    p_principal text, p_key text, p_route text, p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    r command_result;
    n notables;
    existing uuid;
    data jsonb;
BEGIN
    r := idem_seen(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    r := project_links_problem(ARRAY[p_village], '{}', '{}');
    IF r.status IS NOT NULL THEN
        r.pointer := '/home_village';
        RETURN r;
    END IF;
    r := idem_claim(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    INSERT INTO notables (id, name, phone, home_village, council, lead_role, created_by)
        VALUES (p_id, p_name, p_phone, p_village, p_council, p_lead_role, p_created_by)
        ON CONFLICT (phone) DO NOTHING
        RETURNING * INTO n;
    IF NOT FOUND THEN
        PERFORM idem_unclaim(p_principal, p_key);
        SELECT x.id INTO existing FROM notables x WHERE x.phone = p_phone;
        RETURN command_problem(409, 'duplicate', 'Notable already registered', '/phone',
                               format('a notable with this phone is registered as %s', existing));
    END IF;
    data := notable_json(n, (SELECT x.side FROM regions x WHERE x.code = p_village), true);
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_id::text,
                p_event || jsonb_build_object('data', data));
    PERFORM idem_done(p_principal, p_key, 201, data::text);
    RETURN ROW(201, data::text, '/v1/notables/' || p_id, NULL, NULL, NULL, NULL)::command_result;
END
$$;

CREATE FUNCTION partner_register(
    p_id uuid, p_name text, p_kind text, p_uscc text, p_created_by text,
    p_principal text, p_key text, p_route text, p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    r command_result;
    p partners;
    existing uuid;
BEGIN
    r := idem_seen(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    r := idem_claim(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    INSERT INTO partners (id, name, kind, uscc, created_by)
        VALUES (p_id, p_name, p_kind, p_uscc, p_created_by)
        ON CONFLICT (uscc) DO NOTHING
        RETURNING * INTO p;
    IF NOT FOUND THEN
        PERFORM idem_unclaim(p_principal, p_key);
        SELECT x.id INTO existing FROM partners x WHERE x.uscc = p_uscc::char(18);
        RETURN command_problem(409, 'duplicate', 'Partner already registered', '/uscc',
                               format('a partner with this code is registered as %s', existing));
    END IF;
    PERFORM idem_done(p_principal, p_key, 201, partner_json(p)::text);
    RETURN ROW(201, partner_json(p)::text, '/v1/partners/' || p_id, NULL, NULL, NULL,
               NULL)::command_result;
END
$$;
