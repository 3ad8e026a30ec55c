/*
 * income_validate.c - the income service's pure rules: entry kinds and the
 * enrollment each household kind needs, today's date in Asia/Shanghai, yuan
 * formatting, region levels. No I/O.
 */
#include "income.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;       /* API name */
    int household;          /* earned by a household */
    const char *enrollment; /* the enrollment kind it needs */
} kinds[INCOME_NKINDS] = {
    [INCOME_PROJECT_REVENUE] = {"project_revenue", 0, NULL},
    [INCOME_WAGE] = {"wage", 1, "employment"},
    [INCOME_LAND_RENT] = {"land_rent", 1, "land_transfer"},
    [INCOME_DIVIDEND] = {"dividend", 1, "share"},
    [INCOME_SALES] = {"sales", 1, "supply"},
    [INCOME_COLLECTIVE] = {"collective", 0, NULL},
};

/* income_kind_parse - the kind named by s, or -1 */
int income_kind_parse(const char *s)
{
    for (int k = 0; s && k < INCOME_NKINDS; k++)
        if (strcmp(s, kinds[k].name) == 0)
            return k;
    return -1;
}

/* income_kind_name - the API name of k */
const char *income_kind_name(income_kind k)
{
    return k < INCOME_NKINDS ? kinds[k].name : "unknown";
}

/* income_kind_household - 1 for wage, land_rent, dividend, sales */
int income_kind_household(income_kind k)
{
    return k < INCOME_NKINDS && kinds[k].household;
}

/* income_kind_enrollment - the enrollment kind a household entry needs */
const char *income_kind_enrollment(income_kind k)
{
    return k < INCOME_NKINDS ? kinds[k].enrollment : NULL;
}

/* income_yuan - fen as "1,234,567.89" */
char *income_yuan(long long fen, char *out, size_t outlen)
{
    unsigned long long a = fen < 0 ? 0ULL - (unsigned long long)fen : (unsigned long long)fen;
    char digits[32], grouped[48];
    int n = snprintf(digits, sizeof(digits), "%llu", a / 100);
    size_t g = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            grouped[g++] = ',';
        grouped[g++] = digits[i];
    }
    grouped[g] = '\0';
    snprintf(out, outlen, "%s%s.%02llu", fen < 0 ? "-" : "", grouped, a % 100);
    return out;
}

/* income_region_level - the level of a 12-digit code, by its trailing zeros */
const char *income_region_level(const char *code)
{
    if (code == NULL || strlen(code) != 12 || strspn(code, "0123456789") != 12)
        return NULL;
    if (strcmp(code + 2, "0000000000") == 0)
        return "province";
    if (strcmp(code + 4, "00000000") == 0)
        return "city";
    if (strcmp(code + 6, "000000") == 0)
        return "county";
    if (strcmp(code + 9, "000") == 0)
        return "town";
    return "village";
}
