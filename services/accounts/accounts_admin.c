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
 *
 * An account's PATCH, disabling, enabling and a grant's addition and
 * removal are one command each (schemas/sql/accounts/003): C checks the
 * body's shapes and makes the envelopes, the command locks the account,
 * checks, writes and answers. The audit row with the event, the
 * revocation and a grant's check against the read models are SQL
 * functions of the same file, which account creation, the import and the
 * sign-in code reach through acc_event, acc_revoke and acc_grant_known.
 */
#include "accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cnid.h"
#include "core/event.h"
#include "core/page.h"
#include "util/crypto.h"
#include "util/log.h"

#define ACC_MAX_GRANTS 10

/* out_of_memory - fill err for an allocation that failed; -1 */
static int out_of_memory(db_err *err)
{
    err->sqlstate[0] = '\0';
    snprintf(err->msg, sizeof(err->msg), "out of memory");
    return -1;
}

/*
 * acc_event - the audit row and (for changes) the event: account_event
 * (accounts 003) holds the rule of what is published and the event's data
 */
int acc_event(PGconn *conn, const char *actor, const char *account, const char *type, cJSON *extra,
              db_err *err)
{
    char *detail = extra ? cJSON_PrintUnformatted(extra) : NULL;
    char *envelope = event_envelope_text("accounts", type, account);
    const char *p[5] = {actor, account, detail, envelope, ACCOUNTS_TOPIC};
    int rc = envelope && (detail || !extra)
                 ? db_run(conn, "SELECT account_event($1, $2, $3::jsonb, $4::jsonb, $5)", 5, p, err)
                 : out_of_memory(err);
    free(envelope);
    free(detail);
    cJSON_Delete(extra);
    return rc;
}

/* revoke_envelope - the envelope of account.revoked and its time (now + 1 s) into before */
static char *revoke_envelope(const char *account, char before[24], long *b)
{
    *b = (long)time(NULL) + 1;
    snprintf(before, 24, "%ld", *b);
    return event_envelope_text("accounts", "account.revoked", account);
}

/* acc_revoke - end every session and refuse every access token of account issued until now */
int acc_revoke(acc_state *st, PGconn *conn, const char *actor, const char *account,
               const char *reason, db_err *err)
{
    char before[24];
    long b;
    char *envelope = revoke_envelope(account, before, &b);
    const char *p[6] = {actor, account, before, reason, envelope, ACCOUNTS_TOPIC};
    int rc = envelope ? db_run(conn, "SELECT account_revoke($1, $2, $3::bigint, $4, $5::jsonb, $6)",
                               6, p, err)
                      : out_of_memory(err);
    free(envelope);
    if (rc == 0)
        auth_verifier_revoke(st->ctx->auth, account, b);
    return rc;
}

/* cmp_str - qsort comparison of C strings */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* acc_grant_free - free what acc_grant_check made */
void acc_grant_free(acc_grant *g)
{
    free(g->regions);
    free(g->key);
    g->regions = g->key = NULL;
}

/* grant_texts - the regions as an array literal and the duplicate key (sorted regions) */
static int grant_texts(acc_grant *out, const char **codes, int n)
{
    size_t cap = 64 + (size_t)n * 13 + 140, rcap = 3 + (size_t)n * 13, used;
    out->regions = malloc(rcap);
    out->key = malloc(cap);
    if (out->regions == NULL || out->key == NULL) {
        acc_grant_free(out);
        return -1;
    }
    used = 1;
    out->regions[0] = '{';
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(out->regions + used, rcap - used, "%s%s", i ? "," : "", codes[i]);
    snprintf(out->regions + used, rcap - used, "}");
    qsort(codes, (size_t)n, sizeof(codes[0]), cmp_str);
    used = (size_t)snprintf(out->key, cap, "%s|", out->role);
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(out->key + used, cap - used, "%s%s", i ? "," : "", codes[i]);
    snprintf(out->key + used, cap - used, "|%s|%s", out->unit ? out->unit : "",
             out->notable ? out->notable : "");
    return 0;
}

/* acc_grant_check - one grant's shape, and what its role needs */
int acc_grant_check(const cJSON *g, const char *pointer, acc_grant *out, http_resp *resp)
{
    char ptr[96];
    const char *role = NULL, *unit = NULL, *notable = NULL;
    memset(out, 0, sizeof(*out));
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
    out->role = role, out->unit = unit, out->notable = notable;
    if (grant_texts(out, codes, n) < 0) {
        http_problem(resp, 503, "unavailable", "Unavailable", NULL, "out of memory");
        return -1;
    }
    return 0;
}

/* acc_grant_known - the checked grant g against the read models (grant_problem, accounts 003) */
int acc_grant_known(PGconn *conn, const acc_grant *g, const char *pointer, http_resp *resp)
{
    db_err err;
    const char *p[5] = {g->role, g->regions, g->unit, g->notable, pointer};
    PGresult *res =
        db_exec(conn, "SELECT * FROM grant_problem($1, $2::text[], $3, $4, $5)", 5, p, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    int rc = service_result_problem(resp, res);
    PQclear(res);
    return rc;
}

/* actor_of - who is acting, for the audit */
static const char *actor_of(const http_req *req)
{
    return req->auth.account[0] ? req->auth.account : req->auth.sub;
}

/* An account to create, as account_create (accounts 003) takes it. */
typedef struct create_args {
    char id[37];      /* the new account's id */
    char phone[12];   /* normalised */
    const char *name; /* borrowed from the body */
    char *hash;       /* argon2id of the password, or NULL (malloc'd) */
    char *grants;     /* the checked grants, JSON (malloc'd) */
    char *event;      /* account.created's envelope (malloc'd) */
} create_args;

/* create_args_free - free what create_args_make made */
static void create_args_free(create_args *a)
{
    free(a->hash);
    free(a->grants);
    free(a->event);
    a->hash = a->grants = a->event = NULL;
}

/* grant_entry - one checked grant of a new account with its pointer and grant.added's
   envelope, as account_create takes it; NULL when out of memory */
static cJSON *grant_entry(const acc_grant *g, const char *account, const char *pointer)
{
    char id[37];
    char *envelope = event_envelope_text("accounts", "grant.added", account);
    cJSON *e = cJSON_CreateObject(), *ev = envelope ? cJSON_Parse(envelope) : NULL;
    free(envelope);
    if (e == NULL || ev == NULL) {
        cJSON_Delete(e);
        cJSON_Delete(ev);
        return NULL;
    }
    crypto_uuid_v7(id);
    cJSON_AddStringToObject(e, "id", id);
    cJSON_AddStringToObject(e, "role", g->role);
    cJSON_AddStringToObject(e, "regions", g->regions);
    if (g->unit)
        cJSON_AddStringToObject(e, "unit", g->unit);
    if (g->notable)
        cJSON_AddStringToObject(e, "notable_id", g->notable);
    cJSON_AddStringToObject(e, "key", g->key);
    cJSON_AddStringToObject(e, "pointer", pointer);
    cJSON_AddItemToObject(e, "event", ev);
    return e;
}

/*
 * create_args_make - a new account's fields and grants from body, checked
 * (the shapes; the database checks the phone and the read models), its
 * password hashed, its envelopes made. 0, or -1 with the problem in resp.
 */
static int create_args_make(const cJSON *body, acc_state *st, create_args *a, http_resp *resp)
{
    const char *raw = NULL, *password = NULL;
    const cJSON *grants = cJSON_GetObjectItemCaseSensitive(body, "grants"), *g;
    memset(a, 0, sizeof(*a));
    if (http_field_string(body, "name", 1, 1, 50, &a->name, resp) < 0 ||
        http_field_string(body, "phone", 1, 1, 20, &raw, resp) < 0 ||
        http_field_string(body, "password", 0, 1, 200, &password, resp) < 0)
        return -1;
    if (cnid_phone_normalise(raw, a->phone) < 0) {
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
    const char *why = password ? acc_password_acceptable(password, a->phone) : NULL;
    if (why) {
        http_problem(resp, 422, "validation", "Password not accepted", "/password", "%s", why);
        return -1;
    }
    crypto_uuid_v7(a->id);
    cJSON *list = cJSON_CreateArray();
    int i = 0, oom = list == NULL;
    cJSON_ArrayForEach(g, grants)
    {
        char ptr[32];
        acc_grant ag;
        snprintf(ptr, sizeof(ptr), "/grants/%d", i++);
        if (acc_grant_check(g, ptr, &ag, resp) < 0) {
            cJSON_Delete(list);
            return -1;
        }
        cJSON *e = oom ? NULL : grant_entry(&ag, a->id, ptr);
        acc_grant_free(&ag);
        if (e == NULL)
            oom = 1;
        else
            cJSON_AddItemToArray(list, e);
    }
    a->grants = oom ? NULL : cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    a->event = event_envelope_text("accounts", "account.created", a->id);
    if (password && a->grants && a->event) {
        acc_argon_enter(st);
        a->hash = acc_password_hash(password, st->argon_t, st->argon_m, st->argon_p);
        acc_argon_leave(st);
        if (a->hash == NULL) {
            create_args_free(a);
            http_problem(resp, 503, "unavailable", "Cannot hash", NULL, "try again");
            return -1;
        }
    }
    if (a->grants == NULL || a->event == NULL) {
        create_args_free(a);
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
        return -1;
    }
    return 0;
}

#define CREATE_SQL                                                                                 \
    "SELECT * FROM account_create($1::uuid, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, "   \
    "$11, $12)"

/* acc_account_create - one new account with its grants on conn (account_create), answer 201 */
int acc_account_create(PGconn *conn, http_req *req, http_resp *resp, const cJSON *body,
                       acc_state *st)
{
    create_args a;
    db_err err;
    if (create_args_make(body, st, &a, resp) < 0)
        return -1;
    const char *p[12] = {a.id,          a.name,   a.phone, a.hash,
                         actor_of(req), a.grants, a.event, ACCOUNTS_TOPIC};
    PGresult *res = db_exec(conn, CREATE_SQL, 12, p, &err);
    int status = res ? service_result_answer(resp, res) : 0;
    if (res == NULL)
        service_db_problem(resp, &err);
    PQclear(res);
    create_args_free(&a);
    return status == 201 ? 0 : -1;
}

/* accounts_create - POST /v1/accounts: one command (account_create), under its Idempotency-Key */
void accounts_create(http_req *req, http_resp *resp, void *ctx)
{
    create_args a;
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (create_args_make(body, ((service_ctx *)ctx)->state, &a, resp) == 0) {
        const char *p[8] = {a.id,          a.name,   a.phone, a.hash,
                            actor_of(req), a.grants, a.event, ACCOUNTS_TOPIC};
        service_create_one(ctx, req, resp, CREATE_SQL, 8, p);
        create_args_free(&a);
    }
    cJSON_Delete(body);
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
 * change_command - run sql, a command on the account of the path that may
 * revoke (accounts 003: its query adds whether it did after the result),
 * its n params ending in five this fills: the actor, the revocation time,
 * the envelopes of type and of account.revoked, the topic. Once the command
 * answered 2xx and said it revoked, this service's verifier refuses the
 * account's tokens at once (the others learn it from account.revoked).
 */
static void change_command(service_ctx *ctx, const http_req *req, http_resp *resp, const char *type,
                           const char *sql, int n, const char **params)
{
    char before[24], revoked[8];
    long b;
    const char *account = req->params[0];
    char *event = event_envelope_text("accounts", type, account);
    char *revoke = revoke_envelope(account, before, &b);
    if (event && revoke) {
        const char **out = params + n - 5;
        out[0] = actor_of(req), out[1] = before, out[2] = event, out[3] = revoke;
        out[4] = ACCOUNTS_TOPIC;
        int status = service_command_run_more(ctx, resp, sql, n, params, revoked, sizeof(revoked));
        if (status >= 200 && status < 300 && strcmp(revoked, "t") == 0)
            auth_verifier_revoke(ctx->auth, account, b);
    } else {
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
    }
    free(event);
    free(revoke);
}

/* accounts_update - PATCH /v1/accounts/{id} {name?, phone?}: one command (account_update) */
void accounts_update(http_req *req, http_resp *resp, void *ctx)
{
    const char *name = NULL, *raw = NULL;
    char phone[12] = "";
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
    const char *p[8] = {req->params[0], name, phone[0] ? phone : NULL};
    change_command(ctx, req, resp, "account.updated",
                   "SELECT (c.o_result).*, c.o_revoked FROM account_update($1, $2, $3, $4, "
                   "$5::bigint, $6::jsonb, $7::jsonb, $8) c",
                   8, p);
out:
    cJSON_Delete(body);
}

/* set_state - disable or enable {id} (account_set_state); disabling revokes */
static void set_state(http_req *req, http_resp *resp, void *ctx, int disable)
{
    if (account_id_arg(req, resp) < 0)
        return;
    cJSON *body = req->body_len ? http_parse_json(req, resp) : cJSON_CreateObject();
    const char *reason = NULL;
    if (body == NULL || http_field_text(body, "reason", 0, 1, 200, &reason, resp) < 0) {
        cJSON_Delete(body);
        return;
    }
    const char *p[8] = {req->params[0], disable ? "disabled" : "active", reason};
    change_command(ctx, req, resp, disable ? "account.disabled" : "account.enabled",
                   "SELECT (c.o_result).*, c.o_revoked FROM account_set_state($1, $2, $3, $4, "
                   "$5::bigint, $6::jsonb, $7::jsonb, $8) c",
                   8, p);
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

/* accounts_grants_add - POST /v1/accounts/{id}/grants {role, regions?, unit?, notable_id?}:
   one command (account_grant_add) */
void accounts_grants_add(http_req *req, http_resp *resp, void *ctx)
{
    char id[37];
    acc_grant g;
    if (account_id_arg(req, resp) < 0)
        return;
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (acc_grant_check(body, "", &g, resp) < 0) {
        cJSON_Delete(body);
        return;
    }
    crypto_uuid_v7(id);
    char *envelope = event_envelope_text("accounts", "grant.added", req->params[0]);
    const char *p[10] = {req->params[0], id,    g.role,        g.regions, g.unit,
                         g.notable,      g.key, actor_of(req), envelope,  ACCOUNTS_TOPIC};
    if (envelope)
        service_command_run(ctx, resp,
                            "SELECT * FROM account_grant_add($1, $2::uuid, $3, $4::text[], $5, "
                            "$6, $7, $8, $9::jsonb, $10)",
                            10, p);
    else
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
    free(envelope);
    acc_grant_free(&g);
    cJSON_Delete(body);
}

/* accounts_grants_remove - DELETE /v1/accounts/{id}/grants/{gid}: revokes the account's tokens;
   one command (account_grant_remove) */
void accounts_grants_remove(http_req *req, http_resp *resp, void *ctx)
{
    if (account_id_arg(req, resp) < 0)
        return;
    if (!crypto_uuid_valid(req->params[1])) {
        http_problem(resp, 404, "not-found", "No such grant", NULL, "no grant %.40s",
                     req->params[1]);
        return;
    }
    const char *p[7] = {req->params[0], req->params[1]};
    change_command(ctx, req, resp, "grant.removed",
                   "SELECT (c.o_result).*, c.o_revoked FROM account_grant_remove($1, $2, $3, "
                   "$4::bigint, $5::jsonb, $6::jsonb, $7) c",
                   7, p);
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
