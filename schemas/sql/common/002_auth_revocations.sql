-- common 002: the accounts whose access tokens are refused although not yet
-- expired (account.revoked on accounts.v1: disabled, a grant removed, the
-- password changed). Tokens of the account issued before revoked_before
-- (Unix seconds) are refused by the verifier of every service (core/auth.h).
-- seq orders the rows for the reload every instance runs every two seconds.

CREATE SEQUENCE auth_revocations_seq;

CREATE TABLE auth_revocations (
    account_id     text PRIMARY KEY,
    revoked_before bigint NOT NULL,
    seq            bigint NOT NULL DEFAULT nextval('auth_revocations_seq'),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX auth_revocations_seq_idx ON auth_revocations (seq);
