/*
 * registry_partners.c - partner organisations (enterprises, cooperatives,
 * village collectives) identified by their unified social credit code.
 *
 * The code's check character is verified (GB 32100-2015) before anything is
 * written; a second registration of the same code answers 409 with the
 * existing partner's id.
 */
#include "registry.h"

#include <string.h>

#include "core/cnid.h"
#include "core/page.h"
#include "core/service.h"
#include "util/crypto.h"

#define PARTNER_JSON                                                                               \
    "jsonb_build_object('id', p.id, 'name', p.name, 'kind', p.kind, 'uscc', p.uscc, "              \
    "'created_at', p.created_at)::text"

typedef struct partner_input {
    const char *name, *kind, *uscc;
    char id[37];
} partner_input;

/* partner_insert - the create step run inside service_create */
static int partner_insert(PGconn *conn, http_req *req, http_resp *resp, void *arg)
{
    partner_input *in = arg;
    db_err err;
    const char *dup[1] = {in->uscc};
    PGresult *res = db_exec(conn, "SELECT id FROM partners WHERE uscc = $1", 1, dup, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    if (PQntuples(res) > 0) {
        http_problem(resp, 409, "duplicate", "Partner already registered", "/uscc",
                     "a partner with this code is registered as %s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    crypto_uuid_v7(in->id);
    const char *params[5] = {in->id, in->name, in->kind, in->uscc, req->auth.sub};
    res = db_exec(conn,
                  "INSERT INTO partners AS p (id, name, kind, uscc, created_by) "
                  "VALUES ($1, $2, $3, $4, $5) RETURNING " PARTNER_JSON,
                  5, params, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    http_reply_raw(resp, 201, "application/json", PQgetvalue(res, 0, 0),
                   (size_t)PQgetlength(res, 0, 0));
    snprintf(resp->location, sizeof(resp->location), "/v1/partners/%s", in->id);
    PQclear(res);
    return 0;
}

/* registry_partners_create - POST /v1/partners */
void registry_partners_create(http_req *req, http_resp *resp, void *ctx)
{
    partner_input in = {0};
    const char *why;
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (http_field_string(body, "name", 1, 1, 100, &in.name, resp) < 0 ||
        http_field_string(body, "kind", 1, 1, 20, &in.kind, resp) < 0 ||
        http_field_string(body, "uscc", 1, 1, 18, &in.uscc, resp) < 0)
        goto out;
    if (!registry_partner_kind_valid(in.kind)) {
        http_problem(resp, 422, "validation", "Invalid partner kind", "/kind",
                     "kind is one of enterprise, cooperative, collective, other");
        goto out;
    }
    if (cnid_uscc_valid(in.uscc, &why) < 0) {
        http_problem(resp, 422, "validation", "Invalid unified social credit code", "/uscc",
                     "the code fails its %s rule (GB 32100-2015)", why);
        goto out;
    }
    service_create(ctx, req, resp, partner_insert, &in);
out:
    cJSON_Delete(body);
}

/* registry_partners_list - GET /v1/partners?kind= */
void registry_partners_list(http_req *req, http_resp *resp, void *ctx)
{
    const char *kind = http_query(req, "kind");
    const char *cursor;
    char cursor_buf[64], limit_sql[16];
    int limit = page_args(req, resp, 1, cursor_buf, &cursor, limit_sql);

    if (limit < 0)
        return;
    if (kind && !registry_partner_kind_valid(kind)) {
        http_problem(resp, 422, "validation", "Invalid filter", "/kind", "unknown partner kind");
        return;
    }
    const char *params[3] = {cursor, kind, limit_sql};
    page_query(ctx, resp,
               "SELECT " PARTNER_JSON ", p.id FROM partners p "
               "WHERE ($1::uuid IS NULL OR p.id > $1::uuid) "
               "AND ($2::text IS NULL OR p.kind = $2) ORDER BY p.id LIMIT $3::int",
               3, params, limit);
}

/* registry_partners_get - GET /v1/partners/{id} */
void registry_partners_get(http_req *req, http_resp *resp, void *ctx)
{
    const char *params[1] = {req->params[0]};
    if (!crypto_uuid_valid(params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such partner");
        return;
    }
    page_query_one(ctx, resp, "SELECT " PARTNER_JSON " FROM partners p WHERE p.id = $1::uuid", 1,
                   params, "partner");
}
