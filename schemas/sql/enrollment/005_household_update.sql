-- enrollment 005: a household's change and an enrollment's end as one
-- command each (PATCH /v1/households/{id} and POST
-- /v1/households/{id}/enrollments/{eid}/end in one statement and one round
-- trip; common 005 has the protocol). The C handlers have checked the
-- bodies' fields and bounds and made the events' envelopes; these lock the
-- household, check the caller's scope (p_scope: the caller's region
-- prefixes, NULL for the admin, as in_scope of common 004 reads them), check
-- what needs the rows, write them and their event, and answer 200.

-- household_writable: lock household p_id for a change of it or of its
-- enrollments, and answer the 404 of a household that is not there or the
-- 403 of one outside p_scope; NULL when the caller may go on.
CREATE FUNCTION household_writable(p_id uuid, p_scope text[]) RETURNS command_result
LANGUAGE plpgsql AS $$
DECLARE
    village text;
BEGIN
    SELECT h.village_code INTO village FROM households h WHERE h.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN command_problem(404, 'not-found', 'Not found', NULL, 'no such household');
    END IF;
    IF NOT in_scope(village, p_scope) THEN
        RETURN command_problem(403, 'forbidden', 'Outside your villages', NULL,
                               'the household''s village is not in your scope');
    END IF;
    RETURN NULL;
END
$$;

-- household_update: PATCH /v1/households/{id}. A NULL field stays as it
-- is; p_low_income, when not NULL, sets the certification with its year
-- and baseline (NULL ones cleared). p_event is the envelope of
-- household.updated without its data (household_event_data). Answers 200
-- with the household's JSON (household_json), or the 404/403 of
-- household_writable.
CREATE FUNCTION household_update(
    p_id uuid, p_head_name text, p_phone text, p_members_count integer, p_low_income boolean,
    p_year integer, p_baseline bigint, p_scope text[], p_event jsonb, p_topic text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    r command_result;
    j jsonb;
BEGIN
    r := household_writable(p_id, p_scope);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    UPDATE households SET head_name = coalesce(p_head_name, head_name),
        phone = coalesce(p_phone, phone),
        members_count = coalesce(p_members_count, members_count),
        low_income = coalesce(p_low_income, low_income),
        low_income_year = CASE WHEN p_low_income IS NULL THEN low_income_year ELSE p_year END,
        baseline_per_capita_fen = CASE WHEN p_low_income IS NULL THEN baseline_per_capita_fen
                                       ELSE p_baseline END,
        updated_at = now(), version = version + 1
        WHERE id = p_id;
    j := household_json(p_id);
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_id::text,
                p_event || jsonb_build_object('data', household_event_data(j)));
    RETURN ROW(200, j::text, NULL, NULL, NULL, NULL, NULL)::command_result;
END
$$;

-- enrollment_end: POST /v1/households/{id}/enrollments/{eid}/end under its
-- Idempotency-Key (the last four parameters). p_event is the envelope of
-- enrollment.ended without its data (enrollment_json). Answers 200 with the
-- enrollment's JSON less the head's name and phone, or the 404/403 of
-- household_writable, the 404 of an enrollment the household does not
-- have, the 409 of one ended before, the 422 of an end before its start.
CREATE FUNCTION enrollment_end(
    p_id uuid, p_household uuid, p_end date, p_reason text, p_scope text[], p_event jsonb,
    p_topic text, p_principal text, p_key text, p_route text, p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    r command_result;
    is_open boolean;
    in_time boolean;
    j jsonb;
BEGIN
    r := idem_seen(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    r := household_writable(p_household, p_scope);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    SELECT e.end_date IS NULL, e.start_date <= p_end INTO is_open, in_time FROM enrollments e
        WHERE e.id = p_id AND e.household_id = p_household FOR UPDATE;
    IF NOT FOUND THEN
        RETURN command_problem(404, 'not-found', 'Not found', NULL, 'no such enrollment');
    ELSIF NOT is_open THEN
        RETURN command_problem(409, 'already-ended', 'Already ended', NULL,
                               'the enrollment has ended before');
    ELSIF NOT in_time THEN
        RETURN command_problem(422, 'validation', 'Invalid field', '/end_date',
                               'end_date is before the enrollment''s start');
    END IF;
    r := idem_claim(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    UPDATE enrollments SET end_date = p_end, end_reason = p_reason WHERE id = p_id;
    j := enrollment_json(p_id);
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_household::text,
                p_event || jsonb_build_object('data', j));
    j := j - 'phone' - 'head_name';
    PERFORM idem_done(p_principal, p_key, 200, j::text);
    RETURN ROW(200, j::text, NULL, NULL, NULL, NULL, NULL)::command_result;
END
$$;
