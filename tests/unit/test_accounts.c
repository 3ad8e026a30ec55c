/*
 * test_accounts.c - the rules of the accounts service's secrets
 * (accounts_secret.c): one-time codes (6 digits from the CSPRNG, kept as a
 * keyed hash bound to the code's row and phone), argon2id passwords (the
 * RFC 9106 vector through libargon2, verification, rehash on changed
 * parameters, what is acceptable), the lock-out ladder, refresh tokens.
 */
#include <argon2.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "check.h"
#include "util/crypto.h"

static void test_codes(void)
{
    char code[7], seen[7] = "";
    int distinct = 0, digits[10] = {0};
    for (int i = 0; i < 2000; i++) {
        CHECK(acc_code_new(code) == 0, "code drawn");
        CHECK(acc_code_valid(code), "code %s is 6 digits", code);
        distinct += strcmp(code, seen) != 0;
        snprintf(seen, sizeof(seen), "%s", code);
        for (int k = 0; k < 6; k++)
            digits[code[k] - '0']++;
    }
    CHECK(distinct > 1990, "codes differ from one draw to the next (%d of 2000)", distinct);
    for (int d = 0; d < 10; d++) /* 12,000 digits: each near 1,200 */
        CHECK(digits[d] > 1000 && digits[d] < 1400, "digit %d drawn %d times", d, digits[d]);
    CHECK(!acc_code_valid("12345") && !acc_code_valid("1234567") && !acc_code_valid("12a456") &&
              !acc_code_valid(NULL),
          "malformed codes refused");
    unsigned char k1[32], k2[32];
    memset(k1, 1, 32);
    memset(k2, 2, 32);
    char h1[65], h2[65], h3[65], h4[65];
    acc_code_hash(k1, "id-1", "13905731201", "123456", h1);
    acc_code_hash(k1, "id-1", "13905731201", "123456", h2);
    CHECK_STR(h1, h2, "the hash is deterministic");
    acc_code_hash(k2, "id-1", "13905731201", "123456", h3);
    CHECK(strcmp(h1, h3) != 0, "another key, another hash");
    acc_code_hash(k1, "id-2", "13905731201", "123456", h4);
    CHECK(strcmp(h1, h4) != 0, "another row, another hash");
    acc_code_hash(k1, "id-1", "13905731202", "123456", h4);
    CHECK(strcmp(h1, h4) != 0, "another phone, another hash");
    CHECK(strstr(h1, "123456") == NULL && strlen(h1) == 64, "no code in the 64-hex hash");
}

static void test_passwords(void)
{
    /* RFC 9106 5.3 through the library used (argon2id_ctx with secret and ad) */
    uint8_t pwd[32], salt[16], secret[8], ad[12], out[32];
    memset(pwd, 1, 32);
    memset(salt, 2, 16);
    memset(secret, 3, 8);
    memset(ad, 4, 12);
    argon2_context ctx = {out,    32,   pwd,
                          32,     salt, 16,
                          secret, 8,    ad,
                          12,     3,    32,
                          4,      4,    ARGON2_VERSION_13,
                          NULL,   NULL, ARGON2_DEFAULT_FLAGS};
    char hex[65];
    CHECK(argon2id_ctx(&ctx) == ARGON2_OK, "argon2id_ctx runs");
    crypto_hex(out, 32, hex);
    CHECK_STR(hex, "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659",
              "RFC 9106 5.3 argon2id tag");

    char *h = acc_password_hash("草莓医生-2026", 2, 8192, 1);
    CHECK(h && strncmp(h, "$argon2id$v=19$m=8192,t=2,p=1$", 30) == 0, "encoded %s", h ? h : "");
    CHECK_INT(acc_password_verify(h, "草莓医生-2026"), 1, "right password");
    CHECK_INT(acc_password_verify(h, "草莓医生-2025"), 0, "wrong password");
    CHECK_INT(acc_password_verify("$2y$10$abc", "x"), -1, "not argon2id: malformed");
    CHECK_INT(acc_password_outdated(h, 2, 8192, 1), 0, "same parameters: current");
    CHECK_INT(acc_password_outdated(h, 2, 19456, 1), 1, "memory changed: rehash");
    CHECK_INT(acc_password_outdated(h, 3, 8192, 1), 1, "passes changed: rehash");
    char *h2 = acc_password_hash("草莓医生-2026", 2, 8192, 1);
    CHECK(h2 && strcmp(h, h2) != 0, "a fresh salt each time");
    free(h);
    free(h2);
    CHECK(acc_password_acceptable("short", NULL) != NULL, "7 characters or fewer refused");
    CHECK(acc_password_acceptable("aaaaaaaaaa", NULL) != NULL, "one repeated character refused");
    CHECK(acc_password_acceptable("12345678", NULL) != NULL, "a common password refused");
    CHECK(acc_password_acceptable("x13905731201y", "13905731201") != NULL, "the phone refused");
    CHECK(acc_password_acceptable("山塘共富项目好", NULL) != NULL, "7 Chinese characters refused");
    CHECK(acc_password_acceptable("山塘共富项目很好", NULL) == NULL,
          "8 Chinese characters accepted");
    CHECK(acc_password_acceptable("Shantang-demo-2026", "13905730100") == NULL, "accepted");
}

static void test_lockout_and_refresh(void)
{
    CHECK_INT((int)acc_lockout_s(4, 5, 30), 0, "4 failures: no lock");
    CHECK_INT((int)acc_lockout_s(5, 5, 30), 30, "5 failures: 30 s");
    CHECK_INT((int)acc_lockout_s(6, 5, 30), 60, "6 failures: 60 s");
    CHECK_INT((int)acc_lockout_s(8, 5, 30), 240, "8 failures: 240 s");
    CHECK_INT((int)acc_lockout_s(40, 5, 30), 3600, "capped at an hour");
    char t1[48], t2[48], h1[65], h2[65];
    CHECK(acc_refresh_new(t1, h1) == 0 && acc_refresh_new(t2, h2) == 0, "refresh tokens made");
    CHECK_INT((int)strlen(t1), 43, "256 bits in Base64url");
    CHECK(strcmp(t1, t2) != 0 && strcmp(h1, h2) != 0, "two tokens differ");
    acc_refresh_hash(t1, h2);
    CHECK_STR(h2, h1, "the stored hash is the presented token's");
    CHECK(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43,
          "URL-safe characters only");
}

int main(void)
{
    test_codes();
    test_passwords();
    test_lockout_and_refresh();
    return check_done();
}
