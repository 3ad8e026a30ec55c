/*
 * fuzz_notifier_routes.c - the notifier's routing table
 * (services/notifier/notifier_routes.c): ntf_routes_parse of the whole
 * NOTIFIER_ROUTES_FILE text, and ntf_routes_match of an event's data
 * against a table (the data arrives from Kafka: untrusted as well).
 *
 * First byte: even = the rest is a routing table, matched against a fixed
 * set of events when it parses; odd = the rest is an event
 * {"type": ..., "data": {...}} matched against deploy/notifier/routes.json.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "notifier.h"

#define MAX_WANTED 16

/* match - ntf_routes_match of (type, data) on t; every wanted delivery has a phone */
static void match(const ntf_routes *t, const char *type, const cJSON *data)
{
    ntf_wanted w[MAX_WANTED];
    int routed = 0;
    char err[256];
    int n = ntf_routes_match(t, type, data, w, MAX_WANTED, &routed, err, sizeof(err));
    if (n > MAX_WANTED)
        abort();
    for (int i = 0; i < n; i++) {
        if (strlen(w[i].phone) != 11)
            abort();
        cJSON_Delete(w[i].params);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ntf_routes *shipped;
    static const char *const types[] = {
        "household.registered", "enrollment.started",  "enrollment.ended",    "income.recorded",
        "suggestion.accepted",  "suggestion.assigned", "suggestion.resolved", "suggestion.overdue",
        "suggestion.escalated", "signin.code_issued"};
    char err[256] = "";
    if (shipped == NULL) {
        fuzz_quiet();
        shipped =
            ntf_routes_load(SHANTANG_SOURCE_DIR "/deploy/notifier/routes.json", err, sizeof(err));
        if (shipped == NULL)
            abort();
    }
    if (size < 1)
        return 0;
    char *s = fuzz_strndup(data + 1, size - 1);
    if ((data[0] & 1) == 0) {
        ntf_routes *t = ntf_routes_parse(s, err, sizeof(err));
        if (t) {
            cJSON *d =
                cJSON_Parse("{\"phone\":\"13905731201\",\"head_name\":\"陈丽\","
                            "\"village_code\":\"330482105201\",\"title\":\"t\","
                            "\"amount_fen\":12345,\"project_name\":\"p\",\"kind\":\"wage\"}");
            for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                match(t, types[i], d);
            cJSON_Delete(d);
            (void)ntf_contact(t, "330482105201");
            t = ntf_routes_free(t);
        } else if (err[0] == '\0') {
            abort();
        }
    } else {
        cJSON *ev = cJSON_Parse(s);
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "data");
        if (type && d)
            match(shipped, type, d);
        cJSON_Delete(ev);
    }
    free(s);
    return 0;
}
