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
