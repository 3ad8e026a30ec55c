/*
 * income_entries.c - recording ledger entries: one entry, or a batch of up
 * to INCOME_BATCH_MAX under "entries", all or nothing, with
 * Idempotency-Key; reversals; reading entries back.
 *
 * Who may record: the admin; a coordinator for the villages in its scope
 * (the entry's village: the household's for household entries); a notable
 * for the projects it sponsors (the project's notable_ids hold the token's
 * subject). A household entry needs the household enrolled in the project
 * with the matching kind (wage: employment, land_rent: land_transfer,
 * dividend: share, sales: supply) on the entry's date. A reversal takes
 * every dimension from the entry it reverses and negates its amount; an
 * entry is reversed at most once (a unique index makes the loser of a race
 * fail), and a reversal is never reversed. Projects and households are
 * known from events: an unseen id younger than INCOME_GRACE_MS (its UUIDv7
 * says) answers 503 with Retry-After, an older one 422.
 *
 * The handler checks each entry's fields; everything that needs the
 * database (the rules above), the rows, the events and the Idempotency-Key
 * are one statement, entries_record in schemas/sql/income/003.
 */
#include "income.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/page.h"
#include "core/service.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

#define INCOME_GRACE_MS 120000

typedef struct entry_input {
    int kind; /* income_kind, or -1 for a reversal until the original is read */
    long long amount;
    const char *date, *project_id, *household_id, *village_code, *source_ref, *note;
    const char *reverses, *reason;
} entry_input;

typedef struct entry_batch {
    const cJSON *items; /* the entry objects (borrowed from the body) */
    int single;         /* the body was one entry, not {"entries": [...]} */
    income_state *st;
    char today[11]; /* Asia/Shanghai */
} entry_batch;

/* uuid_field - an optional UUID string field; -1 after a 422 */
static int uuid_field(const cJSON *obj, const char *name, int required, const char **out,
                      http_resp *resp)
{
    char pointer[40];
    if (http_field_string(obj, name, required, 36, 36, out, resp) < 0)
        return -1;
    if (*out && !crypto_uuid_valid(*out)) {
        snprintf(pointer, sizeof(pointer), "/%s", name);
        http_problem(resp, 422, "validation", "Invalid field", pointer, "%s is a UUID", name);
        return -1;
    }
    return 0;
}

/* present - 1 when obj has a non-null member name */
static int present(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v != NULL && !cJSON_IsNull(v);
}

/*
 * entry_fields - check one entry object into in: the rules that need no
 * database. Returns 0, or -1 after a 422 naming the field.
 */
static int entry_fields(const cJSON *obj, const entry_batch *b, entry_input *in, http_resp *resp)
{
    memset(in, 0, sizeof(*in));
    in->kind = -1;
    if (!cJSON_IsObject(obj)) {
        http_problem(resp, 422, "validation", "Invalid entry", NULL, "an entry is a JSON object");
        return -1;
    }
    if (uuid_field(obj, "reverses", 0, &in->reverses, resp) < 0 ||
        http_field_string(obj, "source_ref", in->reverses == NULL, 1, 200, &in->source_ref, resp) <
            0 ||
        http_field_text(obj, "note", 0, 1, 500, &in->note, resp) < 0)
        return -1;
    if (in->reverses) {
        static const char *const taken[] = {"kind",       "amount_fen",   "date",
                                            "project_id", "household_id", "village_code"};
        for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
            if (present(obj, taken[i])) {
                char pointer[40];
                snprintf(pointer, sizeof(pointer), "/%s", taken[i]);
                http_problem(resp, 422, "validation", "Invalid field", pointer,
                             "a reversal takes %s from the entry it reverses; leave it out",
                             taken[i]);
                return -1;
            }
        return http_field_text(obj, "reason", 1, 1, 500, &in->reason, resp);
    }
    if (present(obj, "reason")) {
        http_problem(resp, 422, "validation", "Invalid field", "/reason",
                     "reason belongs to a reversal (with reverses)");
        return -1;
    }
    const char *kind = NULL;
    if (http_field_string(obj, "kind", 1, 1, 32, &kind, resp) < 0)
        return -1;
    if ((in->kind = income_kind_parse(kind)) < 0) {
        http_problem(resp, 422, "validation", "Invalid field", "/kind",
                     "kind is project_revenue, wage, land_rent, dividend, sales or collective");
        return -1;
    }
    int household = income_kind_household((income_kind)in->kind);
    long long max = household ? b->st->max_household_entry_fen : b->st->max_entry_fen;
    if (http_field_int64(obj, "amount_fen", 1, 1, max, &in->amount, NULL, resp) < 0 ||
        http_field_date(obj, "date", 1, &in->date, resp) < 0 ||
        uuid_field(obj, "project_id", 1, &in->project_id, resp) < 0 ||
        uuid_field(obj, "household_id", household, &in->household_id, resp) < 0 ||
        http_field_string(obj, "village_code", in->kind == INCOME_COLLECTIVE, 12, 12,
                          &in->village_code, resp) < 0)
        return -1;
    if (strcmp(in->date, b->today) > 0) {
        http_problem(resp, 422, "validation", "Invalid field", "/date",
                     "date %s is in the future (today is %s in Asia/Shanghai)", in->date, b->today);
        return -1;
    }
    if (!household && in->household_id) {
        http_problem(resp, 422, "validation", "Invalid field", "/household_id",
                     "a %s entry belongs to no household", kind);
        return -1;
    }
    if (in->village_code && strspn(in->village_code, "0123456789") != 12) {
        http_problem(resp, 422, "validation", "Invalid field", "/village_code",
                     "village_code is a 12-digit region code");
        return -1;
    }
    return 0;
}

/*
 * entry_command - the checked entry in as one element of entries_record's
 * array (income 003): its fields, its new id, the enrollment kind a
 * household entry needs and its event's envelope. Returns 0, or -1 when out
 * of memory.
 */
static int entry_command(const entry_input *in, cJSON *arr)
{
    char id[37], amount[24];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToArray(arr, o))
        return -1;
    crypto_uuid_v7(id);
    char *envelope =
        event_envelope_text("income", in->reverses ? "income.reversed" : "income.recorded", id);
    if (envelope == NULL || cJSON_AddRawToObject(o, "event", envelope) == NULL) {
        free(envelope);
        return -1;
    }
    free(envelope);
    cJSON_AddStringToObject(o, "id", id);
    const struct {
        const char *name, *value;
    } fields[] = {{"reverses", in->reverses},
                  {"reason", in->reason},
                  {"source_ref", in->source_ref},
                  {"note", in->note},
                  {"date", in->date},
                  {"project_id", in->project_id},
                  {"household_id", in->household_id},
                  {"village_code", in->village_code}};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (fields[i].value && cJSON_AddStringToObject(o, fields[i].name, fields[i].value) == NULL)
            return -1;
    if (in->reverses)
        return 0;
    snprintf(amount, sizeof(amount), "%lld", in->amount);
    const char *need = income_kind_enrollment((income_kind)in->kind);
    if (cJSON_AddStringToObject(o, "kind", income_kind_name((income_kind)in->kind)) == NULL ||
        cJSON_AddStringToObject(o, "amount_fen", amount) == NULL ||
        (need && cJSON_AddStringToObject(o, "enrollment", need) == NULL))
        return -1;
    return 0;
}

/* The problem the handler found in one entry's fields, for entries_record to answer. */
typedef struct entry_problem {
    char status[8];    /* "" when none */
    char slug[64];     /* the type, after the problems' base */
    char title[128];   /* the title */
    char pointer[160]; /* in a batch: /entries/<i> and the field's pointer */
    char detail[700];  /* in a batch: "entry <i>: " and the detail */
} entry_problem;

/* entry_problem_take - move the problem on resp for entry index (-1: single) into p */
static void entry_problem_take(http_resp *resp, int index, entry_problem *p)
{
    cJSON *o = resp->body ? cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "type"));
    const char *title = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "title"));
    const char *pointer = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "pointer"));
    const char *detail = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "detail"));
    const char *slash = type ? strrchr(type, '/') : NULL;
    snprintf(p->status, sizeof(p->status), "%d", resp->status);
    snprintf(p->slug, sizeof(p->slug), "%s", slash ? slash + 1 : "validation");
    snprintf(p->title, sizeof(p->title), "%s", title ? title : "Invalid entry");
    if (index < 0) {
        snprintf(p->pointer, sizeof(p->pointer), "%s", pointer ? pointer : "");
        snprintf(p->detail, sizeof(p->detail), "%s", detail ? detail : "");
    } else {
        snprintf(p->pointer, sizeof(p->pointer), "/entries/%d%.100s", index,
                 pointer ? pointer : "");
        snprintf(p->detail, sizeof(p->detail), "entry %d: %.600s", index, detail ? detail : "");
    }
    cJSON_Delete(o);
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    resp->status = 0;
}

/* batch_index - a batch's problem naming /entries/<i> also says "index": i */
static void batch_index(http_resp *resp)
{
    int index;
    cJSON *p = resp->status >= 400 && resp->body ? cJSON_ParseWithLength(resp->body, resp->body_len)
                                                 : NULL;
    const char *pointer = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "pointer"));
    if (pointer == NULL || sscanf(pointer, "/entries/%d", &index) != 1) {
        cJSON_Delete(p);
        return;
    }
    cJSON_AddNumberToObject(p, "index", index);
    int status = resp->status;
    const char *type = resp->content_type;
    http_reply_json(resp, status, p);
    resp->content_type = type;
}

/*
 * entries_record - check every entry's fields in turn, then record the ones
 * before the first that fails (all of them, if none does) in one statement,
 * entries_record in income 003, which answers.
 */
static void entries_record(service_ctx *ctx, http_req *req, http_resp *resp, const entry_batch *b)
{
    entry_input in;
    entry_problem fail = {0};
    cJSON *arr = cJSON_CreateArray();
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, b->items)
    {
        if (entry_fields(item, b, &in, resp) < 0) {
            entry_problem_take(resp, b->single ? -1 : i, &fail);
            break;
        }
        if (entry_command(&in, arr) < 0) {
            cJSON_Delete(arr);
            http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
            return;
        }
        i++;
    }
    if (fail.status[0] && i == 0 && http_header(req, "Idempotency-Key") == NULL) {
        /* nothing before it to check, no key to replay: the fields' problem as it is */
        cJSON_Delete(arr);
        http_problem(resp, atoi(fail.status), fail.slug, fail.title,
                     fail.pointer[0] ? fail.pointer : NULL, "%s", fail.detail);
        if (!b->single)
            batch_index(resp);
        return;
    }
    char *entries = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    char role[8], grace[24], scope[AUTH_SCOPE_ARRAY_LEN];
    snprintf(role, sizeof(role), "%d", req->auth.role);
    snprintf(grace, sizeof(grace), "%d", INCOME_GRACE_MS);
    auth_scope_array(&req->auth, scope, sizeof(scope));
    const char *params[12] = {entries,
                              b->single ? "true" : "false",
                              fail.status[0] ? fail.status : NULL,
                              fail.status[0] ? fail.slug : NULL,
                              fail.status[0] ? fail.title : NULL,
                              fail.pointer[0] ? fail.pointer : NULL,
                              fail.status[0] ? fail.detail : NULL,
                              role,
                              scope,
                              req->auth.sub,
                              grace,
                              INCOME_TOPIC};
    if (entries == NULL) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        return;
    }
    service_create_one(ctx, req, resp,
                       "SELECT * FROM entries_record($1::jsonb, $2::boolean, $3::integer, $4, $5, "
                       "$6, $7, $8::integer, $9::text[], $10, $11::bigint, $12, "
                       "$13, $14, $15, $16)",
                       12, params);
    free(entries);
    if (!b->single && resp->status == 201)
        log_info("batch of %d entries recorded", i);
    else if (!b->single)
        batch_index(resp);
}

/* income_entries_create - POST /v1/entries: one entry or {"entries": [...]} */
void income_entries_create(http_req *req, http_resp *resp, void *ctx)
{
    service_ctx *sctx = ctx;
    entry_batch b = {.st = sctx->state};
    cJSON *body = http_parse_json(req, resp), *one = NULL;
    if (body == NULL)
        return;
    time_shanghai_date(time_now_ms(), b.today);
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(body, "entries");
    if (entries == NULL) { /* one entry: a one-element array referring to the body */
        b.single = 1;
        b.items = one = cJSON_CreateArray();
        if (one == NULL || !cJSON_AddItemReferenceToArray(one, body)) {
            http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
            goto out;
        }
    } else if (!cJSON_IsArray(entries) || cJSON_GetArraySize(entries) < 1 ||
               cJSON_GetArraySize(entries) > INCOME_BATCH_MAX || cJSON_GetArraySize(body) != 1) {
        http_problem(resp, 422, "validation", "Invalid batch", "/entries",
                     "entries is an array of 1 to %d entries, alone in the body", INCOME_BATCH_MAX);
        goto out;
    } else {
        b.items = entries;
    }
    entries_record(sctx, req, resp, &b);
out:
    cJSON_Delete(one);
    cJSON_Delete(body);
}

/* ENTRY_VISIBLE - the SQL condition "the caller may read entry e" ($2 role, $3 scope, $4 subject)
 */
#define ENTRY_VISIBLE                                                                              \
    "($2::int = 1 OR ($2::int = 2 AND in_scope(e.village_code, $3::text[])) OR "                   \
    "($2::int = 4 AND EXISTS (SELECT 1 FROM "                                                      \
    "projects p WHERE p.id = e.project_id AND $4::text = ANY (p.notable_ids))))"

/* visibility_params - role, scope array and subject as the query's $2..$4 */
static void visibility_params(const http_req *req, char role[8], char scope[AUTH_SCOPE_ARRAY_LEN],
                              const char **params)
{
    snprintf(role, 8, "%d", req->auth.role);
    auth_scope_array(&req->auth, scope, AUTH_SCOPE_ARRAY_LEN);
    params[1] = role;
    params[2] = scope;
    params[3] = req->auth.sub;
}

/* income_entries_get - GET /v1/entries/{id}, for whoever may record it */
void income_entries_get(http_req *req, http_resp *resp, void *ctx)
{
    char role[8], scope[AUTH_SCOPE_ARRAY_LEN];
    const char *params[4] = {req->params[0]};
    if (!crypto_uuid_valid(req->params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such entry");
        return;
    }
    visibility_params(req, role, scope, params);
    page_query_one_scoped(ctx, resp,
                          "SELECT entry_json(e.id)::text, " ENTRY_VISIBLE
                          " FROM entries e WHERE e.id = $1::uuid",
                          4, params, "entry");
}

/* income_entries_list - GET /v1/entries?project_id=&household_id=: newest first, paged */
void income_entries_list(http_req *req, http_resp *resp, void *ctx)
{
    char role[8], scope[AUTH_SCOPE_ARRAY_LEN], cursor_buf[64], limit[16];
    const char *cursor = NULL;
    int n = page_args(req, resp, 1, cursor_buf, &cursor, limit);
    if (n < 0)
        return;
    const char *project = http_query(req, "project_id"),
               *household = http_query(req, "household_id");
    if ((project && !crypto_uuid_valid(project)) || (household && !crypto_uuid_valid(household))) {
        http_problem(resp, 422, "validation", "Invalid filter",
                     project && !crypto_uuid_valid(project) ? "/project_id" : "/household_id",
                     "project_id and household_id are UUIDs");
        return;
    }
    const char *params[7] = {NULL, NULL, NULL, NULL, project, household, cursor};
    visibility_params(req, role, scope, params);
    params[0] = limit;
    page_query(ctx, resp,
               "SELECT entry_json(e.id)::text, e.id::text FROM entries e WHERE " ENTRY_VISIBLE
               " AND ($5::uuid IS NULL OR e.project_id = $5::uuid) "
               "AND ($6::uuid IS NULL OR e.household_id = $6::uuid) "
               "AND ($7::uuid IS NULL OR e.id < $7::uuid) ORDER BY e.id DESC LIMIT $1::int",
               7, params, n);
}
