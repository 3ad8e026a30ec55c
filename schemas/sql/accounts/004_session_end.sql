-- accounts 004: a sign-out (POST /v1/signout) as one command, one statement
-- group committed (common 005 has the protocol): the session's family of
-- refresh tokens, found by the hash of the one given (C hashes it), is
-- revoked and session.ended audited for its account. It answers 204
-- whether the token was known or not, so that a sign-out tells nothing.
-- session.ended is audited only (account_event): its envelope is the type.
CREATE FUNCTION session_end(p_hash text)
RETURNS command_result LANGUAGE plpgsql AS $$
DECLARE
    acct text;
BEGIN
    WITH ended AS (
        UPDATE refresh_tokens SET revoked_at = now()
            WHERE family = (SELECT t.family FROM refresh_tokens t WHERE t.token_hash = p_hash)
              AND revoked_at IS NULL
            RETURNING account_id)
    SELECT account_id::text INTO acct FROM ended LIMIT 1;
    IF acct IS NOT NULL THEN
        PERFORM account_event(acct, acct, NULL, '{"type": "session.ended"}', NULL);
    END IF;
    RETURN ROW(204, '', NULL, NULL, NULL, NULL, NULL)::command_result;
END
$$;
