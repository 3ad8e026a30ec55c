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
    char inv[24], rev[24];
    crypto_uuid_v7(in.id);
    snprintf(inv, sizeof(inv), "%lld", in.investment);
    snprintf(rev, sizeof(rev), "%lld", in.revenue);
    char *envelope = event_envelope_text("registry", "project.registered", in.id);
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
 * change_params - what every change of project id by the caller gives its
 * command (registry 005): the caller, whether the admin, the If-Match
 * version (NULL: none; text in if_match, 24 bytes), the event's envelope of
 * type (malloc'd into *envelope) and topic, into out[0..4]. 0, or -1 after
 * a 503.
 */
static int change_params(const http_req *req, const char *id, const char *type, char *if_match,
                         char **envelope, http_resp *resp, const char *out[5])
{
    const char *h = http_header(req, "If-Match");
    if (h)
        snprintf(if_match, 24, "%ld", strtol(h + (*h == '"'), NULL, 10));
    if ((*envelope = event_envelope_text("registry", type, id)) == NULL) {
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
        return -1;
    }
    out[0] = req->auth.sub;
    out[1] = req->auth.role == ROLE_ADMIN ? "true" : "false";
    out[2] = h ? if_match : NULL;
    out[3] = *envelope;
    out[4] = REGISTRY_TOPIC_PROJECTS;
    return 0;
}

/* registry_projects_update - PATCH /v1/projects/{id} */
void registry_projects_update(http_req *req, http_resp *resp, void *ctx)
{
    project_input in = {0};
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
    /* one statement: the lock, who may, If-Match, the checks, the rows, the event */
    char inv[24], rev[24], if_match[24], *envelope = NULL;
    snprintf(inv, sizeof(inv), "%lld", in.investment);
    snprintf(rev, sizeof(rev), "%lld", in.revenue);
    const char *params[15] = {in.id,
                              in.name,
                              in.type,
                              in.has_investment ? inv : NULL,
                              in.has_revenue ? rev : NULL,
                              in.start_date,
                              in.description,
                              in.villages ? in.villages_sql : NULL,
                              in.notables ? in.notables_sql : NULL,
                              in.partners ? in.partners_sql : NULL};
    if (change_params(req, in.id, "project.updated", if_match, &envelope, resp, params + 10) == 0)
        service_command_run(ctx, resp,
                            "SELECT * FROM project_update($1::uuid, $2, $3, $4::bigint, "
                            "$5::bigint, $6::date, $7, $8::text[], $9::uuid[], $10::uuid[], $11, "
                            "$12::boolean, $13::bigint, $14::jsonb, $15)",
                            15, params);
    free(envelope);
out:
    cJSON_Delete(body);
}

/* registry_projects_status - POST /v1/projects/{id}/status {"status", "reason"} */
void registry_projects_status(http_req *req, http_resp *resp, void *ctx)
{
    const char *to = NULL, *reason = NULL;
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
    /* one statement: the lock, who may, If-Match, the lifecycle, the rows, the event, the key */
    char lifecycle[256], if_match[24], hash[65], *envelope = NULL;
    const char *params[13] = {req->params[0], to, reason, lifecycle};
    if (registry_lifecycle_json(lifecycle, sizeof(lifecycle)) < 0) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "the lifecycle is too long");
        goto out;
    }
    if (change_params(req, req->params[0], "project.status_changed", if_match, &envelope, resp,
                      params + 4) == 0 &&
        service_key_params(req, resp, hash, params + 9) == 0)
        service_command_run(ctx, resp,
                            "SELECT * FROM project_status_change($1::uuid, $2, $3, $4::jsonb, $5, "
                            "$6::boolean, $7::bigint, $8::jsonb, $9, $10, $11, $12, $13)",
                            13, params);
    free(envelope);
out:
    cJSON_Delete(body);
}
