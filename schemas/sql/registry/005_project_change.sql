-- registry 005: a project's change as one command each (PATCH
-- /v1/projects/{id} and POST /v1/projects/{id}/status in one statement and
-- one round trip, group committed; common 005 has the protocol). The C
-- handler has checked the body's fields and shapes, and gives the lifecycle
-- its table holds (registry_validate.c); this locks the project, checks who
-- may change it, its If-Match and its state, writes the change, its
-- projects.v1 event (the envelope from the caller, its data the project's
-- JSON, as every projects.v1 event) and answers 200 with the same JSON.

-- project_claim: lock project p_id for a change by p_caller (the admin when
-- p_admin): its status, or the 404, 403 or 412 (If-Match p_if_match, NULL:
-- none) that refuses the change.
CREATE FUNCTION project_claim(p_id uuid, p_caller text, p_admin boolean, p_if_match bigint,
                              OUT o_problem command_result, OUT o_status text)
LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
    mine boolean;
BEGIN
    SELECT p.status, p.version, (p.created_by = p_caller OR EXISTS (SELECT 1
            FROM project_notables n WHERE n.project_id = p.id AND n.notable_id::text = p_caller))
        INTO o_status, v, mine FROM projects p WHERE p.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        o_problem := command_problem(404, 'not-found', 'Not found', NULL, 'no such project');
    ELSIF NOT p_admin AND NOT mine THEN
        o_problem := command_problem(403, 'forbidden', 'Not your project', NULL,
            'only the admin, the registering notable and the sponsoring notables change a project');
    ELSIF p_if_match IS NOT NULL AND p_if_match <> v THEN
        o_problem := command_problem(412, 'precondition-failed', 'Changed meanwhile', NULL,
                                     format('the project is at version %s', v));
    END IF;
END
$$;

-- project_queue: the event of type for project p_id, its data the project's
-- JSON merged with p_extra; the answer's 200 with the same data.
CREATE FUNCTION project_queue(p_id uuid, p_extra jsonb, p_event jsonb, p_topic text,
                              p_principal text, p_key text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    data jsonb := project_json(p_id) || coalesce(p_extra, '{}');
BEGIN
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_id::text,
                p_event || jsonb_build_object('data', data));
    PERFORM idem_done(p_principal, p_key, 200, data::text);
    RETURN ROW(200, data::text, NULL, NULL, NULL, NULL, NULL)::command_result;
END
$$;

-- project_update: PATCH /v1/projects/{id}; a NULL field or array is one not
-- given (an array given replaces the project's links of its kind).
CREATE FUNCTION project_update(
    p_id uuid, p_name text, p_type text, p_investment bigint, p_revenue bigint, p_start date,
    p_description text, p_villages text[], p_notables uuid[], p_partners uuid[],
    p_caller text, p_admin boolean, p_if_match bigint, p_event jsonb, p_topic text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    c record;
    r command_result;
BEGIN
    SELECT * INTO c FROM project_claim(p_id, p_caller, p_admin, p_if_match);
    IF (c.o_problem).status IS NOT NULL THEN
        RETURN c.o_problem;
    END IF;
    IF c.o_status = 'closed' THEN
        RETURN command_problem(409, 'conflict', 'Project closed', NULL,
                               'a closed project is not changed any more');
    END IF;
    r := project_links_problem(p_villages, p_notables, p_partners);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    UPDATE projects SET name = coalesce(p_name, name), type = coalesce(p_type, type),
        investment_fen = coalesce(p_investment, investment_fen),
        expected_revenue_fen = coalesce(p_revenue, expected_revenue_fen),
        start_date = coalesce(p_start, start_date),
        description = coalesce(p_description, description),
        updated_at = now(), version = version + 1
        WHERE id = p_id;
    IF p_villages IS NOT NULL THEN
        DELETE FROM project_villages WHERE project_id = p_id;
        INSERT INTO project_villages (project_id, village_code, position)
            SELECT p_id, v, o::int FROM unnest(p_villages) WITH ORDINALITY AS t(v, o);
    END IF;
    IF p_notables IS NOT NULL THEN
        DELETE FROM project_notables WHERE project_id = p_id;
        INSERT INTO project_notables (project_id, notable_id, position)
            SELECT p_id, v, o::int FROM unnest(p_notables) WITH ORDINALITY AS t(v, o);
    END IF;
    IF p_partners IS NOT NULL THEN
        DELETE FROM project_partners WHERE project_id = p_id;
        INSERT INTO project_partners (project_id, partner_id, position)
            SELECT p_id, v, o::int FROM unnest(p_partners) WITH ORDINALITY AS t(v, o);
    END IF;
    RETURN project_queue(p_id, NULL, p_event, p_topic, NULL, NULL);
END
$$;

-- project_status_change: POST /v1/projects/{id}/status. p_lifecycle maps
-- each status to the comma-separated statuses it may go to next (the C
-- table's text). An Idempotency-Key replays the first answer.
CREATE FUNCTION project_status_change(
    p_id uuid, p_to text, p_reason text, p_lifecycle jsonb,
    p_caller text, p_admin boolean, p_if_match bigint, p_event jsonb, p_topic text,
    p_principal text, p_key text, p_route text, p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    c record;
    r command_result;
    allowed text;
BEGIN
    r := idem_seen(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    SELECT * INTO c FROM project_claim(p_id, p_caller, p_admin, p_if_match);
    IF (c.o_problem).status IS NOT NULL THEN
        RETURN c.o_problem;
    END IF;
    allowed := coalesce(p_lifecycle ->> c.o_status, '');
    IF NOT p_to = ANY (string_to_array(allowed, ',')) THEN
        RETURN command_problem(409, 'illegal-transition', 'Illegal status transition', '/status',
            format('the project is %s; allowed next: %s', c.o_status,
                   CASE WHEN allowed = '' THEN 'none' ELSE allowed END));
    END IF;
    r := idem_claim(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    UPDATE projects SET status = p_to, updated_at = now(), version = version + 1
        WHERE id = p_id;
    INSERT INTO project_status_history (project_id, from_status, to_status, reason, changed_by)
        VALUES (p_id, c.o_status, p_to, p_reason, p_caller);
    RETURN project_queue(p_id, jsonb_build_object('previous_status', c.o_status,
                                                  'reason', p_reason),
                         p_event, p_topic, p_principal, p_key);
END
$$;
