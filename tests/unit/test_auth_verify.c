/*
 * test_auth_verify.c - the verifier every service runs (core/auth.h): each
 * validation rule of RFC 7519 7.2 and RFC 8725 on tokens this test signs
 * with keys it generates, served to the verifier by a fetcher of its own;
 * alg confusion ("none", HS256 with a public key, an alg the issuer does not
 * allow, a key of another type); the JWKS refresh on an unknown kid and its
 * rate limit; revocation; and an outside issuer's claim mapping.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/auth.h"
#include "util/jose.h"

#define OURS "http://accounts.test"
#define IDP "https://idp.test/realms/zj"
#define NOW 1800000000L

static EVP_PKEY *ec_key, *ed_key, *rsa_key, *other_ec;
static char jwks_ours[8192], jwks_idp[8192];
static int fetches_ours, fetches_idp;

/* serve - the fetcher: the current text of the set named by arg */
static char *serve(const char *url, void *arg, char *err, size_t errlen)
{
    (void)url;
    (void)err;
    (void)errlen;
    if (arg == jwks_ours)
        fetches_ours++;
    else
        fetches_idp++;
    return strdup(arg);
}

/* jwk_with_kid - the public JWK of key with kid (and alg) as text appended to set */
static void set_of(char *out, size_t len, EVP_PKEY *const *keys, const char *const *kids, int n)
{
    size_t used = (size_t)snprintf(out, len, "{\"keys\":[");
    for (int i = 0; i < n; i++) {
        cJSON *j = jose_key_to_jwk(keys[i]);
        cJSON_AddStringToObject(j, "kid", kids[i]);
        cJSON_AddStringToObject(j, "use", "sig");
        char *t = cJSON_PrintUnformatted(j);
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "," : "", t);
        free(t);
        cJSON_Delete(j);
    }
    snprintf(out + used, len - used, "]}");
}

/* sign - a compact JWS of header and payload JSON texts */
static char *sign(const char *header, const char *payload, EVP_PKEY *key, jose_alg alg)
{
    char err[128];
    cJSON *h = cJSON_Parse(header), *p = cJSON_Parse(payload);
    char *t = jose_jws_compact(h, p, key, NULL, 0, alg, err, sizeof(err));
    cJSON_Delete(h);
    cJSON_Delete(p);
    return t;
}

/* claims - our usual payload with one member replaced or added (extra "" for none) */
static char *payload(const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"" OURS "\",\"aud\":\"shantang\",\"sub\":\"acct-1\",\"iat\":%ld,"
             "\"nbf\":%ld,\"exp\":%ld,\"jti\":\"j1\",\"role\":\"coordinator\","
             "\"regions\":[\"330482105201\"],\"grant\":\"g1\"%s%s}",
             NOW - 10, NOW - 10, NOW + 900, *extra ? "," : "", extra);
    return buf;
}

static const char *ES_HDR = "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}";

/* refused - 1 when the token is refused with a reason containing want */
static int refused(auth_verifier *v, const char *token, long now, const char *want)
{
    auth_claims c;
    char err[128] = "";
    int rc = auth_verify(v, token, now, &c, err, sizeof(err));
    if (rc == 0 || (want && !strstr(err, want))) {
        fprintf(stderr, "  got %s \"%s\", want refusal \"%s\"\n", rc == 0 ? "accepted" : "refused",
                err, want ? want : "");
        return 0;
    }
    return c.role == 0 && c.sub[0] == '\0';
}

static auth_verifier *verifier(const char *issuers_file, const unsigned char *hs, size_t hslen)
{
    char err[256];
    auth_verifier_config cfg = {.issuer = OURS,
                                .audience = "shantang",
                                .issuers_file = issuers_file,
                                .hs256_key = hs,
                                .hs256_len = hslen,
                                .skew_s = 60,
                                .refresh_s = 300,
                                .min_refresh_s = 60};
    auth_verifier *v = auth_verifier_new(&cfg, err, sizeof(err));
    if (v == NULL)
        fprintf(stderr, "verifier: %s\n", err);
    return v;
}

static void test_rules(void)
{
    EVP_PKEY *keys[2] = {ec_key, ed_key};
    const char *kids[2] = {"k1", "k2"};
    set_of(jwks_ours, sizeof(jwks_ours), keys, kids, 2);
    auth_verifier *v = verifier("", NULL, 0);
    auth_verifier_set_fetch(v, 0, serve, jwks_ours);
    auth_claims c;
    char err[128], *t;

    t = sign(ES_HDR, payload(""), ec_key, JOSE_ES256);
    CHECK(auth_verify(v, t, NOW, &c, err, sizeof(err)) == 0, "ES256 token accepted (%s)", err);
    CHECK_INT(c.role, ROLE_COORDINATOR, "role claim");
    CHECK_STR(c.sub, "acct-1", "sub is the account");
    CHECK_STR(c.account, "acct-1", "account");
    CHECK_STR(c.grant, "g1", "grant");
    CHECK(c.nregions == 1 && strcmp(c.regions[0], "330482105201") == 0, "regions");
    CHECK(auth_verify(v, t, NOW + 900 + 59, &c, err, sizeof(err)) == 0, "expired within skew ok");
    CHECK(refused(v, t, NOW + 900 + 60, "expired"), "expired past the skew refused");
    free(t);
    t = sign("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k2\"}", payload(""), ed_key,
             JOSE_EDDSA);
    CHECK(auth_verify(v, t, NOW, &c, err, sizeof(err)) == 0, "EdDSA token accepted (%s)", err);
    free(t);

    /* alg confusion */
    t = sign("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", payload(""), ed_key,
             JOSE_EDDSA);
    CHECK(refused(v, t, NOW, "unknown key"), "EdDSA under the kid of the P-256 key refused");
    free(t);
    t = sign("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", payload(""), NULL,
             JOSE_HS256);
    CHECK(t == NULL, "no HS256 without a secret (the test's own helper)");
    {
        cJSON *pub = jose_key_to_jwk(ec_key);
        char *secret = cJSON_PrintUnformatted(pub), errb[64];
        cJSON *h = cJSON_Parse("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}");
        cJSON *p = cJSON_Parse(payload(""));
        char *hs = jose_jws_compact(h, p, NULL, (unsigned char *)secret, strlen(secret), JOSE_HS256,
                                    errb, sizeof(errb));
        CHECK(refused(v, hs, NOW, "alg"), "HS256 signed with the public JWK refused");
        free(hs);
        free(secret);
        cJSON_Delete(pub);
        cJSON_Delete(h);
        cJSON_Delete(p);
    }
    {
        /* alg none: an empty signature part is not even a compact JWS; with one, unknown alg */
        char none[2048];
        char *good = sign(ES_HDR, payload(""), ec_key, JOSE_ES256);
        const char *dot = strchr(good, '.');
        snprintf(none, sizeof(none), "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0%.*s",
                 (int)(strrchr(good, '.') - dot + 1), dot);
        strcat(none, "AA");
        CHECK(refused(v, none, NOW, "unsupported alg"), "alg none refused");
        free(good);
    }
    t = sign("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", payload(""), rsa_key,
             JOSE_RS256);
    CHECK(refused(v, t, NOW, "not allowed"), "RS256 is not on our issuer's allow-list");
    free(t);

    /* header and claims */
    t = sign("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", payload(""), ec_key, JOSE_ES256);
    CHECK(refused(v, t, NOW, "typ"), "typ JWT refused for our at+jwt tokens");
    free(t);
    t = sign("{\"alg\":\"ES256\",\"typ\":\"application/AT+JWT\",\"kid\":\"k1\"}", payload(""),
             ec_key, JOSE_ES256);
    CHECK(auth_verify(v, t, NOW, &c, err, sizeof(err)) == 0, "typ application/at+jwt accepted");
    free(t);
    t = sign("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k1\",\"crit\":[\"x\"]}", payload(""),
             ec_key, JOSE_ES256);
    CHECK(refused(v, t, NOW, "crit"), "an unknown crit header refused");
    free(t);
    struct {
        const char *payload, *why;
    } bad[] = {
        {"{\"iss\":\"" OURS "\",\"sub\":\"a\",\"iat\":1799999990,\"exp\":1800000900,\"jti\":\"j\","
         "\"role\":\"admin\"}",
         "audience"},
        {"{\"iss\":\"" OURS "\",\"aud\":\"other\",\"sub\":\"a\",\"iat\":1799999990,\"exp\":"
         "1800000900,\"jti\":\"j\",\"role\":\"admin\"}",
         "audience"},
        {"{\"iss\":\"" OURS "\",\"aud\":[\"x\",\"shantang\"],\"sub\":\"\",\"iat\":1799999990,"
         "\"exp\":1800000900,\"jti\":\"j\",\"role\":\"admin\"}",
         "subject"},
        {"{\"iss\":\"" OURS "\",\"aud\":\"shantang\",\"sub\":\"a\",\"iat\":1799999990,\"nbf\":"
         "1800000061,\"exp\":1800000900,\"jti\":\"j\",\"role\":\"admin\"}",
         "not yet valid"},
        {"{\"iss\":\"" OURS "\",\"aud\":\"shantang\",\"sub\":\"a\",\"iat\":1800000100,\"exp\":"
         "1800000900,\"jti\":\"j\",\"role\":\"admin\"}",
         "future"},
        {"{\"iss\":\"" OURS "\",\"aud\":\"shantang\",\"sub\":\"a\",\"iat\":1799999990,\"exp\":"
         "1800000900,\"role\":\"admin\"}",
         "jti"},
        {"{\"iss\":\"" OURS "\",\"aud\":\"shantang\",\"sub\":\"a\",\"iat\":1799999990,\"exp\":"
         "\"1800000900\",\"jti\":\"j\",\"role\":\"admin\"}",
         "times"},
        {"{\"iss\":\"" OURS "\",\"aud\":\"shantang\",\"sub\":\"a\",\"iat\":1799999990,\"exp\":"
         "1800000900,\"jti\":\"j\",\"role\":\"root\"}",
         "role"},
        {"{\"iss\":\"https://evil.test\",\"aud\":\"shantang\",\"sub\":\"a\",\"iat\":1799999990,"
         "\"exp\":1800000900,\"jti\":\"j\",\"role\":\"admin\"}",
         "unknown issuer"},
        {"{\"aud\":\"shantang\",\"sub\":\"a\",\"iat\":1799999990,\"exp\":1800000900,\"jti\":\"j\","
         "\"role\":\"admin\"}",
         "issuer"},
        {"{\"iss\":\"" OURS "\",\"aud\":\"shantang\",\"sub\":\"a\",\"iat\":1799999990,\"exp\":"
         "1800000900,\"jti\":\"j\",\"role\":\"notable\"}",
         "notable"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = sign(ES_HDR, bad[i].payload, ec_key, JOSE_ES256);
        CHECK(refused(v, t, NOW, bad[i].why), "refused for \"%s\"", bad[i].why);
        free(t);
    }
    t = sign(ES_HDR, payload("\"notable_id\":\"n-7\",\"role\":\"notable\""), ec_key, JOSE_ES256);
    /* a duplicate member: cJSON keeps the first "role", coordinator, with the extra notable_id */
    free(t);
    t = sign(ES_HDR,
             "{\"iss\":\"" OURS "\",\"aud\":\"shantang\",\"sub\":\"acct-9\",\"iat\":1799999990,"
             "\"exp\":1800000900,\"jti\":\"j\",\"role\":\"notable\",\"notable_id\":\"n-7\"}",
             ec_key, JOSE_ES256);
    CHECK(auth_verify(v, t, NOW, &c, err, sizeof(err)) == 0 && strcmp(c.sub, "n-7") == 0 &&
              strcmp(c.account, "acct-9") == 0,
          "a notable acts as its notable id, revoked as its account");
    free(t);

    /* a flipped signature byte */
    t = sign(ES_HDR, payload(""), ec_key, JOSE_ES256);
    size_t n = strlen(t);
    t[n - 5] = t[n - 5] == 'A' ? 'B' : 'A';
    CHECK(refused(v, t, NOW, "signature"), "a changed signature refused");
    free(t);

    /* revocation: older tokens refused, newer ones not, remembered ones too */
    t = sign(ES_HDR, payload(""), ec_key, JOSE_ES256);
    CHECK(auth_verify(v, t, NOW, &c, err, sizeof(err)) == 0, "verified (and remembered)");
    auth_verifier_revoke(v, "acct-1", NOW - 5);
    CHECK(refused(v, t, NOW, "revoked"), "a token issued before the revocation refused");
    auth_verifier_revoke(v, "acct-1", NOW - 100);
    CHECK(refused(v, t, NOW, "revoked"), "an earlier revocation does not undo a later one");
    auth_verifier_revoke(v, "acct-2", NOW + 100);
    auth_verifier_tick(v, NOW + 200000);
    CHECK(auth_verify(v, t, NOW, &c, err, sizeof(err)) == 0,
          "revocations older than a day are forgotten by the tick");
    free(t);
    auth_verifier_free(v);
}

static void test_refresh(void)
{
    EVP_PKEY *keys[1] = {ec_key};
    const char *kids[1] = {"k1"};
    set_of(jwks_ours, sizeof(jwks_ours), keys, kids, 1);
    fetches_ours = 0;
    auth_verifier *v = verifier("", NULL, 0);
    auth_verifier_set_fetch(v, 0, serve, jwks_ours);
    auth_claims c;
    char err[128];
    char *t = sign(ES_HDR, payload(""), ec_key, JOSE_ES256);
    CHECK(auth_verify(v, t, NOW, &c, err, sizeof(err)) == 0, "first token fetches the keys");
    CHECK_INT(fetches_ours, 1, "one fetch");
    free(t);
    /* a new key appears at the issuer */
    t = sign("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"k9\"}", payload(""), other_ec,
             JOSE_ES256);
    EVP_PKEY *two[2] = {ec_key, other_ec};
    const char *kids2[2] = {"k1", "k9"};
    set_of(jwks_ours, sizeof(jwks_ours), two, kids2, 2);
    CHECK(refused(v, t, NOW + 30, "unknown key"), "unknown kid within a minute: no refetch");
    CHECK_INT(fetches_ours, 1, "still one fetch");
    CHECK(auth_verify(v, t, NOW + 61, &c, err, sizeof(err)) == 0,
          "unknown kid after the minimum interval refetches and verifies (%s)", err);
    CHECK_INT(fetches_ours, 2, "two fetches");
    /* the issuer is away: the keys known are served stale */
    jwks_ours[0] = '\0';
    auth_verifier_tick(v, NOW + 61 + 301);
    CHECK(auth_verify(v, t, NOW + 400, &c, err, sizeof(err)) == 0,
          "a failed refresh keeps the known keys");
    CHECK_INT(auth_verifier_keys(v, 0), 2, "two keys still known");
    /* the issuer drops the key: a token verified (and remembered) under it lapses */
    set_of(jwks_ours, sizeof(jwks_ours), keys, kids, 1);
    auth_verifier_tick(v, NOW + 61 + 301 + 301);
    CHECK(refused(v, t, NOW + 400, "unknown key"),
          "a remembered token of a key the issuer dropped is refused");
    free(t);
    auth_verifier_free(v);
}

static void test_outside_issuer(void)
{
    EVP_PKEY *ours[1] = {ec_key}, *idp[1] = {rsa_key};
    const char *k1[1] = {"k1"}, *kr[1] = {"rsa-1"};
    set_of(jwks_ours, sizeof(jwks_ours), ours, k1, 1);
    set_of(jwks_idp, sizeof(jwks_idp), idp, kr, 1);
    char path[256];
    CHECK(check_temp_file("{\"issuers\":[{\"issuer\":\"" IDP "\",\"jwks_uri\":\"http://127.0.0.1:"
                          "9/certs\",\"algorithms\":[\"RS256\"],\"typ\":[\"JWT\"],\"claims\":{"
                          "\"role\":\"realm_access.roles\",\"regions\":\"attrs.region\","
                          "\"unit\":\"attrs.unit\"},\"roles\":{\"sh-planner\":\"planner\","
                          "\"sh-handler\":\"handler\"}}]}",
                          path, sizeof(path)) == 0,
          "issuers file written");
    auth_verifier *v = verifier(path, NULL, 0);
    CHECK(v != NULL, "verifier with an outside issuer");
    auth_verifier_set_fetch(v, 0, serve, jwks_ours);
    auth_verifier_set_fetch(v, 1, serve, jwks_idp);
    auth_claims c;
    char err[128], *t;
    const char *hdr = "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"rsa-1\"}";
    t = sign(hdr,
             "{\"iss\":\"" IDP "\",\"aud\":[\"account\",\"shantang\"],\"sub\":\"kc-user\",\"iat\":"
             "1799999990,\"exp\":1800000300,\"realm_access\":{\"roles\":[\"offline_access\","
             "\"sh-planner\"]},\"attrs\":{\"region\":\"310116000000\"}}",
             rsa_key, JOSE_RS256);
    CHECK(auth_verify(v, t, NOW, &c, err, sizeof(err)) == 0, "Keycloak-like RS256 token (%s)", err);
    CHECK_INT(c.role, ROLE_PLANNER, "role mapped from realm_access.roles");
    CHECK(c.nregions == 1 && strcmp(c.regions[0], "310116000000") == 0, "region from attrs");
    CHECK_INT(c.issuer, 1, "the outside issuer signed");
    free(t);
    t = sign(hdr,
             "{\"iss\":\"" IDP "\",\"aud\":\"shantang\",\"sub\":\"kc\",\"iat\":1799999990,\"exp\":"
             "1800000300,\"realm_access\":{\"roles\":[\"sh-planner\",\"sh-handler\"]}}",
             rsa_key, JOSE_RS256);
    CHECK(refused(v, t, NOW, "more than one role"), "two mapped roles refused");
    free(t);
    t = sign(hdr,
             "{\"iss\":\"" IDP "\",\"aud\":\"shantang\",\"sub\":\"kc\",\"iat\":1799999990,\"exp\":"
             "1800000300,\"realm_access\":{\"roles\":[\"planner\"]}}",
             rsa_key, JOSE_RS256);
    CHECK(refused(v, t, NOW, "unknown role"), "a role name outside the map refused");
    free(t);
    t = sign("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
             "{\"iss\":\"" IDP "\",\"aud\":\"shantang\",\"sub\":\"kc\",\"iat\":1799999990,\"exp\":"
             "1800000300,\"realm_access\":{\"roles\":[\"sh-planner\"]}}",
             ec_key, JOSE_ES256);
    CHECK(refused(v, t, NOW, "not allowed"), "our key's alg under the outside issuer refused");
    free(t);
    auth_verifier_free(v);
    remove(path);

    /* a broken issuers file refuses to start */
    char e2[256];
    CHECK(check_temp_file("{\"issuers\":[{\"issuer\":\"x\",\"jwks_uri\":\"u\",\"algorithms\":["
                          "\"HS256\"],\"claims\":{\"role\":\"r\"}}]}",
                          path, sizeof(path)) == 0,
          "bad file written");
    auth_verifier_config cfg = {.issuer = OURS, .audience = "shantang", .issuers_file = path};
    CHECK(auth_verifier_new(&cfg, e2, sizeof(e2)) == NULL && strstr(e2, "algorithms"),
          "HS256 for an outside issuer refused at start: %s", e2);
    remove(path);
}

static void test_development_key(void)
{
    static const unsigned char dev[] = "0123456789abcdef0123456789abcdef";
    auth_verifier *v = verifier("", dev, 32);
    auth_claims in = {0}, c;
    char err[128];
    snprintf(in.sub, sizeof(in.sub), "dev");
    in.role = ROLE_ADMIN;
    in.iat = NOW;
    in.exp = NOW + 60;
    char *t = auth_jwt_sign(&in, dev, 32, err, sizeof(err));
    CHECK(auth_verify(v, t, NOW, &c, err, sizeof(err)) == 0 && c.role == ROLE_ADMIN,
          "an HS256 development token with the development key");
    free(t);
    auth_verifier_free(v);
    v = verifier("", NULL, 0);
    t = auth_jwt_sign(&in, dev, 32, err, sizeof(err));
    CHECK(refused(v, t, NOW, "alg"), "no development key: HS256 refused");
    free(t);
    auth_verifier_free(v);
}

/* new_key - a fresh key of type (EC P-256, ED25519, RSA 2048) */
static EVP_PKEY *new_key(const char *type)
{
    if (strcmp(type, "EC") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (strcmp(type, "RSA") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

int main(void)
{
    ec_key = new_key("EC");
    other_ec = new_key("EC");
    ed_key = new_key("ED25519");
    rsa_key = new_key("RSA");
    test_rules();
    test_refresh();
    test_outside_issuer();
    test_development_key();
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(other_ec);
    EVP_PKEY_free(ed_key);
    EVP_PKEY_free(rsa_key);
    return check_done();
}
