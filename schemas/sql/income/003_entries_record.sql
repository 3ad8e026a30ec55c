-- income 003: recording ledger entries as one command (POST /v1/entries in
-- one statement and one round trip; common 005 has the protocol). The C
-- handler has checked each entry's fields (income_entries.c entry_fields)
-- and made its id and event envelope; this checks what needs the ledger and
-- the read models (the entry reversed, the household, the project, the
-- caller's right to record for it, the enrollment), writes the entry and
-- its income.recorded / income.reversed event (data: entry_json, plus the
-- household head's phone and name for the notifier), and answers 201.

-- entry_facts: what one entry is recorded with, or the problem refusing it
CREATE TYPE entry_facts AS (
    problem      command_result, -- status NULL: the entry may be recorded
    project_id   uuid,
    household_id uuid,
    village_code text,
    low_income   boolean,
    amount_fen   bigint,
    period_date  date,
    source_ref   text,
    reverses     uuid,
    phone        text,           -- the household head's, for the event
    head_name    text
);

-- entry_unknown: the answer for a project or household this service has not
-- learned: 503 (retry) while its UUIDv7 is younger than grace_ms (its event
-- may be on its way), 422 after
CREATE FUNCTION entry_unknown(what text, pointer text, id uuid, grace_ms bigint)
RETURNS command_result LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN substr(id::text, 15, 1) = '7' AND age >= 0 AND age < grace_ms THEN
        command_problem(503, 'not-yet-known', 'Not known yet', pointer,
                        format('%s %s was registered moments ago and its event has not reached '
                               'this service yet; retry shortly', what, id))
    ELSE
        command_problem(422, 'unknown-reference', 'Unknown reference', pointer,
                        format('no %s %s is known', what, id))
    END
    FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                 - ('x' || lpad(replace(left(id::text, 13), '-', ''), 16, '0'))::bit(64)::bigint
                 AS age) a
$$;

-- entry_check: the facts of entry e (an object of income_entries.c
-- entry_json_input) for a caller of role, scope and subject, or its
-- problem. A reversal locks the entry it reverses.
CREATE FUNCTION entry_check(e jsonb, p_role integer, p_scope text[], p_sub text, grace_ms bigint)
RETURNS entry_facts LANGUAGE plpgsql AS $$
DECLARE
    f entry_facts;
    o record;
    h record;
    p record;
    given_village text := e ->> 'village_code';
BEGIN
    IF e ? 'reverses' THEN
        f.reverses := (e ->> 'reverses')::uuid;
        SELECT x.project_id, x.household_id, x.village_code, x.low_income, -x.amount_fen AS amount,
               x.period_date, x.reverses, x.source_ref,
               (SELECT r.id FROM entries r WHERE r.reverses = x.id) AS reversed_by
            INTO o FROM entries x WHERE x.id = f.reverses FOR UPDATE;
        IF NOT FOUND THEN
            f.problem := command_problem(422, 'unknown-entry', 'Unknown entry', '/reverses',
                                         format('no entry %s exists', f.reverses));
            RETURN f;
        ELSIF o.reverses IS NOT NULL THEN
            f.problem := command_problem(422, 'reversal-of-reversal', 'Cannot reverse a reversal',
                                         '/reverses', format('entry %s is itself a reversal (of %s)',
                                                             f.reverses, o.reverses));
            RETURN f;
        ELSIF o.reversed_by IS NOT NULL THEN
            f.problem := command_problem(409, 'already-reversed', 'Already reversed', '/reverses',
                                         format('entry %s was already reversed by %s', f.reverses,
                                                o.reversed_by));
            RETURN f;
        END IF;
        f.project_id := o.project_id;
        f.household_id := o.household_id;
        f.village_code := o.village_code;
        f.low_income := o.low_income;
        f.amount_fen := o.amount;
        f.period_date := o.period_date;
        f.source_ref := coalesce(e ->> 'source_ref', o.source_ref);
    ELSE
        f.project_id := (e ->> 'project_id')::uuid;
        f.household_id := (e ->> 'household_id')::uuid;
        f.village_code := given_village;
        f.low_income := false;
        f.amount_fen := (e ->> 'amount_fen')::bigint;
        f.period_date := (e ->> 'date')::date;
        f.source_ref := e ->> 'source_ref';
    END IF;
    IF f.household_id IS NOT NULL THEN
        SELECT x.village_code::text AS village_code, x.low_income, x.phone, x.head_name
            INTO h FROM households x WHERE x.id = f.household_id;
        IF NOT FOUND THEN
            f.problem := entry_unknown('household', '/household_id', f.household_id, grace_ms);
            RETURN f;
        ELSIF given_village IS NOT NULL AND given_village <> h.village_code THEN
            f.problem := command_problem(422, 'validation', 'Invalid field', '/village_code',
                                         format('the household lives in %s, not %s; leave '
                                                'village_code out', h.village_code, given_village));
            RETURN f;
        END IF;
        f.village_code := h.village_code;
        IF f.reverses IS NULL THEN
            f.low_income := h.low_income;
        END IF;
        f.phone := h.phone;
        f.head_name := h.head_name;
    END IF;
    SELECT x.status, f.village_code = ANY (x.village_codes) AS member,
           p_sub = ANY (x.notable_ids) AS sponsor, cardinality(x.village_codes) AS villages,
           x.village_codes[1] AS first_village
        INTO p FROM projects x WHERE x.id = f.project_id;
    IF NOT FOUND THEN
        f.problem := entry_unknown('project', '/project_id', f.project_id, grace_ms);
        RETURN f;
    ELSIF f.reverses IS NULL AND p.status = 'planned' THEN
        f.problem := command_problem(422, 'project-not-started', 'Project not started',
                                     '/project_id', format('project %s is still planned: it has '
                                                           'no income yet', f.project_id));
        RETURN f;
    ELSIF f.village_code IS NULL AND p.villages <> 1 THEN
        f.problem := command_problem(422, 'validation', 'Invalid field', '/village_code',
                                     format('project %s has %s villages: name the village_code '
                                            'the revenue belongs to', f.project_id, p.villages));
        RETURN f;
    ELSIF f.village_code IS NOT NULL AND p.member IS NOT TRUE AND f.household_id IS NULL THEN
        f.problem := command_problem(422, 'validation', 'Invalid field', '/village_code',
                                     format('%s is not one of project %s''s villages',
                                            f.village_code, f.project_id));
        RETURN f;
    END IF;
    f.village_code := coalesce(f.village_code, p.first_village);
    IF NOT (p_role = 1 OR (p_role = 2 AND in_scope(f.village_code, p_scope))
            OR (p_role = 4 AND p.sponsor IS TRUE)) THEN
        IF p_role = 4 THEN
            f.problem := command_problem(403, 'forbidden', 'Not your project', '/project_id',
                                         format('only the notables sponsoring project %s record '
                                                'its income', f.project_id));
        ELSE
            f.problem := command_problem(403, 'forbidden', 'Outside your villages',
                                         '/village_code', format('village %s is not in your scope',
                                                                 f.village_code));
        END IF;
        RETURN f;
    END IF;
    IF f.household_id IS NOT NULL AND f.reverses IS NULL AND NOT EXISTS (
            SELECT 1 FROM enrollments x WHERE x.household_id = f.household_id
            AND x.project_id = f.project_id AND x.kind = e ->> 'enrollment'
            AND x.start_date <= f.period_date
            AND (x.end_date IS NULL OR x.end_date >= f.period_date)) THEN
        f.problem := command_problem(422, 'not-enrolled', 'Household not enrolled',
                                     '/household_id',
                                     format('household %s has no %s enrollment in project %s on %s',
                                            f.household_id, e ->> 'enrollment', f.project_id,
                                            to_char(f.period_date, 'YYYY-MM-DD')));
        RETURN f;
    END IF;
    RETURN f;
END
$$;

-- entry_write: entry e with its facts f, by p_sub, and its event on topic;
-- returns the entry's JSON (the answer)
CREATE FUNCTION entry_write(e jsonb, f entry_facts, p_sub text, p_topic text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    id uuid := (e ->> 'id')::uuid;
    data jsonb;
BEGIN
    INSERT INTO entries (id, kind, project_id, household_id, village_code, low_income, amount_fen,
                         period_date, source_ref, note, reverses, reason, recorded_by)
        SELECT id, coalesce(e ->> 'kind', x.kind), f.project_id, f.household_id, f.village_code,
               f.low_income, f.amount_fen, f.period_date, f.source_ref, e ->> 'note', f.reverses,
               e ->> 'reason', p_sub
        FROM (SELECT (SELECT r.kind FROM entries r WHERE r.id = f.reverses) AS kind) x;
    data := entry_json(id);
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((e -> 'event' ->> 'id')::uuid, p_topic,
                coalesce(f.household_id, f.project_id)::text,
                e -> 'event' || jsonb_build_object('data', CASE WHEN f.household_id IS NULL
                    THEN data ELSE data || jsonb_build_object('phone', f.phone,
                                                              'head_name', f.head_name) END));
    RETURN data;
END
$$;

-- entries_record: POST /v1/entries. p_entries is the array of the entries
-- whose fields were found right; p_single says the body was one entry (the
-- answer is the entry, else {"recorded", "ids"}). A batch is all or nothing
-- and its problems name the entry (/entries/<i>...; "entry <i>: ..."). p_fail_*
-- is the problem the handler found in the fields of the entry after the last
-- of p_entries (status NULL: none): answered unless a replay or an earlier
-- entry's problem comes first, as when every entry was checked in turn.
CREATE FUNCTION entries_record(
    p_entries jsonb, p_single boolean, p_fail_status integer, p_fail_slug text,
    p_fail_title text, p_fail_pointer text, p_fail_detail text, p_role integer, p_scope text[],
    p_sub text, p_grace_ms bigint, p_topic text,
    p_principal text, p_key text, p_route text, p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    r command_result;
    p_fail command_result := command_problem(p_fail_status, p_fail_slug, p_fail_title,
                                             p_fail_pointer, p_fail_detail);
    f entry_facts;
    e jsonb;
    i integer := 0;
    data jsonb;
    ids jsonb := '[]';
BEGIN
    r := idem_seen(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    IF p_single AND p_fail.status IS NULL THEN -- one entry: check, claim, write
        e := p_entries -> 0;
        f := entry_check(e, p_role, p_scope, p_sub, p_grace_ms);
        IF (f.problem).status IS NOT NULL THEN
            RETURN f.problem;
        END IF;
        r := idem_claim(p_principal, p_key, p_route, p_hash);
        IF r.status IS NOT NULL THEN
            RETURN r;
        END IF;
        data := entry_write(e, f, p_sub, p_topic);
        PERFORM idem_done(p_principal, p_key, 201, data::text);
        RETURN ROW(201, data::text, '/v1/entries/' || (e ->> 'id'), NULL, NULL, NULL,
                   NULL)::command_result;
    END IF;
    -- a batch: each entry checked after the ones before it are written (a
    -- second reversal of one entry finds the first); a problem undoes them
    BEGIN
        r := idem_claim(p_principal, p_key, p_route, p_hash);
        IF r.status IS NOT NULL THEN
            RETURN r;
        END IF;
        FOR e IN SELECT value FROM jsonb_array_elements(p_entries) LOOP
            f := entry_check(e, p_role, p_scope, p_sub, p_grace_ms);
            IF (f.problem).status IS NOT NULL THEN
                r := f.problem;
                r.pointer := '/entries/' || i || coalesce(r.pointer, '');
                r.detail := 'entry ' || i || ': ' || r.detail;
                RAISE EXCEPTION 'entry refused' USING ERRCODE = 'SH001';
            END IF;
            data := entry_write(e, f, p_sub, p_topic);
            ids := ids || jsonb_build_array(data -> 'id');
            i := i + 1;
        END LOOP;
        IF p_fail.status IS NOT NULL THEN
            r := p_fail;
            RAISE EXCEPTION 'entry refused' USING ERRCODE = 'SH001';
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'SH001' THEN
            RETURN r;
        WHEN unique_violation THEN -- a concurrent reversal of the same entry won
            RETURN command_problem(409, 'conflict', 'Already exists', '/entries/' || i,
                                   'entry ' || i || ': ' || SQLERRM);
    END;
    data := jsonb_build_object('recorded', i, 'ids', ids);
    PERFORM idem_done(p_principal, p_key, 201, data::text);
    RETURN ROW(201, data::text, NULL, NULL, NULL, NULL, NULL)::command_result;
END
$$;
