/*
 * enrollment_households.c - registering and reading households, and the
 * planners' aggregated numbers.
 *
 * Who may do what: coordinators register and read households of the
 * villages in their scope (403 elsewhere), the admin everywhere; planners
 * and supervisors read only aggregated numbers (/v1/stats), never names,
 * phones or ID numbers. An ID number is normalised (spaces, a lower-case x),
 * checked (GB 11643), found again by its blind index, stored encrypted, and
 * shown masked except to the admin.
 */
#include "enrollment.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cnid.h"
#include "core/event.h"
#include "core/page.h"
#include "core/service.h"
#include "util/crypto.h"
#include "util/timeutil.h"

/* today_cst - "YYYYMMDD" in Asia/Shanghai (UTC+8, no daylight saving) */
static void today_cst(char out[9])
{
    time_t t = (time_t)(time_now_ms() / 1000) + 8 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 9, "%Y%m%d", &tm);
}

/* id_field - check and protect one ID number at pointer; -1 after a 422 */
static int id_field(const char *raw, const char *pointer, const enrollment_state *st, char id[19],
                    char index[65], char masked[19], char enc[128], http_resp *resp)
{
    char today[9];
    const char *why = NULL;
    today_cst(today);
    if (cnid_idcard_normalise(raw, today, id, &why) < 0) {
        http_problem(resp, 422, "invalid-id-number", "Invalid ID-card number", pointer,
                     "the ID number fails its %s rule (GB 11643)", why);
        return -1;
    }
    pii_blind_index(&st->keys, id, index);
    pii_mask_idcard(id, masked);
    if (pii_encrypt(&st->keys, id, enc, 128) < 0) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "encryption failed");
        return -1;
    }
    return 0;
}

/* enrollment_household_fields - the body's fields, checked; -1 after a 422 */
int enrollment_household_fields(const cJSON *body, household_input *in, http_resp *resp)
{
    const char *id_raw;
    int present = 0;
    if (http_field_string(body, "head_name", 1, 1, 50, &in->head_name, resp) < 0 ||
        http_field_string(body, "id_number", 1, 1, 40, &id_raw, resp) < 0 ||
        http_field_string(body, "phone", 1, 1, 20, &in->phone_raw, resp) < 0 ||
        http_field_string(body, "village_code", 1, 12, 12, &in->village, resp) < 0 ||
        http_field_int64(body, "members_count", 0, 1, 30, &in->members_count, &present, resp) < 0)
        return -1;
    if (!present)
        in->members_count = 1;
    if (id_field(id_raw, "/id_number", in->st, in->id, in->index, in->masked, in->enc, resp) < 0)
        return -1;
    if (cnid_phone_normalise(in->phone_raw, in->phone) < 0) {
        http_problem(resp, 422, "validation", "Invalid phone", "/phone",
                     "phone must be a mainland mobile number (11 digits starting 13-19)");
        return -1;
    }
    const cJSON *li = cJSON_GetObjectItemCaseSensitive(body, "low_income");
    if (!cJSON_IsObject(li)) {
        http_problem(resp, 422, "validation", "Invalid field", "/low_income",
                     "low_income is an object {certified, year, baseline_per_capita_fen}");
        return -1;
    }
    const cJSON *cert = cJSON_GetObjectItemCaseSensitive(li, "certified");
    if (!cJSON_IsBool(cert)) {
        http_problem(resp, 422, "validation", "Invalid field", "/low_income/certified",
                     "certified is true or false");
        return -1;
    }
    in->certified = cJSON_IsTrue(cert);
    http_resp sub = {0};
    if (http_field_int64(li, "year", in->certified, 2000, 2100, &in->year, &in->has_year, &sub) <
            0 ||
        http_field_int64(li, "baseline_per_capita_fen", in->certified, 0, 100000000, &in->baseline,
                         &in->has_baseline, &sub) < 0) {
        /* re-point the nested field's problem under /low_income */
        cJSON *p = cJSON_ParseWithLength(sub.body, sub.body_len);
        const char *ptr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "pointer"));
        char pointer[96];
        snprintf(pointer, sizeof(pointer), "/low_income%s", ptr ? ptr : "");
        http_problem(resp, 422, "validation", "Invalid field", pointer, "%s",
                     cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "detail")));
        cJSON_Delete(p);
        free(sub.body);
        return -1;
    }
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(body, "members");
    if (members && (!cJSON_IsArray(members) || cJSON_GetArraySize(members) > MAX_MEMBERS)) {
        http_problem(resp, 422, "validation", "Invalid field", "/members",
                     "members is an array of at most %d people", MAX_MEMBERS);
        return -1;
    }
    for (int i = 0; members && i < cJSON_GetArraySize(members); i++) {
        const cJSON *m = cJSON_GetArrayItem(members, i);
        member_input *mi = &in->members[i];
        const char *mid = NULL;
        char pointer[48];
        int has_year = 0;
        snprintf(pointer, sizeof(pointer), "/members/%d", i);
        if (!cJSON_IsObject(m)) {
            http_problem(resp, 422, "validation", "Invalid field", pointer,
                         "a member is an object");
            return -1;
        }
        if (http_field_string(m, "name", 1, 1, 50, &mi->name, resp) < 0 ||
            http_field_string(m, "relation", 1, 1, 20, &mi->relation, resp) < 0 ||
            http_field_int64(m, "birth_year", 0, 1900, 2100, &mi->birth_year, &has_year, resp) <
                0 ||
            http_field_string(m, "id_number", 0, 1, 40, &mid, resp) < 0) {
            /* the nested helpers name "/name"; say which member */
            cJSON *p = cJSON_ParseWithLength(resp->body, resp->body_len);
            const char *ptr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "pointer"));
            char full[96];
            snprintf(full, sizeof(full), "%s%s", pointer, ptr ? ptr : "");
            http_problem(resp, 422, "validation", "Invalid field", full, "%s",
                         cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "detail")));
            cJSON_Delete(p);
            return -1;
        }
        if (!has_year)
            mi->birth_year = 0;
        if (mid) {
            snprintf(pointer, sizeof(pointer), "/members/%d/id_number", i);
            if (id_field(mid, pointer, in->st, mi->id, mi->index, mi->masked, mi->enc, resp) < 0)
                return -1;
            mi->has_id = 1;
        }
        in->nmembers++;
    }
    return 0;
}

/* members_json - the members' rows for household_register, as a JSON array text (caller
   frees), or NULL when out of memory */
static char *members_json(const household_input *in)
{
    cJSON *arr = cJSON_CreateArray();
    int ok = arr != NULL;
    for (int i = 0; ok && i < in->nmembers; i++) {
        const member_input *m = &in->members[i];
        cJSON *o = cJSON_CreateObject();
        ok = o != NULL && cJSON_AddItemToArray(arr, o) &&
             cJSON_AddStringToObject(o, "name", m->name) &&
             cJSON_AddStringToObject(o, "relation", m->relation) &&
             (m->birth_year ? cJSON_AddNumberToObject(o, "birth_year", (double)m->birth_year)
                            : cJSON_AddNullToObject(o, "birth_year")) &&
             (!m->has_id || (cJSON_AddStringToObject(o, "id_enc", m->enc) &&
                             cJSON_AddStringToObject(o, "id_index", m->index) &&
                             cJSON_AddStringToObject(o, "id_masked", m->masked)));
    }
    char *text = ok ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return text;
}

void enrollment_household_columns(const household_input *in, char num[3][24],
                                  const char *v[ENROLLMENT_HOUSEHOLD_COLS])
{
    snprintf(num[0], 24, "%lld", in->members_count);
    snprintf(num[1], 24, "%lld", in->year);
    snprintf(num[2], 24, "%lld", in->baseline);
    const char *cols[ENROLLMENT_HOUSEHOLD_COLS] = {in->head_name,
                                                   in->enc,
                                                   in->index,
                                                   in->masked,
                                                   in->phone,
                                                   in->village,
                                                   num[0],
                                                   in->certified ? "true" : "false",
                                                   in->has_year ? num[1] : NULL,
                                                   in->has_baseline ? num[2] : NULL};
    memcpy(v, cols, sizeof(cols));
}

/*
 * household_register - the registration of in (checked, in scope) in one
 * statement (household_register in the schema): the village known, the ID
 * number not registered (409 with existing_id), the rows, the event, the
 * Idempotency-Key, the answer
 */
static void household_register(service_ctx *ctx, http_req *req, http_resp *resp,
                               household_input *in)
{
    char num[3][24];
    const char *params[ENROLLMENT_HOUSEHOLD_COLS + 5];
    crypto_uuid_v7(in->hid);
    char *people = members_json(in);
    char *envelope = event_envelope_text("enrollment", "household.registered", in->hid);
    if (people == NULL || envelope == NULL) {
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
    } else {
        params[0] = in->hid;
        enrollment_household_columns(in, num, params + 1);
        params[ENROLLMENT_HOUSEHOLD_COLS + 1] = req->auth.sub;
        params[ENROLLMENT_HOUSEHOLD_COLS + 2] = people;
        params[ENROLLMENT_HOUSEHOLD_COLS + 3] = envelope;
        params[ENROLLMENT_HOUSEHOLD_COLS + 4] = ENROLLMENT_TOPIC;
        service_create_one(ctx, req, resp,
                           "SELECT * FROM household_register($1::uuid, $2, $3, $4, $5, $6, $7, "
                           "$8::int, $9::boolean, $10::int, $11::bigint, $12, $13::jsonb, "
                           "$14::jsonb, $15, $16, $17, $18, $19)",
                           ENROLLMENT_HOUSEHOLD_COLS + 5, params);
    }
    free(people);
    free(envelope);
}

/* enrollment_households_create - POST /v1/households */
void enrollment_households_create(http_req *req, http_resp *resp, void *ctx)
{
    household_input *in = calloc(1, sizeof(*in));
    if (in == NULL) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        return;
    }
    cJSON *body = http_parse_json(req, resp);
    in->st = ((service_ctx *)ctx)->state;
    if (body != NULL && enrollment_household_fields(body, in, resp) == 0) {
        if (!auth_region_allows(&req->auth, in->village))
            http_problem(resp, 403, "forbidden", "Outside your villages", "/village_code",
                         "village %s is not in your scope", in->village);
        else
            household_register(ctx, req, resp, in);
    }
    cJSON_Delete(body);
    free(in);
}

/*
 * household_update - the change of household req->params[0] in one
 * statement (household_update in the schema): the household locked and in
 * the caller's scope, the columns given (cols: head_name, phone,
 * members_count, low_income, low_income_year, baseline_per_capita_fen; NULL
 * keeps the column), the household.updated event, the answer
 */
static void household_update(service_ctx *ctx, http_req *req, http_resp *resp,
                             const char *const cols[6])
{
    const char *hid = req->params[0];
    char scope[AUTH_SCOPE_ARRAY_LEN];
    char *envelope = event_envelope_text("enrollment", "household.updated", hid);
    if (envelope == NULL) {
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
        return;
    }
    const char *params[10];
    params[0] = hid;
    memcpy(params + 1, cols, 6 * sizeof(*cols));
    params[7] = enrollment_scope_sql(req, scope, sizeof(scope));
    params[8] = envelope;
    params[9] = ENROLLMENT_TOPIC;
    service_command_run(ctx, resp,
                        "SELECT * FROM household_update($1::uuid, $2, $3, $4::int, $5::boolean, "
                        "$6::int, $7::bigint, $8::text[], $9::jsonb, $10)",
                        10, params);
    free(envelope);
}

/* enrollment_households_update - PATCH /v1/households/{id}: name, phone, size, low-income status */
void enrollment_households_update(http_req *req, http_resp *resp, void *ctx)
{
    const char *name = NULL, *phone_raw = NULL;
    char phone[12], members[24] = "", year[24] = "", baseline[24] = "";
    long long n_members = 0, n_year = 0, n_baseline = 0;
    int has_members = 0, has_year = 0, has_baseline = 0;
    const char *cert = NULL;
    const char *hid = req->params[0];

    if (!crypto_uuid_valid(hid)) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such household");
        return;
    }
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    static const char *const fixed[] = {"id_number", "village_code", "members", NULL};
    for (int i = 0; fixed[i]; i++) {
        if (cJSON_GetObjectItemCaseSensitive(body, fixed[i])) {
            char pointer[32];
            snprintf(pointer, sizeof(pointer), "/%s", fixed[i]);
            http_problem(resp, 422, "validation", "Field cannot be changed", pointer,
                         "%s is fixed once registered", fixed[i]);
            goto out;
        }
    }
    if (http_field_string(body, "head_name", 0, 1, 50, &name, resp) < 0 ||
        http_field_string(body, "phone", 0, 1, 20, &phone_raw, resp) < 0 ||
        http_field_int64(body, "members_count", 0, 1, 30, &n_members, &has_members, resp) < 0)
        goto out;
    if (phone_raw && cnid_phone_normalise(phone_raw, phone) < 0) {
        http_problem(resp, 422, "validation", "Invalid phone", "/phone",
                     "phone must be a mainland mobile number (11 digits starting 13-19)");
        goto out;
    }
    const cJSON *li = cJSON_GetObjectItemCaseSensitive(body, "low_income");
    if (li) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(li, "certified");
        if (!cJSON_IsObject(li) || !cJSON_IsBool(c)) {
            http_problem(resp, 422, "validation", "Invalid field", "/low_income/certified",
                         "low_income is {certified, year, baseline_per_capita_fen}");
            goto out;
        }
        cert = cJSON_IsTrue(c) ? "true" : "false";
        int req_more = cJSON_IsTrue(c);
        if (http_field_int64(li, "year", req_more, 2000, 2100, &n_year, &has_year, resp) < 0 ||
            http_field_int64(li, "baseline_per_capita_fen", req_more, 0, 100000000, &n_baseline,
                             &has_baseline, resp) < 0) {
            http_problem(resp, 422, "validation", "Invalid field", "/low_income",
                         "a certified household has a year and a baseline_per_capita_fen");
            goto out;
        }
    }
    snprintf(members, sizeof(members), "%lld", n_members);
    snprintf(year, sizeof(year), "%lld", n_year);
    snprintf(baseline, sizeof(baseline), "%lld", n_baseline);
    const char *cols[6] = {name, phone_raw ? phone : NULL, has_members ? members : NULL,
                           cert, has_year ? year : NULL,   has_baseline ? baseline : NULL};
    household_update(ctx, req, resp, cols);
out:
    cJSON_Delete(body);
}

const char *enrollment_scope_sql(const http_req *req, char *buf, size_t len)
{
    return req->auth.role == ROLE_ADMIN ? NULL : auth_scope_array(&req->auth, buf, len);
}

/* HOUSEHOLD_IN_SCOPE - household h's village inside the scope $n (NULL: everywhere) */
#define HOUSEHOLD_IN_SCOPE(n) "in_scope(h.village_code, $" n "::text[])"

/*
 * search_args - ?q= of the households list: 1..50 characters without
 * control characters. An 18-character ID number is looked up by its blind
 * index (index, 65 bytes); anything else matches part of the name or the
 * phone, the first six or the last four characters of the ID number. 0, or
 * -1 after a 422.
 */
static int search_args(const http_req *req, enrollment_state *st, const char **q, char index[65],
                       http_resp *resp)
{
    *q = http_query(req, "q");
    index[0] = '\0';
    if (*q == NULL || **q == '\0') {
        *q = NULL;
        return 0;
    }
    size_t chars = 0;
    for (const unsigned char *c = (const unsigned char *)*q; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            http_problem(resp, 422, "validation", "Invalid search", "/q",
                         "q may not hold control characters");
            return -1;
        }
        chars += (*c & 0xC0) != 0x80;
    }
    if (chars > 50) {
        http_problem(resp, 422, "validation", "Invalid search", "/q",
                     "q has at most 50 characters");
        return -1;
    }
    char canon[19];
    const char *why;
    if (strlen(*q) == 18 && cnid_idcard_normalise(*q, "99991231", canon, &why) == 0)
        pii_blind_index(&st->keys, canon, index);
    return 0;
}

/* enrollment_households_list - GET /v1/households?village=&low_income=&q= */
void enrollment_households_list(http_req *req, http_resp *resp, void *ctx)
{
    const char *village = http_query(req, "village");
    const char *low = http_query(req, "low_income");
    const char *q;
    char index[65];
    if (search_args(req, ((service_ctx *)ctx)->state, &q, index, resp) < 0)
        return;
    const char *cursor;
    char cursor_buf[64], limit_sql[16], scope[AUTH_SCOPE_ARRAY_LEN];
    int limit = page_args(req, resp, 1, cursor_buf, &cursor, limit_sql);
    if (limit < 0)
        return;
    if (low && strcmp(low, "true") && strcmp(low, "false")) {
        http_problem(resp, 422, "validation", "Invalid filter", "/low_income",
                     "low_income is true or false");
        return;
    }
    if (village && (strlen(village) != 12 || strspn(village, "0123456789") != 12)) {
        http_problem(resp, 422, "validation", "Invalid filter", "/village",
                     "village is a 12-digit region code");
        return;
    }
    if (village && req->auth.role != ROLE_ADMIN && !auth_region_allows(&req->auth, village)) {
        http_problem(resp, 403, "forbidden", "Forbidden", "/village",
                     "village %s is outside your scope", village);
        return;
    }
    const char *params[7] = {cursor,
                             village,
                             low,
                             enrollment_scope_sql(req, scope, sizeof(scope)),
                             limit_sql,
                             q,
                             index[0] ? index : NULL};
    page_query(ctx, resp,
               "SELECT household_json(h.id)::text, h.id FROM households h "
               "WHERE ($1::uuid IS NULL OR h.id > $1::uuid) "
               "AND ($2::text IS NULL OR h.village_code = $2) "
               "AND ($3::boolean IS NULL OR h.low_income = $3::boolean) "
               "AND ($6::text IS NULL OR ($7::text IS NOT NULL AND h.id_index = $7) OR "
               "($7::text IS NULL AND (position($6 IN h.head_name) > 0 OR position($6 IN "
               "h.phone) > 0 OR left(h.id_masked, 6) = $6 OR right(h.id_masked, 4) = "
               "upper($6)))) "
               "AND " HOUSEHOLD_IN_SCOPE("4") " ORDER BY h.id LIMIT $5::int",
               7, params, limit);
}

/* enrollment_households_get - GET /v1/households/{id}; the admin sees the ID number whole */
void enrollment_households_get(http_req *req, http_resp *resp, void *ctx)
{
    char scope[AUTH_SCOPE_ARRAY_LEN];
    const char *params[2] = {req->params[0], enrollment_scope_sql(req, scope, sizeof(scope))};
    if (!crypto_uuid_valid(params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such household");
        return;
    }
    if (req->auth.role != ROLE_ADMIN) {
        page_query_one_scoped(ctx, resp,
                              "SELECT household_json(h.id)::text, " HOUSEHOLD_IN_SCOPE(
                                  "2") " FROM "
                                       "households h WHERE h.id = $1::uuid",
                              2, params, "household");
        return;
    }
    /* the admin reads the ID number whole: decrypted here, never stored in clear */
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        return;
    db_err err;
    PGresult *res = db_exec(conn,
                            "SELECT household_json(h.id)::text, h.id_enc FROM households h "
                            "WHERE h.id = $1::uuid",
                            1, params, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
    } else if (PQntuples(res) == 0) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such household");
    } else {
        enrollment_state *st = ((service_ctx *)ctx)->state;
        char plain[32];
        cJSON *h = cJSON_Parse(PQgetvalue(res, 0, 0)), *whole = NULL;
        if (h != NULL && pii_decrypt(&st->keys, PQgetvalue(res, 0, 1), plain, sizeof(plain)) == 0 &&
            ((whole = cJSON_CreateString(plain)) == NULL ||
             !cJSON_ReplaceItemInObject(h, "id_number", whole))) {
            cJSON_Delete(whole);
            cJSON_Delete(h);
            h = NULL;
        }
        memset(plain, 0, sizeof(plain));
        if (h == NULL)
            http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        else
            http_reply_json(resp, 200, h);
    }
    PQclear(res);
    service_tx_end(ctx, conn, 0, NULL);
}

/* enrollment_stats - GET /v1/stats: aggregated numbers by side of the border, no persons */
void enrollment_stats(http_req *req, http_resp *resp, void *ctx)
{
    char scope[AUTH_SCOPE_ARRAY_LEN];
    const char *params[1] = {req->auth.role == ROLE_COORDINATOR
                                 ? enrollment_scope_sql(req, scope, sizeof(scope))
                                 : NULL};
    page_query_one(
        ctx, resp,
        "WITH h AS (SELECT h.*, v.side FROM households h JOIN villages v ON v.code = "
        "h.village_code WHERE " HOUSEHOLD_IN_SCOPE(
            "1") "), "
                 "e AS (SELECT e.*, h.low_income, h.side FROM enrollments e JOIN h ON h.id = "
                 "e.household_id WHERE e.end_date IS NULL OR e.end_date >= current_date), "
                 "s AS (SELECT side FROM h UNION SELECT side FROM e) "
                 "SELECT jsonb_build_object('by_side', coalesce(jsonb_object_agg(s.side, "
                 "jsonb_build_object("
                 "'households', (SELECT count(*) FROM h WHERE h.side = s.side), "
                 "'low_income_households', (SELECT count(*) FROM h WHERE h.side = s.side AND "
                 "h.low_income), "
                 "'people', (SELECT coalesce(sum(members_count), 0) FROM h WHERE h.side = s.side), "
                 "'people_employed', (SELECT count(*) FROM e WHERE e.side = s.side AND kind = "
                 "'employment'), "
                 "'low_income_employed', (SELECT count(*) FROM e WHERE e.side = s.side AND kind = "
                 "'employment' AND e.low_income), "
                 "'land_transfer_households', (SELECT count(DISTINCT household_id) FROM e WHERE "
                 "e.side = "
                 "s.side AND kind = 'land_transfer'), "
                 "'land_transferred_mu_x100', (SELECT coalesce(sum(area_mu_x100), 0) FROM e WHERE "
                 "e.side = "
                 "s.side AND kind = 'land_transfer'), "
                 "'farmers_trained', (SELECT count(*) FROM e WHERE e.side = s.side AND kind = "
                 "'training'))), '{}'), "
                 /* the projects by the households they reach now (any kind of enrollment) */
                 "'by_project', (SELECT coalesce(jsonb_agg(jsonb_build_object('project_id', "
                 "p.id, 'project_name', p.name, 'households', x.n, 'low_income_households', "
                 "x.low) ORDER BY x.n DESC, p.name), '[]') FROM (SELECT project_id, count(DISTINCT "
                 "household_id) AS n, count(DISTINCT household_id) FILTER (WHERE low_income) AS "
                 "low FROM e GROUP BY project_id) x JOIN projects p ON p.id = x.project_id))::text "
                 "FROM s",
        1, params, "statistics");
}
