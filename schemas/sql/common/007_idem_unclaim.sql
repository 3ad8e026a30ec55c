-- common 007: idem_unclaim, the key's claim taken back (common 005's
-- protocol). A command that finds, after idem_claim, that it writes
-- nothing (a concurrent request registered the same thing first: the
-- unique index caught it) returns a problem instead of raising; without
-- this its claim would be committed unanswered, and every replay of the key
-- would be refused as still being answered.
CREATE FUNCTION idem_unclaim(principal text, idem_key text) RETURNS void LANGUAGE sql AS $$
    DELETE FROM idempotency_keys i WHERE idem_key IS NOT NULL
        AND i.principal = idem_unclaim.principal AND i.key = idem_key
$$;
