-- notifier 003: a person's verdict on an uncertain delivery (POST
-- /v1/deliveries/{id}/resolve) as one command, one statement group committed
-- (common 005 has the protocol). p_status is sent (it did go out), failed (it
-- did not; no resend) or queued (send it again, its attempts counted afresh,
-- the sender woken at the commit); p_why is the note recorded. Only an
-- uncertain delivery is resolved: any other answers 409 naming its status.
CREATE FUNCTION delivery_resolve(p_id uuid, p_status text, p_why text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    cur text;
BEGIN
    SELECT status INTO cur FROM deliveries WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN command_problem(404, 'not-found', 'Not found', NULL, 'no such delivery');
    END IF;
    IF cur <> 'uncertain' THEN
        RETURN command_problem(409, 'conflict', 'Not uncertain', '/status',
            format('only an uncertain delivery is resolved by hand (this one is %s)', cur));
    END IF;
    UPDATE deliveries d SET status = p_status, last_error = p_why, updated_at = now(),
        sent_at = CASE WHEN p_status = 'sent' THEN coalesce(d.sent_at, now()) ELSE d.sent_at END,
        attempts = CASE WHEN p_status = 'queued' THEN 0 ELSE d.attempts END,
        provider_index = CASE WHEN p_status = 'queued' THEN 0 ELSE d.provider_index END,
        needs_check = false, next_attempt_at = now()
        WHERE d.id = p_id;
    IF p_status = 'queued' THEN
        PERFORM pg_notify('notifier_deliveries', '');
    END IF;
    RETURN ROW(200, delivery_json(p_id)::text, NULL, NULL, NULL, NULL, NULL)::command_result;
END
$$;
