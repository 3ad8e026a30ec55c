/*
 * test_pii.c - ID-card numbers at rest: encryption round trip, tamper and
 * wrong-key detection, fresh nonces, the blind index, masking, key parsing.
 */
#include <string.h>

#include "check.h"
#include "core/pii.h"

static const char *enc_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char *idx_hex = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

int main(void)
{
    pii_keys keys, other;
    char err[128], a[128], b[128], plain[64], index1[65], index2[65], mask[19];

    CHECK_INT(pii_keys_parse(enc_hex, idx_hex, &keys, err, sizeof(err)), 0, "keys parse");
    CHECK_INT(pii_keys_parse("abc", idx_hex, &other, err, sizeof(err)), -1, "short key");
    CHECK(strstr(err, "PII_ENC_KEY") != NULL, "error names the key: %s", err);
    CHECK(strstr(err, "abc") == NULL, "error does not echo the value");
    CHECK_INT(pii_keys_parse(enc_hex, enc_hex, &other, err, sizeof(err)), -1, "equal keys");
    CHECK_INT(pii_keys_parse(idx_hex, enc_hex, &other, err, sizeof(err)), 0, "swapped keys");

    CHECK_INT(pii_encrypt(&keys, "11010519491231002X", a, sizeof(a)), 0, "encrypt");
    CHECK_INT(pii_encrypt(&keys, "11010519491231002X", b, sizeof(b)), 0, "encrypt again");
    CHECK(strcmp(a, b) != 0, "two encryptions differ (fresh nonce)");
    CHECK(strstr(a, "1949") == NULL, "no plaintext in the ciphertext");
    CHECK_INT(pii_decrypt(&keys, a, plain, sizeof(plain)), 0, "decrypt");
    CHECK_STR(plain, "11010519491231002X", "round trip");
    CHECK_INT(pii_decrypt(&other, a, plain, sizeof(plain)), -1, "another key fails");
    a[20] = a[20] == 'A' ? 'B' : 'A';
    CHECK_INT(pii_decrypt(&keys, a, plain, sizeof(plain)), -1, "tampered ciphertext fails");
    CHECK_INT(pii_decrypt(&keys, "not base64!", plain, sizeof(plain)), -1, "garbage fails");
    CHECK_INT(pii_decrypt(&keys, b, plain, 5), -1, "too small output fails");
    CHECK_INT(pii_encrypt(&keys, "11010519491231002X", a, 10), -1, "too small ciphertext buffer");

    pii_blind_index(&keys, "11010519491231002X", index1);
    pii_blind_index(&keys, "11010519491231002X", index2);
    CHECK_STR(index1, index2, "blind index is deterministic");
    CHECK_INT((long long)strlen(index1), 64, "index is 64 hex characters");
    pii_blind_index(&other, "11010519491231002X", index2);
    CHECK(strcmp(index1, index2) != 0, "index depends on the key");
    pii_blind_index(&keys, "440524188001010014", index2);
    CHECK(strcmp(index1, index2) != 0, "index differs per number");

    CHECK_STR(pii_mask_idcard("33048219800101123X", mask), "330482********123X", "mask");
    CHECK_STR(pii_mask_idcard("123", mask), "******************", "mask of a short value");
    return check_done();
}
