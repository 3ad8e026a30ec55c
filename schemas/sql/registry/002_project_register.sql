-- registry 002: a project's registration as one command (POST /v1/projects
-- in one statement and one round trip; common 005 has the protocol). The C
-- handler has checked the body's fields and shapes; this checks what needs
-- the registry (the villages are villages, the notables and partners exist),
-- claims the Idempotency-Key, writes the project, its links and its
-- project.registered event (the envelope from the caller, its data the
-- project's JSON, as every projects.v1 event), and answers 201 with the same
-- JSON.
-- project_links_problem: the 422 for the first host village that is not a
-- known village, or notable or partner that does not exist; NULL when all
-- are (a registration's check, and a PATCH's for the arrays it gives).
CREATE FUNCTION project_links_problem(p_villages text[], p_notables uuid[], p_partners uuid[])
RETURNS command_result LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text;
    i bigint;
    lvl text;
BEGIN
    SELECT t.v, t.i, r.level INTO v, i, lvl
        FROM unnest(p_villages) WITH ORDINALITY AS t(v, i) LEFT JOIN regions r ON r.code = t.v
        WHERE r.level IS DISTINCT FROM 'village' ORDER BY t.i LIMIT 1;
    IF FOUND THEN
        IF lvl IS NULL THEN
            RETURN command_problem(422, 'unknown-region', 'Unknown region', '/village_codes/' || (i - 1),
                                   format('region %s is not in the registry', v));
        END IF;
        RETURN command_problem(422, 'not-a-village', 'Not a village', '/village_codes/' || (i - 1),
                               format('region %s is a %s, not a village', v, lvl));
    END IF;
    SELECT t.v::text, t.i INTO v, i FROM unnest(p_notables) WITH ORDINALITY AS t(v, i)
        WHERE NOT EXISTS (SELECT 1 FROM notables n WHERE n.id = t.v) ORDER BY t.i LIMIT 1;
    IF FOUND THEN
        RETURN command_problem(422, 'unknown-reference', 'Unknown reference',
                               '/notable_ids/' || (i - 1), format('no notables with id %s', v));
    END IF;
    SELECT t.v::text, t.i INTO v, i FROM unnest(p_partners) WITH ORDINALITY AS t(v, i)
        WHERE NOT EXISTS (SELECT 1 FROM partners x WHERE x.id = t.v) ORDER BY t.i LIMIT 1;
    IF FOUND THEN
        RETURN command_problem(422, 'unknown-reference', 'Unknown reference',
                               '/partner_ids/' || (i - 1), format('no partners with id %s', v));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION project_register(
    p_id uuid, p_name text, p_type text, p_status text, p_investment bigint, p_revenue bigint,
    p_start date, p_description text, p_created_by text, p_villages text[], p_notables uuid[],
    p_partners uuid[], p_event jsonb, p_topic text,
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
    r := project_links_problem(p_villages, p_notables, p_partners);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    r := idem_claim(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    INSERT INTO projects (id, name, type, status, investment_fen, expected_revenue_fen,
                          start_date, description, created_by)
        VALUES (p_id, p_name, p_type, p_status, p_investment, p_revenue, p_start, p_description,
                p_created_by);
    INSERT INTO project_villages (project_id, village_code, position)
        SELECT p_id, v, o::int FROM unnest(p_villages) WITH ORDINALITY AS t(v, o);
    INSERT INTO project_notables (project_id, notable_id, position)
        SELECT p_id, v, o::int FROM unnest(p_notables) WITH ORDINALITY AS t(v, o);
    INSERT INTO project_partners (project_id, partner_id, position)
        SELECT p_id, v, o::int FROM unnest(p_partners) WITH ORDINALITY AS t(v, o);
    data := project_json(p_id);
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_id::text,
                p_event || jsonb_build_object('data', data));
    PERFORM idem_done(p_principal, p_key, 201, data::text);
    RETURN ROW(201, data::text, '/v1/projects/' || p_id, NULL, NULL, NULL, NULL)::command_result;
END
$$;
