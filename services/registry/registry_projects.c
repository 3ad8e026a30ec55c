/*
 * registry_projects.c - common-prosperity projects: register, read, list,
 * update, and the status lifecycle.
 *
 * Who may do what: notables and the admin register; the admin, the notable
 * who registered a project and its sponsoring notables update it and change
 * its status; coordinators read only projects hosted by a village in their
 * scope; every other role reads all. Each change publishes the project's
 * full state (project_json in the schema) on projects.v1 in the same
 * transaction.
 */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/outbox.h"
#include "core/page.h"
#include "core/service.h"
#include "util/crypto.h"

#define PROJECT_MAX_LINKS 20
#define PROJECT_MAX_FEN 10000000000000LL /* 100 billion yuan */

typedef struct project_input {
    const char *name, *type, *start_date, *description, *status;
    long long investment, revenue;
    int has_investment, has_revenue;
    const cJSON *villages, *notables, *partners; /* borrowed from the parsed body */
    char villages_sql[PROJECT_MAX_LINKS * 14 + 3];
    char notables_sql[PROJECT_MAX_LINKS * 38 + 3];
    char partners_sql[PROJECT_MAX_LINKS * 38 + 3];
    char id[37];
} project_input;

/*
 * id_array - check an optional array field of distinct strings (region codes
 * when codes is set, else UUIDs) with between min and max entries, and write
 * it as a PostgreSQL array literal into sql. Returns 0, or -1 after a 422.
 */
static int id_array(const cJSON *body, const char *name, int codes, int min, const cJSON **out,
                    char *sql, size_t sqllen, http_resp *resp)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, name);
    char pointer[64];
    size_t used = 0;

    *out = arr;
    sql[0] = '\0';
    if (arr == NULL && min == 0)
        return 0;
    snprintf(pointer, sizeof(pointer), "/%s", name);
    if (!cJSON_IsArray(arr)) {
        http_problem(resp, 422, "validation", "Invalid field", pointer, "%s must be an array%s",
                     name, arr == NULL ? " and is required" : "");
        return -1;
    }
    int n = cJSON_GetArraySize(arr);
    if (n < min || n > PROJECT_MAX_LINKS) {
        http_problem(resp, 422, "validation", "Invalid field", pointer,
                     "%s must hold %d to %d entries", name, min, PROJECT_MAX_LINKS);
        return -1;
    }
    used += (size_t)snprintf(sql, sqllen, "{");
    for (int i = 0; i < n; i++) {
        const cJSON *it = cJSON_GetArrayItem(arr, i);
        snprintf(pointer, sizeof(pointer), "/%s/%d", name, i);
        const char *v = cJSON_GetStringValue(it);
        if (v == NULL || (codes ? !registry_region_code_valid(v) : !crypto_uuid_valid(v))) {
            http_problem(resp, 422, "validation", "Invalid field", pointer, "%s",
                         codes ? "a region code is 12 digits" : "an id is a UUID");
            return -1;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(cJSON_GetArrayItem(arr, j)->valuestring, v) == 0) {
                http_problem(resp, 422, "validation", "Duplicate entry", pointer,
                             "%s is listed twice", v);
                return -1;
            }
        }
        used += (size_t)snprintf(sql + used, sqllen - used, "%s%s", i ? "," : "", v);
    }
    snprintf(sql + used, sqllen - used, "}");
    return 0;
}

/*
 * project_fields - validate the scalar and array fields of a create
 * (partial=0, required ones must be there) or an update (partial=1).
 * Returns 0, or -1 after a 422.
 */
static int project_fields(const cJSON *body, int partial, project_input *in, http_resp *resp)
{
    int req = !partial;
    if (http_field_string(body, "name", req, 1, 100, &in->name, resp) < 0 ||
        http_field_string(body, "type", req, 1, 40, &in->type, resp) < 0 ||
        http_field_int64(body, "investment_fen", req, 0, PROJECT_MAX_FEN, &in->investment,
                         &in->has_investment, resp) < 0 ||
        http_field_int64(body, "expected_revenue_fen", req, 0, PROJECT_MAX_FEN, &in->revenue,
                         &in->has_revenue, resp) < 0 ||
        http_field_date(body, "start_date", req, &in->start_date, resp) < 0 ||
        http_field_text(body, "description", 0, 0, 2000, &in->description, resp) < 0)
        return -1;
    if (in->type && !registry_project_type_valid(in->type)) {
        http_problem(resp, 422, "validation", "Invalid project type", "/type",
                     "type is one of homestay, vegetable_garden, shop_street, wharf, workshop, "
                     "farm, elderly_care, modern_agriculture, land_consolidation, other");
        return -1;
    }
    if (id_array(body, "village_codes", 1, partial ? 0 : 1, &in->villages, in->villages_sql,
                 sizeof(in->villages_sql), resp) < 0 ||
        id_array(body, "notable_ids", 0, 0, &in->notables, in->notables_sql,
                 sizeof(in->notables_sql), resp) < 0 ||
        id_array(body, "partner_ids", 0, 0, &in->partners, in->partners_sql,
                 sizeof(in->partners_sql), resp) < 0)
        return -1;
    if (partial && in->villages && cJSON_GetArraySize(in->villages) == 0) {
        http_problem(resp, 422, "validation", "Invalid field", "/village_codes",
                     "a project keeps at least one host village");
        return -1;
    }
    return 0;
}

/* links_check - the arrays given name known villages, notables and partners (one statement) */
static int links_check(PGconn *conn, const project_input *in, http_resp *resp)
{
    const char *p[3] = {in->villages_sql[0] ? in->villages_sql : NULL,
                        in->notables_sql[0] ? in->notables_sql : NULL,
                        in->partners_sql[0] ? in->partners_sql : NULL};
    PGresult *res = service_query(
        conn, "SELECT * FROM project_links_problem($1::text[], $2::uuid[], $3::uuid[])", 3, p,
        resp);
    int rc = res ? service_result_problem(resp, res) : -1;
    PQclear(res);
    return rc;
}

/* links_write - replace the link rows of the arrays that were given */
static int links_write(PGconn *conn, const project_input *in, http_resp *resp)
{
    static const struct {
        const char *table, *column, *type;
    } links[3] = {{"project_villages", "village_code", "text"},
                  {"project_notables", "notable_id", "uuid"},
                  {"project_partners", "partner_id", "uuid"}};
    const cJSON *given[3] = {in->villages, in->notables, in->partners};
    const char *values[3] = {in->villages_sql, in->notables_sql, in->partners_sql};
    char sql[320];

    for (int i = 0; i < 3; i++) {
        if (given[i] == NULL)
            continue;
        const char *params[2] = {in->id, values[i]};
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE project_id = $1", links[i].table);
        if (service_exec(conn, sql, 1, params, resp) < 0)
            return -1;
        snprintf(sql, sizeof(sql),
                 "INSERT INTO %s (project_id, %s, position) SELECT $1, v, o::int "
                 "FROM unnest($2::%s[]) WITH ORDINALITY AS t(v, o)",
                 links[i].table, links[i].column, links[i].type);
        if (service_exec(conn, sql, 2, params, resp) < 0)
            return -1;
    }
    return 0;
}

/*
 * project_publish - publish type for project id with its full state (plus
 * extra members, merged, when extra_json is not NULL), and answer status
 * with the same state. Returns 0, or -1 after a problem.
 */
static int project_publish(PGconn *conn, const char *id, const char *type, const char *extra_json,
                           int status, http_resp *resp)
{
    db_err err;
    const char *params[2] = {id, extra_json ? extra_json : "{}"};
    PGresult *res =
        db_exec(conn, "SELECT (project_json($1::uuid) || $2::jsonb)::text", 2, params, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    cJSON *data = cJSON_Parse(PQgetvalue(res, 0, 0));
    PQclear(res);
    cJSON *ev = event_new("registry", type, id, data);
    if (ev == NULL || outbox_add(conn, REGISTRY_TOPIC_PROJECTS, id, ev, &err) < 0) {
        cJSON_Delete(ev);
        service_db_problem(resp, &err);
        return -1;
    }
    http_reply_json(resp, status, cJSON_Duplicate(event_data(ev), 1));
    cJSON_Delete(ev);
    return 0;
}

/* registry_projects_create - POST /v1/projects */
void registry_projects_create(http_req *req, http_resp *resp, void *ctx)
{
    project_input in = {0};
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (project_fields(body, 0, &in, resp) < 0 ||
        http_field_string(body, "status", 0, 1, 20, &in.status, resp) < 0)
        goto out;
    if (in.status == NULL)
        in.status = "planned";
    if (strcmp(in.status, "planned") && strcmp(in.status, "active")) {
        http_problem(resp, 422, "validation", "Invalid initial status", "/status",
                     "a project is registered as planned or active");
        goto out;
    }
    /* one statement: the checks that need the registry, the rows, the event, the key */
    char inv[24], rev[24], event_id_buf[37];
    crypto_uuid_v7(in.id);
    snprintf(inv, sizeof(inv), "%lld", in.investment);
    snprintf(rev, sizeof(rev), "%lld", in.revenue);
    char *envelope = event_envelope_text("registry", "project.registered", in.id, event_id_buf);
    if (envelope == NULL) {
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
        goto out;
    }
    const char *params[14] = {in.id,
                              in.name,
                              in.type,
                              in.status,
                              inv,
                              rev,
                              in.start_date,
                              in.description,
                              req->auth.sub,
                              in.villages_sql,
                              in.notables_sql[0] ? in.notables_sql : NULL,
                              in.partners_sql[0] ? in.partners_sql : NULL,
                              envelope,
                              REGISTRY_TOPIC_PROJECTS};
    service_create_one(
        ctx, req, resp,
        "SELECT * FROM project_register($1::uuid, $2, $3, $4, $5::bigint, $6::bigint, "
        "$7::date, $8, $9, $10::text[], $11::uuid[], $12::uuid[], $13::jsonb, $14, "
        "$15, $16, $17, $18)",
        14, params);
    free(envelope);
out:
    cJSON_Delete(body);
}

/*
 * scope_sql - the coordinator's scope as a PostgreSQL array of code
 * prefixes, or NULL for roles that read every project.
 */
static const char *scope_sql(const http_req *req, char *buf, size_t len)
{
    return req->auth.role != ROLE_COORDINATOR ? NULL : auth_scope_array(&req->auth, buf, len);
}

/* PROJECT_IN_SCOPE - project p hosted by a village inside the scope $n (NULL: everywhere) */
#define PROJECT_IN_SCOPE(n)                                                                        \
    "($" n "::text[] IS NULL OR EXISTS (SELECT 1 FROM project_villages sv WHERE sv.project_id = "  \
    "p.id AND in_scope(sv.village_code, $" n "::text[])))"

/* registry_projects_list - GET /v1/projects?village=&town=&side=&type=&status= */
void registry_projects_list(http_req *req, http_resp *resp, void *ctx)
{
    static const struct {
        const char *name;
        int (*valid)(const char *);
    } filters[] = {{"village", registry_region_code_valid},
                   {"town", registry_region_code_valid},
                   {"side", NULL},
                   {"type", registry_project_type_valid},
                   {"status", registry_status_valid}};
    const char *params[8];
    const char *cursor;
    char cursor_buf[64], limit_sql[16], scope[AUTH_SCOPE_ARRAY_LEN], pointer[32];
    int limit = page_args(req, resp, 1, cursor_buf, &cursor, limit_sql);

    if (limit < 0)
        return;
    for (int i = 0; i < 5; i++) {
        const char *v = http_query(req, filters[i].name);
        int ok = v == NULL || (filters[i].valid ? filters[i].valid(v)
                                                : !strcmp(v, "zhejiang") || !strcmp(v, "shanghai"));
        if (!ok) {
            snprintf(pointer, sizeof(pointer), "/%s", filters[i].name);
            http_problem(resp, 422, "validation", "Invalid filter", pointer, "%s has no such value",
                         filters[i].name);
            return;
        }
        params[i] = v;
    }
    params[5] = cursor;
    params[6] = scope_sql(req, scope, sizeof(scope));
    params[7] = limit_sql;
    page_query(ctx, resp,
               "SELECT project_json(p.id)::text, p.id FROM projects p "
               "WHERE ($6::uuid IS NULL OR p.id > $6::uuid) "
               "AND ($1::text IS NULL OR EXISTS (SELECT 1 FROM project_villages v "
               "  WHERE v.project_id = p.id AND v.village_code = $1)) "
               "AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM project_villages v "
               "  JOIN regions r ON r.code = v.village_code "
               "  WHERE v.project_id = p.id AND r.parent = $2)) "
               "AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM project_villages v "
               "  JOIN regions r ON r.code = v.village_code "
               "  WHERE v.project_id = p.id AND r.side = $3)) "
               "AND ($4::text IS NULL OR p.type = $4) "
               "AND ($5::text IS NULL OR p.status = $5) "
               "AND " PROJECT_IN_SCOPE("7") " ORDER BY p.id LIMIT $8::int",
               8, params, limit);
}

/* registry_projects_get - GET /v1/projects/{id} */
void registry_projects_get(http_req *req, http_resp *resp, void *ctx)
{
    char scope[AUTH_SCOPE_ARRAY_LEN];
    const char *params[2] = {req->params[0], scope_sql(req, scope, sizeof(scope))};
    if (!crypto_uuid_valid(params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such project");
        return;
    }
    page_query_one_scoped(
        ctx, resp,
        "SELECT project_json(p.id)::text, " PROJECT_IN_SCOPE("2") " FROM projects p "
                                                                  "WHERE p.id = $1::uuid",
        2, params, "project");
}

/*
 * project_lock - lock project id for a change by the caller. Fills status
 * (at least 16 bytes) and version. Returns 0, or -1 after a 404/403/412/
 * database problem.
 */
static int project_lock(PGconn *conn, const http_req *req, const char *id, char *status,
                        http_resp *resp)
{
    db_err err;
    const char *params[2] = {id, req->auth.sub};
    PGresult *res = db_exec(conn,
                            "SELECT status, version, (created_by = $2 OR EXISTS (SELECT 1 FROM "
                            "project_notables n WHERE n.project_id = p.id AND n.notable_id::text "
                            "= $2)) FROM projects p WHERE id = $1::uuid FOR UPDATE",
                            2, params, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    int rc = -1;
    const char *if_match = http_header(req, "If-Match");
    if (PQntuples(res) == 0) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such project");
    } else if (req->auth.role != ROLE_ADMIN && strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
        http_problem(resp, 403, "forbidden", "Not your project", NULL,
                     "only the admin, the registering notable and the sponsoring notables "
                     "change a project");
    } else if (if_match && strtol(if_match + (*if_match == '"'), NULL, 10) !=
                               strtol(PQgetvalue(res, 0, 1), NULL, 10)) {
        http_problem(resp, 412, "precondition-failed", "Changed meanwhile", NULL,
                     "the project is at version %s", PQgetvalue(res, 0, 1));
    } else {
        snprintf(status, 16, "%s", PQgetvalue(res, 0, 0));
        rc = 0;
    }
    PQclear(res);
    return rc;
}

/* registry_projects_update - PATCH /v1/projects/{id} */
void registry_projects_update(http_req *req, http_resp *resp, void *ctx)
{
    project_input in = {0};
    char status[16], inv[24], rev[24];
    cJSON *body;

    if (!crypto_uuid_valid(req->params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such project");
        return;
    }
    if ((body = http_parse_json(req, resp)) == NULL)
        return;
    if (cJSON_GetObjectItemCaseSensitive(body, "status")) {
        http_problem(resp, 422, "validation", "Status is changed on its own", "/status",
                     "POST /v1/projects/{id}/status changes the status");
        goto out;
    }
    if (project_fields(body, 1, &in, resp) < 0)
        goto out;
    snprintf(in.id, sizeof(in.id), "%s", req->params[0]);
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        goto out;
    snprintf(inv, sizeof(inv), "%lld", in.investment);
    snprintf(rev, sizeof(rev), "%lld", in.revenue);
    const char *params[7] = {in.id,
                             in.name,
                             in.type,
                             in.has_investment ? inv : NULL,
                             in.has_revenue ? rev : NULL,
                             in.start_date,
                             in.description};
    int ok = project_lock(conn, req, in.id, status, resp) == 0;
    if (ok && strcmp(status, "closed") == 0) {
        http_problem(resp, 409, "conflict", "Project closed", NULL,
                     "a closed project is not changed any more");
        ok = 0;
    }
    ok = ok && links_check(conn, &in, resp) == 0 &&
         service_exec(conn,
                      "UPDATE projects SET name = coalesce($2, name), type = coalesce($3, type), "
                      "investment_fen = coalesce($4::bigint, investment_fen), "
                      "expected_revenue_fen = coalesce($5::bigint, expected_revenue_fen), "
                      "start_date = coalesce($6::date, start_date), "
                      "description = coalesce($7, description), "
                      "updated_at = now(), version = version + 1 WHERE id = $1::uuid",
                      7, params, resp) == 0 &&
         links_write(conn, &in, resp) == 0 &&
         project_publish(conn, in.id, "project.updated", NULL, 200, resp) == 0;
    service_tx_end(ctx, conn, ok, resp);
out:
    cJSON_Delete(body);
}

/* registry_projects_status - POST /v1/projects/{id}/status {"status", "reason"} */
void registry_projects_status(http_req *req, http_resp *resp, void *ctx)
{
    const char *to = NULL, *reason = NULL;
    char from[16] = ""; /* stays empty when the lock answered a problem */
    cJSON *body;

    if (!crypto_uuid_valid(req->params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such project");
        return;
    }
    if ((body = http_parse_json(req, resp)) == NULL)
        return;
    if (http_field_string(body, "status", 1, 1, 20, &to, resp) < 0 ||
        http_field_text(body, "reason", 0, 1, 500, &reason, resp) < 0)
        goto out;
    if (!registry_status_valid(to)) {
        http_problem(resp, 422, "validation", "Unknown status", "/status",
                     "status is one of planned, active, suspended, closed");
        goto out;
    }
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        goto out;
    int ok = project_lock(conn, req, req->params[0], from, resp) == 0;
    if (ok && !registry_transition_allowed(from, to)) {
        const char *allowed = registry_transitions_from(from);
        http_problem(resp, 409, "illegal-transition", "Illegal status transition", "/status",
                     "the project is %s; allowed next: %s", from, *allowed ? allowed : "none");
        ok = 0;
    }
    const char *params[5] = {req->params[0], from, to, reason, req->auth.sub};
    const char *update[2] = {req->params[0], to};
    cJSON *change = cJSON_CreateObject();
    cJSON_AddStringToObject(change, "previous_status", from);
    cJSON_AddItemToObject(change, "reason",
                          reason ? cJSON_CreateString(reason) : cJSON_CreateNull());
    char *extra = cJSON_PrintUnformatted(change);
    cJSON_Delete(change);
    ok = ok &&
         service_exec(conn,
                      "UPDATE projects SET status = $2, updated_at = now(), version = version + 1 "
                      "WHERE id = $1::uuid",
                      2, update, resp) == 0 &&
         service_exec(
             conn,
             "INSERT INTO project_status_history (project_id, from_status, to_status, reason, "
             "changed_by) VALUES ($1::uuid, $2, $3, $4, $5)",
             5, params, resp) == 0 &&
         project_publish(conn, req->params[0], "project.status_changed", extra, 200, resp) == 0;
    free(extra);
    service_tx_end(ctx, conn, ok, resp);
out:
    cJSON_Delete(body);
}
