/*
 * fuzz_auth.c - a bearer token as every service receives it: auth_verify
 * (common/core/auth_verify.c) against a verifier with our issuer (ES256
 * and EdDSA keys), an outside issuer with a claim mapping (ES256, roles
 * through "roles", dotted claim paths) and the HS256 development key,
 * whose JWKS are served from memory through auth_verifier_set_fetch; and
 * auth_jwt_verify (common/core/auth.c) with the development key. The
 * clock is fixed (2026-03-02), so the seed tokens stay valid.
 *
 * The keys below are test keys made for this harness only; they sign
 * nothing anywhere else.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>

#include "core/auth.h"
#include "util/jose.h"

#define NOW 1772416800L /* 2026-03-02T02:00:00Z */
#define OUR_ISSUER "https://accounts.fuzz"
#define IDP_ISSUER "https://idp.fuzz/realms/zj"
#define DEV_KEY "fuzz-development-key-0123456789abcdef"

static const char ours_es256[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxc/U21VXnMwhZ0DJ\n"
    "MLpGtWHiM5HWwM5FtBIypeoKVHGhRANCAAQq0MF0n1BTV/g2ggMlvpJiyKMfF497\n"
    "XDJNS1teiGwnqq6N+pn0guUja/MwlVTiBWibFBl45bahvxSaX35o0V/f\n"
    "-----END PRIVATE KEY-----\n";
static const char ours_ed25519[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIErtIb6tpI1FjLWIYWyISw+LIJdepjwFOM5dY5LAAPPS\n"
    "-----END PRIVATE KEY-----\n";
static const char idp_es256[] = "-----BEGIN PRIVATE KEY-----\n"
                                "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyhWgTZfmKKYCqjzk\n"
                                "U5GW/ZH7TjjuTCeN0emS9R/fUxGhRANCAAQG3T+JjPvrHdU1kKOza3d4NDkwoJw1\n"
                                "FnS1GPvcXWU32cU7EqqNs7Zj6zaqt+/VQH1xaT21iBi//H1vuAjklFmu\n"
                                "-----END PRIVATE KEY-----\n";

/* key_of - a private key from PEM text; aborts when it does not read */
static EVP_PKEY *key_of(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (k == NULL)
        abort();
    return k;
}

/* jwks_of - the JWKS text of the public halves of keys, each with its thumbprint as kid */
static char *jwks_of(EVP_PKEY *const *keys, int n)
{
    cJSON *set = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(set, "keys");
    for (int i = 0; i < n; i++) {
        char kid[JOSE_THUMB_LEN];
        cJSON *jwk = jose_key_to_jwk(keys[i]);
        if (jwk == NULL || jose_thumbprint(keys[i], kid) < 0)
            abort();
        cJSON_AddStringToObject(jwk, "kid", kid);
        cJSON_AddStringToObject(jwk, "use", "sig");
        cJSON_AddItemToArray(arr, jwk);
    }
    char *text = cJSON_PrintUnformatted(set);
    cJSON_Delete(set);
    return text;
}

/* serve - the fetcher: a copy of the JWKS text in arg */
static char *serve(const char *url, void *arg, char *err, size_t errlen)
{
    (void)url;
    (void)err;
    (void)errlen;
    return strdup(arg);
}

static auth_verifier *verifier;

/* setup - the verifier with both issuers and the development key */
static void setup(void)
{
    static char path[64];
    static char *ours_jwks, *idp_jwks;
    EVP_PKEY *ours[2] = {key_of(ours_es256), key_of(ours_ed25519)}, *idp[1] = {key_of(idp_es256)};
    ours_jwks = jwks_of(ours, 2);
    idp_jwks = jwks_of(idp, 1);
    for (int i = 0; i < 2; i++)
        EVP_PKEY_free(ours[i]);
    EVP_PKEY_free(idp[0]);

    snprintf(path, sizeof(path), "/tmp/shantang-fuzz-issuers-%ld.json", (long)getpid());
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    fputs("{\"issuers\": [{\"issuer\": \"" IDP_ISSUER "\", \"jwks_uri\": \"" IDP_ISSUER
          "/certs\", \"audience\": \"shantang\", \"algorithms\": [\"ES256\"], "
          "\"typ\": [\"JWT\", \"at+jwt\"], \"claims\": {\"role\": \"realm_access.roles\", "
          "\"regions\": \"shantang_regions\", \"unit\": \"shantang_unit\", "
          "\"notable\": \"shantang_notable\"}, \"roles\": {\"shantang-planner\": \"planner\", "
          "\"shantang-coordinator\": \"coordinator\"}}]}",
          f);
    fclose(f);

    char err[256];
    auth_verifier_config cfg = {.issuer = OUR_ISSUER,
                                .jwks_url = "",
                                .audience = "shantang",
                                .issuers_file = path,
                                .hs256_key = (const unsigned char *)DEV_KEY,
                                .hs256_len = strlen(DEV_KEY),
                                .skew_s = 60,
                                .refresh_s = 300,
                                .min_refresh_s = 60};
    verifier = auth_verifier_new(&cfg, err, sizeof(err));
    unlink(path);
    if (verifier == NULL) {
        fprintf(stderr, "fuzz_auth: %s\n", err);
        abort();
    }
    auth_verifier_set_fetch(verifier, 0, serve, ours_jwks);
    auth_verifier_set_fetch(verifier, 1, serve, idp_jwks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (verifier == NULL) {
        fuzz_quiet();
        setup();
    }
    char *token = fuzz_strndup(data, size);
    auth_claims c;
    char err[256] = "";
    int rc = auth_verify(verifier, token, NOW, &c, err, sizeof(err));
    if (getenv(
            "SHANTANG_FUZZ_VERBOSE")) /* what a seed gets: SHANTANG_FUZZ_VERBOSE=1 fuzz_auth FILE */
        fprintf(stderr, "auth_verify: %s\n", rc == 0 ? auth_role_name(c.role) : err);
    if (rc == 0) {
        if (c.sub[0] == '\0' || auth_role_name(c.role)[0] == 'u' || c.nregions < 0 ||
            c.nregions > AUTH_MAX_REGIONS)
            abort();
    } else if (err[0] == '\0') {
        abort();
    }
    err[0] = '\0';
    if (auth_jwt_verify(token, (const unsigned char *)DEV_KEY, strlen(DEV_KEY), NOW, 60, &c, err,
                        sizeof(err)) == 0) {
        if (auth_role_name(c.role)[0] == 'u' || c.nregions < 0 || c.nregions > AUTH_MAX_REGIONS)
            abort();
    } else if (err[0] == '\0') {
        abort();
    }
    free(token);
    return 0;
}
