/*
 * pii.c - encryption, blind index and masking of ID-card numbers.
 *
 * Trusts its keys (checked by pii_keys_parse) and nothing else: decryption
 * authenticates the ciphertext before anything is returned. Uses OpenSSL's
 * EVP interface; the nonce is 96 random bits per encryption.
 */
#include "core/pii.h"

#include <openssl/evp.h>
#include <string.h>

#include "util/crypto.h"

#define PII_VERSION 1
#define PII_NONCE 12
#define PII_TAG 16

/* pii_hex_key - 64 hex characters into 32 bytes; -1 if malformed */
int pii_hex_key(const char *hex, unsigned char out[32])
{
    if (hex == NULL || strlen(hex) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = hex[2 * i + j];
            int d = (c >= '0' && c <= '9')   ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                             : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* pii_keys_parse - both keys from hex; -1 and which one is wrong */
int pii_keys_parse(const char *enc_hex, const char *index_hex, pii_keys *keys, char *err,
                   size_t errlen)
{
    if (pii_hex_key(enc_hex, keys->enc) < 0) {
        snprintf(err, errlen, "PII_ENC_KEY must be 64 hex characters (32 bytes)");
        return -1;
    }
    if (pii_hex_key(index_hex, keys->index) < 0) {
        snprintf(err, errlen, "PII_INDEX_KEY must be 64 hex characters (32 bytes)");
        return -1;
    }
    if (memcmp(keys->enc, keys->index, 32) == 0) {
        snprintf(err, errlen, "PII_ENC_KEY and PII_INDEX_KEY must differ");
        return -1;
    }
    return 0;
}

/* pii_encrypted_len - Base64 length of version, nonce, ciphertext and tag, plus NUL */
size_t pii_encrypted_len(size_t n)
{
    size_t raw = 1 + PII_NONCE + n + PII_TAG;
    return 4 * ((raw + 2) / 3) + 1;
}

/* pii_encrypt - AES-256-GCM of plain, Base64; 0 or -1 */
int pii_encrypt(const pii_keys *keys, const char *plain, char *out, size_t outlen)
{
    size_t n = strlen(plain);
    unsigned char buf[1 + PII_NONCE + 256 + PII_TAG];
    int len = 0, fin = 0, rc = -1;

    if (n > 256 || outlen < pii_encrypted_len(n))
        return -1;
    buf[0] = PII_VERSION;
    if (crypto_random(buf + 1, PII_NONCE) < 0)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, keys->enc, buf + 1) == 1 &&
        EVP_EncryptUpdate(ctx, NULL, &len, buf, 1) == 1 && /* the version byte is authenticated */
        EVP_EncryptUpdate(ctx, buf + 1 + PII_NONCE, &len, (const unsigned char *)plain, (int)n) ==
            1 &&
        EVP_EncryptFinal_ex(ctx, buf + 1 + PII_NONCE + len, &fin) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, PII_TAG, buf + 1 + PII_NONCE + n) == 1 &&
        crypto_b64_encode(buf, 1 + PII_NONCE + n + PII_TAG, 0, out, outlen) >= 0)
        rc = 0;
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

/* pii_decrypt - authenticate and decrypt; 0 or -1 */
int pii_decrypt(const pii_keys *keys, const char *enc, char *out, size_t outlen)
{
    unsigned char buf[1 + PII_NONCE + 256 + PII_TAG];
    int len = 0, fin = 0, rc = -1;
    int raw = crypto_b64_decode(enc, strlen(enc), buf, sizeof(buf));

    if (raw < 1 + PII_NONCE + PII_TAG || buf[0] != PII_VERSION)
        return -1;
    size_t n = (size_t)raw - 1 - PII_NONCE - PII_TAG;
    if (n + 1 > outlen)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, keys->enc, buf + 1) == 1 &&
        EVP_DecryptUpdate(ctx, NULL, &len, buf, 1) == 1 &&
        EVP_DecryptUpdate(ctx, (unsigned char *)out, &len, buf + 1 + PII_NONCE, (int)n) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, PII_TAG, buf + 1 + PII_NONCE + n) == 1 &&
        EVP_DecryptFinal_ex(ctx, (unsigned char *)out + len, &fin) == 1) {
        out[n] = '\0';
        rc = 0;
    } else {
        OPENSSL_cleanse(out, outlen);
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* pii_blind_index - keyed index of a canonical value, hex */
void pii_blind_index(const pii_keys *keys, const char *canonical, char out[65])
{
    unsigned char mac[32];
    crypto_hmac_sha256(keys->index, 32, canonical, strlen(canonical), mac);
    crypto_hex(mac, 32, out);
}

/* pii_mask_idcard - first 6, eight stars, last 4 */
char *pii_mask_idcard(const char *id, char out[19])
{
    size_t n = id ? strlen(id) : 0;
    if (n != 18) {
        memset(out, '*', 18);
    } else {
        memcpy(out, id, 6);
        memset(out + 6, '*', 8);
        memcpy(out + 14, id + 14, 4);
    }
    out[18] = '\0';
    return out;
}
