/*
 * auth.h - bearer tokens (JWT, HS256) and the roles and scopes they carry.
 *
 * Claims: sub (subject id), role (one of the names below), regions (array of
 * region codes the subject may write; a code ending in zeros covers every
 * region below it), unit (handling unit id, for handlers), exp (Unix seconds),
 * iat. The signing key comes from JWT_SECRET (or JWT_SECRET_FILE); it is
 * never logged. Only alg HS256 is accepted; "none" and every other alg is
 * refused.
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
    char sub[64];                       /* subject: user or notable id */
    int role;                           /* exactly one ROLE_* bit */
    char regions[AUTH_MAX_REGIONS][13]; /* region codes in scope, 12 digits each */
    int nregions;                       /* used entries of regions */
    char unit[64];                      /* handling unit id, "" if none */
    long exp;                           /* expiry, Unix seconds */
    long iat;                           /* issued at, Unix seconds */
} auth_claims;

/* auth_role_parse - "admin".."planner" to its ROLE_* bit; 0 if unknown */
int auth_role_parse(const char *name);

/* auth_role_name - the name of one ROLE_* bit; "unknown" otherwise */
const char *auth_role_name(int role);

/*
 * auth_jwt_sign - encode and sign claims as a compact JWT.
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

#endif
