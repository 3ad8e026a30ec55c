/*
 * auth.c - HS256 JWTs and the role and region scope they carry.
 *
 * Trusts nothing in a token until its signature is verified in constant time
 * with the service's key; only alg HS256 is accepted. The key comes from
 * JWT_SECRET through the service skeleton and is never logged.
 */
#include "core/auth.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"

static const char *const role_names[] = {"admin",   "coordinator", "notable",
                                         "handler", "supervisor",  "planner"};

/* auth_role_parse - role bit of a name, 0 if unknown */
int auth_role_parse(const char *name)
{
    for (int i = 0; name && i < 6; i++)
        if (strcmp(name, role_names[i]) == 0)
            return 1 << i;
    return 0;
}

/* auth_role_name - name of one role bit */
const char *auth_role_name(int role)
{
    for (int i = 0; i < 6; i++)
        if (role == 1 << i)
            return role_names[i];
    return "unknown";
}

/* b64url - malloc'd unpadded Base64url of len bytes */
static char *b64url(const void *data, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);
    if (out && crypto_b64_encode(data, len, 1, out, cap) < 0) {
        free(out);
        out = NULL;
    }
    return out;
}

/* auth_jwt_sign - header.payload.signature, malloc'd */
char *auth_jwt_sign(const auth_claims *claims, const unsigned char *key, size_t keylen, char *err,
                    size_t errlen)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "sub", claims->sub);
    cJSON_AddStringToObject(p, "role", auth_role_name(claims->role));
    cJSON *regions = cJSON_AddArrayToObject(p, "regions");
    for (int i = 0; i < claims->nregions; i++)
        cJSON_AddItemToArray(regions, cJSON_CreateString(claims->regions[i]));
    if (claims->unit[0])
        cJSON_AddStringToObject(p, "unit", claims->unit);
    cJSON_AddNumberToObject(p, "iat", (double)claims->iat);
    cJSON_AddNumberToObject(p, "exp", (double)claims->exp);
    char *payload = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *h = b64url(header, strlen(header)),
         *b = payload ? b64url(payload, strlen(payload)) : NULL;
    free(payload);
    char *token = NULL;
    if (h && b && (token = malloc(strlen(h) + strlen(b) + 48)) != NULL) {
        unsigned char mac[32];
        char sig[48];
        sprintf(token, "%s.%s", h, b);
        crypto_hmac_sha256(key, keylen, token, strlen(token), mac);
        crypto_b64_encode(mac, 32, 1, sig, sizeof(sig));
        strcat(token, ".");
        strcat(token, sig);
    } else {
        snprintf(err, errlen, "out of memory");
    }
    free(h);
    free(b);
    return token;
}

/* auth_jwt_verify - signature, alg, expiry, claims; 0 or -1 with err */
int auth_jwt_verify(const char *token, const unsigned char *key, size_t keylen, long now,
                    int skew_s, auth_claims *out, char *err, size_t errlen)
{
    const char *dot1 = token ? strchr(token, '.') : NULL;
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    unsigned char mac[32], sig[40], buf[4096];
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (dot2 == NULL || strchr(dot2 + 1, '.') || (size_t)(dot2 - token) > 3000) {
        snprintf(err, errlen, "malformed");
        return -1;
    }
    int hl = crypto_b64_decode(token, (size_t)(dot1 - token), buf, sizeof(buf) - 1);
    if (hl < 0) {
        snprintf(err, errlen, "malformed");
        return -1;
    }
    buf[hl] = '\0';
    cJSON *h = cJSON_Parse((char *)buf);
    const char *alg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "alg"));
    int alg_ok = alg && strcmp(alg, "HS256") == 0;
    cJSON_Delete(h);
    if (!alg_ok) {
        snprintf(err, errlen, "unsupported alg");
        return -1;
    }
    crypto_hmac_sha256(key, keylen, token, (size_t)(dot2 - token), mac);
    int sl = crypto_b64_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig));
    if (sl != 32 || !crypto_timing_equal(mac, sig, 32)) {
        snprintf(err, errlen, "bad signature");
        return -1;
    }
    int pl = crypto_b64_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), buf, sizeof(buf) - 1);
    if (pl < 0) {
        snprintf(err, errlen, "malformed");
        return -1;
    }
    buf[pl] = '\0';
    cJSON *p = cJSON_Parse((char *)buf);
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(p, "sub");
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(p, "role");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(p, "exp");
    const cJSON *regions = cJSON_GetObjectItemCaseSensitive(p, "regions");
    const cJSON *unit = cJSON_GetObjectItemCaseSensitive(p, "unit");
    const cJSON *iat = cJSON_GetObjectItemCaseSensitive(p, "iat");
    const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(p, "nbf");
    if (!cJSON_IsString(sub) || strlen(sub->valuestring) >= sizeof(out->sub) ||
        (iat && !cJSON_IsNumber(iat)) || (nbf && !cJSON_IsNumber(nbf)) || !cJSON_IsString(role) ||
        !cJSON_IsNumber(exp) || !(exp->valuedouble >= 0 && exp->valuedouble <= 1e12) ||
        (iat && !(iat->valuedouble >= 0 && iat->valuedouble <= 1e12)) ||
        (regions && !cJSON_IsArray(regions)) || (unit && !cJSON_IsString(unit)) ||
        (unit && strlen(unit->valuestring) >= sizeof(out->unit))) {
        snprintf(err, errlen, "malformed claims");
    } else if ((out->role = auth_role_parse(role->valuestring)) == 0) {
        snprintf(err, errlen, "unknown role");
    } else if ((long)exp->valuedouble <= now) {
        snprintf(err, errlen, "expired");
    } else if (nbf && nbf->valuedouble > (double)now + skew_s) {
        snprintf(err, errlen, "not yet valid");
    } else if (iat && iat->valuedouble > (double)now + skew_s) {
        snprintf(err, errlen, "issued in the future");
    } else if (sub->valuestring[0] == '\0') {
        snprintf(err, errlen, "no subject");
    } else {
        snprintf(out->sub, sizeof(out->sub), "%s", sub->valuestring);
        if (unit)
            snprintf(out->unit, sizeof(out->unit), "%s", unit->valuestring);
        out->exp = (long)exp->valuedouble;
        out->iat = cJSON_IsNumber(iat) ? (long)iat->valuedouble : 0;
        rc = 0;
        const cJSON *r;
        cJSON_ArrayForEach(r, regions)
        {
            const char *code = cJSON_GetStringValue(r);
            char prefix[13];
            if (code == NULL || out->nregions >= AUTH_MAX_REGIONS ||
                *auth_region_prefix(code, prefix) == '\0') {
                snprintf(err, errlen, "malformed regions");
                rc = -1;
                break;
            }
            snprintf(out->regions[out->nregions++], 13, "%s", code);
        }
        if (rc == 0 && auth_scope_check(out, err, errlen) < 0)
            rc = -1;
    }
    cJSON_Delete(p);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

/* auth_region_prefix - the code without its trailing zero groups */
char *auth_region_prefix(const char *code, char out[13])
{
    static const int cuts[] = {2, 4, 6, 9, 12};
    out[0] = '\0';
    if (code == NULL || strlen(code) != 12 || strspn(code, "0123456789") != 12)
        return out;
    int len = 12;
    for (int i = 3; i >= 0; i--) {
        int zeros = 1;
        for (int j = cuts[i]; j < cuts[i + 1] && zeros; j++)
            zeros = code[j] == '0';
        if (!zeros || len != cuts[i + 1])
            break;
        len = cuts[i];
    }
    memcpy(out, code, (size_t)len);
    out[len] = '\0';
    return out;
}

/* auth_region_is_village - 1 if code is 12 digits whose village part (the last 3) is not 000 */
int auth_region_is_village(const char *code)
{
    return code != NULL && strlen(code) == 12 && strspn(code, "0123456789") == 12 &&
           strcmp(code + 9, "000") != 0;
}

/* auth_scope_check - 0 if the regions suit the role (a coordinator's are villages), else -1 */
int auth_scope_check(const auth_claims *claims, char *err, size_t errlen)
{
    if (claims->role != ROLE_COORDINATOR)
        return 0;
    for (int i = 0; i < claims->nregions; i++) {
        if (!auth_region_is_village(claims->regions[i])) {
            snprintf(err, errlen, "a coordinator's regions must be village codes");
            return -1;
        }
    }
    return 0;
}

/* auth_region_allows - admin everywhere; otherwise a scope prefix must prefix code */
int auth_region_allows(const auth_claims *claims, const char *code)
{
    if (claims->role == ROLE_ADMIN)
        return 1;
    for (int i = 0; code && i < claims->nregions; i++) {
        char prefix[13];
        auth_region_prefix(claims->regions[i], prefix);
        if (*prefix && strncmp(code, prefix, strlen(prefix)) == 0)
            return 1;
    }
    return 0;
}

/* auth_scope_array - the scope's prefixes as a PostgreSQL array literal */
char *auth_scope_array(const auth_claims *claims, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "{");
    for (int i = 0; i < claims->nregions && used + 16 < len; i++) {
        char prefix[13];
        auth_region_prefix(claims->regions[i], prefix);
        used += (size_t)snprintf(buf + used, len - used, "%s\"%s\"", i ? "," : "", prefix);
    }
    snprintf(buf + used, len - used, "}");
    return buf;
}
