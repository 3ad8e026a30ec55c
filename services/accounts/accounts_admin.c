/*
 * accounts_admin.c - the administrator's side: accounts and their grants,
 * disabling and enabling, the audit trail, and the events on accounts.v1.
 *
 * Every change writes, in its own transaction, the row, an append-only
 * audit row (who, when, what) and the event (account.created, .updated,
 * .disabled, .enabled, .password_changed, grant.added, grant.removed,
 * account.revoked); the events carry the account as the API shows it with
 * the phone masked, never a code, password or hash. Disabling an account,
 * removing a grant, changing the phone or the password revoke the account's
 * refresh tokens and publish account.revoked, which every service applies
 * to its verifier within seconds (core/service.h). A grant's regions,
 * notable and unit must be known from the events of the registry and the
 * suggestion service.
 */
#include "accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cnid.h"
#include "core/event.h"
#include "core/outbox.h"
#include "core/page.h"
#include "util/crypto.h"
#include "util/log.h"

#define ACC_MAX_GRANTS 10

/* Audited but not published: the sessions are no one else's business. */
static int audit_only(const char *type)
{
    return strncmp(type, "session.", 8) == 0 || strcmp(type, "password.rehashed") == 0 ||
           strcmp(type, "account.locked") == 0;
}

/* acc_event - the audit row and (for changes) the event */
int acc_event(PGconn *conn, const char *actor, const char *account, const char *type, cJSON *extra,
              db_err *err)
{
    char *detail = extra ? cJSON_PrintUnformatted(extra) : NULL;
    const char *pa[4] = {actor, account, type, detail ? detail : "{}"};
    PGresult *res = db_exec(conn,
                            "INSERT INTO audit (actor, account_id, action, detail) VALUES ($1, "
                            "$2::uuid, $3, $4::jsonb)",
                            4, pa, err);
    free(detail);
    if (res == NULL) {
        cJSON_Delete(extra);
        return -1;
    }
    PQclear(res);
    if (audit_only(type)) {
        cJSON_Delete(extra);
        return 0;
    }
    const char *pd[1] = {account};
    res = db_exec(conn,
                  "SELECT (account_json(id) - 'phone' || jsonb_build_object('phone', left(phone, "
                  "3) || '****' || right(phone, 4)))::text FROM accounts WHERE id = $1::uuid",
                  1, pd, err);
    if (res == NULL || PQntuples(res) != 1) {
        if (res)
            snprintf(err->msg, sizeof(err->msg), "no account %s", account);
        PQclear(res);
        cJSON_Delete(extra);
        return -1;
    }
    cJSON *data = cJSON_Parse(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (data && extra)
        cJSON_AddItemToObject(data, "change", extra);
    else
        cJSON_Delete(extra);
    cJSON_AddStringToObject(data, "actor", actor);
    cJSON *ev = event_new("accounts", type, account, data);
    int rc = ev ? outbox_add(conn, ACCOUNTS_TOPIC, account, ev, err) : -1;
    cJSON_Delete(ev);
    return rc;
}

/* acc_revoke - end every session and refuse every access token of account issued until now */
int acc_revoke(acc_state *st, PGconn *conn, const char *actor, const char *account,
               const char *reason, db_err *err)
{
    char before[24];
    long b = (long)time(NULL) + 1;
    snprintf(before, sizeof(before), "%ld", b);
    const char *p[2] = {account, before};
    PGresult *res = db_exec(conn,
                            "UPDATE accounts SET revoked_before = greatest(revoked_before, "
                            "$2::bigint) WHERE id = $1::uuid",
                            2, p, err);
    if (res == NULL)
        return -1;
    PQclear(res);
    res = db_exec(conn,
                  "UPDATE refresh_tokens SET revoked_at = now() WHERE account_id = $1::uuid AND "
                  "revoked_at IS NULL",
                  1, p, err);
    if (res == NULL)
        return -1;
    PQclear(res);
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "account_id", account);
    cJSON_AddNumberToObject(data, "revoked_before", (double)b);
    cJSON_AddStringToObject(data, "reason", reason);
    cJSON *ev = event_new("accounts", "account.revoked", account, data);
    int rc = ev ? outbox_add(conn, ACCOUNTS_TOPIC, account, ev, err) : -1;
    cJSON_Delete(ev);
    if (rc < 0)
        return -1;
    const char *pa[3] = {actor, account, reason};
    res = db_exec(conn,
                  "INSERT INTO audit (actor, account_id, action, detail) VALUES ($1, $2::uuid, "
                  "'account.revoked', jsonb_build_object('reason', $3::text))",
                  3, pa, err);
    if (res == NULL)
        return -1;
    PQclear(res);
    auth_verifier_revoke(st->ctx->auth, account, b);
    return 0;
}

/* cmp_str - qsort comparison of C strings */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* acc_grant_check - one grant against the read models */
int acc_grant_check(PGconn *conn, const cJSON *g, const char *pointer, char **key, http_resp *resp)
{
    char ptr[96];
    const char *role = NULL, *unit = NULL, *notable = NULL;
    *key = NULL;
    if (!cJSON_IsObject(g)) {
        http_problem(resp, 422, "validation", "Invalid grant", pointer,
                     "a grant is an object {role, regions, unit, notable_id}");
        return -1;
    }
    snprintf(ptr, sizeof(ptr), "%s/role", pointer);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(g, "role");
    role = cJSON_GetStringValue(r);
    int bit = auth_role_parse(role);
    if (bit == 0) {
        http_problem(resp, 422, "validation", "Invalid role", ptr,
                     "role is admin, coordinator, notable, handler, supervisor or planner");
        return -1;
    }
    const cJSON *regions = cJSON_GetObjectItemCaseSensitive(g, "regions"), *c;
    const char *codes[AUTH_MAX_REGIONS];
    int n = 0;
    snprintf(ptr, sizeof(ptr), "%s/regions", pointer);
    if (regions && !cJSON_IsNull(regions) &&
        (!cJSON_IsArray(regions) || cJSON_GetArraySize(regions) > AUTH_MAX_REGIONS)) {
        http_problem(resp, 422, "validation", "Invalid regions", ptr,
                     "regions is an array of at most %d region codes", AUTH_MAX_REGIONS);
        return -1;
    }
    cJSON_ArrayForEach(c, regions)
    {
        const char *code = cJSON_GetStringValue(c);
        snprintf(ptr, sizeof(ptr), "%s/regions/%d", pointer, n);
        if (code == NULL || strlen(code) != 12 || strspn(code, "0123456789") != 12) {
            http_problem(resp, 422, "validation", "Invalid region code", ptr,
                         "a region code is 12 digits");
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (strcmp(codes[i], code) == 0) {
                http_problem(resp, 422, "validation", "Repeated region", ptr,
                             "region %s is listed twice", code);
                return -1;
            }
        codes[n++] = code;
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(g, "unit");
    const cJSON *nb = cJSON_GetObjectItemCaseSensitive(g, "notable_id");
    unit = cJSON_IsString(u) && u->valuestring[0] ? u->valuestring : NULL;
    notable = cJSON_IsString(nb) && nb->valuestring[0] ? nb->valuestring : NULL;
    if ((u && !cJSON_IsNull(u) && !unit) || (unit && strlen(unit) > 63)) {
        snprintf(ptr, sizeof(ptr), "%s/unit", pointer);
        http_problem(resp, 422, "validation", "Invalid unit", ptr, "unit is a unit id");
        return -1;
    }
    if ((nb && !cJSON_IsNull(nb) && !notable) || (notable && strlen(notable) > 63)) {
        snprintf(ptr, sizeof(ptr), "%s/notable_id", pointer);
        http_problem(resp, 422, "validation", "Invalid notable_id", ptr,
                     "notable_id is the registry's notable id");
        return -1;
    }
    /* what each role needs, and nothing it does not */
    const char *need = NULL, *field = NULL;
    if ((bit == ROLE_COORDINATOR || bit == ROLE_SUPERVISOR) && n == 0)
        need = "needs at least one region", field = "regions";
    else if ((bit == ROLE_ADMIN || bit == ROLE_HANDLER || bit == ROLE_NOTABLE) && n > 0)
        need = "takes no regions", field = "regions";
    else if (bit == ROLE_HANDLER && !unit)
        need = "needs its unit", field = "unit";
    else if (bit != ROLE_HANDLER && unit)
        need = "takes no unit", field = "unit";
    else if (bit == ROLE_NOTABLE && !notable)
        need = "needs its notable_id", field = "notable_id";
    else if (bit != ROLE_NOTABLE && notable)
        need = "takes no notable_id", field = "notable_id";
    if (need) {
        snprintf(ptr, sizeof(ptr), "%s/%s", pointer, field);
        http_problem(resp, 422, "validation", "Invalid grant", ptr, "a %s grant %s", role, need);
        return -1;
    }
    db_err err;
    for (int i = 0; i < n; i++) {
        const char *p[1] = {codes[i]};
        PGresult *res = db_exec(conn, "SELECT level FROM regions WHERE code = $1", 1, p, &err);
        if (res == NULL) {
            service_db_problem(resp, &err);
            return -1;
        }
        const char *level = PQntuples(res) ? PQgetvalue(res, 0, 0) : NULL;
        int village = level && strcmp(level, "village") == 0;
        snprintf(ptr, sizeof(ptr), "%s/regions/%d", pointer, i);
        if (level == NULL)
            http_problem(resp, 422, "validation", "Unknown region", ptr,
                         "region %s is not a known region", codes[i]);
        else if (bit == ROLE_COORDINATOR && !village)
            http_problem(resp, 422, "validation", "Not a village", ptr,
                         "a coordinator's regions are villages; %s is a %s", codes[i], level);
        else if (bit != ROLE_COORDINATOR && village)
            http_problem(resp, 422, "validation", "A village", ptr,
                         "a %s's regions are towns, counties or a side; %s is a village", role,
                         codes[i]);
        int bad = level == NULL || (bit == ROLE_COORDINATOR) != village;
        PQclear(res);
        if (bad)
            return -1;
    }
    const char *what = unit ? unit : notable;
    if (what) {
        const char *p[1] = {what};
        PGresult *res = db_exec(conn,
                                unit ? "SELECT 1 FROM units WHERE id = $1"
                                     : "SELECT 1 FROM notables WHERE id = $1",
                                1, p, &err);
        if (res == NULL) {
            service_db_problem(resp, &err);
            return -1;
        }
        int known = PQntuples(res) > 0;
        PQclear(res);
        if (!known) {
            snprintf(ptr, sizeof(ptr), "%s/%s", pointer, unit ? "unit" : "notable_id");
            http_problem(resp, 422, "validation", unit ? "Unknown unit" : "Unknown notable", ptr,
                         "%s is not a known %s", what, unit ? "handling unit" : "notable");
            return -1;
        }
    }
    qsort(codes, (size_t)n, sizeof(codes[0]), cmp_str);
    size_t cap = 64 + (size_t)n * 13 + 140;
    char *k = malloc(cap);
    if (k == NULL) {
        http_problem(resp, 503, "unavailable", "Unavailable", NULL, "out of memory");
        return -1;
    }
    size_t used = (size_t)snprintf(k, cap, "%s|", role);
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(k + used, cap - used, "%s%s", i ? "," : "", codes[i]);
    snprintf(k + used, cap - used, "|%s|%s", unit ? unit : "", notable ? notable : "");
    *key = k;
    return 0;
}

/* regions_literal - a grant's regions as a PostgreSQL array literal (malloc'd) */
static char *regions_literal(const cJSON *g)
{
    const cJSON *regions = cJSON_GetObjectItemCaseSensitive(g, "regions"), *c;
    size_t cap = 3 + (size_t)cJSON_GetArraySize(regions) * 16, used = 1;
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    s[0] = '{';
    int first = 1;
    cJSON_ArrayForEach(c, regions)
    {
        used += (size_t)snprintf(s + used, cap - used, "%s%s", first ? "" : ",", c->valuestring);
        first = 0;
    }
    snprintf(s + used, cap - used, "}");
    return s;
}

/*
 * grant_insert - check and insert one grant of account; on success the
 * grant's JSON in *out (caller deletes) and the events. 0 or -1 (resp set).
 */
static int grant_insert(PGconn *conn, const char *actor, const char *account, const cJSON *g,
                        const char *pointer, cJSON **out, http_resp *resp)
{
    char *key = NULL, id[37];
    db_err err;
    if (acc_grant_check(conn, g, pointer, &key, resp) < 0)
        return -1;
    char *regions = regions_literal(g);
    crypto_uuid_v7(id);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(g, "unit");
    const cJSON *nb = cJSON_GetObjectItemCaseSensitive(g, "notable_id");
    const char *p[8] = {id,
                        account,
                        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "role")),
                        regions,
                        cJSON_IsString(u) && u->valuestring[0] ? u->valuestring : NULL,
                        cJSON_IsString(nb) && nb->valuestring[0] ? nb->valuestring : NULL,
                        key,
                        actor};
    PGresult *res = regions ? db_exec(conn,
                                      "INSERT INTO grants (id, account_id, role, regions, "
                                      "unit_id, notable_id, grant_key, created_by) VALUES "
                                      "($1::uuid, $2::uuid, $3, $4::text[], $5, $6, $7, $8) ON "
                                      "CONFLICT (account_id, grant_key) DO NOTHING RETURNING "
                                      "grant_json(grants)::text",
                                      8, p, &err)
                            : NULL;
    free(regions);
    free(key);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_problem(resp, 409, "duplicate", "Grant already held", pointer,
                     "the account already holds this grant");
        return -1;
    }
    *out = cJSON_Parse(PQgetvalue(res, 0, 0));
    PQclear(res);
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddItemToObject(extra, "grant", cJSON_Duplicate(*out, 1));
    if (acc_event(conn, actor, account, "grant.added", extra, &err) < 0) {
        service_db_problem(resp, &err);
        cJSON_Delete(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* reply_account - answer status with the account's JSON read on conn */
static int reply_account(PGconn *conn, const char *account, int status, http_resp *resp)
{
    db_err err;
    const char *p[1] = {account};
    PGresult *res = db_exec(conn, "SELECT account_json($1::uuid)::text", 1, p, &err);
    if (res == NULL || PQgetisnull(res, 0, 0)) {
        if (res)
            http_problem(resp, 404, "not-found", "No such account", NULL, "no account %s", account);
        else
            service_db_problem(resp, &err);
        PQclear(res);
        return -1;
    }
    http_reply_raw(resp, status, "application/json", PQgetvalue(res, 0, 0),
                   strlen(PQgetvalue(res, 0, 0)));
    PQclear(res);
    return 0;
}

/* acc_account_create - insert an account with its grants, answer 201 */
int acc_account_create(PGconn *conn, http_req *req, http_resp *resp, const cJSON *body,
                       acc_state *st)
{
    const char *name = NULL, *raw = NULL, *password = NULL;
    char phone[12], id[37];
    db_err err;
    const cJSON *grants = cJSON_GetObjectItemCaseSensitive(body, "grants"), *g;
    if (http_field_string(body, "name", 1, 1, 50, &name, resp) < 0 ||
        http_field_string(body, "phone", 1, 1, 20, &raw, resp) < 0 ||
        http_field_string(body, "password", 0, 1, 200, &password, resp) < 0)
        return -1;
    if (cnid_phone_normalise(raw, phone) < 0) {
        http_problem(resp, 422, "validation", "Invalid phone", "/phone",
                     "phone must be a mainland mobile number (11 digits starting 13-19)");
        return -1;
    }
    if (grants && !cJSON_IsNull(grants) &&
        (!cJSON_IsArray(grants) || cJSON_GetArraySize(grants) > ACC_MAX_GRANTS)) {
        http_problem(resp, 422, "validation", "Invalid grants", "/grants",
                     "grants is an array of at most %d grants", ACC_MAX_GRANTS);
        return -1;
    }
    const char *why = password ? acc_password_acceptable(password, phone) : NULL;
    if (why) {
        http_problem(resp, 422, "validation", "Password not accepted", "/password", "%s", why);
        return -1;
    }
    const char *pp[1] = {phone};
    PGresult *res = db_exec(conn, "SELECT id FROM accounts WHERE phone = $1", 1, pp, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    if (PQntuples(res) > 0) {
        http_problem(resp, 409, "duplicate", "Phone already has an account", "/phone",
                     "the phone belongs to account %s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    char *hash = NULL;
    if (password) {
        acc_argon_enter(st);
        hash = acc_password_hash(password, st->argon_t, st->argon_m, st->argon_p);
        acc_argon_leave(st);
        if (hash == NULL) {
            http_problem(resp, 503, "unavailable", "Cannot hash", NULL, "try again");
            return -1;
        }
    }
    crypto_uuid_v7(id);
    const char *actor = req->auth.account[0] ? req->auth.account : req->auth.sub;
    const char *pi[5] = {id, name, phone, hash, actor};
    res = db_exec(
        conn,
        "INSERT INTO accounts (id, name, phone, password_hash, password_changed_at, "
        "created_by) VALUES ($1::uuid, $2, $3, $4::text, CASE WHEN $4::text IS NOT NULL THEN now() "
        "END, $5)",
        5, pi, &err);
    free(hash);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    PQclear(res);
    if (acc_event(conn, actor, id, "account.created", NULL, &err) < 0) {
        service_db_problem(resp, &err);
        return -1;
    }
    int i = 0;
    cJSON_ArrayForEach(g, grants)
    {
        char ptr[32];
        cJSON *made = NULL;
        snprintf(ptr, sizeof(ptr), "/grants/%d", i++);
        if (grant_insert(conn, actor, id, g, ptr, &made, resp) < 0)
            return -1;
        cJSON_Delete(made);
    }
    if (reply_account(conn, id, 201, resp) < 0)
        return -1;
    snprintf(resp->location, sizeof(resp->location), "/v1/accounts/%s", id);
    return 0;
}

typedef struct create_arg {
    cJSON *body;
    acc_state *st;
} create_arg;

/* account_create_step - the create step run inside service_create */
static int account_create_step(PGconn *conn, http_req *req, http_resp *resp, void *arg)
{
    create_arg *a = arg;
    return acc_account_create(conn, req, resp, a->body, a->st);
}

/* accounts_create - POST /v1/accounts */
void accounts_create(http_req *req, http_resp *resp, void *ctx)
{
    create_arg a = {http_parse_json(req, resp), ((service_ctx *)ctx)->state};
    if (a.body == NULL)
        return;
    service_create(ctx, req, resp, account_create_step, &a);
    cJSON_Delete(a.body);
}

/* accounts_list - GET /v1/accounts?q=&role=&state=&cursor=&limit= */
void accounts_list(http_req *req, http_resp *resp, void *ctx)
{
    char cursor_buf[64], limit_sql[16];
    const char *cursor = NULL;
    int limit = page_args(req, resp, 1, cursor_buf, &cursor, limit_sql);
    if (limit < 0)
        return;
    const char *q = http_query(req, "q"), *role = http_query(req, "role"),
               *state = http_query(req, "state");
    if (role && auth_role_parse(role) == 0) {
        http_problem(resp, 422, "validation", "Invalid role", "/role",
                     "role is admin, coordinator, notable, handler, supervisor or planner");
        return;
    }
    if (state && strcmp(state, "active") != 0 && strcmp(state, "disabled") != 0) {
        http_problem(resp, 422, "validation", "Invalid state", "/state",
                     "state is active or disabled");
        return;
    }
    if (q && (strlen(q) > 50 || *q == '\0'))
        q = strlen(q) > 50 ? q : NULL;
    if (q && strlen(q) > 50) {
        http_problem(resp, 422, "validation", "Invalid q", "/q", "q has at most 50 characters");
        return;
    }
    const char *p[5] = {q, role, state, cursor, limit_sql};
    page_query(ctx, resp,
               "SELECT account_json(a.id)::text, a.id::text FROM accounts a WHERE ($1::text IS "
               "NULL OR a.name LIKE '%' || $1 || '%' OR a.phone LIKE $1 || '%') AND ($2::text IS "
               "NULL OR EXISTS (SELECT 1 FROM grants g WHERE g.account_id = a.id AND g.role = "
               "$2)) AND ($3::text IS NULL OR a.state = $3) AND ($4::uuid IS NULL OR a.id > "
               "$4::uuid) ORDER BY a.id LIMIT $5::int",
               5, p, limit);
}

/* account_id_arg - the {id} of the path as a UUID, or -1 after a 404 */
static int account_id_arg(const http_req *req, http_resp *resp)
{
    if (!crypto_uuid_valid(req->params[0])) {
        http_problem(resp, 404, "not-found", "No such account", NULL, "no account %.40s",
                     req->params[0]);
        return -1;
    }
    return 0;
}

/* accounts_get - GET /v1/accounts/{id} */
void accounts_get(http_req *req, http_resp *resp, void *ctx)
{
    if (account_id_arg(req, resp) < 0)
        return;
    const char *p[1] = {req->params[0]};
    page_query_one(ctx, resp,
                   "SELECT account_json($1::uuid)::text WHERE EXISTS (SELECT 1 FROM "
                   "accounts WHERE id = $1::uuid)",
                   1, p, "account");
}

/*
 * change_begin - a transaction holding the account's row lock; its state in
 * state_out (9 bytes). NULL after a 404 or 503 in resp.
 */
static PGconn *change_begin(service_ctx *ctx, const char *account, char state_out[16],
                            http_resp *resp)
{
    db_err err;
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        return NULL;
    const char *p[1] = {account};
    PGresult *res =
        db_exec(conn, "SELECT state FROM accounts WHERE id = $1::uuid FOR UPDATE", 1, p, &err);
    if (res == NULL || PQntuples(res) != 1) {
        if (res)
            http_problem(resp, 404, "not-found", "No such account", NULL, "no account %s", account);
        else
            service_db_problem(resp, &err);
        PQclear(res);
        service_tx_end(ctx, conn, 0, NULL);
        return NULL;
    }
    snprintf(state_out, 16, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return conn;
}

/* actor_of - who is acting, for the audit */
static const char *actor_of(const http_req *req)
{
    return req->auth.account[0] ? req->auth.account : req->auth.sub;
}

/* accounts_update - PATCH /v1/accounts/{id} {name?, phone?} */
void accounts_update(http_req *req, http_resp *resp, void *ctx)
{
    acc_state *st = ((service_ctx *)ctx)->state;
    const char *name = NULL, *raw = NULL;
    char phone[12] = "", state[16];
    db_err err;
    if (account_id_arg(req, resp) < 0)
        return;
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (http_field_string(body, "name", 0, 1, 50, &name, resp) < 0 ||
        http_field_string(body, "phone", 0, 1, 20, &raw, resp) < 0)
        goto out;
    if (raw && cnid_phone_normalise(raw, phone) < 0) {
        http_problem(resp, 422, "validation", "Invalid phone", "/phone",
                     "phone must be a mainland mobile number (11 digits starting 13-19)");
        goto out;
    }
    PGconn *conn = change_begin(ctx, req->params[0], state, resp);
    if (conn == NULL)
        goto out;
    int commit = 0;
    const char *p[3] = {req->params[0], name, phone[0] ? phone : NULL};
    PGresult *res = db_exec(conn,
                            "UPDATE accounts SET name = coalesce($2, name), phone = coalesce($3, "
                            "phone), version = version + 1, updated_at = now() WHERE id = $1::uuid "
                            "RETURNING (SELECT phone FROM accounts WHERE id = $1::uuid)",
                            3, p, &err);
    if (res == NULL) {
        if (strcmp(err.sqlstate, "23505") == 0)
            http_problem(resp, 409, "duplicate", "Phone already has an account", "/phone",
                         "another account has this phone");
        else
            service_db_problem(resp, &err);
        goto end;
    }
    int phone_changed = phone[0] && strcmp(PQgetvalue(res, 0, 0), phone) != 0;
    PQclear(res);
    cJSON *extra = cJSON_CreateObject();
    if (name)
        cJSON_AddStringToObject(extra, "name", name);
    cJSON_AddBoolToObject(extra, "phone_changed", phone_changed);
    if (acc_event(conn, actor_of(req), req->params[0], "account.updated", extra, &err) < 0 ||
        (phone_changed &&
         acc_revoke(st, conn, actor_of(req), req->params[0], "phone_changed", &err) < 0)) {
        service_db_problem(resp, &err);
        goto end;
    }
    commit = reply_account(conn, req->params[0], 200, resp) == 0;
end:
    service_tx_end(ctx, conn, commit, resp);
out:
    cJSON_Delete(body);
}

/* set_state - disable or enable {id}; disabling revokes */
static void set_state(http_req *req, http_resp *resp, void *ctx, int disable)
{
    acc_state *st = ((service_ctx *)ctx)->state;
    char state[16];
    db_err err;
    if (account_id_arg(req, resp) < 0)
        return;
    cJSON *body = req->body_len ? http_parse_json(req, resp) : cJSON_CreateObject();
    const char *reason = NULL;
    if (body == NULL || http_field_string(body, "reason", 0, 1, 200, &reason, resp) < 0) {
        cJSON_Delete(body);
        return;
    }
    PGconn *conn = change_begin(ctx, req->params[0], state, resp);
    if (conn == NULL) {
        cJSON_Delete(body);
        return;
    }
    int commit = 0;
    const char *want = disable ? "disabled" : "active";
    if (strcmp(state, want) != 0) {
        const char *p[2] = {req->params[0], want};
        PGresult *res = db_exec(conn,
                                "UPDATE accounts SET state = $2, failed_logins = CASE WHEN $2 = "
                                "'active' THEN 0 ELSE failed_logins END, locked_until = CASE WHEN "
                                "$2 = 'active' THEN NULL ELSE locked_until END, version = version "
                                "+ 1, updated_at = now() WHERE id = $1::uuid",
                                2, p, &err);
        PQclear(res);
        cJSON *extra = cJSON_CreateObject();
        if (reason)
            cJSON_AddStringToObject(extra, "reason", reason);
        if (res == NULL ||
            acc_event(conn, actor_of(req), req->params[0],
                      disable ? "account.disabled" : "account.enabled", extra, &err) < 0 ||
            (disable &&
             acc_revoke(st, conn, actor_of(req), req->params[0], "disabled", &err) < 0)) {
            service_db_problem(resp, &err);
            goto end;
        }
    }
    commit = reply_account(conn, req->params[0], 200, resp) == 0;
end:
    service_tx_end(ctx, conn, commit, resp);
    cJSON_Delete(body);
}

/* accounts_disable - POST /v1/accounts/{id}/disable {reason?} */
void accounts_disable(http_req *req, http_resp *resp, void *ctx)
{
    set_state(req, resp, ctx, 1);
}

/* accounts_enable - POST /v1/accounts/{id}/enable */
void accounts_enable(http_req *req, http_resp *resp, void *ctx)
{
    set_state(req, resp, ctx, 0);
}

/* accounts_grants_add - POST /v1/accounts/{id}/grants {role, regions?, unit?, notable_id?} */
void accounts_grants_add(http_req *req, http_resp *resp, void *ctx)
{
    char state[16];
    if (account_id_arg(req, resp) < 0)
        return;
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    PGconn *conn = change_begin(ctx, req->params[0], state, resp);
    if (conn == NULL) {
        cJSON_Delete(body);
        return;
    }
    int commit = 0;
    cJSON *made = NULL;
    if (strcmp(state, "active") != 0) {
        http_problem(resp, 409, "conflict", "Account disabled", NULL,
                     "a disabled account takes no grant; enable it first");
    } else if (grant_insert(conn, actor_of(req), req->params[0], body, "", &made, resp) == 0) {
        char loc[200];
        const char *gid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(made, "id"));
        snprintf(loc, sizeof(loc), "/v1/accounts/%s/grants/%s", req->params[0], gid ? gid : "");
        http_reply_json(resp, 201, made);
        snprintf(resp->location, sizeof(resp->location), "%s", loc);
        commit = 1;
    }
    service_tx_end(ctx, conn, commit, resp);
    cJSON_Delete(body);
}

/* accounts_grants_remove - DELETE /v1/accounts/{id}/grants/{gid}: revokes the account's tokens */
void accounts_grants_remove(http_req *req, http_resp *resp, void *ctx)
{
    acc_state *st = ((service_ctx *)ctx)->state;
    char state[16];
    db_err err;
    if (account_id_arg(req, resp) < 0)
        return;
    if (!crypto_uuid_valid(req->params[1])) {
        http_problem(resp, 404, "not-found", "No such grant", NULL, "no grant %.40s",
                     req->params[1]);
        return;
    }
    PGconn *conn = change_begin(ctx, req->params[0], state, resp);
    if (conn == NULL)
        return;
    int commit = 0;
    const char *p[2] = {req->params[0], req->params[1]};
    PGresult *res = db_exec(conn,
                            "DELETE FROM grants WHERE account_id = $1::uuid AND id = $2::uuid "
                            "RETURNING grant_json(grants)::text",
                            2, p, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        goto end;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_problem(resp, 404, "not-found", "No such grant", NULL, "the account holds no grant %s",
                     req->params[1]);
        goto end;
    }
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddItemToObject(extra, "grant", cJSON_Parse(PQgetvalue(res, 0, 0)));
    PQclear(res);
    if (acc_event(conn, actor_of(req), req->params[0], "grant.removed", extra, &err) < 0 ||
        acc_revoke(st, conn, actor_of(req), req->params[0], "grant_removed", &err) < 0) {
        service_db_problem(resp, &err);
        goto end;
    }
    http_reply_raw(resp, 204, "application/json", "", 0);
    commit = 1;
end:
    service_tx_end(ctx, conn, commit, resp);
}

/* accounts_audit - GET /v1/accounts/{id}/audit?cursor=&limit=: newest first */
void accounts_audit(http_req *req, http_resp *resp, void *ctx)
{
    char cursor_buf[64], limit_sql[16];
    const char *cursor = NULL;
    if (account_id_arg(req, resp) < 0)
        return;
    int limit = page_args(req, resp, 0, cursor_buf, &cursor, limit_sql);
    if (limit < 0)
        return;
    if (cursor && strspn(cursor, "0123456789") != strlen(cursor)) {
        http_problem(resp, 422, "validation", "Invalid cursor", "/cursor",
                     "cursor is the next value of a previous page");
        return;
    }
    const char *p[3] = {req->params[0], cursor, limit_sql};
    page_query(ctx, resp,
               "SELECT jsonb_build_object('id', id, 'at', at, 'actor', actor, 'action', action, "
               "'detail', detail)::text, id::text FROM audit WHERE account_id = $1::uuid AND "
               "($2::bigint IS NULL OR id < $2::bigint) ORDER BY id DESC LIMIT $3::int",
               3, p, limit);
}

/* accounts_create_admin - --create-admin PHONE NAME: the first administrator */
int accounts_create_admin(service_ctx *ctx)
{
    if (ctx->argc != 2) {
        fprintf(stderr, "usage: shantang-accounts --create-admin PHONE NAME\n");
        return 64;
    }
    acc_state *st = ctx->state;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "phone", ctx->argv[0]);
    cJSON_AddStringToObject(body, "name", ctx->argv[1]);
    cJSON *grants = cJSON_AddArrayToObject(body, "grants");
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "role", "admin");
    cJSON_AddItemToArray(grants, g);
    http_req req = {0};
    http_resp resp = {0};
    snprintf(req.auth.sub, sizeof(req.auth.sub), "create-admin");
    int code = 1;
    PGconn *conn = service_tx_begin(ctx, &resp);
    if (conn) {
        int rc = acc_account_create(conn, &req, &resp, body, st);
        if (service_tx_end(ctx, conn, rc == 0, &resp) == 0 && rc == 0)
            code = 0;
    }
    if (code == 0) {
        cJSON *a = cJSON_ParseWithLength(resp.body, resp.body_len);
        printf("administrator %s created: %s\n", ctx->argv[1],
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "id")));
        cJSON_Delete(a);
    } else {
        cJSON *p = resp.body ? cJSON_ParseWithLength(resp.body, resp.body_len) : NULL;
        const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "detail"));
        fprintf(stderr, "shantang-accounts: %s\n", d ? d : "cannot create the administrator");
        code = resp.status == 409 ? 3 : 1;
        cJSON_Delete(p);
    }
    free(resp.body);
    cJSON_Delete(body);
    return code;
}
