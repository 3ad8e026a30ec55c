/*
 * crypto.h - small wrappers over OpenSSL: digests, HMAC, Base64, random ids.
 *
 * Domain-free. Every function writes into a buffer the caller owns; none
 * prints or exits. Lengths are in bytes.
 */
#ifndef SHANTANG_UTIL_CRYPTO_H
#define SHANTANG_UTIL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* crypto_sha256 - 32-byte digest of data into out */
void crypto_sha256(const void *data, size_t len, unsigned char out[32]);

/* crypto_hmac_sha256 - 32-byte HMAC-SHA-256 of data under key into out */
void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                        unsigned char out[32]);

/* crypto_hex - lowercase hex of len bytes into out (2*len+1 bytes); returns out */
char *crypto_hex(const unsigned char *in, size_t len, char *out);

/*
 * crypto_b64_encode - standard (url=0) or URL-safe unpadded (url=1) Base64 of
 * in into out, NUL-terminated. Returns the length written, or -1 if outlen is
 * too small (needs 4*ceil(len/3)+1).
 */
int crypto_b64_encode(const unsigned char *in, size_t len, int url, char *out, size_t outlen);

/*
 * crypto_b64_decode - decode standard or URL-safe Base64 (padding optional) of
 * in[0..len) into out. Returns the decoded length, or -1 on a bad character,
 * bad length or too small out.
 */
int crypto_b64_decode(const char *in, size_t len, unsigned char *out, size_t outlen);

/* crypto_random - fill buf with len bytes from the OS CSPRNG; returns 0, or -1 on failure */
int crypto_random(void *buf, size_t len);

/*
 * crypto_uuid_v7 - a new RFC 9562 version-7 UUID (time-ordered) as 36 chars +
 * NUL into out. Ids made later sort after ids made earlier (millisecond
 * resolution, random within the millisecond).
 */
void crypto_uuid_v7(char out[37]);

/* crypto_uuid_valid - 1 if s is a canonical lowercase/uppercase 8-4-4-4-12 hex UUID */
int crypto_uuid_valid(const char *s);

/*
 * crypto_uuid_v7_age_ms - how long ago a UUIDv7 was made, from the
 * millisecond timestamp it carries (now_ms minus its time); -1 when id is
 * not a version-7 UUID.
 */
int64_t crypto_uuid_v7_age_ms(const char *id, int64_t now_ms);

/* crypto_timing_equal - constant-time comparison of two equal-length buffers */
int crypto_timing_equal(const void *a, const void *b, size_t len);

#endif
