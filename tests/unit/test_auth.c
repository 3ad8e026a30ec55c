/*
 * test_auth.c - JWT signing and verification, roles, region scope, and the
 * CloudEvents envelope.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/auth.h"
#include "core/event.h"
#include "util/crypto.h"

static const unsigned char key[] = "0123456789abcdef0123456789abcdef";

/* token_with - a signed token whose payload is the given JSON text */
static char *token_with(const char *header, const char *payload, const unsigned char *k)
{
    char h[256], p[1024], sig[64];
    unsigned char mac[32];
    crypto_b64_encode((const unsigned char *)header, strlen(header), 1, h, sizeof(h));
    crypto_b64_encode((const unsigned char *)payload, strlen(payload), 1, p, sizeof(p));
    char *t = malloc(strlen(h) + strlen(p) + 64);
    sprintf(t, "%s.%s", h, p);
    crypto_hmac_sha256(k, 32, t, strlen(t), mac);
    crypto_b64_encode(mac, 32, 1, sig, sizeof(sig));
    strcat(t, ".");
    strcat(t, sig);
    return t;
}

static void test_jwt(void)
{
    auth_claims c = {0}, got;
    char err[64];
    snprintf(c.sub, sizeof(c.sub), "coord-1");
    c.role = ROLE_COORDINATOR;
    snprintf(c.regions[0], 13, "330482105201");
    snprintf(c.regions[1], 13, "310116106001"); /* a coordinator's regions are villages */
    c.nregions = 2;
    c.exp = 2000;
    c.iat = 1000;
    char *t = auth_jwt_sign(&c, key, 32, err, sizeof(err));
    CHECK(t != NULL, "sign");
    CHECK_INT(auth_jwt_verify(t, key, 32, 1500, 0, &got, err, sizeof(err)), 0, "verify");
    CHECK_STR(got.sub, "coord-1", "sub");
    CHECK_INT(got.role, ROLE_COORDINATOR, "role");
    CHECK_INT(got.nregions, 2, "regions");
    CHECK_STR(got.regions[1], "310116106001", "second region");
    CHECK_INT(auth_jwt_verify(t, key, 32, 2000, 0, &got, err, sizeof(err)), -1, "expired at exp");
    CHECK_STR(err, "expired", "expired reason");
    CHECK_INT(auth_jwt_verify(t, (const unsigned char *)"another key another key another!!", 32,
                              1500, 0, &got, err, sizeof(err)),
              -1, "wrong key");
    CHECK_STR(err, "bad signature", "wrong key reason");
    /* tamper with the payload: swap one character of the middle part */
    char *dot = strchr(t, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    CHECK_INT(auth_jwt_verify(t, key, 32, 1500, 0, &got, err, sizeof(err)), -1, "tampered");
    free(t);

    char *none =
        token_with("{\"alg\":\"none\"}", "{\"sub\":\"x\",\"role\":\"admin\",\"exp\":9e9}", key);
    CHECK_INT(auth_jwt_verify(none, key, 32, 1500, 0, &got, err, sizeof(err)), -1, "alg none");
    free(none);
    char *role =
        token_with("{\"alg\":\"HS256\"}", "{\"sub\":\"x\",\"role\":\"king\",\"exp\":9e9}", key);
    CHECK_INT(auth_jwt_verify(role, key, 32, 1500, 0, &got, err, sizeof(err)), -1, "unknown role");
    CHECK_STR(err, "unknown role", "unknown role reason");
    free(role);
    char *noexp = token_with("{\"alg\":\"HS256\"}", "{\"sub\":\"x\",\"role\":\"admin\"}", key);
    CHECK_INT(auth_jwt_verify(noexp, key, 32, 1500, 0, &got, err, sizeof(err)), -1, "no exp");
    free(noexp);
    CHECK_INT(auth_jwt_verify("a.b", key, 32, 1500, 0, &got, err, sizeof(err)), -1, "two parts");
    CHECK_INT(auth_jwt_verify(NULL, key, 32, 1500, 0, &got, err, sizeof(err)), -1, "NULL token");
}

/* test_jwt_claims - the HS256 path refuses what the JWKS verifier refuses (skew 60 at now 1500) */
static void test_jwt_claims(void)
{
    static const struct {
        const char *payload;
        int rc;
        const char *why; /* the reason when refused */
    } cases[] = {
        {"{\"sub\":\"x\",\"role\":\"admin\",\"iat\":1500,\"exp\":9e9}", 0, NULL},
        {"{\"sub\":\"x\",\"role\":\"admin\",\"nbf\":1560,\"exp\":9e9}", 0, NULL},
        {"{\"sub\":\"x\",\"role\":\"admin\",\"nbf\":1561,\"exp\":9e9}", -1, "not yet valid"},
        {"{\"sub\":\"x\",\"role\":\"admin\",\"iat\":1560,\"exp\":9e9}", 0, NULL},
        {"{\"sub\":\"x\",\"role\":\"admin\",\"iat\":1561,\"exp\":9e9}", -1, "issued in the future"},
        {"{\"sub\":\"x\",\"role\":\"admin\",\"iat\":\"1\",\"exp\":9e9}", -1, "malformed claims"},
        {"{\"sub\":\"\",\"role\":\"admin\",\"exp\":9e9}", -1, "no subject"},
        {"{\"sub\":\"x\",\"role\":\"coordinator\",\"regions\":[\"330482105201\"],\"exp\":9e9}", 0,
         NULL},
        {"{\"sub\":\"x\",\"role\":\"coordinator\",\"regions\":[\"330482105000\"],\"exp\":9e9}", -1,
         "village codes"},
        {"{\"sub\":\"x\",\"role\":\"coordinator\",\"regions\":[\"330482105201\",\"330482000000\"],"
         "\"exp\":9e9}",
         -1, "village codes"},
        {"{\"sub\":\"x\",\"role\":\"planner\",\"regions\":[\"330482000000\"],\"exp\":9e9}", 0,
         NULL},
    };
    auth_claims got;
    char err[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = token_with("{\"alg\":\"HS256\"}", cases[i].payload, key);
        err[0] = '\0';
        int rc = auth_jwt_verify(t, key, 32, 1500, 60, &got, err, sizeof(err));
        CHECK(rc == cases[i].rc, "%s: got %d (%s), want %d", cases[i].payload, rc, err,
              cases[i].rc);
        if (cases[i].why)
            CHECK(strstr(err, cases[i].why) != NULL, "%s: reason got \"%s\", want \"%s\"",
                  cases[i].payload, err, cases[i].why);
        free(t);
    }
    static const struct {
        const char *code;
        int village;
    } codes[] = {
        {"330482105201", 1}, {"330482105000", 0}, {"330482000000", 0}, {"33048210520", 0},
        {"33048210520x", 0}, {"310116106001", 1}, {NULL, 0},
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        CHECK_INT(auth_region_is_village(codes[i].code), codes[i].village,
                  codes[i].code ? codes[i].code : "NULL");
}

static void test_scope(void)
{
    static const struct {
        const char *scope; /* "" = none */
        int role;
        const char *code;
        int want;
    } cases[] = {
        {"330482000000", ROLE_COORDINATOR, "330482105201", 1}, /* county covers its villages */
        {"330482105000", ROLE_COORDINATOR, "330482105203", 1}, /* town covers its villages */
        {"330482105000", ROLE_COORDINATOR, "330482104201", 0}, /* not another town's */
        {"330482105201", ROLE_COORDINATOR, "330482105201", 1}, /* village: itself */
        {"330482105201", ROLE_COORDINATOR, "330482105202", 0}, /* not its neighbour */
        {"330482105201", ROLE_COORDINATOR, "310116106201", 0}, /* nor across the border */
        {"", ROLE_COORDINATOR, "330482105201", 0},             /* no scope: nowhere */
        {"", ROLE_ADMIN, "310116106201", 1},                   /* admin: everywhere */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        auth_claims c = {0};
        c.role = cases[i].role;
        if (*cases[i].scope) {
            snprintf(c.regions[0], 13, "%s", cases[i].scope);
            c.nregions = 1;
        }
        CHECK(auth_region_allows(&c, cases[i].code) == cases[i].want, "scope %s, code %s: want %d",
              cases[i].scope, cases[i].code, cases[i].want);
    }
    char p[13];
    CHECK_STR(auth_region_prefix("330000000000", p), "33", "province prefix");
    CHECK_STR(auth_region_prefix("330400000000", p), "3304", "city prefix");
    CHECK_STR(auth_region_prefix("330482104000", p), "330482104", "town prefix");
    CHECK_STR(auth_region_prefix("33048210400", p), "", "malformed prefix");
    auth_claims two = {0};
    snprintf(two.regions[0], 13, "330482000000");
    snprintf(two.regions[1], 13, "310116106000");
    two.nregions = 2;
    char arr[AUTH_SCOPE_ARRAY_LEN];
    CHECK_STR(auth_scope_array(&two, arr, sizeof(arr)), "{\"330482\",\"310116106\"}",
              "scope as an array literal");
    two.nregions = 0;
    CHECK_STR(auth_scope_array(&two, arr, sizeof(arr)), "{}", "empty scope");
    CHECK_INT(auth_role_parse("planner"), ROLE_PLANNER, "planner");
    CHECK_INT(auth_role_parse("root"), 0, "root");
    CHECK_STR(auth_role_name(ROLE_HANDLER), "handler", "handler name");
}

static void test_event(void)
{
    char err[128];
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "id", "p1");
    cJSON *ev = event_new("registry", "project.registered", "p1", data);
    CHECK_INT(event_validate(ev, err, sizeof(err)), 0, "new envelope validates");
    CHECK_STR(event_type(ev), "project.registered", "type");
    CHECK_STR(event_subject(ev), "p1", "subject");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "source")), "/shantang/registry",
              "source");
    CHECK(crypto_uuid_valid(event_id(ev)), "id is a UUID");
    CHECK(event_data(ev) == data, "data accessor");
    static const char *const required[] = {"specversion", "id", "source", "type", "data"};
    for (int i = 0; i < 5; i++) {
        cJSON *copy = cJSON_Duplicate(ev, 1);
        cJSON_DeleteItemFromObject(copy, required[i]);
        CHECK_INT(event_validate(copy, err, sizeof(err)), -1, required[i]);
        CHECK(strstr(err, required[i]) != NULL, "error names %s: %s", required[i], err);
        cJSON_Delete(copy);
    }
    cJSON *old = cJSON_Duplicate(ev, 1);
    cJSON_ReplaceItemInObject(old, "specversion", cJSON_CreateString("0.3"));
    CHECK_INT(event_validate(old, err, sizeof(err)), -1, "specversion 0.3");
    cJSON_ReplaceItemInObject(old, "specversion", cJSON_CreateString("1.0"));
    cJSON_ReplaceItemInObject(old, "data", cJSON_CreateString("text"));
    CHECK_INT(event_validate(old, err, sizeof(err)), -1, "data not an object");
    cJSON_ReplaceItemInObject(old, "data", cJSON_CreateObject());
    cJSON_ReplaceItemInObject(old, "time", cJSON_CreateString("yesterday"));
    CHECK_INT(event_validate(old, err, sizeof(err)), -1, "bad time");
    cJSON_Delete(old);
    cJSON_Delete(ev);
    CHECK(event_new("registry", "x", "s", NULL) == NULL, "NULL data");
}

int main(void)
{
    test_jwt();
    test_jwt_claims();
    test_scope();
    test_event();
    return check_done();
}
