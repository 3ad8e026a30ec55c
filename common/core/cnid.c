/*
 * cnid.c - Chinese identifiers: mobile numbers, unified social credit codes
 * and resident ID-card numbers.
 *
 * Trusts nothing: every input is checked character by character. Reads no
 * configuration and reports only through return values.
 */
#include "core/cnid.h"

#include <string.h>

/* USCC alphabet in value order (GB 32100-2015, table 1) */
static const char uscc_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
static const int uscc_weights[17] = {1,  3,  9,  27, 19, 26, 16, 17, 20,
                                     29, 25, 13, 8,  24, 10, 30, 28};

/* cnid_phone_normalise - bare 11-digit mainland mobile number, or -1 */
int cnid_phone_normalise(const char *in, char out[12])
{
    char digits[32];
    size_t n = 0;

    if (in == NULL)
        return -1;
    if (in[0] == '+') {
        if (in[1] != '8' || in[2] != '6')
            return -1;
        in += 3;
    }
    for (; *in; in++) {
        if (*in == ' ' || *in == '-')
            continue;
        if (*in < '0' || *in > '9' || n + 1 >= sizeof(digits))
            return -1;
        digits[n++] = *in;
    }
    digits[n] = '\0';
    const char *d = digits;
    if (n == 13 && d[0] == '8' && d[1] == '6') {
        d += 2;
        n -= 2;
    }
    if (n != 11 || d[0] != '1' || d[1] < '3' || d[1] > '9')
        return -1;
    memcpy(out, d, 11);
    out[11] = '\0';
    return 0;
}

/* uscc_value - the value of one USCC character, or -1 */
static int uscc_value(char c)
{
    const char *p = c ? strchr(uscc_alphabet, c) : NULL;
    return p ? (int)(p - uscc_alphabet) : -1;
}

/* cnid_uscc_check - the check character for 17 characters, or 0 */
char cnid_uscc_check(const char *first17)
{
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        int v = uscc_value(first17[i]);
        if (v < 0)
            return 0;
        sum += v * uscc_weights[i];
    }
    int check = 31 - sum % 31;
    return uscc_alphabet[check == 31 ? 0 : check];
}

/* cnid_uscc_valid - 0 for a valid code; -1 and a reason otherwise */
int cnid_uscc_valid(const char *code, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    if (code == NULL || strlen(code) != 18) {
        *why = "length";
        return -1;
    }
    for (int i = 0; i < 18; i++) {
        if (uscc_value(code[i]) < 0) {
            *why = "charset";
            return -1;
        }
    }
    if (cnid_uscc_check(code) != code[17]) {
        *why = "check character";
        return -1;
    }
    return 0;
}

/* Province prefixes of GB/T 2260 (plus 71 Taiwan, 81 Hong Kong, 82 Macao, 83 residence permits). */
static const char *const idcard_provinces[] = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34",
    "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52",
    "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83", NULL};

/* cnid_idcard_check - GB 11643 check character of 17 digits, or 0 */
char cnid_idcard_check(const char *first17)
{
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char checks[] = "10X98765432";
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        if (first17[i] < '0' || first17[i] > '9')
            return 0;
        sum += (first17[i] - '0') * weights[i];
    }
    return checks[sum % 11];
}

/* date_ok - 1 if yyyymmdd (8 digits) is a real calendar date from 1800 on, not after today */
static int date_ok(const char *d, const char *today)
{
    int y = 0, m = 0, day = 0;
    for (int i = 0; i < 8; i++)
        if (d[i] < '0' || d[i] > '9')
            return 0;
    y = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
    m = (d[4] - '0') * 10 + (d[5] - '0');
    day = (d[6] - '0') * 10 + (d[7] - '0');
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1800 || m < 1 || m > 12 || day < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (day > mdays[m - 1] + (m == 2 && leap))
        return 0;
    return today == NULL || strncmp(d, today, 8) <= 0;
}

/* cnid_idcard_normalise - canonical 18-character ID number, or -1 and the failed rule */
int cnid_idcard_normalise(const char *in, const char *today, char out[19], const char **why)
{
    const char *dummy;
    size_t n = 0;
    if (why == NULL)
        why = &dummy;
    if (in == NULL) {
        *why = "length";
        return -1;
    }
    for (; *in; in++) {
        if (*in == ' ')
            continue;
        if (n == 18) {
            *why = "length";
            return -1;
        }
        out[n++] = *in;
    }
    out[n] = '\0';
    if (n != 18) {
        *why = "length";
        return -1;
    }
    if (out[17] == 'x')
        out[17] = 'X';
    for (int i = 0; i < 17; i++) {
        if (out[i] < '0' || out[i] > '9') {
            *why = "characters";
            return -1;
        }
    }
    if (!((out[17] >= '0' && out[17] <= '9') || out[17] == 'X')) {
        *why = "characters";
        return -1;
    }
    int known = 0;
    for (const char *const *p = idcard_provinces; *p; p++)
        known |= strncmp(out, *p, 2) == 0;
    if (!known) {
        *why = "province";
        return -1;
    }
    if (!date_ok(out + 6, today)) {
        *why = "birth date";
        return -1;
    }
    if (cnid_idcard_check(out) != out[17]) {
        *why = "check digit";
        return -1;
    }
    return 0;
}
