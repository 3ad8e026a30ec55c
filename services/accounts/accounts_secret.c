/*
 * accounts_secret.c - the rules for the secrets of sign-in, kept apart from
 * the database so that the unit tests can pin them: one-time codes
 * (NIST SP 800-63B: an approved RBG, 6 digits, kept only as a keyed hash),
 * passwords (argon2id, RFC 9106 / OWASP parameters from configuration,
 * rehash when they change, lock-out growing with repeated failures), and
 * opaque refresh tokens (kept only as their SHA-256).
 *
 * Nothing here logs, prints or keeps a copy of a secret; buffers that held
 * one are cleansed.
 */
#include "accounts.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"

#define ACC_SALT_LEN 16 /* 128-bit salt (RFC 9106) */
#define ACC_HASH_LEN 32 /* 256-bit tag */

/* acc_code_new - six digits, uniform: redraw above the largest multiple of 10^6 */
int acc_code_new(char out[7])
{
    uint32_t x;
    do {
        if (RAND_priv_bytes((unsigned char *)&x, sizeof(x)) != 1)
            return -1;
    } while (x >= 4294000000u);
    snprintf(out, 7, "%06u", x % 1000000u);
    return 0;
}

/* acc_code_hash - keyed hash binding the code to its row and phone */
void acc_code_hash(const unsigned char key[32], const char *id, const char *phone, const char *code,
                   char out[65])
{
    char msg[128];
    unsigned char mac[32];
    int n = snprintf(msg, sizeof(msg), "%s:%s:%s", id, phone, code);
    crypto_hmac_sha256(key, 32, msg, (size_t)(n > 0 ? n : 0), mac);
    crypto_hex(mac, 32, out);
    OPENSSL_cleanse(msg, sizeof(msg));
}

/* acc_code_valid - exactly six ASCII digits */
int acc_code_valid(const char *code)
{
    return code && strlen(code) == 6 && strspn(code, "0123456789") == 6;
}

/* acc_password_hash - argon2id encoded, with a fresh salt */
char *acc_password_hash(const char *password, long t, long m, long p)
{
    unsigned char salt[ACC_SALT_LEN];
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return NULL;
    size_t len = argon2_encodedlen((uint32_t)t, (uint32_t)m, (uint32_t)p, ACC_SALT_LEN,
                                   ACC_HASH_LEN, Argon2_id);
    char *out = malloc(len);
    if (out == NULL)
        return NULL;
    if (argon2id_hash_encoded((uint32_t)t, (uint32_t)m, (uint32_t)p, password, strlen(password),
                              salt, sizeof(salt), ACC_HASH_LEN, out, len) != ARGON2_OK) {
        free(out);
        return NULL;
    }
    return out;
}

/* acc_password_verify - 1 match, 0 mismatch, -1 malformed */
int acc_password_verify(const char *encoded, const char *password)
{
    if (encoded == NULL || strncmp(encoded, "$argon2id$", 10) != 0)
        return -1;
    int rc = argon2id_verify(encoded, password, strlen(password));
    if (rc == ARGON2_OK)
        return 1;
    return rc == ARGON2_VERIFY_MISMATCH ? 0 : -1;
}

/* acc_password_outdated - the encoding's m, t, p differ from the configured ones */
int acc_password_outdated(const char *encoded, long t, long m, long p)
{
    long et, em, ep;
    const char *s = encoded ? strstr(encoded, "$m=") : NULL;
    if (s == NULL || sscanf(s, "$m=%ld,t=%ld,p=%ld", &em, &et, &ep) != 3)
        return 1;
    return et != t || em != m || ep != p;
}

/* acc_password_acceptable - NIST 800-63B: at least 8 characters, not the phone, not trivial */
const char *acc_password_acceptable(const char *password, const char *phone)
{
    size_t chars = 0;
    for (const unsigned char *c = (const unsigned char *)password; *c; c++)
        chars += (*c & 0xC0) != 0x80;
    if (chars < 8)
        return "a password has at least 8 characters";
    if (strlen(password) > 128)
        return "a password has at most 128 bytes";
    if (phone && *phone && strstr(password, phone))
        return "a password may not contain the phone number";
    size_t same = 1;
    for (size_t i = 1; password[i] && password[i] == password[0]; i++)
        same++;
    if (same == strlen(password))
        return "a password may not repeat one character";
    static const char *const common[] = {"12345678", "123456789", "password",
                                         "11111111", "88888888",  "qwertyui",
                                         "abcd1234", "00000000",  NULL};
    for (int i = 0; common[i]; i++)
        if (strcmp(password, common[i]) == 0)
            return "this password is too common";
    return NULL;
}

/* acc_lockout_s - base doubling per failure past max, capped at an hour */
long acc_lockout_s(long failures, long max, long base)
{
    if (failures < max)
        return 0;
    long s = base;
    for (long i = max; i < failures && s < 3600; i++)
        s *= 2;
    return s > 3600 ? 3600 : s;
}

/* acc_refresh_new - 32 random bytes as Base64url, and their digest */
int acc_refresh_new(char token[48], char hash[65])
{
    unsigned char raw[32];
    if (RAND_priv_bytes(raw, sizeof(raw)) != 1)
        return -1;
    crypto_b64_encode(raw, sizeof(raw), 1, token, 48);
    OPENSSL_cleanse(raw, sizeof(raw));
    acc_refresh_hash(token, hash);
    return 0;
}

/* acc_refresh_hash - hex SHA-256 of the token text */
void acc_refresh_hash(const char *token, char hash[65])
{
    unsigned char d[32];
    crypto_sha256(token, strlen(token), d);
    crypto_hex(d, 32, hash);
}
