/*
 * test_registry.c - the registry's pure rules and the Chinese identifier
 * checks: project types, the status lifecycle's table (every allowed
 * transition and no other; registry 005 judges by it), lead roles, region codes and levels, mobile
 * numbers and unified social credit codes.
 */
#include "check.h"
#include "registry.h"
#include "core/cnid.h"

static void test_transitions(void)
{
    char json[256], tiny[16];
    CHECK_INT(registry_lifecycle_json(json, sizeof(json)), 0, "the lifecycle renders");
    /* every allowed transition, and no other: closed is final */
    CHECK_STR(json,
              "{\"planned\":\"active,closed\",\"active\":\"suspended,closed\","
              "\"suspended\":\"active,closed\",\"closed\":\"\"}",
              "the lifecycle");
    CHECK_INT(registry_lifecycle_json(tiny, sizeof(tiny)), -1, "a buffer too short is refused");
}

static void test_enums(void)
{
    CHECK_INT(registry_project_type_valid("elderly_care"), 1, "elderly_care");
    CHECK_INT(registry_project_type_valid("Homestay"), 0, "case matters");
    CHECK_INT(registry_project_type_valid(NULL), 0, "NULL type");
    CHECK_INT(registry_status_valid("suspended"), 1, "suspended");
    CHECK_INT(registry_status_valid("deleted"), 0, "deleted");
    CHECK_INT(registry_lead_role_valid("hardship"), 1, "助困");
    CHECK_INT(registry_lead_role_valid("finance"), 0, "finance");
    CHECK_INT(registry_partner_kind_valid("cooperative"), 1, "cooperative");
    CHECK_INT(registry_partner_kind_valid("bank"), 0, "bank");
}

static void test_regions(void)
{
    static const struct {
        const char *code;
        int valid;
        const char *side;
    } cases[] = {
        {"330482105201", 1, "zhejiang"},
        {"310116106201", 1, "shanghai"},
        {"320000000000", 1, "other"},
        {"33048210520", 0, "zhejiang"},
        {"3304821052011", 0, "zhejiang"},
        {"33048210520a", 0, "zhejiang"},
        {"", 0, "other"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT(registry_region_code_valid(cases[i].code), cases[i].valid, cases[i].code);
        CHECK_STR(registry_region_side(cases[i].code), cases[i].side, cases[i].code);
    }
    CHECK_INT(registry_region_code_valid(NULL), 0, "NULL code");
    CHECK_STR(registry_level_parse("4"), "town", "national level 4");
    CHECK_STR(registry_level_parse("village"), "village", "level name");
    CHECK(registry_level_parse("6") == NULL, "level 6 is unknown");
    CHECK(registry_level_parse("hamlet") == NULL, "hamlet is unknown");
}

static void test_phones(void)
{
    static const struct {
        const char *in;
        const char *want; /* NULL: refused */
    } cases[] = {
        {"13905730001", "13905730001"},
        {"+86 139 0573 0001", "13905730001"},
        {"8613905730001", "13905730001"},
        {"139-0573-0001", "13905730001"},
        {"19912345678", "19912345678"},
        {"12905730001", NULL},
        {"1390573000", NULL},
        {"139057300011", NULL},
        {"+1 2025550123", NULL},
        {"021-57390000", NULL},
        {"1390573000x", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[12] = "";
        int rc = cnid_phone_normalise(cases[i].in, out);
        if (cases[i].want == NULL) {
            CHECK_INT(rc, -1, cases[i].in);
        } else {
            CHECK_INT(rc, 0, cases[i].in);
            CHECK_STR(out, cases[i].want, cases[i].in);
        }
    }
}

static void test_uscc(void)
{
    /* 91350100M000100Y43 is the example printed in GB 32100-2015's annex;
     * 91330482MA2BCQ218W is a registered company in 平湖市 (public record). */
    static const struct {
        const char *code;
        int rc;
        const char *why;
    } cases[] = {
        {"91350100M000100Y43", 0, NULL},
        {"91330482MA2BCQ218W", 0, NULL},
        {"91350100M000100Y44", -1, "check character"},
        {"91350100M000100Y4", -1, "length"},
        {"91350100M000100YI3", -1, "charset"}, /* I is not in the alphabet */
        {"91350100m000100Y43", -1, "charset"}, /* lower case */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        CHECK_INT(cnid_uscc_valid(cases[i].code, &why), cases[i].rc, cases[i].code);
        if (cases[i].why)
            CHECK_STR(why, cases[i].why, cases[i].code);
    }
    CHECK_INT(cnid_uscc_check("91350100M000100Y4"), '3', "check character computed");
}

static void test_idcards(void)
{
    /* 11010519491231002X and 440524188001010014 are the examples printed in
     * GB 11643-1999 itself; the others are made from them by breaking one rule. */
    static const struct {
        const char *in;
        const char *want; /* canonical form, or NULL when refused */
        const char *why;
    } cases[] = {
        {"11010519491231002X", "11010519491231002X", NULL},
        {"11010519491231002x", "11010519491231002X", NULL},
        {"110105 19491231 002X", "11010519491231002X", NULL},
        {"440524188001010014", "440524188001010014", NULL},
        {"110105194912310021", NULL, "check digit"},
        {"11010519491231002", NULL, "length"},
        {"11010519491231002XX", NULL, "length"},
        {"1101051949123100AX", NULL, "characters"},
        {"99010519491231002X", NULL, "province"},
        {"110105194902300020", NULL, "birth date"}, /* 30 February */
        {"110105209901010010", NULL, "birth date"}, /* after today */
        {"110105179901010010", NULL, "birth date"}, /* before 1800 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[19] = "";
        const char *why = NULL;
        int rc = cnid_idcard_normalise(cases[i].in, "20261125", out, &why);
        if (cases[i].want) {
            CHECK_INT(rc, 0, cases[i].in);
            CHECK_STR(out, cases[i].want, cases[i].in);
        } else {
            CHECK_INT(rc, -1, cases[i].in);
            CHECK_STR(why, cases[i].why, cases[i].in);
        }
    }
    CHECK_INT(cnid_idcard_check("11010519491231002"), 'X', "check character X");
}

int main(void)
{
    test_idcards();
    test_transitions();
    test_enums();
    test_regions();
    test_phones();
    test_uscc();
    return check_done();
}
