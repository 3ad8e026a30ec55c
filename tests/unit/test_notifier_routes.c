/*
 * test_notifier_routes.c - the notifier's routing table: validation at
 * start-up (every refusal names the route), template filling from event
 * data, phone normalisation, and the shipped deploy/notifier/routes.json.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "notifier.h"

#define TEMPLATES                                                                                  \
    "\"templates\":[{\"code\":\"SMS_1\",\"tencent_id\":\"101\",\"params\":[\"name\",\"amount\"]}," \
    "{\"code\":\"SMS_2\",\"params\":[\"title\"]}]"

/* refused - parse must fail with err containing want */
static void refused(const char *json, const char *want, const char *what)
{
    char err[400] = "";
    ntf_routes *t = ntf_routes_parse(json, err, sizeof(err));
    CHECK(t == NULL && strstr(err, want) != NULL, "%s: got %s \"%s\", want refusal with \"%s\"",
          what, t ? "a table" : "refusal", err, want);
    ntf_routes_free(t);
}

static void test_validation(void)
{
    refused("[]", "not a JSON object", "not an object");
    refused("{\"routes\":[]}", "templates", "no templates");
    refused("{" TEMPLATES ",\"routes\":[]}", "routes", "no routes");
    refused("{" TEMPLATES ",\"routes\":[{\"name\":\"r1\",\"event_type\":\"x\",\"recipient\":"
            "\"phone\",\"template\":\"SMS_9\",\"params\":{}}]}",
            "route r1: unknown template SMS_9", "unknown template");
    refused("{" TEMPLATES ",\"routes\":[{\"name\":\"credited\",\"event_type\":\"x\",\"recipient\":"
            "\"phone\",\"template\":\"SMS_1\",\"params\":{\"name\":\"head_name\",\"amount\":\"a\","
            "\"bogus\":\"b\"}}]}",
            "route credited: template SMS_1 has no parameter bogus", "unknown template parameter");
    refused("{" TEMPLATES ",\"routes\":[{\"name\":\"r2\",\"event_type\":\"x\",\"recipient\":"
            "\"phone\",\"template\":\"SMS_1\",\"params\":{\"name\":\"head_name\"}}]}",
            "route r2: template SMS_1 parameter amount has no value",
            "parameter left without value");
    refused("{" TEMPLATES ",\"routes\":[{\"name\":\"r3\",\"event_type\":\"x\",\"recipient\":"
            "{\"list\":\"nobody\"},\"template\":\"SMS_2\",\"params\":{\"title\":\"t\"}}]}",
            "route r3: unknown or empty phone list nobody", "unknown phone list");
    refused("{\"phone_lists\":{\"sup\":[\"12345\"]}," TEMPLATES
            ",\"routes\":[{\"name\":\"r4\",\"event_type\":\"x\",\"recipient\":{\"list\":\"sup\"},"
            "\"template\":\"SMS_2\",\"params\":{\"title\":\"t\"}}]}",
            "route r4: phone list sup", "malformed phone in a list");
    refused("{" TEMPLATES ",\"routes\":[{\"name\":\"r5\",\"event_type\":\"x\",\"template\":"
            "\"SMS_2\",\"params\":{\"title\":\"t\"}}]}",
            "route r5: \"recipient\"", "no recipient");
    refused("{" TEMPLATES ",\"routes\":[{\"name\":\"r6\",\"event_type\":\"x\",\"recipient\":"
            "\"phone\",\"template\":\"SMS_2\",\"params\":{\"title\":\"t|euro\"}}]}",
            "route r6: parameter title: unknown format euro", "unknown format");
    refused("{" TEMPLATES ",\"routes\":[{\"name\":\"r7\",\"event_type\":\"x\",\"recipient\":"
            "\"phone\",\"template\":\"SMS_2\",\"params\":{\"title\":\"t\"}},{\"name\":\"r7\","
            "\"event_type\":\"y\",\"recipient\":\"phone\",\"template\":\"SMS_2\",\"params\":"
            "{\"title\":\"t\"}}]}",
            "route r7: name used twice", "duplicate route name");
    refused("{\"templates\":[{\"code\":\"A\",\"params\":[]},{\"code\":\"A\",\"params\":[]}],"
            "\"routes\":[]}",
            "template A declared twice", "duplicate template");
}

static void test_phone(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"13800138000", "13800138000"},
        {"+8613800138000", "13800138000"},
        {"008613800138000", "13800138000"},
        {"86 138-0013-8000", "13800138000"},
        {"12800138000", NULL},
        {"1380013800", NULL},
        {"138001380001", NULL},
        {"1380013800a", NULL},
        {"", NULL},
        {"+1 415 555 0100", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[12] = "";
        int rc = ntf_phone_normalise(cases[i].in, out);
        if (cases[i].want)
            CHECK_STR(rc == 0 ? out : NULL, cases[i].want, cases[i].in);
        else
            CHECK_INT(rc, -1, cases[i].in);
    }
}

static void test_values(void)
{
    cJSON *d = cJSON_Parse("{\"a\":\"x\",\"n\":1234567,\"neg\":-5,\"f\":1.5,\"b\":true,"
                           "\"o\":{\"p\":\"deep\"},\"z\":null}");
    static const struct {
        const char *spec, *want;
    } cases[] = {
        {"a", "x"},
        {"n", "1234567"},
        {"n|yuan", "12345.67"},
        {"neg|yuan", "-0.05"},
        {"b", "true"},
        {"o.p", "deep"},
        {"f", NULL},
        {"z", NULL},
        {"missing", NULL},
        {"a|yuan", NULL},
        {"o", NULL},
        {"o.q", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64] = "";
        int rc = ntf_data_value(d, cases[i].spec, out, sizeof(out));
        if (cases[i].want)
            CHECK_STR(rc == 0 ? out : NULL, cases[i].want, cases[i].spec);
        else
            CHECK_INT(rc, -1, cases[i].spec);
    }
    cJSON_Delete(d);
}

static void test_match(void)
{
    char err[400] = "";
    ntf_routes *t = ntf_routes_parse(
        "{\"phone_lists\":{\"sup\":[\"+8613900000001\",\"13900000002\"]}," TEMPLATES
        ",\"routes\":[{\"name\":\"credited\",\"event_type\":\"income.recorded\",\"recipient\":"
        "\"phone\",\"optional\":true,\"template\":\"SMS_1\",\"params\":{\"amount\":"
        "\"amount_fen|yuan\",\"name\":\"head_name\"}},"
        "{\"name\":\"registered\",\"event_type\":\"household.registered\",\"recipient\":\"phone\","
        "\"template\":\"SMS_2\",\"params\":{\"title\":\"head_name\"}},"
        "{\"name\":\"overdue\",\"event_type\":\"suggestion.overdue\",\"recipient\":{\"list\":"
        "\"sup\"},\"urgent\":true,\"template\":\"SMS_2\",\"params\":{\"title\":\"title\"}}]}",
        err, sizeof(err));
    CHECK(t != NULL, "table refused: %s", err);
    if (t == NULL)
        return;
    CHECK_INT(t->routes[2].urgent, 1, "urgent flag");
    CHECK_STR(t->templates[0].tencent_id, "101", "tencent id");
    CHECK_STR(t->templates[1].tencent_id, "SMS_2", "tencent id defaults to code");

    ntf_wanted w[8];
    int routed = -1;
    cJSON *d = cJSON_Parse("{\"phone\":\"+86 13800138000\",\"head_name\":\"张三\","
                           "\"amount_fen\":250050}");
    int n = ntf_routes_match(t, "income.recorded", d, w, 8, &routed, err, sizeof(err));
    CHECK_INT(n, 1, "income: one delivery");
    CHECK_INT(routed, 1, "income: routed");
    if (n == 1) {
        CHECK_STR(w[0].phone, "13800138000", "phone normalised");
        char *p = cJSON_PrintUnformatted(w[0].params);
        CHECK_STR(p, "{\"name\":\"张三\",\"amount\":\"2500.50\"}", "params in template order");
        free(p);
        cJSON_Delete(w[0].params);
    }
    cJSON_Delete(d);

    d = cJSON_Parse("{\"amount_fen\":100}"); /* project revenue: no household, optional */
    n = ntf_routes_match(t, "income.recorded", d, w, 8, &routed, err, sizeof(err));
    CHECK_INT(n, 0, "optional phone absent: nothing, no error");
    cJSON_Delete(d);

    d = cJSON_Parse("{\"head_name\":\"x\"}");
    n = ntf_routes_match(t, "household.registered", d, w, 8, &routed, err, sizeof(err));
    CHECK(n == -1 && strstr(err, "route registered: no phone in data field phone"),
          "required phone absent: got %d \"%s\"", n, err);
    cJSON_Delete(d);

    d = cJSON_Parse("{\"phone\":\"12345\",\"head_name\":\"x\"}");
    n = ntf_routes_match(t, "household.registered", d, w, 8, &routed, err, sizeof(err));
    CHECK(n == -1 && strstr(err, "not a mobile number"), "malformed phone: got %d \"%s\"", n, err);
    cJSON_Delete(d);

    d = cJSON_Parse("{\"phone\":\"13800138000\"}");
    n = ntf_routes_match(t, "household.registered", d, w, 8, &routed, err, sizeof(err));
    CHECK(n == -1 && strstr(err, "data field head_name missing"), "missing value: got %d \"%s\"", n,
          err);
    cJSON_Delete(d);

    d = cJSON_Parse("{\"title\":\"修路\"}");
    n = ntf_routes_match(t, "suggestion.overdue", d, w, 8, &routed, err, sizeof(err));
    CHECK_INT(n, 2, "phone list: one delivery each");
    for (int i = 0; i < n; i++)
        cJSON_Delete(w[i].params);
    if (n == 2)
        CHECK_STR(w[0].phone, "13900000001", "list phone normalised");
    cJSON_Delete(d);

    d = cJSON_Parse("{}");
    n = ntf_routes_match(t, "income.reversed", d, w, 8, &routed, err, sizeof(err));
    CHECK(n == 0 && routed == 0, "unrouted type: got %d routed %d", n, routed);
    cJSON_Delete(d);
    ntf_routes_free(t);
}

/* test_contacts - the coordinators' contacts: village, then town, county, default */
/* failing_malloc - cJSON's allocator for test_out_of_memory: fails once the budget is spent */
static int alloc_budget = -1;
static void *failing_malloc(size_t n)
{
    if (alloc_budget == 0)
        return NULL;
    if (alloc_budget > 0)
        alloc_budget--;
    return malloc(n);
}

/* test_out_of_memory - an allocation failing anywhere never yields a delivery short of a value */
static void test_out_of_memory(void)
{
    char err[400] = "";
    ntf_routes *t = ntf_routes_parse(
        "{" TEMPLATES ",\"routes\":[{\"name\":\"credited\",\"event_type\":\"income.recorded\","
        "\"recipient\":\"phone\",\"template\":\"SMS_1\",\"params\":{\"amount\":"
        "\"amount_fen|yuan\",\"name\":\"head_name\"}}]}",
        err, sizeof(err));
    CHECK(t != NULL, "table refused: %s", err);
    if (t == NULL)
        return;
    cJSON *d = cJSON_Parse("{\"phone\":\"13800138000\",\"head_name\":\"张三\",\"amount_fen\":1}");
    cJSON_Hooks hooks = {failing_malloc, free};
    int short_of_a_value = 0, errors = 0;
    for (int budget = 0; budget < 12; budget++) {
        ntf_wanted w[2];
        int routed = 0;
        alloc_budget = budget;
        cJSON_InitHooks(&hooks);
        int n = ntf_routes_match(t, "income.recorded", d, w, 2, &routed, err, sizeof(err));
        cJSON_InitHooks(NULL);
        alloc_budget = -1;
        if (n < 0)
            errors++;
        for (int i = 0; i < n; i++) {
            if (cJSON_GetArraySize(w[i].params) != 2)
                short_of_a_value++;
            cJSON_Delete(w[i].params);
        }
    }
    CHECK_INT(short_of_a_value, 0, "no delivery with a template value missing");
    CHECK(errors > 0, "allocation failures answered as errors (%d)", errors);
    cJSON_Delete(d);
    ntf_routes_free(t);
}

static void test_contacts(void)
{
    char err[400] = "";
    const char *json =
        "{\"contacts\":{\"330482105201\":\"村协调员\",\"330482104000\":\"新埭镇\","
        "\"310116000000\":\"金山区\",\"default\":\"共富办\"}," TEMPLATES
        ",\"routes\":[{\"name\":\"reg\",\"event_type\":\"household.registered\","
        "\"recipient\":\"phone\",\"template\":\"SMS_1\",\"params\":{\"name\":\"head_name\","
        "\"amount\":\"village_code|contact\"}}]}";
    ntf_routes *t = ntf_routes_parse(json, err, sizeof(err));
    CHECK(t != NULL, "a table with contacts: %s", err);
    if (t == NULL)
        return;
    CHECK_STR(ntf_contact(t, "330482105201"), "村协调员", "the village's own contact");
    CHECK_STR(ntf_contact(t, "330482104205"), "新埭镇", "else its town's");
    CHECK_STR(ntf_contact(t, "310116106203"), "金山区", "else its county's");
    CHECK_STR(ntf_contact(t, "330482105202"), "共富办", "else the default");
    CHECK_STR(ntf_contact(t, "bogus"), "共富办", "a malformed code: the default");
    cJSON *d = cJSON_Parse("{\"phone\":\"13800000001\",\"head_name\":\"张\","
                           "\"village_code\":\"330482104201\"}");
    ntf_wanted w[4];
    int routed = 0;
    int n = ntf_routes_match(t, "household.registered", d, w, 4, &routed, err, sizeof(err));
    CHECK(n == 1, "one delivery: %d %s", n, err);
    if (n == 1) {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w[0].params, "amount")),
                  "新埭镇", "the parameter holds the contact of the household's village");
        cJSON_Delete(w[0].params);
    }
    cJSON_Delete(d);
    ntf_routes_free(t);
    refused("{\"contacts\":{\"330482105201\":\"x\"}," TEMPLATES
            ",\"routes\":[{\"name\":\"reg\",\"event_type\":\"x\",\"recipient\":\"phone\","
            "\"template\":\"SMS_1\",\"params\":{\"name\":\"n\",\"amount\":\"v|contact\"}}]}",
            "route reg: parameter amount uses |contact but \"contacts\" has no \"default\"",
            "|contact without a default");
    refused("{\"contacts\":{\"3304\":\"x\"}," TEMPLATES ",\"routes\":[]}",
            "contacts: 3304 must be a 12-digit region code", "a malformed contact key");
}

static void test_shipped_table(void)
{
    const char *src = getenv("SHANTANG_SOURCE_DIR");
    char path[1024], err[400] = "";
    snprintf(path, sizeof(path), "%s/deploy/notifier/routes.json", src ? src : "../..");
    ntf_routes *t = ntf_routes_load(path, err, sizeof(err));
    CHECK(t != NULL, "deploy/notifier/routes.json refused: %s", err);
    ntf_routes_free(t);
    t = ntf_routes_load("/nonexistent/routes.json", err, sizeof(err));
    CHECK(t == NULL && strstr(err, "cannot be read"), "missing file: \"%s\"", err);
}

int main(void)
{
    test_validation();
    test_phone();
    test_values();
    test_match();
    test_out_of_memory();
    test_contacts();
    test_shipped_table();
    return check_done();
}
