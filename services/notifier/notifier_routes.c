/*
 * notifier_routes.c - the routing table: which events notify whom with
 * which template, read from NOTIFIER_ROUTES_FILE and checked once at
 * start-up, and the matching of one event against it.
 *
 * The file (JSON):
 *   {"phone_lists": {"supervisors": ["13800000001", ...]},
 *    "contacts": {"330482105201": "村协调员 沈建国 13905730001",
 *                 "330482105000": "...", "default": "..."},
 *    "templates": [{"code": "SMS_1001", "tencent_id": "1001",
 *                   "params": ["name", "project"]}, ...],
 *    "routes": [{"name": "enrolled", "event_type": "enrollment.started",
 *                "recipient": "phone" | {"list": "supervisors"},
 *                "optional": false, "template": "SMS_1001",
 *                "params": {"name": "head_name", "project": "project_name",
 *                           "contact": "village_code|contact"},
 *                "urgent": false}, ...]}
 * A value "field|sealed" is a value the accounts service sealed (a sign-in
 * code): it stays sealed in the delivery row and is opened with
 * NOTIFIER_SEAL_KEY only when the sender builds the gateway request.
 * A value "field|yuan" formats fen as yuan; "field|contact" looks the
 * field's region code up in "contacts" (the village coordinators' and town
 * offices' contacts), which must then hold a "default".
 * Trusts nothing in it: an unknown template, a parameter the template does
 * not declare or a declared one left without a value, a malformed phone in
 * a list: the table is refused with the route's name. Pure: no I/O beyond
 * reading the file, no logging.
 */
#include "notifier.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ntf_routes_free - release the table */
ntf_routes *ntf_routes_free(ntf_routes *t)
{
    if (t == NULL)
        return NULL;
    for (int i = 0; i < t->ntemplates; i++) {
        free(t->templates[i].code);
        free(t->templates[i].tencent_id);
        for (int j = 0; j < t->templates[i].nparams; j++)
            free(t->templates[i].params[j]);
    }
    for (int i = 0; i < t->nroutes; i++) {
        ntf_route *r = &t->routes[i];
        free(r->name);
        free(r->event_type);
        free(r->recipient_field);
        for (int j = 0; j < r->nphones; j++)
            free(r->phones[j]);
        for (int j = 0; j < NTF_MAX_PARAMS; j++)
            free(r->param_fields[j]);
    }
    free(t->templates);
    free(t->routes);
    cJSON_Delete(t->contacts);
    free(t);
    return NULL;
}

/* ntf_phone_normalise - 11 mainland digits, or -1 */
int ntf_phone_normalise(const char *in, char out[12])
{
    char d[24];
    size_t n = 0;
    if (in == NULL)
        return -1;
    const char *p = in;
    int plus = *p == '+';
    if (plus)
        p++;
    for (; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (!isdigit((unsigned char)*p) || n + 1 >= sizeof(d))
            return -1;
        d[n++] = *p;
    }
    d[n] = '\0';
    const char *s = d;
    if (plus && (d[0] != '8' || d[1] != '6'))
        return -1; /* another country (d[1] is read only when d[0] is a digit) */
    if (n == 15 && strncmp(d, "0086", 4) == 0)
        s = d + 4;
    else if (n == 13 && strncmp(d, "86", 2) == 0)
        s = d + 2;
    if (strlen(s) != 11 || s[0] != '1' || s[1] < '3' || s[1] > '9')
        return -1;
    memcpy(out, s, 12);
    return 0;
}

/*
 * integral - v as a long long when it is an integral JSON number of
 * magnitude below 2^53 (what a double holds exactly). An event's number
 * is untrusted: casting a double beyond long long's range is undefined
 * behaviour (found by fuzz_notifier_routes), so the range comes first.
 */
static int integral(const cJSON *v, long long *out)
{
    if (!cJSON_IsNumber(v) ||
        !(v->valuedouble > -9007199254740992.0 && v->valuedouble < 9007199254740992.0))
        return 0;
    long long n = (long long)v->valuedouble;
    if ((double)n != v->valuedouble)
        return 0;
    *out = n;
    return 1;
}

/* ntf_data_value - a field of data as text; "field|yuan" formats fen */
int ntf_data_value(const cJSON *data, const char *spec, char *out, size_t outlen)
{
    char path[128];
    snprintf(path, sizeof(path), "%s", spec);
    char *fmt = strchr(path, '|');
    if (fmt)
        *fmt++ = '\0';
    const cJSON *v = data;
    char *save = NULL;
    for (char *seg = strtok_r(path, ".", &save); seg && v; seg = strtok_r(NULL, ".", &save))
        v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, seg) : NULL;
    if (v == NULL || cJSON_IsNull(v))
        return -1;
    if (fmt && strcmp(fmt, "sealed") == 0) {
        /* kept sealed until the sender opens it just before the gateway call */
        if (!cJSON_IsString(v) || strlen(v->valuestring) + 8 > outlen)
            return -1;
        snprintf(out, outlen, "%s%s", NTF_SEALED_PREFIX, v->valuestring);
        return 0;
    }
    long long n;
    if (fmt && strcmp(fmt, "yuan") == 0) {
        if (!integral(v, &n))
            return -1;
        unsigned long long a = n < 0 ? (unsigned long long)-n : (unsigned long long)n;
        snprintf(out, outlen, "%s%llu.%02llu", n < 0 ? "-" : "", a / 100, a % 100);
        return 0;
    }
    if (fmt)
        return -1;
    if (cJSON_IsString(v))
        snprintf(out, outlen, "%s", v->valuestring);
    else if (cJSON_IsBool(v))
        snprintf(out, outlen, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (integral(v, &n))
        snprintf(out, outlen, "%lld", n);
    else
        return -1;
    return 0;
}

/* dup_string - a malloc'd copy of a JSON string member, or NULL */
static char *dup_string(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) && v->valuestring[0] ? strdup(v->valuestring) : NULL;
}

/* parse_contacts - the optional contacts: 12-digit region codes or "default" to 1..100 bytes */
static int parse_contacts(ntf_routes *t, const cJSON *obj, char *err, size_t errlen)
{
    if (obj == NULL)
        return 0;
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "routes file: \"contacts\" must be an object");
        return -1;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, obj)
    {
        int code = strlen(c->string) == 12 && strspn(c->string, "0123456789") == 12;
        if ((!code && strcmp(c->string, "default") != 0) || !cJSON_IsString(c) ||
            !c->valuestring[0] || strlen(c->valuestring) > 100) {
            snprintf(err, errlen,
                     "contacts: %.20s must be a 12-digit region code or default, with a text of "
                     "1 to 100 bytes",
                     c->string);
            return -1;
        }
    }
    t->contacts = cJSON_Duplicate(obj, 1);
    if (t->contacts == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ntf_contact - the code's, its town's, its county's, or the default contact */
const char *ntf_contact(const ntf_routes *t, const char *code)
{
    if (t == NULL || t->contacts == NULL || code == NULL)
        return NULL;
    char key[13];
    if (strlen(code) == 12) {
        static const int keep[3] = {12, 9, 6};
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof(key), "%.*s%.*s", keep[i], code, 12 - keep[i], "000000");
            const char *v =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t->contacts, key));
            if (v)
                return v;
        }
    }
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t->contacts, "default"));
}

/* parse_templates - the templates array; -1 with err */
static int parse_templates(ntf_routes *t, const cJSON *arr, char *err, size_t errlen)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        snprintf(err, errlen, "routes file: \"templates\" must be a non-empty array");
        return -1;
    }
    t->templates = calloc((size_t)cJSON_GetArraySize(arr), sizeof(ntf_template));
    if (t->templates == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        ntf_template *tp = &t->templates[t->ntemplates++];
        tp->code = dup_string(o, "code");
        if (tp->code == NULL) {
            snprintf(err, errlen, "template %d: \"code\" missing", t->ntemplates);
            return -1;
        }
        for (int i = 0; i < t->ntemplates - 1; i++)
            if (strcmp(t->templates[i].code, tp->code) == 0) {
                snprintf(err, errlen, "template %s declared twice", tp->code);
                return -1;
            }
        tp->tencent_id = dup_string(o, "tencent_id");
        if (tp->tencent_id == NULL && (tp->tencent_id = strdup(tp->code)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "params"), *p;
        if (!cJSON_IsArray(ps)) {
            snprintf(err, errlen, "template %s: \"params\" must be an array of names", tp->code);
            return -1;
        }
        cJSON_ArrayForEach(p, ps)
        {
            if (!cJSON_IsString(p) || !p->valuestring[0] || tp->nparams == NTF_MAX_PARAMS) {
                snprintf(err, errlen, "template %s: params are at most %d non-empty names",
                         tp->code, NTF_MAX_PARAMS);
                return -1;
            }
            if ((tp->params[tp->nparams] = strdup(p->valuestring)) == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            tp->nparams++;
        }
    }
    return 0;
}

/* find_template - the template with code, or NULL */
static const ntf_template *find_template(const ntf_routes *t, const char *code)
{
    for (int i = 0; i < t->ntemplates; i++)
        if (strcmp(t->templates[i].code, code) == 0)
            return &t->templates[i];
    return NULL;
}

/* parse_route - one route; -1 with err naming it */
static int parse_route(ntf_routes *t, ntf_route *r, const cJSON *o, const cJSON *lists, int index,
                       char *err, size_t errlen)
{
    r->name = dup_string(o, "name");
    if (r->name == NULL) {
        snprintf(err, errlen, "route %d: \"name\" missing", index + 1);
        return -1;
    }
    r->event_type = dup_string(o, "event_type");
    char *code = dup_string(o, "template");
    r->tpl = code ? find_template(t, code) : NULL;
    if (r->event_type == NULL || code == NULL) {
        snprintf(err, errlen, "route %s: \"event_type\" and \"template\" are required", r->name);
        free(code);
        return -1;
    }
    if (r->tpl == NULL) {
        snprintf(err, errlen, "route %s: unknown template %s", r->name, code);
        free(code);
        return -1;
    }
    free(code);
    r->optional = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "optional"));
    r->urgent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "urgent"));
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(o, "recipient");
    if (cJSON_IsString(rec) && rec->valuestring[0]) {
        if ((r->recipient_field = strdup(rec->valuestring)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    } else if (cJSON_IsObject(rec) && cJSON_IsString(cJSON_GetObjectItem(rec, "list"))) {
        const char *ln = cJSON_GetObjectItem(rec, "list")->valuestring;
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(lists, ln), *p;
        if (!cJSON_IsArray(l) || cJSON_GetArraySize(l) == 0) {
            snprintf(err, errlen, "route %s: unknown or empty phone list %s", r->name, ln);
            return -1;
        }
        cJSON_ArrayForEach(p, l)
        {
            char ph[12];
            if (!cJSON_IsString(p) || ntf_phone_normalise(p->valuestring, ph) < 0 ||
                r->nphones == NTF_MAX_PHONES) {
                snprintf(err, errlen,
                         "route %s: phone list %s holds at most %d mainland mobile numbers",
                         r->name, ln, NTF_MAX_PHONES);
                return -1;
            }
            if ((r->phones[r->nphones] = strdup(ph)) == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            r->nphones++;
        }
    } else {
        snprintf(err, errlen, "route %s: \"recipient\" is a data field or {\"list\": name}",
                 r->name);
        return -1;
    }
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(o, "params"), *p;
    if (ps != NULL && !cJSON_IsObject(ps)) {
        snprintf(err, errlen, "route %s: \"params\" must be an object", r->name);
        return -1;
    }
    cJSON_ArrayForEach(p, ps)
    {
        int k = -1;
        for (int i = 0; i < r->tpl->nparams; i++)
            if (strcmp(r->tpl->params[i], p->string) == 0)
                k = i;
        if (k < 0) {
            snprintf(err, errlen, "route %s: template %s has no parameter %s", r->name,
                     r->tpl->code, p->string);
            return -1;
        }
        if (r->param_fields[k] != NULL) {
            /* A JSON object may repeat a key and cJSON keeps both: refuse the second
               rather than overwrite (and leak) the first (found by fuzz_notifier_routes). */
            snprintf(err, errlen, "route %s: parameter %s is given twice", r->name, p->string);
            return -1;
        }
        if (!cJSON_IsString(p) || !p->valuestring[0]) {
            snprintf(err, errlen, "route %s: parameter %s must name a data field", r->name,
                     p->string);
            return -1;
        }
        const char *bar = strchr(p->valuestring, '|');
        if (bar && strcmp(bar, "|contact") == 0 && ntf_contact(t, "default") == NULL) {
            snprintf(err, errlen,
                     "route %s: parameter %s uses |contact but \"contacts\" has no \"default\"",
                     r->name, p->string);
            return -1;
        }
        if (bar && strcmp(bar, "|yuan") != 0 && strcmp(bar, "|contact") != 0 &&
            strcmp(bar, "|sealed") != 0) {
            snprintf(err, errlen, "route %s: parameter %s: unknown format %s", r->name, p->string,
                     bar + 1);
            return -1;
        }
        free(r->param_fields[k]); /* a duplicate member: the last one counts */
        if ((r->param_fields[k] = strdup(p->valuestring)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    for (int i = 0; i < r->tpl->nparams; i++)
        if (r->param_fields[i] == NULL) {
            snprintf(err, errlen, "route %s: template %s parameter %s has no value", r->name,
                     r->tpl->code, r->tpl->params[i]);
            return -1;
        }
    return 0;
}

/* ntf_routes_parse - the table from JSON text */
ntf_routes *ntf_routes_parse(const char *json, char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(json);
    ntf_routes *t = calloc(1, sizeof(*t));
    if (t == NULL || root == NULL || !cJSON_IsObject(root)) {
        snprintf(err, errlen, t == NULL ? "out of memory" : "routes file: not a JSON object");
        cJSON_Delete(root);
        return ntf_routes_free(t);
    }
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(root, "routes");
    const cJSON *lists = cJSON_GetObjectItemCaseSensitive(root, "phone_lists");
    int ok =
        parse_templates(t, cJSON_GetObjectItemCaseSensitive(root, "templates"), err, errlen) == 0 &&
        parse_contacts(t, cJSON_GetObjectItemCaseSensitive(root, "contacts"), err, errlen) == 0;
    if (ok && (!cJSON_IsArray(routes) || cJSON_GetArraySize(routes) == 0)) {
        snprintf(err, errlen, "routes file: \"routes\" must be a non-empty array");
        ok = 0;
    }
    if (ok && (t->routes = calloc((size_t)cJSON_GetArraySize(routes), sizeof(ntf_route))) == NULL) {
        snprintf(err, errlen, "out of memory");
        ok = 0;
    }
    const cJSON *o;
    if (ok)
        cJSON_ArrayForEach(o, routes)
        {
            ntf_route *r = &t->routes[t->nroutes];
            t->nroutes++;
            if (!cJSON_IsObject(o) ||
                parse_route(t, r, o, lists, t->nroutes - 1, err, errlen) < 0) {
                if (!cJSON_IsObject(o))
                    snprintf(err, errlen, "route %d: not an object", t->nroutes);
                ok = 0;
                break;
            }
            for (int i = 0; i < t->nroutes - 1; i++)
                if (strcmp(t->routes[i].name, r->name) == 0) {
                    snprintf(err, errlen, "route %s: name used twice", r->name);
                    ok = 0;
                }
            if (!ok)
                break;
        }
    cJSON_Delete(root);
    return ok ? t : ntf_routes_free(t);
}

/* ntf_routes_load - the table from a file */
ntf_routes *ntf_routes_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "routes file %s cannot be read", path);
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    int too_big = buf && n == (1 << 20) - 1;
    fclose(f);
    if (buf == NULL || too_big) {
        snprintf(err, errlen, "routes file %s: larger than 1 MiB or out of memory", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    char inner[400];
    ntf_routes *t = ntf_routes_parse(buf, inner, sizeof(inner));
    free(buf);
    if (t == NULL)
        snprintf(err, errlen, "%s: %s", path, inner);
    return t;
}

/* param_value - one parameter's value: a data field, formatted, or the contact of a region */
static int param_value(const ntf_routes *t, const cJSON *data, const char *spec, char *v,
                       size_t len)
{
    const char *bar = strchr(spec, '|');
    if (bar == NULL || strcmp(bar, "|contact") != 0)
        return ntf_data_value(data, spec, v, len);
    char field[128], code[64];
    snprintf(field, sizeof(field), "%.*s", (int)(bar - spec), spec);
    const char *contact =
        ntf_data_value(data, field, code, sizeof(code)) == 0 ? ntf_contact(t, code) : NULL;
    if (contact == NULL)
        return -1;
    snprintf(v, len, "%s", contact);
    return 0;
}

/* fill_params - the template's values from data; -1 with err */
static cJSON *fill_params(const ntf_routes *t, const ntf_route *r, const cJSON *data, char *err,
                          size_t errlen)
{
    cJSON *p = cJSON_CreateObject();
    char v[512];
    for (int i = 0; p && i < r->tpl->nparams; i++) {
        if (param_value(t, data, r->param_fields[i], v, sizeof(v)) < 0) {
            snprintf(err, errlen, "route %s: data field %s missing or not a value", r->name,
                     r->param_fields[i]);
            cJSON_Delete(p);
            return NULL;
        }
        if (cJSON_AddStringToObject(p, r->tpl->params[i], v) == NULL) {
            cJSON_Delete(p);
            p = NULL;
        }
    }
    if (p == NULL)
        snprintf(err, errlen, "out of memory");
    return p;
}

/* ntf_routes_match - the deliveries an event asks for */
int ntf_routes_match(const ntf_routes *t, const char *type, const cJSON *data, ntf_wanted *out,
                     int max, int *routed, char *err, size_t errlen)
{
    int n = 0;
    *routed = 0;
    for (int i = 0; i < t->nroutes; i++) {
        const ntf_route *r = &t->routes[i];
        if (strcmp(r->event_type, type) != 0)
            continue;
        *routed = 1;
        char phones[NTF_MAX_PHONES][12];
        int np = 0;
        if (r->recipient_field) {
            char raw[64];
            if (ntf_data_value(data, r->recipient_field, raw, sizeof(raw)) < 0) {
                if (r->optional)
                    continue;
                snprintf(err, errlen, "route %s: no phone in data field %s", r->name,
                         r->recipient_field);
                goto fail;
            }
            if (ntf_phone_normalise(raw, phones[0]) < 0) {
                snprintf(err, errlen, "route %s: data field %s is not a mobile number", r->name,
                         r->recipient_field);
                goto fail;
            }
            np = 1;
        } else {
            for (int k = 0; k < r->nphones; k++)
                memcpy(phones[np++], r->phones[k], 12);
        }
        for (int k = 0; k < np; k++) {
            if (n == max) {
                snprintf(err, errlen, "more than %d deliveries for one event", max);
                goto fail;
            }
            cJSON *params = fill_params(t, r, data, err, errlen);
            if (params == NULL)
                goto fail;
            out[n].route = r;
            memcpy(out[n].phone, phones[k], 12);
            out[n].params = params;
            n++;
        }
    }
    return n;
fail:
    for (int k = 0; k < n; k++)
        cJSON_Delete(out[k].params);
    return -1;
}
