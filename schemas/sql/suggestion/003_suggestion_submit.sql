-- suggestion 003: a proposal's submission as one command (POST /v1/suggestions
-- in one statement and one round trip; common 005 has the protocol), also
-- what the import records a submission with. The C handler has checked the
-- body's fields (suggestion_input_parse); this checks what needs the read
-- models (the villages are known villages, the project is known), claims the
-- Idempotency-Key, writes the proposal, its history row and its
-- suggestion.submitted event (the envelope from the caller, its data
-- event_data, as every suggestions.v1 event), and answers 201 with the
-- proposal.
CREATE FUNCTION suggestion_submit(
    p_id uuid, p_title text, p_body text, p_category text, p_villages text[], p_project uuid,
    p_submitter text, p_attachments jsonb, p_at timestamptz, p_event jsonb, p_topic text,
    p_principal text, p_key text, p_route text, p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    r command_result;
    bad bigint;
    s suggestions;
    answer text;
BEGIN
    r := idem_seen(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    SELECT u.i - 1 INTO bad FROM unnest(p_villages) WITH ORDINALITY u(c, i)
        WHERE NOT EXISTS (SELECT 1 FROM regions x WHERE x.code = u.c AND x.level = 'village')
        ORDER BY u.i LIMIT 1;
    IF FOUND THEN
        RETURN command_problem(422, 'validation', 'Unknown village', '/village_codes/' || bad,
                               format('village_codes[%s] is not a known village', bad));
    END IF;
    IF p_project IS NOT NULL AND NOT EXISTS (SELECT 1 FROM projects x WHERE x.id = p_project) THEN
        RETURN command_problem(422, 'validation', 'Unknown project', '/project_id',
                               'project_id is not a known project');
    END IF;
    r := idem_claim(p_principal, p_key, p_route, p_hash);
    IF r.status IS NOT NULL THEN
        RETURN r;
    END IF;
    INSERT INTO suggestions (id, title, body, category, village_codes, sides, project_id,
                             submitter_id, attachments, state, submitted_at)
        VALUES (p_id, p_title, p_body, p_category, p_villages,
                ARRAY(SELECT DISTINCT CASE WHEN left(c, 2) = '33' THEN 'zhejiang'
                      ELSE 'shanghai' END FROM unnest(p_villages) c ORDER BY 1 DESC),
                p_project, p_submitter, p_attachments, 'submitted', p_at)
        RETURNING * INTO s;
    INSERT INTO history (suggestion_id, action, to_state, actor_role, actor_id, at)
        VALUES (p_id, 'submit', 'submitted', 'notable', p_submitter, p_at);
    INSERT INTO outbox (event_id, topic, key, payload)
        VALUES ((p_event ->> 'id')::uuid, p_topic, p_id::text,
                p_event || jsonb_build_object('data', event_data(p_id)));
    answer := suggestion_json(s)::text;
    PERFORM idem_done(p_principal, p_key, 201, answer);
    RETURN ROW(201, answer, '/v1/suggestions/' || p_id, NULL, NULL, NULL, NULL)::command_result;
END
$$;
