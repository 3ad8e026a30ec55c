/*
 * event.c - the CloudEvents 1.0 JSON envelope.
 *
 * Builds envelopes with a UUIDv7 id and an RFC 3339 UTC time, and checks
 * incoming ones before a consumer touches their data. No configuration.
 */
#include "core/event.h"

#include <stdio.h>
#include <string.h>

#include "util/crypto.h"
#include "util/timeutil.h"

/* event_new - a new envelope around data (taken) */
cJSON *event_new(const char *service, const char *type, const char *subject, cJSON *data)
{
    char id[37], ts[40], source[96];
    cJSON *ev = cJSON_CreateObject();
    if (ev == NULL || data == NULL) {
        cJSON_Delete(ev);
        cJSON_Delete(data);
        return NULL;
    }
    crypto_uuid_v7(id);
    time_rfc3339(time_now_ms(), ts, sizeof(ts));
    snprintf(source, sizeof(source), "/shantang/%s", service);
    cJSON_AddStringToObject(ev, "specversion", "1.0");
    cJSON_AddStringToObject(ev, "id", id);
    cJSON_AddStringToObject(ev, "source", source);
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddStringToObject(ev, "subject", subject);
    cJSON_AddStringToObject(ev, "time", ts);
    cJSON_AddStringToObject(ev, "datacontenttype", "application/json");
    cJSON_AddItemToObject(ev, "data", data);
    return ev;
}

char *event_envelope_text(const char *service, const char *type, const char *subject)
{
    cJSON *ev = event_new(service, type, subject, cJSON_CreateObject());
    if (ev == NULL)
        return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(ev, "data");
    char *text = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    return text;
}

/* rfc3339_ok - a plausible RFC 3339 timestamp: date, 'T', time, zone */
static int rfc3339_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return 0;
    char date[11];
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!time_date_valid(date))
        return 0;
    char last = s[n - 1];
    return last == 'Z' || last == 'z' || (n >= 6 && (s[n - 6] == '+' || s[n - 6] == '-'));
}

/* event_validate - the required attributes of a CloudEvents 1.0 JSON envelope */
int event_validate(const cJSON *ev, char *err, size_t errlen)
{
    static const char *const required[] = {"specversion", "id", "source", "type", NULL};
    if (!cJSON_IsObject(ev)) {
        snprintf(err, errlen, "not a JSON object");
        return -1;
    }
    for (int i = 0; required[i]; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(ev, required[i]);
        if (!cJSON_IsString(a) || a->valuestring[0] == '\0') {
            snprintf(err, errlen, "attribute %s is missing or not a string", required[i]);
            return -1;
        }
    }
    if (strcmp(cJSON_GetObjectItemCaseSensitive(ev, "specversion")->valuestring, "1.0") != 0) {
        snprintf(err, errlen, "attribute specversion must be \"1.0\"");
        return -1;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "time");
    if (t && (!cJSON_IsString(t) || !rfc3339_ok(t->valuestring))) {
        snprintf(err, errlen, "attribute time is not RFC 3339");
        return -1;
    }
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "subject");
    if (s && !cJSON_IsString(s)) {
        snprintf(err, errlen, "attribute subject is not a string");
        return -1;
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "data");
    if (!cJSON_IsObject(d)) {
        snprintf(err, errlen, "attribute data is missing or not an object");
        return -1;
    }
    return 0;
}

/* attr - a string attribute or NULL */
static const char *attr(const cJSON *ev, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, name));
}

const char *event_id(const cJSON *ev)
{
    return attr(ev, "id");
}

const char *event_type(const cJSON *ev)
{
    return attr(ev, "type");
}

const char *event_subject(const cJSON *ev)
{
    return attr(ev, "subject");
}

/* event_data - the data object, borrowed */
const cJSON *event_data(const cJSON *ev)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "data");
    return cJSON_IsObject(d) ? d : NULL;
}
