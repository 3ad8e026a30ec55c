-- enrollment 003: a household's enrollment into a project as one command
-- (POST /v1/households/{id}/enrollments in one statement and one round
-- trip; common 005 has the protocol). The C handler has checked the body's
-- fields and bounds, and judged from the project id's UUIDv7 time whether
-- an unknown project may still be on its way (p_project_recent); this locks
-- the household (so that two requests cannot both open the same
-- enrollment), checks the caller's scope, the project and the open
-- enrollments, claims the Idempotency-Key, writes the enrollment and its
-- enrollment.started event (data: enrollment_json), and answers 201 with
-- the same JSON less the head's name and phone.
CREATE FUNCTION enrollment_register(
    p_id uuid, p_household uuid, p_project uuid, p_kind text, p_wage bigint, p_area integer,
    p_rent bigint, p_term integer, p_start date, p_created_by text, p_scope text[],
    p_project_recent boolean, p_event jsonb, p_topic text,
    p_principal text, p_key text, p_route text, p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    r command_result;
    village text;
    project_status text;
    open_id uuid;
    j jsonb;
BEGIN
    r := idem_seen(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    SELECT h.village_code INTO village FROM households h WHERE h.id = p_household FOR UPDATE;
    IF NOT FOUND THEN
        RETURN command_problem(404, 'not-found', 'Not found', NULL, 'no such household');
    END IF;
    IF NOT in_scope(village, p_scope) THEN
        RETURN command_problem(403, 'forbidden', 'Outside your villages', NULL,
                               'the household''s village is not in your scope');
    END IF;
    SELECT p.status INTO project_status FROM projects p WHERE p.id = p_project;
    IF NOT FOUND AND p_project_recent THEN
        RETURN command_problem(503, 'project-not-yet-known', 'Project not known yet',
                               '/project_id',
                               format('project %s was registered moments ago and its event has '
                                      'not reached this service yet; retry shortly', p_project));
    ELSIF NOT FOUND THEN
        RETURN command_problem(422, 'unknown-project', 'Unknown project', '/project_id',
                               format('no project %s is registered', p_project));
    ELSIF project_status = 'closed' THEN
        RETURN command_problem(422, 'project-closed', 'Project closed', '/project_id',
                               format('project %s is closed', p_project));
    END IF;
    SELECT e.id INTO open_id FROM enrollments e
        WHERE e.household_id = p_household AND e.project_id = p_project AND e.kind = p_kind
        AND e.end_date IS NULL LIMIT 1;
    IF FOUND THEN
        RETURN command_problem(409, 'already-enrolled', 'Already enrolled', '/project_id',
                               format('the household has an open %s enrollment %s in this project',
                                      p_kind, open_id));
    END IF;
    r := idem_claim(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    INSERT INTO enrollments (id, household_id, project_id, kind, monthly_wage_fen, area_mu_x100,
                             annual_rent_fen, term_years, start_date, created_by)
        VALUES (p_id, p_household, p_project, p_kind, p_wage, p_area, p_rent, p_term, p_start,
                p_created_by);
    j := enrollment_json(p_id);
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_household::text,
                p_event || jsonb_build_object('data', j));
    j := j - 'phone' - 'head_name';
    PERFORM idem_done(p_principal, p_key, 201, j::text);
    RETURN ROW(201, j::text, format('/v1/households/%s/enrollments/%s', p_household, p_id), NULL,
               NULL, NULL, NULL)::command_result;
END
$$;
