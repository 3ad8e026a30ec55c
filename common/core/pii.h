/*
 * pii.h - personal data at rest: ID-card numbers encrypted with
 * AES-256-GCM, a keyed blind index (HMAC-SHA-256) for finding duplicates
 * without decrypting, and the masked form shown to everyone but the admin.
 *
 * Keys: PII_ENC_KEY and PII_INDEX_KEY, 32 bytes each given as 64 hex
 * characters (from the environment or a _FILE), two different keys so that
 * the index reveals nothing about the ciphertext key. A key version byte
 * leads every ciphertext so that keys can be rotated later.
 * Nothing here logs, and no function keeps a copy of a plaintext.
 */
#ifndef SHANTANG_CORE_PII_H
#define SHANTANG_CORE_PII_H

#include <stddef.h>

typedef struct pii_keys {
    unsigned char enc[32];   /* AES-256-GCM key */
    unsigned char index[32]; /* HMAC-SHA-256 key of the blind index */
} pii_keys;

/*
 * pii_keys_parse - read two 64-hex-character keys into keys. Returns 0, or
 * -1 with err naming which key is malformed (never its value) or saying the
 * two are equal.
 */
int pii_keys_parse(const char *enc_hex, const char *index_hex, pii_keys *keys, char *err,
                   size_t errlen);

/*
 * pii_hex_key - 64 hex characters into a 32-byte key (a sealing key of
 * pii_encrypt alone fills keys.enc this way). Returns 0, or -1 if malformed.
 */
int pii_hex_key(const char *hex, unsigned char out[32]);

/*
 * pii_encrypt - encrypt plain into out as Base64 of
 * version(1) | nonce(12) | ciphertext | tag(16). outlen must be at least
 * pii_encrypted_len(strlen(plain)). Returns 0, or -1 on failure.
 */
int pii_encrypt(const pii_keys *keys, const char *plain, char *out, size_t outlen);

/* pii_encrypted_len - bytes pii_encrypt needs for a plaintext of n bytes, NUL included */
size_t pii_encrypted_len(size_t n);

/*
 * pii_decrypt - reverse pii_encrypt into out (outlen bytes, NUL-terminated).
 * Returns 0, or -1 when the text was tampered with, made under another key
 * or does not fit.
 */
int pii_decrypt(const pii_keys *keys, const char *enc, char *out, size_t outlen);

/* pii_blind_index - hex HMAC-SHA-256 of the canonical value under the index key (65 bytes) */
void pii_blind_index(const pii_keys *keys, const char *canonical, char out[65]);

/*
 * pii_mask_idcard - the shown form of an 18-character ID number: the first 6
 * and the last 4 characters with 8 '*' between ("330482********123X").
 * out holds at least 19 bytes.
 */
char *pii_mask_idcard(const char *id, char out[19]);

#endif
