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
 */
#include "income.h"

#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/outbox.h"
#include "core/page.h"
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

/* problem_at - make the problem in resp name entry index of a batch */
static void problem_at(http_resp *resp, int index)
{
    cJSON *p = resp->body ? cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;
    if (p == NULL)
        return;
    char pointer[160], detail[700];
    const char *old = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "pointer"));
    const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "detail"));
    snprintf(pointer, sizeof(pointer), "/entries/%d%.100s", index, old ? old : "");
    snprintf(detail, sizeof(detail), "entry %d: %.600s", index, d ? d : "");
    cJSON_DeleteItemFromObject(p, "pointer");
    cJSON_DeleteItemFromObject(p, "detail");
    cJSON_DeleteItemFromObject(p, "errors");
    cJSON_AddStringToObject(p, "detail", detail);
    cJSON_AddStringToObject(p, "pointer", pointer);
    cJSON_AddNumberToObject(p, "index", index);
    cJSON *errors = cJSON_AddArrayToObject(p, "errors");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "pointer", pointer);
    cJSON_AddStringToObject(e, "detail", detail);
    cJSON_AddItemToArray(errors, e);
    int status = resp->status;
    const char *type = resp->content_type;
    http_reply_json(resp, status, p);
    resp->content_type = type;
}

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

/* unknown - 503 for an id made moments ago (its event may be on its way), else 422 */
static void unknown(http_resp *resp, const char *what, const char *pointer, const char *id)
{
    int64_t age = crypto_uuid_v7_age_ms(id, time_now_ms());
    if (age >= 0 && age < INCOME_GRACE_MS)
        http_problem(resp, 503, "not-yet-known", "Not known yet", pointer,
                     "%s %s was registered moments ago and its event has not reached this "
                     "service yet; retry shortly",
                     what, id);
    else
        http_problem(resp, 422, "unknown-reference", "Unknown reference", pointer,
                     "no %s %s is known", what, id);
}

/* The facts an entry is checked against, read from the read models. */
typedef struct entry_facts {
    char village[13];     /* the entry's village */
    int low_income;       /* the household's flag */
    char phone[32];       /* the household head's phone, for the event */
    char head_name[128];  /* the household head's name, for the event */
    char original[37];    /* for a reversal: the entry reversed */
    char amount[24];      /* the amount to record, as text */
    char date[11];        /* the period day */
    char project_id[37];  /* the project */
    char household[37];   /* the household, "" for none */
    char source_ref[201]; /* for a reversal without one: the original's */
} entry_facts;

/* load_original - a reversal's dimensions from the entry it reverses; -1 after a problem */
static int load_original(PGconn *conn, entry_input *in, entry_facts *f, http_resp *resp)
{
    const char *params[1] = {in->reverses};
    PGresult *res =
        service_query(conn,
                      "SELECT kind, project_id, household_id, village_code, low_income, "
                      "-amount_fen, to_char(period_date, 'YYYY-MM-DD'), reverses, "
                      "source_ref, (SELECT r.id FROM entries r WHERE r.reverses = e.id) "
                      "FROM entries e WHERE id = $1::uuid FOR UPDATE",
                      1, params, resp);
    if (res == NULL)
        return -1;
    int rc = -1;
    if (PQntuples(res) == 0)
        http_problem(resp, 422, "unknown-entry", "Unknown entry", "/reverses", "no entry %s exists",
                     in->reverses);
    else if (!PQgetisnull(res, 0, 7))
        http_problem(resp, 422, "reversal-of-reversal", "Cannot reverse a reversal", "/reverses",
                     "entry %s is itself a reversal (of %s)", in->reverses, PQgetvalue(res, 0, 7));
    else if (!PQgetisnull(res, 0, 9))
        http_problem(resp, 409, "already-reversed", "Already reversed", "/reverses",
                     "entry %s was already reversed by %s", in->reverses, PQgetvalue(res, 0, 9));
    else {
        in->kind = income_kind_parse(PQgetvalue(res, 0, 0));
        snprintf(f->project_id, sizeof(f->project_id), "%s", PQgetvalue(res, 0, 1));
        snprintf(f->household, sizeof(f->household), "%s", PQgetvalue(res, 0, 2));
        snprintf(f->village, sizeof(f->village), "%s", PQgetvalue(res, 0, 3));
        f->low_income = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
        snprintf(f->amount, sizeof(f->amount), "%s", PQgetvalue(res, 0, 5));
        snprintf(f->date, sizeof(f->date), "%s", PQgetvalue(res, 0, 6));
        snprintf(f->source_ref, sizeof(f->source_ref), "%s", PQgetvalue(res, 0, 8));
        snprintf(f->original, sizeof(f->original), "%s", in->reverses);
        rc = in->kind >= 0 ? 0 : -1;
    }
    PQclear(res);
    return rc;
}

/* load_household - the household's village, flag and contact; -1 after a problem */
static int load_household(PGconn *conn, const entry_input *in, entry_facts *f, http_resp *resp)
{
    const char *params[1] = {f->household};
    PGresult *res =
        service_query(conn,
                      "SELECT village_code, low_income, phone, head_name FROM households "
                      "WHERE id = $1::uuid",
                      1, params, resp);
    if (res == NULL)
        return -1;
    int rc = -1;
    if (PQntuples(res) == 0) {
        unknown(resp, "household", "/household_id", f->household);
    } else if (in->village_code && strcmp(in->village_code, PQgetvalue(res, 0, 0)) != 0) {
        http_problem(resp, 422, "validation", "Invalid field", "/village_code",
                     "the household lives in %s, not %s; leave village_code out",
                     PQgetvalue(res, 0, 0), in->village_code);
    } else {
        snprintf(f->village, sizeof(f->village), "%s", PQgetvalue(res, 0, 0));
        if (!in->reverses)
            f->low_income = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
        snprintf(f->phone, sizeof(f->phone), "%s", PQgetvalue(res, 0, 2));
        snprintf(f->head_name, sizeof(f->head_name), "%s", PQgetvalue(res, 0, 3));
        rc = 0;
    }
    PQclear(res);
    return rc;
}

/*
 * check_project - the project is known, the entry's village is one of its
 * villages (chosen when the entry named none and the project has one), and
 * the caller may record for it. -1 after a problem.
 */
static int check_project(PGconn *conn, const http_req *req, const entry_input *in, entry_facts *f,
                         http_resp *resp)
{
    const char *params[3] = {f->project_id, f->village[0] ? f->village : NULL, req->auth.sub};
    PGresult *res = service_query(conn,
                                  "SELECT status, $2::text = ANY (village_codes), "
                                  "$3::text = ANY (notable_ids), cardinality(village_codes), "
                                  "village_codes[1] FROM projects WHERE id = $1::uuid",
                                  3, params, resp);
    if (res == NULL)
        return -1;
    int rc = -1;
    if (PQntuples(res) == 0) {
        unknown(resp, "project", "/project_id", f->project_id);
    } else if (!in->reverses && strcmp(PQgetvalue(res, 0, 0), "planned") == 0) {
        http_problem(resp, 422, "project-not-started", "Project not started", "/project_id",
                     "project %s is still planned: it has no income yet", f->project_id);
    } else if (f->village[0] == '\0' && strcmp(PQgetvalue(res, 0, 3), "1") != 0) {
        http_problem(resp, 422, "validation", "Invalid field", "/village_code",
                     "project %s has %s villages: name the village_code the revenue belongs to",
                     f->project_id, PQgetvalue(res, 0, 3));
    } else if (f->village[0] != '\0' && strcmp(PQgetvalue(res, 0, 1), "t") != 0 &&
               !income_kind_household((income_kind)in->kind)) {
        http_problem(resp, 422, "validation", "Invalid field", "/village_code",
                     "%s is not one of project %s's villages", f->village, f->project_id);
    } else {
        if (f->village[0] == '\0')
            snprintf(f->village, sizeof(f->village), "%s", PQgetvalue(res, 0, 4));
        int sponsor = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
        int allowed =
            req->auth.role == ROLE_ADMIN ||
            (req->auth.role == ROLE_COORDINATOR && auth_region_allows(&req->auth, f->village)) ||
            (req->auth.role == ROLE_NOTABLE && sponsor);
        if (allowed)
            rc = 0;
        else if (req->auth.role == ROLE_NOTABLE)
            http_problem(resp, 403, "forbidden", "Not your project", "/project_id",
                         "only the notables sponsoring project %s record its income",
                         f->project_id);
        else
            http_problem(resp, 403, "forbidden", "Outside your villages", "/village_code",
                         "village %s is not in your scope", f->village);
    }
    PQclear(res);
    return rc;
}

/* check_enrolled - the household's enrollment of the kind's type, on the date; -1 after a 422 */
static int check_enrolled(PGconn *conn, const entry_input *in, const entry_facts *f,
                          http_resp *resp)
{
    const char *need = income_kind_enrollment((income_kind)in->kind);
    const char *params[4] = {f->household, f->project_id, need, f->date};
    PGresult *res =
        service_query(conn,
                      "SELECT 1 FROM enrollments WHERE household_id = $1::uuid AND "
                      "project_id = $2::uuid AND kind = $3 AND start_date <= $4::date AND "
                      "(end_date IS NULL OR end_date >= $4::date) LIMIT 1",
                      4, params, resp);
    if (res == NULL)
        return -1;
    int rc = PQntuples(res) > 0 ? 0 : -1;
    PQclear(res);
    if (rc < 0)
        http_problem(resp, 422, "not-enrolled", "Household not enrolled", "/household_id",
                     "household %s has no %s enrollment in project %s on %s", f->household, need,
                     f->project_id, f->date);
    return rc;
}

/*
 * entry_record - check one entry against the read models and the ledger,
 * insert it with its event; the recorded entry's JSON in *out (caller
 * owns). Returns 0, or -1 after a problem on resp.
 */
static int entry_record(PGconn *conn, const http_req *req, entry_input *in, cJSON **out,
                        http_resp *resp)
{
    entry_facts f;
    memset(&f, 0, sizeof(f));
    if (in->reverses) {
        if (load_original(conn, in, &f, resp) < 0)
            return -1;
    } else {
        snprintf(f.project_id, sizeof(f.project_id), "%s", in->project_id);
        snprintf(f.household, sizeof(f.household), "%s", in->household_id ? in->household_id : "");
        snprintf(f.village, sizeof(f.village), "%s", in->village_code ? in->village_code : "");
        snprintf(f.amount, sizeof(f.amount), "%lld", in->amount);
        snprintf(f.date, sizeof(f.date), "%s", in->date);
    }
    if ((f.household[0] && load_household(conn, in, &f, resp) < 0) ||
        check_project(conn, req, in, &f, resp) < 0 ||
        (f.household[0] && !in->reverses && check_enrolled(conn, in, &f, resp) < 0))
        return -1;

    char id[37];
    crypto_uuid_v7(id);
    const char *params[13] = {id,
                              income_kind_name((income_kind)in->kind),
                              f.project_id,
                              f.household[0] ? f.household : NULL,
                              f.village,
                              f.low_income ? "true" : "false",
                              f.amount,
                              f.date,
                              in->source_ref ? in->source_ref : f.source_ref,
                              in->note,
                              in->reverses,
                              in->reason,
                              req->auth.sub};
    PGresult *res =
        service_query(conn,
                      "INSERT INTO entries (id, kind, project_id, household_id, village_code, "
                      "low_income, amount_fen, period_date, source_ref, note, reverses, "
                      "reason, recorded_by) VALUES ($1::uuid, $2, $3::uuid, $4::uuid, $5, "
                      "$6::boolean, $7::bigint, $8::date, $9, $10, $11::uuid, $12, $13)",
                      13, params, resp);
    if (res == NULL)
        return -1;
    PQclear(res);
    const char *jp[1] = {id};
    res = service_query(conn, "SELECT entry_json($1::uuid)::text", 1, jp, resp);
    if (res == NULL)
        return -1;
    cJSON *data = cJSON_Parse(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (data == NULL) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "cannot read the entry back");
        return -1;
    }
    *out = cJSON_Duplicate(data, 1);
    if (f.household[0]) { /* whom the notifier tells; never in the HTTP answer */
        cJSON_AddStringToObject(data, "phone", f.phone);
        cJSON_AddStringToObject(data, "head_name", f.head_name);
    }
    const char *key = f.household[0] ? f.household : f.project_id;
    cJSON *ev = event_new("income", in->reverses ? "income.reversed" : "income.recorded", id, data);
    db_err err;
    if (ev == NULL || *out == NULL || outbox_add(conn, INCOME_TOPIC, key, ev, &err) < 0) {
        cJSON_Delete(ev);
        cJSON_Delete(*out);
        *out = NULL;
        if (ev == NULL)
            http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        else
            service_db_problem(resp, &err);
        return -1;
    }
    cJSON_Delete(ev);
    return 0;
}

/* batch_insert - the create step run inside service_create: every entry or none */
static int batch_insert(PGconn *conn, http_req *req, http_resp *resp, void *arg)
{
    entry_batch *b = arg;
    entry_input in;
    cJSON *ids = b->single ? NULL : cJSON_CreateArray();
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, b->items)
    {
        cJSON *out = NULL;
        if (entry_fields(item, b, &in, resp) < 0 || entry_record(conn, req, &in, &out, resp) < 0) {
            if (!b->single)
                problem_at(resp, i);
            cJSON_Delete(ids);
            return -1;
        }
        if (b->single) {
            snprintf(resp->location, sizeof(resp->location), "/v1/entries/%s",
                     cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "id")));
            http_reply_json(resp, 201, out);
            return 0;
        }
        cJSON_AddItemToArray(ids, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(out, "id"), 0));
        cJSON_Delete(out);
        i++;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "recorded", i);
    cJSON_AddItemToObject(body, "ids", ids);
    http_reply_json(resp, 201, body);
    log_info("batch of %d entries recorded", i);
    return 0;
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
    service_create(sctx, req, resp, batch_insert, &b);
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
