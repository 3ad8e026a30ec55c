/*
 * cnid.c - Chinese identifiers: mobile numbers and unified social credit codes.
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
