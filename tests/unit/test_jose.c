/*
 * test_jose.c - JWS signatures, JWKs and thumbprints against the RFC
 * examples (../shared/AUTH.md lists them with their sources): RFC 7515 A.3
 * (ES256, verify only: ECDSA is randomized), RFC 8037 A.4 (Ed25519, a
 * deterministic signature), RFC 7638 3.1 and RFC 8037 A.3 thumbprints, the
 * thumbprint of the A.3 P-256 key; and the refusals that keep one key to
 * one algorithm.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/crypto.h"
#include "util/jose.h"

/* RFC 7515 A.3 */
static const char *ec_jwk = "{\"kty\":\"EC\",\"crv\":\"P-256\","
                            "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                            "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
                            "\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}";
static const char *ec_input =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog"
    "Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char *ec_sig = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQ"
                            "xfKTUJqPP3-Kg6NU1Q";

/* RFC 8037 A.1 (key), A.4 (signature) */
static const char *ed_jwk = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                            "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
                            "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
static const char *ed_input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
static const char *ed_sig = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsP"
                            "t9g7sVvpAr_MuM0KAg";

/* RFC 7638 3.1 (the RSA key of RFC 7517 A.1) */
static const char *rsa_jwk =
    "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4"
    "cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93"
    "lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91C"
    "bOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8"
    "awapJzKnqDKgw\"}";

/* key_of - a key from JWK text (private too when want_private) */
static EVP_PKEY *key_of(const char *text, int want_private)
{
    char err[128];
    cJSON *j = cJSON_Parse(text);
    EVP_PKEY *k = jose_jwk_to_key(j, want_private, err, sizeof(err));
    cJSON_Delete(j);
    if (k == NULL)
        fprintf(stderr, "jwk: %s\n", err);
    return k;
}

/* sig_of - decode a Base64url signature; its length */
static size_t sig_of(const char *b64, unsigned char *out)
{
    int n = crypto_b64_decode(b64, strlen(b64), out, JOSE_MAX_SIG);
    return n > 0 ? (size_t)n : 0;
}

static void test_rfc_vectors(void)
{
    unsigned char sig[JOSE_MAX_SIG], made[JOSE_MAX_SIG];
    size_t len, mlen = 0;
    char thumb[JOSE_THUMB_LEN];

    EVP_PKEY *ec = key_of(ec_jwk, 0);
    CHECK(ec != NULL, "RFC 7515 A.3 public key from its JWK");
    CHECK_INT(jose_key_alg(ec), JOSE_ES256, "a P-256 key fits ES256");
    len = sig_of(ec_sig, sig);
    CHECK_INT((int)len, 64, "ES256 signature is the raw 64-byte R||S");
    CHECK_INT(jose_verify(ec, NULL, 0, JOSE_ES256, ec_input, strlen(ec_input), sig, len), 1,
              "RFC 7515 A.3 signature verifies");
    char tampered[256];
    snprintf(tampered, sizeof(tampered), "%s", ec_input);
    tampered[40] ^= 1;
    CHECK_INT(jose_verify(ec, NULL, 0, JOSE_ES256, tampered, strlen(tampered), sig, len), 0,
              "a changed signing input fails");
    CHECK_INT(jose_verify(ec, NULL, 0, JOSE_ES256, ec_input, strlen(ec_input), sig, 63), 0,
              "a 63-byte ES256 signature fails");
    CHECK_INT(jose_verify(ec, NULL, 0, JOSE_EDDSA, ec_input, strlen(ec_input), sig, len), 0,
              "a P-256 key never verifies EdDSA");
    CHECK(jose_thumbprint(ec, thumb) == 0, "thumbprint of the A.3 key");
    CHECK_STR(thumb, "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U", "A.3 P-256 thumbprint");

    EVP_PKEY *ecd = key_of(ec_jwk, 1);
    CHECK(ecd && jose_sign(ecd, NULL, 0, JOSE_ES256, ec_input, strlen(ec_input), made, &mlen) == 0,
          "ES256 signing with the A.3 private key");
    CHECK_INT((int)mlen, 64, "our ES256 signature is 64 bytes");
    CHECK_INT(jose_verify(ec, NULL, 0, JOSE_ES256, ec_input, strlen(ec_input), made, mlen), 1,
              "our ES256 signature verifies with the public key");

    EVP_PKEY *ed = key_of(ed_jwk, 1), *edpub = key_of(ed_jwk, 0);
    CHECK(ed && edpub, "RFC 8037 A.1 keys");
    CHECK(jose_sign(ed, NULL, 0, JOSE_EDDSA, ed_input, strlen(ed_input), made, &mlen) == 0,
          "Ed25519 signing");
    char b64[128];
    crypto_b64_encode(made, mlen, 1, b64, sizeof(b64));
    CHECK_STR(b64, ed_sig, "RFC 8037 A.4 signature reproduced");
    len = sig_of(ed_sig, sig);
    CHECK_INT(jose_verify(edpub, NULL, 0, JOSE_EDDSA, ed_input, strlen(ed_input), sig, len), 1,
              "RFC 8037 A.4 signature verifies");
    CHECK(jose_thumbprint(edpub, thumb) == 0, "Ed25519 thumbprint");
    CHECK_STR(thumb, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", "RFC 8037 A.3 thumbprint");
    CHECK_INT(jose_alg_parse("Ed25519"), JOSE_EDDSA, "RFC 9864 name Ed25519 is EdDSA");

    EVP_PKEY *rsa = key_of(rsa_jwk, 0);
    CHECK(rsa != NULL, "RFC 7517 A.1 RSA key");
    CHECK(jose_thumbprint(rsa, thumb) == 0, "RSA thumbprint");
    CHECK_STR(thumb, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "RFC 7638 3.1 thumbprint");
    CHECK_INT(jose_key_alg(rsa), JOSE_RS256, "a 2048-bit RSA key fits RS256");

    EVP_PKEY_free(ec);
    EVP_PKEY_free(ecd);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(edpub);
    EVP_PKEY_free(rsa);
}

static void test_confusion(void)
{
    unsigned char sig[JOSE_MAX_SIG];
    size_t len = 0;
    EVP_PKEY *ec = key_of(ec_jwk, 0);
    /* RFC 8725 2.1: a public key taken as an HMAC secret */
    cJSON *pub = jose_key_to_jwk(ec);
    char *pubtext = cJSON_PrintUnformatted(pub);
    jose_sign(NULL, (unsigned char *)pubtext, strlen(pubtext), JOSE_HS256, "a.b", 3, sig, &len);
    CHECK_INT(
        jose_verify(ec, (unsigned char *)pubtext, strlen(pubtext), JOSE_HS256, "a.b", 3, sig, len),
        0, "HS256 is never checked against a public key");
    CHECK_INT(jose_alg_parse("none"), JOSE_ALG_UNKNOWN, "alg none is unknown");
    CHECK_INT(jose_alg_parse("noNE"), JOSE_ALG_UNKNOWN, "alg noNE is unknown");
    CHECK_INT(jose_alg_parse("HS512"), JOSE_ALG_UNKNOWN, "HS512 is unknown");
    CHECK(jose_sign(ec, NULL, 0, JOSE_RS256, "a.b", 3, sig, &len) < 0,
          "an EC key cannot sign RS256");
    cJSON *small = cJSON_Parse("{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"AQAB\"}");
    char err[128];
    EVP_PKEY *tiny = jose_jwk_to_key(small, 0, err, sizeof(err));
    CHECK(tiny == NULL, "an RSA key under 2048 bits is refused (%s)", err);
    cJSON *oct = cJSON_Parse("{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}");
    CHECK(jose_jwk_to_key(oct, 0, err, sizeof(err)) == NULL, "a symmetric JWK is refused");
    cJSON_Delete(small);
    cJSON_Delete(oct);
    cJSON_Delete(pub);
    free(pubtext);
    EVP_PKEY_free(ec);
}

static void test_compact(void)
{
    char err[128];
    EVP_PKEY *ed = key_of(ed_jwk, 1);
    cJSON *h = cJSON_Parse("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}");
    cJSON *p = cJSON_Parse("{\"sub\":\"s\",\"n\":1}");
    char *tok = jose_jws_compact(h, p, ed, NULL, 0, JOSE_EDDSA, err, sizeof(err));
    CHECK(tok != NULL, "compact JWS made");
    jose_jws jws;
    CHECK(jose_jws_parse(tok, 8192, &jws, err, sizeof(err)) == 0, "parsed back");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(jws.payload, "sub")), "s", "payload sub");
    CHECK_INT(jose_verify(ed, NULL, 0, JOSE_EDDSA, tok, jws.signing_len, jws.sig, jws.siglen), 1,
              "its signature verifies over header.payload");
    jose_jws_clear(&jws);
    static const char *const bad[] = {"a.b",     "a.b.c.d",    "YQ.YQ.",     "eyJ9.eyJ9.a=b",
                                      "a b.c.d", "W10.e30.YQ", "e30.W10.YQ", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(jose_jws_parse(bad[i], 8192, &jws, err, sizeof(err)) < 0, "refused: \"%s\" (%s)",
              bad[i], err);
    char *longer = malloc(9000);
    memset(longer, 'a', 8999);
    longer[8999] = '\0';
    CHECK(jose_jws_parse(longer, 8192, &jws, err, sizeof(err)) < 0 && strstr(err, "long"),
          "over 8 KiB refused");
    free(longer);
    free(tok);
    cJSON_Delete(h);
    cJSON_Delete(p);
    EVP_PKEY_free(ed);
}

int main(void)
{
    test_rfc_vectors();
    test_confusion();
    test_compact();
    return check_done();
}
