/*
 * suggestion_api.c - submitting proposals and reading them back.
 *
 * Who sees what: the submitter its own proposals, a handling unit those
 * with a part assigned to it, the supervisor and the admin all of them, in
 * full (text, submitter with phone, parts, feedback); everyone with a token
 * the public summary of any proposal (title, category, state, dates, and
 * the answers once resolved; never the submitter or its phone). The
 * history (who, when, why) is for those who see the proposal in full.
 * Only a notable submits; the submitter is the token's subject.
 */
#include "suggestion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/page.h"
#include "core/readmodel.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

/* VISIBLE - "the caller sees proposal s in full" ($2 role bit, $3 subject, $4 unit) */
#define VISIBLE                                                                                    \
    "($2::int IN (1, 16) OR ($2::int = 4 AND s.submitter_id = $3) OR ($2::int = 8 AND "            \
    "EXISTS (SELECT 1 FROM parts p WHERE p.suggestion_id = s.id AND p.unit_id = $4)))"

/* suggestion_publish - suggestion_queue (suggestion 005), on suggestions.v1 */
int suggestion_publish(PGconn *conn, const char *type, const char *id, const cJSON *extra,
                       db_err *err)
{
    char *envelope = event_envelope_text("suggestion", type, id);
    char *data = extra ? cJSON_PrintUnformatted(extra) : NULL;
    if (envelope == NULL || (extra && data == NULL)) {
        free(envelope);
        free(data);
        snprintf(err->sqlstate, sizeof(err->sqlstate), "53200");
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return -1;
    }
    const char *params[4] = {id, data ? data : "{}", envelope, SUGGESTION_TOPIC};
    int rc =
        db_run(conn, "SELECT suggestion_queue($1::uuid, $2::jsonb, $3::jsonb, $4)", 4, params, err);
    free(envelope);
    free(data);
    return rc;
}

/* villages_check - the village codes: 1..SUGGESTION_VILLAGES_MAX distinct 12-digit codes */
static int villages_check(const cJSON *body, suggestion_input *in, http_resp *resp)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "village_codes");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
        cJSON_GetArraySize(arr) > SUGGESTION_VILLAGES_MAX) {
        http_problem(resp, 422, "validation", "Invalid village codes", "/village_codes",
                     "village_codes is an array of 1 to %d village codes", SUGGESTION_VILLAGES_MAX);
        return -1;
    }
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
    {
        const char *code = cJSON_GetStringValue(v);
        int dup = 0;
        for (const cJSON *w = arr->child; w != v && code; w = w->next)
            dup |= cJSON_GetStringValue(w) && strcmp(cJSON_GetStringValue(w), code) == 0;
        if (code == NULL || strlen(code) != 12 || strspn(code, "0123456789") != 12 || dup) {
            char pointer[32];
            snprintf(pointer, sizeof(pointer), "/village_codes/%d", i);
            http_problem(resp, 422, "validation", "Invalid village code", pointer,
                         dup ? "a village is named twice" : "a village code is 12 digits");
            return -1;
        }
        i++;
    }
    if (rm_text_array(arr, in->villages, sizeof(in->villages)) < 0) {
        http_problem(resp, 422, "validation", "Invalid village codes", "/village_codes",
                     "village_codes is an array of 1 to %d village codes", SUGGESTION_VILLAGES_MAX);
        return -1;
    }
    return 0;
}

/* SUBMIT_SQL - the submission's command (suggestion 003), its 11 parameters and the key's 4 */
#define SUBMIT_SQL                                                                                 \
    "SELECT * FROM suggestion_submit($1::uuid, $2, $3, $4, $5::text[], $6::uuid, $7, $8::jsonb, "  \
    "$9::timestamptz, $10::jsonb, $11, $12, $13, $14, $15)"
#define SUBMIT_NPARAMS 11

/*
 * submit_params - the command's parameters for in by req->auth.sub (the id
 * made unless preset); the event's envelope is malloc'd into *envelope
 * (the caller frees it). Returns 0, or -1 when out of memory.
 */
static int submit_params(const http_req *req, suggestion_input *in, char **envelope,
                         const char *params[SUBMIT_NPARAMS])
{
    if (in->id[0] == '\0')
        crypto_uuid_v7(in->id);
    *envelope = event_envelope_text("suggestion", "suggestion.submitted", in->id);
    const char *p[SUBMIT_NPARAMS] = {in->id,       in->title,      in->text,        in->category,
                                     in->villages, in->project_id, req->auth.sub,   in->attachments,
                                     in->now,      *envelope,      SUGGESTION_TOPIC};
    memcpy(params, p, sizeof(p));
    return *envelope ? 0 : -1;
}

/* suggestion_insert - a submission inside the caller's transaction (the import's) */
int suggestion_insert(PGconn *conn, http_req *req, http_resp *resp, void *arg)
{
    suggestion_input *in = arg;
    const char *params[SUBMIT_NPARAMS + 4] = {0}; /* no Idempotency-Key */
    char *envelope = NULL;
    if (submit_params(req, in, &envelope, params) < 0) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        return -1;
    }
    PGresult *res = service_query(conn, SUBMIT_SQL, SUBMIT_NPARAMS + 4, params, resp);
    free(envelope);
    if (res == NULL)
        return -1;
    int rc = service_result_answer(resp, res) == 201 ? 0 : -1;
    if (rc == 0)
        log_info("proposal %s submitted", in->id);
    PQclear(res);
    return rc;
}

/* suggestion_input_parse - the body's fields, checked; -1 after a 422 */
int suggestion_input_parse(const cJSON *body, suggestion_input *in, http_resp *resp)
{
    if (http_field_string(body, "title", 1, 1, SUGGESTION_TITLE_MAX, &in->title, resp) < 0 ||
        http_field_text(body, "text", 1, 1, SUGGESTION_TEXT_MAX, &in->text, resp) < 0 ||
        http_field_string(body, "category", 1, 1, 40, &in->category, resp) < 0)
        return -1;
    if (suggestion_category_index(in->category) < 0) {
        http_problem(resp, 422, "validation", "Unknown category", "/category",
                     "category is one of 助农, 助学, 助医, 助困, industry, infrastructure, other");
        return -1;
    }
    if (villages_check(body, in, resp) < 0)
        return -1;
    if (http_field_string(body, "project_id", 0, 36, 36, &in->project_id, resp) < 0)
        return -1;
    if (in->project_id && !crypto_uuid_valid(in->project_id)) {
        http_problem(resp, 422, "validation", "Invalid project id", "/project_id",
                     "project_id is a UUID");
        return -1;
    }
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(body, "attachments");
    if (suggestion_attachments_check(att, resp) < 0)
        return -1;
    in->attachments = att && !cJSON_IsNull(att) ? cJSON_PrintUnformatted(att) : strdup("[]");
    if (in->attachments == NULL) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        return -1;
    }
    return 0;
}

/* suggestion_create - POST /v1/suggestions (a notable) */
void suggestion_create(http_req *req, http_resp *resp, void *ctx)
{
    suggestion_input in = {0};
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (suggestion_input_parse(body, &in, resp) == 0) {
        const char *params[SUBMIT_NPARAMS];
        char *envelope = NULL;
        time_rfc3339(suggestion_now_ms(((service_ctx *)ctx)->state), in.now, sizeof(in.now));
        if (submit_params(req, &in, &envelope, params) < 0)
            http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
        else
            service_create_one(ctx, req, resp, SUBMIT_SQL, SUBMIT_NPARAMS, params);
        if (resp->status == 201 && resp->location[0]) /* not a replay */
            log_info("proposal %s submitted", in.id);
        free(envelope);
    }
    free(in.attachments);
    cJSON_Delete(body);
}

/* caller_params - role, subject and unit as a query's $2..$4 */
static void caller_params(const http_req *req, char role[8], const char **params)
{
    snprintf(role, 8, "%d", req->auth.role);
    params[1] = role;
    params[2] = req->auth.sub;
    params[3] = req->auth.unit;
}

/* one_params - the path's id (404 unless a UUID) and the caller as $1..$4; -1 after the 404 */
static int one_params(const http_req *req, http_resp *resp, char role[8], const char **params)
{
    if (!crypto_uuid_valid(req->params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such proposal");
        return -1;
    }
    params[0] = req->params[0];
    caller_params(req, role, params);
    return 0;
}

/* suggestion_get - GET /v1/suggestions/{id}: in full, or the public summary */
void suggestion_get(http_req *req, http_resp *resp, void *ctx)
{
    char role[8];
    const char *params[4];
    if (one_params(req, resp, role, params) == 0)
        page_query_one(ctx, resp,
                       "SELECT CASE WHEN " VISIBLE " THEN suggestion_json(s) "
                       "ELSE suggestion_public_json(s) END::text FROM suggestions s "
                       "WHERE s.id = $1::uuid",
                       4, params, "proposal");
}

/* suggestion_history - GET /v1/suggestions/{id}/history, for those who see it in full */
void suggestion_history(http_req *req, http_resp *resp, void *ctx)
{
    char role[8];
    const char *params[4];
    if (one_params(req, resp, role, params) == 0)
        page_query_one_scoped(
            ctx, resp,
            "SELECT jsonb_build_object('id', s.id, 'state', s.state, 'items', "
            "coalesce((SELECT jsonb_agg(jsonb_build_object('action', h.action, 'from_state', "
            "h.from_state, 'to_state', h.to_state, 'side', h.side, 'actor_role', h.actor_role, "
            "'actor_id', h.actor_id, 'at', h.at) || h.details ORDER BY h.id) "
            "FROM history h WHERE h.suggestion_id = s.id), '[]'))::text, " VISIBLE
            " FROM suggestions s WHERE s.id = $1::uuid",
            4, params, "proposal");
}

/* suggestion_list - GET /v1/suggestions: the caller's own, assigned or all; or ?view=public */
void suggestion_list(http_req *req, http_resp *resp, void *ctx)
{
    char role[8], cursor_buf[64], limit[16];
    const char *cursor = NULL;
    int n = page_args(req, resp, 1, cursor_buf, &cursor, limit);
    if (n < 0)
        return;
    const char *view = http_query(req, "view"), *state = http_query(req, "state");
    const char *category = http_query(req, "category"), *village = http_query(req, "village");
    const char *unit = http_query(req, "unit");
    if (view && strcmp(view, "public") != 0 && strcmp(view, "full") != 0) {
        http_problem(resp, 422, "validation", "Invalid view", "/view", "view is full or public");
        return;
    }
    if (state && sfsm_state_parse(state) == SFSM_NONE) {
        http_problem(resp, 422, "validation", "Invalid state", "/state",
                     "state is one of submitted, accepted, rejected, assigned, in_progress, "
                     "resolved, closed");
        return;
    }
    if (category && suggestion_category_index(category) < 0) {
        http_problem(resp, 422, "validation", "Unknown category", "/category",
                     "category is one of 助农, 助学, 助医, 助困, industry, infrastructure, other");
        return;
    }
    if (village && (strlen(village) != 12 || strspn(village, "0123456789") != 12)) {
        http_problem(resp, 422, "validation", "Invalid village code", "/village",
                     "village is a 12-digit code");
        return;
    }
    /* Roles that see nothing in full (coordinator, planner) read the public summaries. */
    int full_roles = ROLE_ADMIN | ROLE_SUPERVISOR | ROLE_NOTABLE | ROLE_HANDLER;
    const char *pub =
        (view && strcmp(view, "public") == 0) || !(req->auth.role & full_roles) ? "t" : "f";
    const char *params[10] = {limit, NULL, NULL, NULL, pub, state, category, village, unit, cursor};
    caller_params(req, role, params);
    page_query(ctx, resp,
               "SELECT CASE WHEN $5::boolean THEN suggestion_public_json(s) "
               "ELSE suggestion_json(s) END::text, s.id::text FROM suggestions s "
               "WHERE ($5::boolean OR " VISIBLE ") "
               "AND ($6::text IS NULL OR s.state = $6) "
               "AND ($7::text IS NULL OR s.category = $7) "
               "AND ($8::text IS NULL OR $8 = ANY (s.village_codes)) "
               "AND ($9::text IS NULL OR EXISTS (SELECT 1 FROM parts p "
               "WHERE p.suggestion_id = s.id AND p.unit_id = $9)) "
               "AND ($10::uuid IS NULL OR s.id < $10::uuid) ORDER BY s.id DESC LIMIT $1::int",
               10, params, n);
}
