/*
 * auth.h - bearer tokens and the roles and scopes they carry.
 *
 * Every service verifies access tokens with public keys only (auth_verifier
 * below): the accounts service's tokens (ES256 or EdDSA JWTs, typ at+jwt,
 * see services/accounts) and those of any outside identity provider
 * configured as a further issuer with a claim mapping (RS256, ES256 or
 * EdDSA). A development key (JWT_SECRET) may additionally allow HS256
 * tokens made by `shantang-ctl token`; production sets none.
 *
 * What a verified token gives a handler (auth_claims): the acting subject
 * (the account id, or for the notable grant the registry's notable id, which
 * is how the registry and the suggestion service know their notables), one
 * role, the region codes it may act in (a code ending in zeros covers every
 * region below it), the handling unit of a handler, the account id (for
 * revocation), the times. Keys and secrets are never logged.
 */
#ifndef SHANTANG_CORE_AUTH_H
#define SHANTANG_CORE_AUTH_H

#include <stddef.h>

enum {
    ROLE_ADMIN = 1 << 0,
    ROLE_COORDINATOR = 1 << 1,
    ROLE_NOTABLE = 1 << 2,
    ROLE_HANDLER = 1 << 3,
    ROLE_SUPERVISOR = 1 << 4,
    ROLE_PLANNER = 1 << 5,
    ROLE_ANY = 0x3f
};

#define AUTH_MAX_REGIONS 32

typedef struct auth_claims {
    char sub[64];                       /* acting subject: account id, or the notable id */
    int role;                           /* exactly one ROLE_* bit */
    char regions[AUTH_MAX_REGIONS][13]; /* region codes in scope, 12 digits each */
    int nregions;                       /* used entries of regions */
    char unit[64];                      /* handling unit id, "" if none */
    long exp;                           /* expiry, Unix seconds */
    long iat;                           /* issued at, Unix seconds */
    char account[64];                   /* the issuer's subject ("" for HS256 tokens) */
    char grant[40];                     /* the accounts service's grant id, or "" */
    int issuer;                         /* index of the issuer that signed (0: ours) */
} auth_claims;

/* auth_role_parse - "admin".."planner" to its ROLE_* bit; 0 if unknown */
int auth_role_parse(const char *name);

/* auth_role_name - the name of one ROLE_* bit; "unknown" otherwise */
const char *auth_role_name(int role);

/*
 * auth_jwt_sign - encode and sign claims as a compact HS256 JWT (the
 * development tokens of shantang-ctl and the benchmarks).
 * Returns a malloc'd NUL-terminated token owned by the caller, or NULL with err.
 */
char *auth_jwt_sign(const auth_claims *claims, const unsigned char *key, size_t keylen, char *err,
                    size_t errlen);

/*
 * auth_jwt_verify - check signature, alg, structure and expiry against now
 * (Unix seconds) and fill out. Returns 0 on success, -1 with err ("expired",
 * "bad signature", "malformed", "unknown role", ...) otherwise.
 */
int auth_jwt_verify(const char *token, const unsigned char *key, size_t keylen, long now,
                    auth_claims *out, char *err, size_t errlen);

/*
 * auth_region_allows - 1 if region code is inside the claims' scope: admin is
 * everywhere; otherwise some scope code, with its trailing zero groups
 * removed (county 330482000000 -> 330482, town 330482104000 -> 330482104),
 * must be a prefix of code.
 */
int auth_region_allows(const auth_claims *claims, const char *code);

/*
 * auth_region_prefix - the significant prefix of a region code: its
 * trailing zero groups removed by level (2 province, 4 city, 6 county, 9
 * town, 12 village digits). "" for a malformed code. out holds 13 bytes.
 */
char *auth_region_prefix(const char *code, char out[13]);

/*
 * auth_scope_array - the claims' region scope as a PostgreSQL text array
 * literal of code prefixes ("{\"330482\",\"310116106\"}", "{}" for none),
 * for queries that filter rows by region. len of at least
 * AUTH_SCOPE_ARRAY_LEN always suffices. Returns buf.
 */
#define AUTH_SCOPE_ARRAY_LEN (AUTH_MAX_REGIONS * 16 + 3)
char *auth_scope_array(const auth_claims *claims, char *buf, size_t len);

/*
 * The verifier: the configured issuers, each with its JWKS (fetched with
 * libcurl, cached, refreshed every refresh_s, on an unknown kid at most once
 * every min_refresh_s, and served stale while the issuer is away), an
 * optional HS256 development key, and the accounts revoked since a time.
 *
 * Checks, in order (any failure refuses, RFC 7519 section 7.2, RFC 8725):
 * compact form of at most 8 KiB; alg on the allow-list of the issuer named
 * by iss ("none" and HS* never against a public key: HS256 exists only
 * with the development key and tokens without iss); typ as the issuer
 * requires (ours: at+jwt); the kid's key, of the type the alg fits; the
 * signature; aud holding our audience; exp in the future and nbf and iat
 * not in the future, each with skew_s of leeway; a non-empty sub; jti for
 * our tokens; the mapped role, regions, unit and notable; then revocation.
 *
 * An issuers file (AUTH_ISSUERS_FILE) adds outside identity providers:
 *   {"issuers": [{"issuer": "https://idp.example/realms/zj",
 *     "jwks_uri": "https://idp.example/realms/zj/protocol/openid-connect/certs",
 *     "audience": "shantang", "algorithms": ["RS256"], "typ": ["JWT", "at+jwt"],
 *     "claims": {"role": "realm_access.roles", "regions": "shantang_regions",
 *                "unit": "shantang_unit", "notable": "shantang_notable"},
 *     "roles": {"shantang-planner": "planner"}}]}
 * A claim path is dotted (nested objects); a role claim may be a string or
 * an array, of which exactly one value must map to a role (through "roles"
 * when given, else by name). "typ" absent: not checked; "audience" absent:
 * ours.
 */
typedef struct auth_verifier auth_verifier;

typedef struct auth_verifier_config {
    const char *issuer;             /* our issuer (the accounts service's iss); "" = none */
    const char *jwks_url;           /* its JWKS; "" = issuer + "/.well-known/jwks.json" */
    const char *audience;           /* the aud every token must hold */
    const char *issuers_file;       /* outside issuers (JSON above); "" = none */
    const unsigned char *hs256_key; /* development key (borrowed); NULL = no HS256 */
    size_t hs256_len;               /* bytes of hs256_key */
    int skew_s;                     /* leeway for exp, nbf and iat */
    int refresh_s;                  /* JWKS refreshed this often */
    int min_refresh_s;              /* an unknown kid refetches at most this often */
} auth_verifier_config;

/*
 * auth_jwks_fetch_fn - where an issuer's JWKS comes from: malloc'd JSON
 * text, or NULL with err. The default fetches url with libcurl (3 s).
 */
typedef char *(*auth_jwks_fetch_fn)(const char *url, void *arg, char *err, size_t errlen);

/*
 * auth_verifier_new - read the issuers file and prepare every issuer; the
 * JWKS are fetched on first use (a service must start while its issuer is
 * still starting). Returns the verifier (free with auth_verifier_free) or
 * NULL with err naming what is wrong in the configuration.
 */
auth_verifier *auth_verifier_new(const auth_verifier_config *cfg, char *err, size_t errlen);

/* auth_verifier_free - release everything; returns NULL */
auth_verifier *auth_verifier_free(auth_verifier *v);

/*
 * auth_verifier_set_fetch - replace the JWKS fetcher of issuer i (0: ours
 * when AUTH_ISSUER is set, then the issuers file's in order): the accounts
 * service reads its own keys from memory, unit tests serve theirs.
 */
void auth_verifier_set_fetch(auth_verifier *v, int issuer, auth_jwks_fetch_fn fn, void *arg);

/*
 * auth_verify - verify token at now (Unix seconds) and fill out. Returns 0,
 * or -1 with err ("expired", "bad signature", "unknown issuer", "revoked",
 * ...). Thread-safe; may fetch a JWKS (bounded 3 s) on an unknown kid.
 */
int auth_verify(auth_verifier *v, const char *token, long now, auth_claims *out, char *err,
                size_t errlen);

/*
 * auth_verifier_revoke - refuse tokens of our issuer for account issued
 * before before (Unix seconds); the latest time wins. Thread-safe.
 */
void auth_verifier_revoke(auth_verifier *v, const char *account, long before);

/*
 * auth_verifier_tick - periodic upkeep from the service's main loop:
 * refresh JWKS older than refresh_s, forget revocations older than every
 * token they could refuse. Returns the number of issuers whose JWKS could
 * not be fetched when due (0 when all is well).
 */
int auth_verifier_tick(auth_verifier *v, long now);

/* auth_verifier_keys - keys currently known for issuer i (for /metrics and tests) */
int auth_verifier_keys(auth_verifier *v, int issuer);

#endif
