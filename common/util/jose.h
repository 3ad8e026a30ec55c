/*
 * jose.h - the JOSE pieces a token issuer and its verifiers need, over
 * OpenSSL 3: JWS signatures (RS256, ES256, EdDSA/Ed25519, HS256), JWKs to
 * keys and back, RFC 7638 thumbprints, and the compact serialization.
 *
 * Domain-free: nothing here knows what a claim means. Every function fills
 * a buffer the caller owns or returns an object whose owner is stated; none
 * prints or exits. Facts and test vectors: RFC 7515 (JWS), RFC 7517 (JWK),
 * RFC 7518 (ES256 signatures are the raw 64-byte R||S, not DER), RFC 8037
 * (OKP keys, EdDSA), RFC 7638 (thumbprints), RFC 9864 ("Ed25519" as the
 * fully specified name of EdDSA over Ed25519).
 *
 * What it trusts: nothing. A compact JWS must hold only A-Z a-z 0-9 - _ .
 * in exactly three parts; a key is used only with the algorithm its type
 * fits (an RSA key of at least 2048 bits for RS256, a P-256 key for ES256,
 * an Ed25519 key for EdDSA), so a public key can never be taken as an HMAC
 * secret.
 */
#ifndef SHANTANG_UTIL_JOSE_H
#define SHANTANG_UTIL_JOSE_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>

typedef enum {
    JOSE_ALG_UNKNOWN = 0,
    JOSE_RS256 = 1 << 0,
    JOSE_ES256 = 1 << 1,
    JOSE_EDDSA = 1 << 2, /* "EdDSA" (RFC 8037) or "Ed25519" (RFC 9864), Ed25519 keys only */
    JOSE_HS256 = 1 << 3
} jose_alg;

#define JOSE_MAX_SIG 512  /* bytes of the largest signature accepted (RSA 4096) */
#define JOSE_THUMB_LEN 48 /* room for a SHA-256 thumbprint in Base64url (43) and its NUL */

/* jose_alg_parse - the alg of a JWS header value; JOSE_ALG_UNKNOWN for anything else ("none") */
jose_alg jose_alg_parse(const char *name);

/* jose_alg_name - the header value of one alg ("EdDSA" for JOSE_EDDSA); "unknown" otherwise */
const char *jose_alg_name(jose_alg alg);

/*
 * jose_key_alg - the one asymmetric alg key fits: JOSE_RS256 for RSA of at
 * least 2048 bits, JOSE_ES256 for EC P-256, JOSE_EDDSA for Ed25519;
 * JOSE_ALG_UNKNOWN for anything else. This function can't fail.
 */
jose_alg jose_key_alg(const EVP_PKEY *key);

/*
 * jose_jwk_to_key - a key from a JWK object (kty RSA, EC with crv P-256, or
 * OKP with crv Ed25519); with "d" present and want_private set, the private
 * key too. Returns a new EVP_PKEY (caller frees with EVP_PKEY_free) or NULL
 * with err ("unsupported kty", "bad x", ...).
 */
EVP_PKEY *jose_jwk_to_key(const cJSON *jwk, int want_private, char *err, size_t errlen);

/*
 * jose_key_to_jwk - the public JWK of key (required members only, RFC 7638
 * order: EC crv,kty,x,y; OKP crv,kty,x; RSA e,kty,n). Returns a new cJSON
 * object owned by the caller, or NULL for an unsupported key.
 */
cJSON *jose_key_to_jwk(const EVP_PKEY *key);

/*
 * jose_thumbprint - the RFC 7638 SHA-256 thumbprint of key's public JWK in
 * Base64url (usable as kid) into out. Returns 0, or -1 for an unsupported key.
 */
int jose_thumbprint(const EVP_PKEY *key, char out[JOSE_THUMB_LEN]);

/*
 * jose_sign - the JWS signature of input under key with alg (ES256 as the
 * raw R||S). sig holds JOSE_MAX_SIG bytes; *siglen receives the length.
 * For JOSE_HS256, key is NULL and secret/secretlen the HMAC key. Returns 0,
 * or -1 when the key does not fit alg or OpenSSL fails.
 */
int jose_sign(const EVP_PKEY *key, const unsigned char *secret, size_t secretlen, jose_alg alg,
              const void *input, size_t len, unsigned char *sig, size_t *siglen);

/*
 * jose_verify - 1 when sig is a valid alg signature of input under key
 * (or, for JOSE_HS256 only, under secret, compared in constant time); 0 for
 * a bad signature, a wrong length or a key that does not fit alg.
 */
int jose_verify(const EVP_PKEY *key, const unsigned char *secret, size_t secretlen, jose_alg alg,
                const void *input, size_t len, const unsigned char *sig, size_t siglen);

typedef struct jose_jws {
    cJSON *header;      /* the parsed protected header (owned) */
    cJSON *payload;     /* the parsed payload, when it is a JSON object (owned), else NULL */
    size_t signing_len; /* bytes of header.payload, the signing input at the token's start */
    unsigned char sig[JOSE_MAX_SIG]; /* the decoded signature */
    size_t siglen;                   /* its bytes */
} jose_jws;

/*
 * jose_jws_parse - split and decode a compact JWS of at most maxlen bytes
 * whose header and payload are JSON objects. Returns 0 and fills jws
 * (release with jose_jws_clear), or -1 with err ("malformed", "too long",
 * "bad header", ...).
 */
int jose_jws_parse(const char *token, size_t maxlen, jose_jws *jws, char *err, size_t errlen);

/* jose_jws_clear - free what jose_jws_parse allocated; safe on a zeroed struct */
void jose_jws_clear(jose_jws *jws);

/*
 * jose_jws_compact - header.payload.signature from two JSON objects (not
 * taken), signed as jose_sign does. Returns a malloc'd token (caller frees)
 * or NULL with err.
 */
char *jose_jws_compact(const cJSON *header, const cJSON *payload, const EVP_PKEY *key,
                       const unsigned char *secret, size_t secretlen, jose_alg alg, char *err,
                       size_t errlen);

/*
 * jose_key_from_pem_file - the private key of a PEM file (PKCS#8 or the
 * traditional forms). Returns a new key (caller frees) or NULL with err; the
 * key's bytes are never put into err.
 */
EVP_PKEY *jose_key_from_pem_file(const char *path, char *err, size_t errlen);

#endif
