-- suggestion 006: a handling unit's registration as one command (POST
-- /v1/units in one statement and one round trip; common 005 has the
-- protocol). The C handler has checked the id's and the code's shapes; this
-- checks the region is a known one of either side, claims the
-- Idempotency-Key, writes the unit and its unit.registered event (the
-- envelope from the caller, its data the unit as the list shows it, which
-- the accounts service learns units from), and answers 201. A unit whose id
-- is taken answers 409; one raced in concurrently is caught by the primary
-- key, and nothing is written then but the key's claim, taken back.
CREATE FUNCTION unit_register(
    p_id text, p_name text, p_region text, p_event jsonb, p_topic text,
    p_principal text, p_key text, p_route text, p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    r command_result;
    data jsonb;
BEGIN
    r := idem_seen(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM regions x WHERE x.code = p_region
                   AND x.side IN ('zhejiang', 'shanghai')) THEN
        RETURN command_problem(422, 'validation', 'Unknown region', '/region_code',
                               'region_code is not a known region of either side');
    END IF;
    r := idem_claim(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    WITH u AS (
        INSERT INTO units (id, name, region_code, side)
            SELECT p_id, p_name, x.code, x.side FROM regions x WHERE x.code = p_region
            ON CONFLICT (id) DO NOTHING RETURNING *)
    SELECT jsonb_build_object('id', u.id, 'name', u.name, 'region_code', u.region_code,
                              'region_name', x.name, 'level', x.level, 'side', u.side,
                              'created_at', u.created_at)
        INTO data FROM u JOIN regions x ON x.code = u.region_code;
    IF data IS NULL THEN
        PERFORM idem_unclaim(p_principal, p_key);
        RETURN command_problem(409, 'duplicate', 'Unit already registered', '/id',
                               'a unit with this id exists');
    END IF;
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_id,
                p_event || jsonb_build_object('data', data));
    PERFORM idem_done(p_principal, p_key, 201, data::text);
    RETURN ROW(201, data::text, '/v1/units/' || p_id, NULL, NULL, NULL, NULL)::command_result;
END
$$;
