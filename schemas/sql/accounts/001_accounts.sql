-- accounts 001: the people who sign in, their grants, how they sign in,
-- and what the service learns of the others (regions, notables, units).
--
-- Secrets at rest: a sign-in code only as HMAC-SHA-256 under the service's
-- code key (ACCOUNTS_CODE_KEY), a password only as its argon2id encoding, a
-- refresh token only as its SHA-256. Phones are 11-digit mainland numbers.

-- What regions.v1, notables.v1 and suggestions.v1 (unit.registered) told us.
CREATE TABLE regions (
    code       text PRIMARY KEY,
    name       text NOT NULL,
    level      text NOT NULL,
    parent     text,
    side       text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notables (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    home_village text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE units (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    region_code text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    phone               text NOT NULL UNIQUE CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    password_hash       text,                     -- argon2id encoded, or NULL
    password_changed_at timestamptz,
    state               text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    failed_logins       integer NOT NULL DEFAULT 0, -- consecutive password failures
    locked_until        timestamptz,               -- password sign-in refused until then
    revoked_before      bigint NOT NULL DEFAULT 0, -- access tokens issued before: refused
    version             integer NOT NULL DEFAULT 1,
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE grants (
    id         uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id),
    role       text NOT NULL CHECK (role IN ('admin', 'coordinator', 'notable', 'handler',
                                             'supervisor', 'planner')),
    regions    text[] NOT NULL DEFAULT '{}',
    unit_id    text,
    notable_id text,
    grant_key  text NOT NULL,                 -- role|regions|unit|notable, for duplicates
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, grant_key)
);
CREATE INDEX grants_account ON grants (account_id, created_at, id);

-- Every change by anyone, append-only.
CREATE TABLE audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    account_id uuid,
    action     text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_account ON audit (account_id, id);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit is append-only' USING ERRCODE = '42501';
END $$;
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Sign-in codes: one row per code asked for, whether or not the phone has
-- an account (the answer is the same either way, and so are the limits).
CREATE TABLE signin_codes (
    id         uuid PRIMARY KEY,
    phone      text NOT NULL,
    client     text NOT NULL,                 -- the asking address
    code_hash  text NOT NULL,                 -- hex HMAC-SHA-256(key, id:phone:code)
    sent       boolean NOT NULL,              -- an SMS went out (the phone has an account)
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    tries      integer NOT NULL DEFAULT 0,
    used_at    timestamptz
);
CREATE INDEX signin_codes_phone ON signin_codes (phone, created_at);
CREATE INDEX signin_codes_client ON signin_codes (client, created_at);

-- Failed code checks per client address (the phone's are the codes' tries).
CREATE TABLE signin_failures (
    client text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signin_failures_client ON signin_failures (client, at);

-- Refresh tokens: a family per sign-in, a new token per use (rotation);
-- a used or revoked token presented again revokes the whole family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    family      uuid NOT NULL,
    account_id  uuid NOT NULL REFERENCES accounts (id),
    grant_id    uuid NOT NULL,
    token_hash  text NOT NULL UNIQUE,         -- hex SHA-256 of the token
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,         -- idle expiry of this token
    family_ends timestamptz NOT NULL,         -- absolute end of the family
    used_at     timestamptz,
    revoked_at  timestamptz,
    replaced_by uuid
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_account ON refresh_tokens (account_id) WHERE revoked_at IS NULL;

-- Signing keys seen in ACCOUNTS_SIGNING_KEYS_DIR: the public half is
-- published (JWKS) from first sight until the tokens it signed expired.
CREATE TABLE signing_keys (
    kid        text PRIMARY KEY,
    alg        text NOT NULL,
    public_jwk jsonb NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz
);

-- grant_json / account_json: the shapes the API answers.
CREATE FUNCTION grant_json(g grants) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', g.id, 'role', g.role, 'regions', to_jsonb(g.regions),
                              'unit', g.unit_id, 'notable_id', g.notable_id,
                              'created_at', g.created_at)
$$;

CREATE FUNCTION account_json(aid uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'name', a.name, 'phone', a.phone, 'state', a.state,
        'has_password', a.password_hash IS NOT NULL,
        'locked_until', a.locked_until, 'version', a.version,
        'created_at', a.created_at, 'updated_at', a.updated_at,
        'grants', coalesce((SELECT jsonb_agg(grant_json(g) ORDER BY g.created_at, g.id)
                            FROM grants g WHERE g.account_id = a.id), '[]'::jsonb))
    FROM accounts a WHERE a.id = aid
$$;
