/*
 * enrollment_validate.c - the enrollment service's pure rules. No I/O.
 */
#include "enrollment.h"

#include <string.h>

#include "util/crypto.h"

/* enrollment_kind_valid - 1 for a known enrollment kind */
int enrollment_kind_valid(const char *kind)
{
    static const char *const kinds[] = {"employment", "land_transfer", "share",
                                        "supply",     "training",      NULL};
    for (int i = 0; kind && kinds[i]; i++)
        if (strcmp(kind, kinds[i]) == 0)
            return 1;
    return 0;
}

/* enrollment_uuid_age_ms - age of a UUIDv7 from its 48-bit millisecond timestamp */
int64_t enrollment_uuid_age_ms(const char *id, int64_t now_ms)
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
