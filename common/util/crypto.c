/*
 * crypto.c - digests, HMAC, Base64, random bytes and UUIDv7 over OpenSSL.
 *
 * Domain-free; writes into caller buffers; never prints or exits.
 */
#include "util/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/timeutil.h"

/* crypto_sha256 - SHA-256 of data */
void crypto_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* crypto_hmac_sha256 - HMAC-SHA-256 of data under key */
void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                        unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n);
}

/* crypto_hex - lowercase hex */
char *crypto_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

/* crypto_b64_encode - standard padded or URL-safe unpadded Base64 */
int crypto_b64_encode(const unsigned char *in, size_t len, int url, char *out, size_t outlen)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char web[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *a = url ? web : std;
    size_t need = 4 * ((len + 2) / 3) + 1, n = 0;

    if (outlen < need)
        return -1;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[n++] = a[(v >> 18) & 63];
        out[n++] = a[(v >> 12) & 63];
        if (i + 1 < len)
            out[n++] = a[(v >> 6) & 63];
        else if (!url)
            out[n++] = '=';
        if (i + 2 < len)
            out[n++] = a[v & 63];
        else if (!url)
            out[n++] = '=';
    }
    out[n] = '\0';
    return (int)n;
}

/* b64_value - value of one Base64 character of either alphabet, -1 otherwise */
static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* crypto_b64_decode - either alphabet, padding optional; -1 on bad input */
int crypto_b64_decode(const char *in, size_t len, unsigned char *out, size_t outlen)
{
    size_t n = 0;
    unsigned v = 0;
    int bits = 0;

    while (len > 0 && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int d = b64_value(in[i]);
        if (d < 0)
            return -1;
        v = (v << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= outlen)
                return -1;
            out[n++] = (unsigned char)(v >> bits);
        }
    }
    if (bits > 0 && (v & ((1u << bits) - 1)) != 0)
        return -1; /* non-canonical trailing bits */
    return (int)n;
}

/* crypto_random - CSPRNG bytes */
int crypto_random(void *buf, size_t len)
{
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static pthread_mutex_t uuid_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t uuid_last_ms;
static unsigned uuid_seq;

/* crypto_uuid_v7 - time-ordered UUID; a 12-bit counter keeps order within a millisecond */
void crypto_uuid_v7(char out[37])
{
    unsigned char b[16];
    int64_t ms = time_now_ms();

    crypto_random(b, sizeof(b));
    pthread_mutex_lock(&uuid_lock);
    if (ms <= uuid_last_ms) {
        ms = uuid_last_ms;
        if (++uuid_seq > 0xfff) { /* counter exhausted: borrow the next millisecond */
            ms = ++uuid_last_ms;
            uuid_seq = b[6] & 0x7f;
        }
    } else {
        uuid_last_ms = ms;
        uuid_seq = b[6] & 0x7f; /* random start, room to count up */
    }
    unsigned seq = uuid_seq;
    pthread_mutex_unlock(&uuid_lock);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | ((seq >> 8) & 0x0f));
    b[7] = (unsigned char)(seq & 0xff);
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* crypto_uuid_valid - canonical 8-4-4-4-12 hex */
int crypto_uuid_valid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

/* crypto_timing_equal - constant-time comparison */
int crypto_timing_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

/* crypto_uuid_v7_age_ms - age of a UUIDv7 from its 48-bit millisecond timestamp */
int64_t crypto_uuid_v7_age_ms(const char *id, int64_t now_ms)
{
    if (!crypto_uuid_valid(id) || id[14] != '7')
        return -1;
    int64_t ms = 0;
    for (int i = 0; i < 13; i++) {
        if (i == 8)
            continue; /* the dash */
        char c = id[i];
        int v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        ms = ms * 16 + v;
    }
    return now_ms - ms;
}
