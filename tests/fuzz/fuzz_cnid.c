/*
 * fuzz_cnid.c - GB 11643 resident ID numbers, GB 32100 unified social
 * credit codes and mainland phone numbers (common/core/cnid.c, and the
 * notifier's own ntf_phone_normalise): the text of any request field.
 *
 * Beyond memory safety it checks the answers: a normalised phone is 11
 * digits starting 13-19, a normalised ID number normalises to itself and
 * carries its own check digit, and a valid USCC's 18th character is the
 * one cnid_uscc_check computes.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "core/cnid.h"
#include "notifier.h"

/* phone_ok - out is 11 ASCII digits starting 13..19 */
static int phone_ok(const char *out)
{
    if (strlen(out) != 11 || out[0] != '1' || out[1] < '3' || out[1] > '9')
        return 0;
    for (int i = 0; i < 11; i++)
        if (out[i] < '0' || out[i] > '9')
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    char phone[12], id[19], again[19];
    const char *why = NULL;

    if (cnid_phone_normalise(s, phone) == 0 && !phone_ok(phone))
        abort();
    if (ntf_phone_normalise(s, phone) == 0 && !phone_ok(phone))
        abort();
    if (cnid_idcard_normalise(s, "20261201", id, &why) == 0) {
        if (strlen(id) != 18 || cnid_idcard_check(id) != id[17])
            abort();
        if (cnid_idcard_normalise(id, "20261201", again, &why) != 0 || strcmp(id, again) != 0)
            abort();
    } else if (why == NULL) {
        abort();
    }
    why = NULL;
    if (cnid_uscc_valid(s, &why) == 0) {
        if (strlen(s) != 18 || cnid_uscc_check(s) != s[17])
            abort();
    } else if (why == NULL) {
        abort();
    }
    if (size >= 17) {
        (void)cnid_uscc_check(s);
        (void)cnid_idcard_check(s);
    }
    free(s);
    return 0;
}
