/*
 * registry_notables.c - notables (乡贤): registration and reads.
 *
 * A notable's phone is personal data: stored normalised, shown whole only to
 * the admin and to the notable itself, masked for everyone else, and masked
 * in every log line. notable.registered on notables.v1 carries the whole
 * record (the notifier needs the phone to reach the notable).
 */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "core/cnid.h"
#include "core/event.h"
#include "core/page.h"
#include "core/service.h"
#include "util/crypto.h"

/* The JSON of a notable (registry 004), phone whole ($1 = 'full', or the notable itself) or
   masked */
#define NOTABLE_JSON "notable_json(n, r.side, $1::text = 'full' OR n.id::text = $2::text)::text"

typedef struct notable_input {
    const char *name, *phone_raw, *village, *council, *lead_role;
    char phone[12];
    char id[37];
} notable_input;

#define REGISTER_SQL                                                                               \
    "SELECT * FROM notable_register($1::uuid, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, "   \
    "$12, $13)"
#define REGISTER_NPARAMS 9

/* registry_notables_create - POST /v1/notables */
void registry_notables_create(http_req *req, http_resp *resp, void *ctx)
{
    notable_input in = {0};
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (http_field_string(body, "name", 1, 1, 50, &in.name, resp) < 0 ||
        http_field_string(body, "phone", 1, 1, 20, &in.phone_raw, resp) < 0 ||
        http_field_string(body, "home_village", 1, 12, 12, &in.village, resp) < 0 ||
        http_field_string(body, "council", 0, 1, 100, &in.council, resp) < 0 ||
        http_field_string(body, "lead_role", 0, 1, 20, &in.lead_role, resp) < 0)
        goto out;
    if (cnid_phone_normalise(in.phone_raw, in.phone) < 0) {
        http_problem(resp, 422, "validation", "Invalid phone", "/phone",
                     "phone must be a mainland mobile number (11 digits starting 13-19)");
        goto out;
    }
    if (in.lead_role && !registry_lead_role_valid(in.lead_role)) {
        http_problem(resp, 422, "validation", "Invalid lead role", "/lead_role",
                     "lead_role is one of agriculture, education, medical, hardship, "
                     "employment, elderly, culture, other");
        goto out;
    }
    if (!registry_region_code_valid(in.village)) {
        http_problem(resp, 422, "validation", "Invalid region code", "/home_village",
                     "a region code is 12 digits");
        goto out;
    }
    crypto_uuid_v7(in.id);
    char *envelope = event_envelope_text("registry", "notable.registered", in.id);
    if (envelope == NULL) {
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
        goto out;
    }
    const char *params[REGISTER_NPARAMS] = {in.id,         in.name,    in.phone,
                                            in.village,    in.council, in.lead_role,
                                            req->auth.sub, envelope,   REGISTRY_TOPIC_NOTABLES};
    service_create_one(ctx, req, resp, REGISTER_SQL, REGISTER_NPARAMS, params);
    free(envelope);
out:
    cJSON_Delete(body);
}

/* phone_view - "full" for the admin, "masked" for everyone else */
static const char *phone_view(const http_req *req)
{
    return req->auth.role == ROLE_ADMIN ? "full" : "masked";
}

/* registry_notables_list - GET /v1/notables?village=&lead_role= */
void registry_notables_list(http_req *req, http_resp *resp, void *ctx)
{
    const char *village = http_query(req, "village");
    const char *lead_role = http_query(req, "lead_role");
    const char *cursor;
    char cursor_buf[64], limit_sql[16];
    int limit = page_args(req, resp, 1, cursor_buf, &cursor, limit_sql);

    if (limit < 0)
        return;
    if (lead_role && !registry_lead_role_valid(lead_role)) {
        http_problem(resp, 422, "validation", "Invalid filter", "/lead_role", "unknown lead role");
        return;
    }
    if (village && !registry_region_code_valid(village)) {
        http_problem(resp, 422, "validation", "Invalid filter", "/village",
                     "village is a 12-digit region code");
        return;
    }
    const char *params[6] = {phone_view(req), req->auth.sub, cursor, village, lead_role, limit_sql};
    page_query(ctx, resp,
               "SELECT " NOTABLE_JSON ", n.id FROM notables n "
               "JOIN regions r ON r.code = n.home_village "
               "WHERE ($3::uuid IS NULL OR n.id > $3::uuid) "
               "AND ($4::text IS NULL OR n.home_village = $4) "
               "AND ($5::text IS NULL OR n.lead_role = $5) "
               "ORDER BY n.id LIMIT $6::int",
               6, params, limit);
}

/* registry_notables_get - GET /v1/notables/{id} */
void registry_notables_get(http_req *req, http_resp *resp, void *ctx)
{
    const char *id = req->params[0];
    if (!crypto_uuid_valid(id)) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such notable");
        return;
    }
    const char *params[3] = {phone_view(req), req->auth.sub, id};
    page_query_one(ctx, resp,
                   "SELECT " NOTABLE_JSON " FROM notables n JOIN regions r ON r.code = "
                   "n.home_village WHERE n.id = $3::uuid",
                   3, params, "notable");
}
