/*
 * test_income.c - the income service's pure rules and exports: entry kinds
 * and the enrollment each household kind needs, today's date in
 * Asia/Shanghai, yuan formatting, region levels, CSV quoting and the text
 * table's alignment of Chinese labels.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "income.h"

static void test_kinds(void)
{
    static const struct {
        const char *name;
        int household;
        const char *needs;
    } cases[] = {
        {"project_revenue", 0, NULL}, {"wage", 1, "employment"}, {"land_rent", 1, "land_transfer"},
        {"dividend", 1, "share"},     {"sales", 1, "supply"},    {"collective", 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int k = income_kind_parse(cases[i].name);
        CHECK_INT(k >= 0, 1, cases[i].name);
        CHECK_STR(income_kind_name((income_kind)k), cases[i].name, "name round trip");
        CHECK_INT(income_kind_household((income_kind)k), cases[i].household, cases[i].name);
        const char *needs = income_kind_enrollment((income_kind)k);
        CHECK((needs == NULL && cases[i].needs == NULL) ||
                  (needs && cases[i].needs && strcmp(needs, cases[i].needs) == 0),
              "%s needs %s, got %s", cases[i].name, cases[i].needs ? cases[i].needs : "nothing",
              needs ? needs : "nothing");
    }
    CHECK_INT(income_kind_parse("bonus"), -1, "unknown kind");
    CHECK_INT(income_kind_parse(NULL), -1, "no kind");
    CHECK_INT(income_kind_parse("Wage"), -1, "kinds are case-sensitive");
}

static void test_yuan(void)
{
    static const struct {
        long long fen;
        const char *want;
    } cases[] = {{0, "0.00"},
                 {5, "0.05"},
                 {-5, "-0.05"},
                 {100, "1.00"},
                 {123456, "1,234.56"},
                 {100000000, "1,000,000.00"},
                 {314340000, "3,143,400.00"},
                 {-123456789, "-1,234,567.89"},
                 {999, "9.99"}};
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_STR(income_yuan(cases[i].fen, out, sizeof(out)), cases[i].want, "yuan");
}

static void test_levels(void)
{
    CHECK_STR(income_region_level("330000000000"), "province", "province");
    CHECK_STR(income_region_level("330400000000"), "city", "city");
    CHECK_STR(income_region_level("330482000000"), "county", "county");
    CHECK_STR(income_region_level("330482105000"), "town", "town");
    CHECK_STR(income_region_level("330482105201"), "village", "village");
    CHECK(income_region_level("3304821052") == NULL, "short code");
    CHECK(income_region_level("33048210520x") == NULL, "not digits");
}

static void test_exports(void)
{
    static const income_col cols[] = {
        {"name", "名称", COL_TEXT}, {"amount", "金额（元）", COL_FEN}, {"mu", "亩", COL_MU}};
    static const income_table tables[] = {{"rows", "表", cols, 3}};
    cJSON *view = cJSON_Parse("{\"rows\": [{\"name\": \"a,\\\"b\\\"\", \"amount\": 123456, "
                              "\"mu\": 1750}, {\"name\": \"山塘村\", \"amount\": -5}]}");
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(income_export_csv(view, tables, 1, &out, &len), 0, "csv");
    CHECK_STR(
        out, "\xEF\xBB\xBF名称,金额（元）,亩\r\n\"a,\"\"b\"\"\",1234.56,17.50\r\n山塘村,-0.05,\r\n",
        "csv quotes commas and quotes, yuan plain, absent empty");
    CHECK_INT(len, strlen(out), "csv length");
    free(out);
    CHECK_INT(income_export_text(view, tables, 1, &out, &len), 0, "text");
    /* 名称 is 4 columns wide, 山塘村 6, 金额（元） 10: names pad to 6, amounts align right in 10.
     */
    CHECK_STR(out,
              "  名称    金额（元）     亩\n"
              "  a,\"b\"     1,234.56  17.50\n"
              "  山塘村       -0.05       \n",
              "text aligns wide characters as two columns");
    free(out);
    char err[128];
    CHECK_INT(income_export_xlsx(view, tables, 1, &out, &len, err, sizeof(err)), 0, "xlsx");
    CHECK(len > 1000 && memcmp(out, "PK", 2) == 0, "xlsx is a zip archive (%zu bytes)", len);
    free(out);
    cJSON_Delete(view);
}

/* test_formula_injection - text cells that a spreadsheet would run get a leading quote */
static void test_formula_injection(void)
{
    static const struct {
        const char *cell;
        int formula;
    } cells[] = {
        {"=HYPERLINK(\"http://x\")", 1},
        {"+1+2", 1},
        {"-2+3", 1},
        {"@SUM(A1)", 1},
        {"\tx", 1},
        {"\rx", 1},
        {"-", 1},
        {"-1,234.50", 0},
        {"-0.05", 0},
        {"1234.56", 0},
        {"山塘村", 0},
        {"a=b", 0},
        {"", 0},
        {"-12,345", 0},
        {"-1e5", 1},
        {"-,5", 1},
    };
    for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++)
        CHECK_INT(income_cell_formula_like(cells[i].cell), cells[i].formula, cells[i].cell);

    static const income_col cols[] = {{"name", "名称", COL_TEXT},
                                      {"amount", "金额（元）", COL_FEN}};
    static const income_table tables[] = {{"rows", "表", cols, 2}};
    cJSON *view = cJSON_Parse("{\"rows\": [{\"name\": \"=1+2\", \"amount\": -5}, {\"name\": "
                              "\"@cmd\", \"amount\": 100}, {\"name\": \"+x,y\", \"amount\": 1}]}");
    char *out = NULL;
    size_t len = 0;
    CHECK_INT(income_export_csv(view, tables, 1, &out, &len), 0, "csv");
    CHECK_STR(out, "\xEF\xBB\xBF名称,金额（元）\r\n'=1+2,-0.05\r\n'@cmd,1.00\r\n\"'+x,y\",0.01\r\n",
              "csv: formula-like text quoted with ', negative amounts stay numbers");
    free(out);
    cJSON_Delete(view);
}

int main(void)
{
    test_kinds();
    test_yuan();
    test_levels();
    test_exports();
    test_formula_injection();
    return check_done();
}
