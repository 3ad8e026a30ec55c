/*
 * jose.c - JWS signatures, JWKs and thumbprints over OpenSSL 3 (see jose.h).
 *
 * ES256: OpenSSL signs and verifies DER ECDSA-Sig-Value; JWS carries the raw
 * 32-byte R and S (RFC 7518 section 3.4), converted here in both directions.
 * EdDSA: one-shot EVP_DigestSign/Verify with no digest (EVP_SIGNATURE-ED25519).
 * Domain-free; reads no configuration; never logs.
 */
#include "util/jose.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"

/* jose_alg_parse - header alg to jose_alg; "none" and every other name are unknown */
jose_alg jose_alg_parse(const char *name)
{
    if (name == NULL)
        return JOSE_ALG_UNKNOWN;
    if (strcmp(name, "RS256") == 0)
        return JOSE_RS256;
    if (strcmp(name, "ES256") == 0)
        return JOSE_ES256;
    if (strcmp(name, "EdDSA") == 0 || strcmp(name, "Ed25519") == 0)
        return JOSE_EDDSA;
    if (strcmp(name, "HS256") == 0)
        return JOSE_HS256;
    return JOSE_ALG_UNKNOWN;
}

/* jose_alg_name - the header value of alg */
const char *jose_alg_name(jose_alg alg)
{
    switch (alg) {
    case JOSE_RS256:
        return "RS256";
    case JOSE_ES256:
        return "ES256";
    case JOSE_EDDSA:
        return "EdDSA";
    case JOSE_HS256:
        return "HS256";
    default:
        return "unknown";
    }
}

/* jose_key_alg - the alg key's type fits */
jose_alg jose_key_alg(const EVP_PKEY *key)
{
    if (key == NULL)
        return JOSE_ALG_UNKNOWN;
    if (EVP_PKEY_is_a(key, "RSA"))
        return EVP_PKEY_get_bits(key) >= 2048 ? JOSE_RS256 : JOSE_ALG_UNKNOWN;
    if (EVP_PKEY_is_a(key, "ED25519"))
        return JOSE_EDDSA;
    if (EVP_PKEY_is_a(key, "EC")) {
        char group[32] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &glen) == 1 &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
            return JOSE_ES256;
    }
    return JOSE_ALG_UNKNOWN;
}

/* b64_member - decode the Base64url string member name of jwk; length or -1 */
static int b64_member(const cJSON *jwk, const char *name, unsigned char *out, size_t outlen)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, name));
    if (s == NULL || *s == '\0' || strchr(s, '=') || strchr(s, '+') || strchr(s, '/'))
        return -1;
    return crypto_b64_decode(s, strlen(s), out, outlen);
}

/* key_fromdata - EVP_PKEY_fromdata for type with params; NULL on failure */
static EVP_PKEY *key_fromdata(const char *type, OSSL_PARAM *params, int selection)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &key, selection, params);
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* ec_from_jwk - a P-256 key from x, y (and d) */
static EVP_PKEY *ec_from_jwk(const cJSON *jwk, int want_private, char *err, size_t errlen)
{
    unsigned char pub[65], d[32];
    const char *crv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "crv"));
    if (crv == NULL || strcmp(crv, "P-256") != 0) {
        snprintf(err, errlen, "unsupported crv");
        return NULL;
    }
    pub[0] = 0x04;
    if (b64_member(jwk, "x", pub + 1, 32) != 32 || b64_member(jwk, "y", pub + 33, 32) != 32) {
        snprintf(err, errlen, "bad x or y");
        return NULL;
    }
    int have_d = want_private && cJSON_GetObjectItemCaseSensitive(jwk, "d") != NULL;
    if (have_d && b64_member(jwk, "d", d, sizeof(d)) != 32) {
        snprintf(err, errlen, "bad d");
        return NULL;
    }
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *priv = have_d ? BN_bin2bn(d, 32, NULL) : NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY *key = NULL;
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) &&
        (!have_d || (priv && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv))) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL)
        key = key_fromdata("EC", params, have_d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    OPENSSL_cleanse(d, sizeof(d));
    if (key == NULL)
        snprintf(err, errlen, "not a point on P-256");
    return key;
}

/* rsa_from_jwk - an RSA public key from n and e */
static EVP_PKEY *rsa_from_jwk(const cJSON *jwk, char *err, size_t errlen)
{
    unsigned char n[1024], e[16];
    int nl = b64_member(jwk, "n", n, sizeof(n)), el = b64_member(jwk, "e", e, sizeof(e));
    if (nl < 256 || el < 1) {
        snprintf(err, errlen, "bad n or e (RSA keys have at least 2048 bits)");
        return NULL;
    }
    BIGNUM *bn = BN_bin2bn(n, nl, NULL), *be = BN_bin2bn(e, el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY *key = NULL;
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL)
        key = key_fromdata("RSA", params, EVP_PKEY_PUBLIC_KEY);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    if (key == NULL)
        snprintf(err, errlen, "bad RSA key");
    return key;
}

/* jose_jwk_to_key - a key from a JWK */
EVP_PKEY *jose_jwk_to_key(const cJSON *jwk, int want_private, char *err, size_t errlen)
{
    const char *kty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "kty"));
    if (!cJSON_IsObject(jwk) || kty == NULL) {
        snprintf(err, errlen, "no kty");
        return NULL;
    }
    if (strcmp(kty, "EC") == 0)
        return ec_from_jwk(jwk, want_private, err, errlen);
    if (strcmp(kty, "RSA") == 0)
        return rsa_from_jwk(jwk, err, errlen);
    if (strcmp(kty, "OKP") == 0) {
        const char *crv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "crv"));
        unsigned char raw[32];
        if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
            snprintf(err, errlen, "unsupported crv");
            return NULL;
        }
        EVP_PKEY *key = NULL;
        if (want_private && cJSON_GetObjectItemCaseSensitive(jwk, "d")) {
            if (b64_member(jwk, "d", raw, sizeof(raw)) == 32)
                key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, 32);
        } else if (b64_member(jwk, "x", raw, sizeof(raw)) == 32) {
            key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
        }
        OPENSSL_cleanse(raw, sizeof(raw));
        if (key == NULL)
            snprintf(err, errlen, "bad x or d");
        return key;
    }
    snprintf(err, errlen, "unsupported kty");
    return NULL;
}

/* add_b64 - add a Base64url member of len bytes to obj; 0 or -1 */
static int add_b64(cJSON *obj, const char *name, const unsigned char *data, size_t len)
{
    char buf[1400];
    if (crypto_b64_encode(data, len, 1, buf, sizeof(buf)) < 0)
        return -1;
    return cJSON_AddStringToObject(obj, name, buf) ? 0 : -1;
}

/* add_bn - add a Base64url member from a BIGNUM parameter of key, padded to pad bytes (0: none) */
static int add_bn(cJSON *obj, const EVP_PKEY *key, const char *param, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    int rc = -1;
    if (EVP_PKEY_get_bn_param(key, param, &bn) == 1 && bn) {
        int len = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
        if (len > 0 && (size_t)BN_num_bytes(bn) <= sizeof(buf))
            rc = add_b64(obj, name, buf, (size_t)len);
    }
    BN_free(bn);
    return rc;
}

/* jose_key_to_jwk - the public JWK, required members in RFC 7638 order */
cJSON *jose_key_to_jwk(const EVP_PKEY *key)
{
    jose_alg alg = jose_key_alg(key);
    cJSON *jwk = cJSON_CreateObject();
    int rc = -1;
    if (jwk == NULL)
        return NULL;
    if (alg == JOSE_ES256) {
        rc = cJSON_AddStringToObject(jwk, "crv", "P-256") &&
                     cJSON_AddStringToObject(jwk, "kty", "EC")
                 ? 0
                 : -1;
        if (rc == 0)
            rc = add_bn(jwk, key, OSSL_PKEY_PARAM_EC_PUB_X, "x", 32);
        if (rc == 0)
            rc = add_bn(jwk, key, OSSL_PKEY_PARAM_EC_PUB_Y, "y", 32);
    } else if (alg == JOSE_EDDSA) {
        unsigned char raw[32];
        size_t len = sizeof(raw);
        if (EVP_PKEY_get_raw_public_key(key, raw, &len) == 1 && len == 32 &&
            cJSON_AddStringToObject(jwk, "crv", "Ed25519") &&
            cJSON_AddStringToObject(jwk, "kty", "OKP"))
            rc = add_b64(jwk, "x", raw, len);
    } else if (alg == JOSE_RS256) {
        rc = add_bn(jwk, key, OSSL_PKEY_PARAM_RSA_E, "e", 0);
        if (rc == 0)
            rc = cJSON_AddStringToObject(jwk, "kty", "RSA") ? 0 : -1;
        if (rc == 0)
            rc = add_bn(jwk, key, OSSL_PKEY_PARAM_RSA_N, "n", 0);
    }
    if (rc < 0) {
        cJSON_Delete(jwk);
        return NULL;
    }
    return jwk;
}

/* jose_thumbprint - RFC 7638: SHA-256 of the required members, sorted, no white space */
int jose_thumbprint(const EVP_PKEY *key, char out[JOSE_THUMB_LEN])
{
    cJSON *jwk = jose_key_to_jwk(key);
    char *text = jwk ? cJSON_PrintUnformatted(jwk) : NULL;
    cJSON_Delete(jwk);
    if (text == NULL)
        return -1;
    unsigned char digest[32];
    crypto_sha256(text, strlen(text), digest);
    free(text);
    return crypto_b64_encode(digest, 32, 1, out, JOSE_THUMB_LEN) < 0 ? -1 : 0;
}

/* digest_of - the message digest alg signs with (NULL for EdDSA) */
static const char *digest_of(jose_alg alg)
{
    return alg == JOSE_EDDSA ? NULL : "SHA256";
}

/* jose_sign - a JWS signature; ES256 converted from DER to R||S */
int jose_sign(const EVP_PKEY *key, const unsigned char *secret, size_t secretlen, jose_alg alg,
              const void *input, size_t len, unsigned char *sig, size_t *siglen)
{
    if (alg == JOSE_HS256) {
        if (secret == NULL || secretlen == 0)
            return -1;
        crypto_hmac_sha256(secret, secretlen, input, len, sig);
        *siglen = 32;
        return 0;
    }
    if (key == NULL || jose_key_alg(key) != alg)
        return -1;
    unsigned char der[JOSE_MAX_SIG];
    size_t derlen = sizeof(der);
    *siglen = JOSE_MAX_SIG; /* EVP_DigestSign reads the room, then writes the length */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok =
        md &&
        EVP_DigestSignInit_ex(md, NULL, digest_of(alg), NULL, NULL, (EVP_PKEY *)key, NULL) == 1 &&
        EVP_DigestSign(md, alg == JOSE_ES256 ? der : sig, alg == JOSE_ES256 ? &derlen : siglen,
                       input, len) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return -1;
    if (alg != JOSE_ES256)
        return 0;
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    const BIGNUM *r = NULL, *s = NULL;
    if (es)
        ECDSA_SIG_get0(es, &r, &s);
    ok = es && BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
    ECDSA_SIG_free(es);
    *siglen = 64;
    return ok ? 0 : -1;
}

/* jose_verify - 1 for a good signature, 0 otherwise */
int jose_verify(const EVP_PKEY *key, const unsigned char *secret, size_t secretlen, jose_alg alg,
                const void *input, size_t len, const unsigned char *sig, size_t siglen)
{
    if (alg == JOSE_HS256) {
        unsigned char mac[32];
        if (key != NULL || secret == NULL || secretlen == 0 || siglen != 32)
            return 0;
        crypto_hmac_sha256(secret, secretlen, input, len, mac);
        return crypto_timing_equal(mac, sig, 32);
    }
    if (key == NULL || jose_key_alg(key) != alg)
        return 0;
    unsigned char der[80];
    const unsigned char *check = sig;
    size_t checklen = siglen;
    if (alg == JOSE_ES256) {
        if (siglen != 64)
            return 0;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
        if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            return 0;
        }
        unsigned char *p = der;
        int dl = i2d_ECDSA_SIG(es, NULL);
        if (dl <= 0 || dl > (int)sizeof(der) || i2d_ECDSA_SIG(es, &p) != dl) {
            ECDSA_SIG_free(es);
            return 0;
        }
        ECDSA_SIG_free(es);
        check = der;
        checklen = (size_t)dl;
    } else if (alg == JOSE_EDDSA && siglen != 64) {
        return 0;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok =
        md &&
        EVP_DigestVerifyInit_ex(md, NULL, digest_of(alg), NULL, NULL, (EVP_PKEY *)key, NULL) == 1 &&
        EVP_DigestVerify(md, check, checklen, input, len) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* decode_json - a Base64url part decoded and parsed as a JSON object; NULL otherwise */
static cJSON *decode_json(const char *part, size_t len)
{
    size_t cap = len * 3 / 4 + 4;
    unsigned char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    int n = crypto_b64_decode(part, len, buf, cap - 1);
    cJSON *obj = NULL;
    if (n > 0 && memchr(buf, '\0', (size_t)n) == NULL) {
        buf[n] = '\0';
        obj = cJSON_ParseWithLength((const char *)buf, (size_t)n);
        if (obj && !cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            obj = NULL;
        }
    }
    free(buf);
    return obj;
}

/* jose_jws_parse - split and decode a compact JWS */
int jose_jws_parse(const char *token, size_t maxlen, jose_jws *jws, char *err, size_t errlen)
{
    memset(jws, 0, sizeof(*jws));
    size_t len = token ? strnlen(token, maxlen + 1) : 0;
    if (len == 0 || len > maxlen) {
        snprintf(err, errlen, len ? "too long" : "empty");
        return -1;
    }
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_.";
    const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (strspn(token, alphabet) != len || dot2 == NULL || strchr(dot2 + 1, '.') || dot1 == token ||
        dot2 == dot1 + 1 || dot2[1] == '\0') {
        snprintf(err, errlen, "malformed");
        return -1;
    }
    jws->header = decode_json(token, (size_t)(dot1 - token));
    if (jws->header == NULL) {
        snprintf(err, errlen, "bad header");
        return -1;
    }
    jws->payload = decode_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (jws->payload == NULL) {
        jose_jws_clear(jws);
        snprintf(err, errlen, "bad payload");
        return -1;
    }
    int sl = crypto_b64_decode(dot2 + 1, strlen(dot2 + 1), jws->sig, sizeof(jws->sig));
    if (sl <= 0) {
        jose_jws_clear(jws);
        snprintf(err, errlen, "bad signature encoding");
        return -1;
    }
    jws->siglen = (size_t)sl;
    jws->signing_len = (size_t)(dot2 - token);
    return 0;
}

/* jose_jws_clear - release a parsed JWS */
void jose_jws_clear(jose_jws *jws)
{
    cJSON_Delete(jws->header);
    cJSON_Delete(jws->payload);
    jws->header = jws->payload = NULL;
}

/* b64_text - malloc'd unpadded Base64url of a NUL-terminated text */
static char *b64_text(const char *text)
{
    size_t len = strlen(text), cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);
    if (out && crypto_b64_encode((const unsigned char *)text, len, 1, out, cap) < 0) {
        free(out);
        out = NULL;
    }
    return out;
}

/* jose_jws_compact - sign header and payload into a compact JWS */
char *jose_jws_compact(const cJSON *header, const cJSON *payload, const EVP_PKEY *key,
                       const unsigned char *secret, size_t secretlen, jose_alg alg, char *err,
                       size_t errlen)
{
    char *ht = cJSON_PrintUnformatted(header), *pt = cJSON_PrintUnformatted(payload);
    char *h = ht ? b64_text(ht) : NULL, *p = pt ? b64_text(pt) : NULL, *token = NULL;
    free(ht);
    free(pt);
    unsigned char sig[JOSE_MAX_SIG];
    size_t siglen = 0;
    if (h && p && (token = malloc(strlen(h) + strlen(p) + 2 + 4 * JOSE_MAX_SIG / 3 + 8)) != NULL) {
        size_t n = (size_t)sprintf(token, "%s.%s", h, p);
        if (jose_sign(key, secret, secretlen, alg, token, n, sig, &siglen) < 0) {
            snprintf(err, errlen, "signing failed");
            free(token);
            token = NULL;
        } else {
            token[n++] = '.';
            crypto_b64_encode(sig, siglen, 1, token + n, 4 * JOSE_MAX_SIG / 3 + 8);
        }
    } else {
        snprintf(err, errlen, "out of memory");
    }
    free(h);
    free(p);
    return token;
}

/* jose_key_from_pem_file - a private key from a PEM file */
EVP_PKEY *jose_key_from_pem_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL)
        snprintf(err, errlen, "%s holds no private key in PEM", path);
    else if (jose_key_alg(key) == JOSE_ALG_UNKNOWN) {
        snprintf(err, errlen, "%s: the key is not Ed25519, P-256 or RSA of 2048 bits or more",
                 path);
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}
