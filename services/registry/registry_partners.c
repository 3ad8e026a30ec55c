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

#define PARTNER_JSON "partner_json(p)::text" /* registry 004 */

typedef struct partner_input {
    const char *name, *kind, *uscc;
    char id[37];
} partner_input;

#define REGISTER_SQL "SELECT * FROM partner_register($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9)"
#define REGISTER_NPARAMS 5

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
    crypto_uuid_v7(in.id);
    const char *params[REGISTER_NPARAMS] = {in.id, in.name, in.kind, in.uscc, req->auth.sub};
    service_create_one(ctx, req, resp, REGISTER_SQL, REGISTER_NPARAMS, params);
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
