/*
 * registry_validate.c - the registry's pure rules: project types and
 * statuses, the status lifecycle, lead roles, partner kinds, region codes.
 *
 * No I/O, no configuration; unit-tested in tests/unit/test_registry.c.
 */
#include "registry.h"

#include <stdio.h>
#include <string.h>

static const char *const project_types[] = {
    "homestay",     "vegetable_garden",   "shop_street",        "wharf", "workshop", "farm",
    "elderly_care", "modern_agriculture", "land_consolidation", "other", NULL};
static const char *const statuses[] = {"planned", "active", "suspended", "closed", NULL};
static const char *const lead_roles[] = {"agriculture", "education",  "medical",
                                         "hardship",    "employment", "elderly",
                                         "culture",     "other",      NULL};
static const char *const partner_kinds[] = {"enterprise", "cooperative", "collective", "other",
                                            NULL};

/* The lifecycle: from -> comma-separated allowed targets. */
static const struct {
    const char *from;
    const char *to;
} transitions[] = {
    {"planned", "active,closed"},
    {"active", "suspended,closed"},
    {"suspended", "active,closed"},
    {"closed", ""},
};

/* in_list - 1 if s is one of the NULL-terminated list */
static int in_list(const char *const *list, const char *s)
{
    if (s == NULL)
        return 0;
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

/* registry_project_type_valid - 1 for a known project type */
int registry_project_type_valid(const char *type)
{
    return in_list(project_types, type);
}

/* registry_status_valid - 1 for a known status */
int registry_status_valid(const char *status)
{
    return in_list(statuses, status);
}

/* registry_lifecycle_json - the lifecycle table as JSON */
int registry_lifecycle_json(char *buf, size_t len)
{
    size_t used = 0;
    size_t n = sizeof(transitions) / sizeof(transitions[0]);
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s\"%s\":\"%s\"", i ? "," : "{",
                                 transitions[i].from, transitions[i].to);
    if (used + 2 > len)
        return -1;
    memcpy(buf + used, "}", 2);
    return 0;
}

/* registry_lead_role_valid - 1 for a known lead field */
int registry_lead_role_valid(const char *role)
{
    return in_list(lead_roles, role);
}

/* registry_partner_kind_valid - 1 for a known partner kind */
int registry_partner_kind_valid(const char *kind)
{
    return in_list(partner_kinds, kind);
}

/* registry_region_code_valid - 1 for twelve ASCII digits */
int registry_region_code_valid(const char *code)
{
    if (code == NULL)
        return 0;
    for (int i = 0; i < 12; i++)
        if (code[i] < '0' || code[i] > '9')
            return 0;
    return code[12] == '\0';
}

/* registry_region_side - the side of the border a code's province prefix names */
const char *registry_region_side(const char *code)
{
    if (code && strncmp(code, "33", 2) == 0)
        return "zhejiang";
    if (code && strncmp(code, "31", 2) == 0)
        return "shanghai";
    return "other";
}

/* registry_level_parse - canonical level name, accepting the national list's numbers */
const char *registry_level_parse(const char *level)
{
    static const char *const names[] = {"province", "city", "county", "town", "village"};
    if (level == NULL)
        return NULL;
    for (int i = 0; i < 5; i++) {
        if (strcmp(level, names[i]) == 0)
            return names[i];
        if (level[0] == '1' + i && level[1] == '\0')
            return names[i];
    }
    return NULL;
}
