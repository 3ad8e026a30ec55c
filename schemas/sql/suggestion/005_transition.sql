-- suggestion 005: a transition's writes as one command (POST
-- /v1/suggestions/{id}/transitions in two round trips: one read, one write;
-- common 005 has the protocol). The decision stays in C (suggestion_fsm.c,
-- suggestion_transition.c): the handler reads the proposal, its parts and
-- its version without a lock, judges the action on them, and calls this
-- with what it decided. This locks the proposal's row, and writes only if
-- its version is still the one judged on; otherwise it answers 409 and
-- writes nothing, and the handler reads again and judges anew, so two
-- handlers acting at the same moment are still serialised and the second
-- is judged on the first's result. Then, all or nothing: the proposal's
-- row and its parts change, the history gains a row, the event goes to the
-- outbox (suggestion_queue), the Idempotency-Key is answered, and 200
-- returns the proposal.
--
-- p_to is the proposal's state after the action; p_part_state the state of
-- the caller's part (side p_side) after progress or resolve; p_parts, for
-- assign and reopen, the parts anew: [{side, unit_id, due_date}].
-- suggestion_queue: proposal p_id's event into the outbox, its envelope
-- p_event (without data), its data the proposal's event_data() merged with
-- p_extra (p_extra's members win): what a transition and the supervisor's
-- passes publish (suggestion_publish in C). A proposal that is not there
-- raises: no event goes out without its data.
CREATE FUNCTION suggestion_queue(p_id uuid, p_extra jsonb, p_event jsonb, p_topic text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    ev_data jsonb := event_data(p_id);
BEGIN
    IF ev_data IS NULL THEN
        RAISE EXCEPTION 'no event data for proposal %', p_id USING ERRCODE = 'XX000';
    END IF;
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_id::text,
                p_event || jsonb_build_object('data', ev_data || p_extra));
END
$$;

CREATE FUNCTION suggestion_transition(
    p_id uuid, p_version integer, p_action text, p_from text, p_to text, p_side text,
    p_part_state text, p_text text, p_satisfied boolean, p_parts jsonb, p_details jsonb,
    p_extra jsonb, p_actor_role text, p_actor_id text, p_at timestamptz, p_event jsonb,
    p_topic text, p_principal text, p_key text, p_route text, p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    r command_result;
    s suggestions;
    reopen boolean := p_action = 'reopen';
    reply text;
BEGIN
    r := idem_seen(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    PERFORM 1 FROM suggestions x WHERE x.id = p_id AND x.version = p_version FOR UPDATE;
    IF NOT FOUND THEN
        RETURN command_problem(409, 'retry', 'Concurrent change', '/action',
                               'another request changed this proposal; try again');
    END IF;
    r := idem_claim(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    CASE
    WHEN p_action IN ('accept', 'reject', 'close') THEN
        UPDATE suggestions SET state = p_to, version = version + 1,
            accepted_at = CASE WHEN p_to = 'accepted' THEN p_at ELSE accepted_at END,
            rejected_at = CASE WHEN p_to = 'rejected' THEN p_at END,
            reject_reason = CASE WHEN p_to = 'rejected' THEN p_text END,
            closed_at = CASE WHEN p_to = 'closed' THEN p_at ELSE closed_at END,
            closed_by = CASE WHEN p_to = 'closed' THEN 'supervisor' ELSE closed_by END
            WHERE id = p_id;
    WHEN p_action IN ('assign', 'reopen') THEN
        INSERT INTO parts (suggestion_id, side, unit_id, state, due_date, assigned_at)
            SELECT p_id, x.side, x.unit_id, 'assigned', x.due_date, p_at
            FROM jsonb_to_recordset(p_parts) AS x(side text, unit_id text, due_date date)
            ON CONFLICT (suggestion_id, side) DO UPDATE SET unit_id = excluded.unit_id,
                state = 'assigned', due_date = excluded.due_date,
                assigned_at = excluded.assigned_at, resolved_at = NULL, answer = NULL,
                last_note = NULL, overdue_at = NULL, escalation_level = NULL,
                escalated_at = NULL;
        UPDATE suggestions SET state = 'assigned', assigned_at = p_at,
            resolved_at = CASE WHEN reopen THEN NULL ELSE resolved_at END,
            closed_at = CASE WHEN reopen THEN NULL ELSE closed_at END,
            closed_by = CASE WHEN reopen THEN NULL ELSE closed_by END,
            reopen_count = reopen_count + CASE WHEN reopen THEN 1 ELSE 0 END,
            version = version + 1
            WHERE id = p_id;
    WHEN p_action IN ('progress', 'resolve') THEN
        UPDATE parts SET state = p_part_state,
            last_note = CASE WHEN p_part_state = 'in_progress' THEN p_text ELSE last_note END,
            answer = CASE WHEN p_part_state = 'resolved' THEN p_text ELSE answer END,
            resolved_at = CASE WHEN p_part_state = 'resolved' THEN p_at END
            WHERE suggestion_id = p_id AND side = p_side;
        UPDATE suggestions SET state = p_to,
            resolved_at = CASE WHEN p_to = 'resolved' THEN p_at END,
            version = version + 1
            WHERE id = p_id;
    WHEN p_action = 'feedback' THEN
        UPDATE suggestions SET state = 'closed', satisfied = p_satisfied,
            feedback_comment = p_text, closed_at = p_at, closed_by = 'feedback',
            version = version + 1
            WHERE id = p_id;
    ELSE
        RAISE EXCEPTION 'unknown action %', p_action USING ERRCODE = '22023';
    END CASE;
    INSERT INTO history (suggestion_id, action, from_state, to_state, side, actor_role,
                         actor_id, at, details)
        VALUES (p_id, p_action, p_from, p_to, p_side, p_actor_role, p_actor_id, p_at,
                p_details);
    PERFORM suggestion_queue(p_id, p_extra, p_event, p_topic);
    SELECT * INTO s FROM suggestions x WHERE x.id = p_id;
    reply := suggestion_json(s)::text;
    PERFORM idem_done(p_principal, p_key, 200, reply);
    RETURN ROW(200, reply, NULL, NULL, NULL, NULL, NULL)::command_result;
END
$$;
