/*
 * suggestion_transition.c - POST /v1/suggestions/{id}/transitions: one
 * step of the lifecycle, decided by the table of suggestion_fsm.c.
 *
 * Two round trips. The read: the proposal, its parts, its version and the
 * sides of the units the body names, without a lock (and the
 * Idempotency-Key's first answer, which is answered again as it was). Then,
 * in this order: may this caller make this action at all (403), does the
 * action lead anywhere from the current state (409 naming the state and the
 * allowed actions), do the record's facts permit it (409), are the fields
 * it needs there and valid (422 naming the field). The write is one
 * command, suggestion_transition (suggestion 005), group committed with
 * concurrent requests: it locks the proposal's row and, if its version is
 * still the one judged on, changes the rows, adds the history row (who,
 * when, why), queues the event and answers the key, all or nothing. If
 * another request changed the proposal in between, nothing is written and
 * the action is judged again on what that request left: two handlers
 * acting at the same moment are serialised, the second judged on the
 * first's result.
 *
 * Progress and resolve act on the caller's part (the part assigned to the
 * token's unit); every other action on the whole proposal. While assigned
 * the proposal's state is sfsm_overall() of its parts: a cross-border
 * proposal is resolved only when every side has resolved its part.
 */
#include "suggestion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

#define MAX_PARTS SFSM_NSIDES

typedef struct part {
    char side[16], unit[64];
    sfsm_state state;
} part;

typedef struct transition {
    suggestion_state *st;
    sfsm_action action;
    const cJSON *body;
    const char *id;
    char now[40];   /* the service clock, RFC 3339 */
    char today[11]; /* its Asia/Shanghai date */
    /* read (load) */
    sfsm_state state;
    char submitter[64];
    int category;
    sfsm_facts facts;
    char sides[MAX_PARTS][16];
    int nsides;
    part parts[MAX_PARTS];
    int nparts;
    char version[16];
    cJSON *unit_sides; /* {unit id: side} of the body's units */
    /* decided (decide), written (apply) */
    sfsm_state from, to, part_state;
    const char *event, *text, *side, *satisfied;
    cJSON *details, *extra;
    char *parts_json;
} transition;

/* text_field - a required text of 1..SUGGESTION_NOTE_MAX characters */
static int text_field(const cJSON *body, const char *name, const char **out, http_resp *resp)
{
    return http_field_text(body, name, 1, 1, SUGGESTION_NOTE_MAX, out, resp);
}

/* unit_ids - the body's unit ids as a JSON array (its strings; the read looks their sides up) */
static char *unit_ids(const cJSON *body)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(body, "unit_id"), *v;
    cJSON *ids = cJSON_CreateArray();
    if (cJSON_IsString(u)) {
        cJSON_AddItemToArray(ids, cJSON_CreateString(u->valuestring));
    } else if (cJSON_IsArray(u)) {
        cJSON_ArrayForEach(v, u) if (cJSON_IsString(v))
            cJSON_AddItemToArray(ids, cJSON_CreateString(v->valuestring));
    }
    char *text = ids ? cJSON_PrintUnformatted(ids) : NULL;
    cJSON_Delete(ids);
    return text;
}

/*
 * The read: the Idempotency-Key's first answer (columns 0-6, a
 * command_result; all NULL for a new key), then the proposal (7-14, NULL
 * when there is none), its parts as [[side, unit_id, state], ...] (15) and
 * the sides of the body's units as {id: side} (16). No lock: the write
 * re-checks the version read here.
 */
#define READ_SQL                                                                                   \
    "SELECT i.*, s.state, s.submitter_id, s.category, s.satisfied IS NOT NULL, "                   \
    "coalesce(s.satisfied, false), s.reopen_count, array_to_string(s.sides, ','), s.version, "     \
    "(SELECT coalesce(jsonb_agg(jsonb_build_array(p.side, p.unit_id, p.state) "                    \
    "ORDER BY p.side DESC), '[]') FROM parts p WHERE p.suggestion_id = s.id)::text, "              \
    "(SELECT coalesce(jsonb_object_agg(u.id, u.side), '{}') FROM units u "                         \
    "WHERE u.id IN (SELECT jsonb_array_elements_text($2::jsonb)))::text "                          \
    "FROM idem_seen($3, $4, $5, $6) i LEFT JOIN suggestions s ON s.id = $1::uuid"

/* load - read what the decision needs (conn, or a pooled one when NULL); -1 when resp answers */
static int load(service_ctx *ctx, PGconn *conn, transition *t, const char *const key[4],
                http_resp *resp)
{
    char *ids = unit_ids(t->body);
    const char *params[6] = {t->id, ids ? ids : "[]", key[0], key[1], key[2], key[3]};
    db_err err;
    PGconn *c = conn ? conn : db_acquire(ctx->db, 5000, &err);
    PGresult *res = c ? db_exec(c, READ_SQL, 6, params, &err) : NULL;
    if (conn == NULL && c)
        db_release(ctx->db, c);
    free(ids);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    int rc = -1;
    if (PQntuples(res) != 1 || PQnfields(res) != 17) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "the read answered nothing");
    } else if (!PQgetisnull(res, 0, 0)) { /* the key's first answer, or its 422 */
        service_result_answer(resp, res);
    } else if (PQgetisnull(res, 0, 7)) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such proposal");
    } else {
        t->state = sfsm_state_parse(PQgetvalue(res, 0, 7));
        snprintf(t->submitter, sizeof(t->submitter), "%s", PQgetvalue(res, 0, 8));
        t->category = suggestion_category_index(PQgetvalue(res, 0, 9));
        t->facts.has_feedback = PQgetvalue(res, 0, 10)[0] == 't';
        t->facts.satisfied = PQgetvalue(res, 0, 11)[0] == 't';
        t->facts.reopen_count = atoi(PQgetvalue(res, 0, 12));
        char sides[64], *save = NULL;
        snprintf(sides, sizeof(sides), "%s", PQgetvalue(res, 0, 13));
        t->nsides = 0;
        for (char *s = strtok_r(sides, ",", &save); s && t->nsides < MAX_PARTS;
             s = strtok_r(NULL, ",", &save))
            snprintf(t->sides[t->nsides++], sizeof(t->sides[0]), "%s", s);
        snprintf(t->version, sizeof(t->version), "%s", PQgetvalue(res, 0, 14));
        cJSON *parts = cJSON_Parse(PQgetvalue(res, 0, 15)), *p;
        t->nparts = 0;
        cJSON_ArrayForEach(p, parts)
        {
            if (t->nparts == MAX_PARTS || cJSON_GetArraySize(p) != 3)
                break;
            part *q = &t->parts[t->nparts++];
            snprintf(q->side, sizeof(q->side), "%s",
                     cJSON_GetStringValue(cJSON_GetArrayItem(p, 0)));
            snprintf(q->unit, sizeof(q->unit), "%s",
                     cJSON_GetStringValue(cJSON_GetArrayItem(p, 1)));
            q->state = sfsm_state_parse(cJSON_GetStringValue(cJSON_GetArrayItem(p, 2)));
        }
        cJSON_Delete(parts);
        cJSON_Delete(t->unit_sides);
        t->unit_sides = cJSON_Parse(PQgetvalue(res, 0, 16));
        rc = 0;
    }
    PQclear(res);
    return rc;
}

/* due_date_for - the due date of one side: the body's (string, or object by side) or the default
 */
static int due_date_for(transition *t, const char *side, char out[11], http_resp *resp)
{
    const cJSON *due = cJSON_GetObjectItemCaseSensitive(t->body, "due_date");
    const char *pointer = "/due_date";
    char ptr[40];
    if (cJSON_IsObject(due)) {
        due = cJSON_GetObjectItemCaseSensitive(due, side);
        snprintf(ptr, sizeof(ptr), "/due_date/%s", side);
        pointer = ptr;
    }
    if (due == NULL || cJSON_IsNull(due)) {
        int est =
            suggestion_add_workdays(t->st->cal, t->today, t->st->due_workdays[t->category], out);
        if (est < 0) {
            http_problem(resp, 500, "internal", "Internal error", pointer, "no due date");
            return -1;
        }
        if (est > 0)
            log_warn("due date %s counted Monday to Friday: the holiday calendar does not cover "
                     "it yet (ship the year's holidays)",
                     out);
        return 0;
    }
    const char *s = cJSON_GetStringValue(due);
    if (s == NULL || strlen(s) != 10 || !time_date_valid(s)) {
        http_problem(resp, 422, "validation", "Invalid due date", pointer,
                     "due_date is a date YYYY-MM-DD, or an object of one date per side");
        return -1;
    }
    if (strcmp(s, t->today) < 0) {
        http_problem(resp, 422, "validation", "Due date in the past", pointer,
                     "due_date %s is before today (%s, Asia/Shanghai)", s, t->today);
        return -1;
    }
    char limit[16];
    snprintf(limit, sizeof(limit), "%04d%.6s", (atoi(t->today) + 2) % 10000, t->today + 4);
    if (strcmp(s, limit) > 0) {
        http_problem(resp, 422, "validation", "Due date too far", pointer,
                     "due_date is at most two years ahead");
        return -1;
    }
    memcpy(out, s, 11);
    return 0;
}

/* assign_units - the units of an assignment: one per side of the proposal; -1 after a 422 */
static int assign_units(transition *t, char units[MAX_PARTS][64], http_resp *resp)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(t->body, "unit_id");
    const cJSON *list[MAX_PARTS + 1];
    int n = 0;
    if (cJSON_IsString(u)) {
        list[n++] = u;
    } else if (cJSON_IsArray(u) && cJSON_GetArraySize(u) >= 1 &&
               cJSON_GetArraySize(u) <= MAX_PARTS) {
        const cJSON *v;
        cJSON_ArrayForEach(v, u) list[n++] = v;
    } else {
        http_problem(resp, 422, "validation", "Invalid unit", "/unit_id",
                     "unit_id is a unit id, or an array of one unit id per side of the border");
        return -1;
    }
    for (int i = 0; i < MAX_PARTS; i++)
        units[i][0] = '\0';
    for (int i = 0; i < n; i++) {
        char pointer[24];
        if (cJSON_IsArray(u))
            snprintf(pointer, sizeof(pointer), "/unit_id/%d", i);
        else
            snprintf(pointer, sizeof(pointer), "/unit_id");
        const char *id = cJSON_GetStringValue(list[i]);
        const char *side =
            id && strlen(id) < 64
                ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t->unit_sides, id))
                : NULL;
        if (side == NULL) {
            http_problem(resp, 422, "validation", "Unknown unit", pointer,
                         "no handling unit has this id");
            return -1;
        }
        int k = -1;
        for (int s = 0; s < t->nsides; s++)
            if (strcmp(t->sides[s], side) == 0)
                k = s;
        if (k < 0 || units[k][0]) {
            http_problem(resp, 422, "validation", "Unit on the wrong side", pointer,
                         k < 0 ? "the unit lies on a side of the border the proposal does not "
                                 "concern"
                               : "two units for the same side of the border");
            return -1;
        }
        snprintf(units[k], 64, "%s", id);
    }
    for (int s = 0; s < t->nsides; s++)
        if (!units[s][0]) {
            http_problem(resp, 422, "validation", "A side has no unit", "/unit_id",
                         "the proposal concerns villages on the %s side too: give one unit per "
                         "side",
                         t->sides[s]);
            return -1;
        }
    return 0;
}

/* decide_assign - assignment (from accepted) or reopening (from closed): the parts anew */
static int decide_assign(transition *t, http_resp *resp)
{
    char units[MAX_PARTS][64], due[MAX_PARTS][11];
    if (t->action == SFSM_ACT_ASSIGN) {
        if (assign_units(t, units, resp) < 0)
            return -1;
    } else {
        for (int s = 0; s < t->nsides; s++) {
            units[s][0] = '\0';
            for (int i = 0; i < t->nparts; i++)
                if (strcmp(t->parts[i].side, t->sides[s]) == 0)
                    snprintf(units[s], 64, "%s", t->parts[i].unit);
        }
    }
    cJSON *parts = cJSON_AddArrayToObject(t->details, "parts");
    for (int s = 0; s < t->nsides; s++) {
        if (due_date_for(t, t->sides[s], due[s], resp) < 0)
            return -1;
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "side", t->sides[s]);
        cJSON_AddStringToObject(p, "unit_id", units[s]);
        cJSON_AddStringToObject(p, "due_date", due[s]);
        cJSON_AddItemToArray(parts, p);
    }
    cJSON_AddItemReferenceToObject(t->extra, "parts", parts);
    t->parts_json = cJSON_PrintUnformatted(parts);
    return t->parts_json ? 0 : -1;
}

/* decide_part - progress or resolve on the caller's part; the proposal follows sfsm_overall() */
static int decide_part(transition *t, part *mine, http_resp *resp)
{
    sfsm_state states[MAX_PARTS];
    for (int i = 0; i < t->nparts; i++)
        states[i] = &t->parts[i] == mine ? t->part_state : t->parts[i].state;
    sfsm_state overall = sfsm_overall(states, (size_t)t->nparts);
    if (overall == SFSM_NONE) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "inconsistent parts");
        return -1;
    }
    t->side = mine->side;
    cJSON_AddStringToObject(t->extra, "side", mine->side);
    cJSON_AddStringToObject(t->extra, "unit_id", mine->unit);
    cJSON_AddStringToObject(t->extra, "part_state", sfsm_state_name(t->part_state));
    if (t->action == SFSM_ACT_RESOLVE && overall != SFSM_RESOLVED)
        t->event = "suggestion.progressed"; /* one side answered; the other has not yet */
    t->to = overall;
    return 0;
}

/* may - the caller may make the action, and it leads somewhere the facts permit; -1 after a
   403 or a 409. *mine is the caller's part, if any. */
static int may(transition *t, const http_req *req, part **mine, http_resp *resp)
{
    int part_action = t->action == SFSM_ACT_PROGRESS || t->action == SFSM_ACT_RESOLVE;
    *mine = NULL;
    for (int i = 0; i < t->nparts && req->auth.unit[0]; i++)
        if (strcmp(t->parts[i].unit, req->auth.unit) == 0)
            *mine = &t->parts[i];
    int is_submitter = strcmp(t->submitter, req->auth.sub) == 0;
    if (!sfsm_may(t->action, req->auth.role, is_submitter, *mine != NULL)) {
        http_problem(resp, 403, "forbidden", "Forbidden", "/action",
                     "a %s %s may not %s this proposal", auth_role_name(req->auth.role),
                     req->auth.role == ROLE_HANDLER   ? "whose unit holds no part of it"
                     : req->auth.role == ROLE_NOTABLE ? "who did not submit it"
                                                      : "",
                     sfsm_action_name(t->action));
        return -1;
    }
    sfsm_state from = part_action ? (*mine)->state : t->state;
    char why[200];
    if (part_action && t->state != SFSM_ASSIGNED && t->state != SFSM_IN_PROGRESS)
        from = t->state; /* resolved or closed as a whole: judge the proposal's state */
    if (sfsm_next(from, t->action, &t->to) < 0) {
        if (part_action && from == (*mine)->state)
            http_problem(resp, 409, "conflict", "Transition not allowed", "/action",
                         "your unit's part is %s, allowed on it: %s", sfsm_state_name(from),
                         from == SFSM_RESOLVED ? "none" : "progress, resolve");
        else
            http_problem(resp, 409, "conflict", "Transition not allowed", "/action", "%s",
                         sfsm_conflict_message(from, why, sizeof(why)));
        return -1;
    }
    if (sfsm_guard(from, t->action, &t->facts, why, sizeof(why)) < 0) {
        http_problem(resp, 409, "conflict", "Transition not allowed", "/action", "%s", why);
        return -1;
    }
    t->from = from;
    return 0;
}

/* decide - judge the action on what load read and make the write's fields; -1 after a problem */
static int decide(transition *t, const http_req *req, http_resp *resp)
{
    part *mine;
    if (may(t, req, &mine, resp) < 0)
        return -1;
    t->details = cJSON_CreateObject();
    t->extra = cJSON_CreateObject();
    t->event = sfsm_event_type(t->action);
    if (t->details == NULL || t->extra == NULL) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        return -1;
    }
    switch (t->action) {
    case SFSM_ACT_ACCEPT:
    case SFSM_ACT_CLOSE:
    case SFSM_ACT_REJECT:
        if (t->action == SFSM_ACT_REJECT) {
            if (text_field(t->body, "reason", &t->text, resp) < 0)
                return -1;
            cJSON_AddStringToObject(t->details, "reason", t->text);
            cJSON_AddStringToObject(t->extra, "reason", t->text);
        }
        if (t->action == SFSM_ACT_CLOSE)
            cJSON_AddStringToObject(t->extra, "closed_by", "supervisor");
        return 0;
    case SFSM_ACT_ASSIGN:
    case SFSM_ACT_REOPEN:
        return decide_assign(t, resp);
    case SFSM_ACT_PROGRESS:
    case SFSM_ACT_RESOLVE: {
        const char *field = t->action == SFSM_ACT_PROGRESS ? "note" : "answer";
        if (text_field(t->body, field, &t->text, resp) < 0)
            return -1;
        cJSON_AddStringToObject(t->details, field, t->text);
        t->part_state = t->to;
        return decide_part(t, mine, resp);
    }
    case SFSM_ACT_FEEDBACK: {
        const cJSON *sat = cJSON_GetObjectItemCaseSensitive(t->body, "satisfied");
        if (!cJSON_IsBool(sat)) {
            http_problem(resp, 422, "validation", "Missing verdict", "/satisfied",
                         "satisfied is true or false");
            return -1;
        }
        if (text_field(t->body, "comment", &t->text, resp) < 0)
            return -1;
        t->satisfied = cJSON_IsTrue(sat) ? "t" : "f";
        cJSON_AddBoolToObject(t->details, "satisfied", cJSON_IsTrue(sat));
        cJSON_AddStringToObject(t->details, "comment", t->text);
        cJSON_AddBoolToObject(t->extra, "satisfied", cJSON_IsTrue(sat));
        cJSON_AddStringToObject(t->extra, "closed_by", "feedback");
        return 0;
    }
    default:
        http_problem(resp, 422, "validation", "Unknown action", "/action", "unknown action");
        return -1;
    }
}

/* forget - what one decision made, before the next (or the end) */
static void forget(transition *t)
{
    cJSON_Delete(t->details);
    cJSON_Delete(t->extra);
    free(t->parts_json);
    t->details = t->extra = NULL;
    t->parts_json = NULL;
    t->text = t->side = t->satisfied = NULL;
    t->part_state = SFSM_NONE;
}

/* The write (suggestion 005), its parameters in the order of apply below, and the key's four */
#define APPLY_SQL                                                                                  \
    "SELECT * FROM suggestion_transition($1::uuid, $2::int, $3, $4, $5, $6, $7, $8, $9::boolean, " \
    "$10::jsonb, $11::jsonb, $12::jsonb, $13, $14, $15::timestamptz, $16::jsonb, $17, $18, $19, "  \
    "$20, $21)"
#define APPLY_NPARAMS 17

/* apply - write what decide made under the key's four parameters (on conn, or group committed
   when NULL); the status answered */
static int apply(service_ctx *ctx, PGconn *conn, transition *t, const http_req *req,
                 const char *const key[4], http_resp *resp)
{
    char *envelope = event_envelope_text("suggestion", t->event, t->id);
    char *details = cJSON_PrintUnformatted(t->details), *extra = cJSON_PrintUnformatted(t->extra);
    int status = 500;
    if (envelope == NULL || details == NULL || extra == NULL) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        goto out;
    }
    const char *params[APPLY_NPARAMS + 4] = {t->id,
                                             t->version,
                                             sfsm_action_name(t->action),
                                             sfsm_state_name(t->from),
                                             sfsm_state_name(t->to),
                                             t->side,
                                             t->side ? sfsm_state_name(t->part_state) : NULL,
                                             t->text,
                                             t->satisfied,
                                             t->parts_json,
                                             details,
                                             extra,
                                             auth_role_name(req->auth.role),
                                             req->auth.sub,
                                             t->now,
                                             envelope,
                                             SUGGESTION_TOPIC,
                                             key[0],
                                             key[1],
                                             key[2],
                                             key[3]};
    if (conn == NULL) {
        status = service_command_run(ctx, resp, APPLY_SQL, APPLY_NPARAMS + 4, params);
    } else {
        PGresult *res = service_query(conn, APPLY_SQL, APPLY_NPARAMS + 4, params, resp);
        status = res ? service_result_answer(resp, res) : resp->status;
        PQclear(res);
    }
out:
    free(envelope);
    free(details);
    free(extra);
    return status;
}

/* How many times a transition is judged again after another request changed the proposal
   between its read and its write, before it answers that 409. */
#define TRANSITION_ATTEMPTS 8

/* run - read, decide, write (again while another request changed the proposal in between);
   conn NULL: pooled reads and a group committed write, under the request's key (none on conn,
   the import's). 0 or -1. */
static int run(service_ctx *ctx, PGconn *conn, transition *t, http_req *req, http_resp *resp)
{
    char hash[65];
    const char *key[4] = {NULL, NULL, NULL, NULL};
    if (conn == NULL && service_key_params(req, resp, hash, key) < 0)
        return -1;
    int status = 0;
    for (int attempt = 0; attempt < TRANSITION_ATTEMPTS; attempt++) {
        if (load(ctx, conn, t, key, resp) < 0 || decide(t, req, resp) < 0) {
            forget(t);
            return resp->status >= 200 && resp->status < 300 ? 0 : -1; /* a replayed answer */
        }
        status = apply(ctx, conn, t, req, key, resp);
        forget(t);
        if (status != 409) /* the write answers 409 only when the proposal changed */
            break;
    }
    if (status != 200)
        return -1;
    log_info("proposal %s: %s by %s", t->id, sfsm_action_name(t->action),
             auth_role_name(req->auth.role));
    return 0;
}

/* prepare - the action and the clock of a transition; -1 after a 422 */
static int prepare(transition *t, const cJSON *body, int64_t at_ms, http_resp *resp)
{
    const char *action = NULL;
    if (http_field_string(body, "action", 1, 1, 20, &action, resp) < 0)
        return -1;
    t->action = sfsm_action_parse(action);
    if (t->action == SFSM_ACT_NONE) {
        http_problem(resp, 422, "validation", "Unknown action", "/action",
                     "action is one of accept, reject, assign, progress, resolve, feedback, "
                     "close, reopen");
        return -1;
    }
    t->body = body;
    time_rfc3339(at_ms, t->now, sizeof(t->now));
    time_shanghai_date(at_ms, t->today);
    return 0;
}

/* suggestion_step - a transition inside the caller's transaction (no key) */
int suggestion_step(PGconn *conn, http_req *req, http_resp *resp, suggestion_state *st,
                    const char *id, const cJSON *body, int64_t at_ms)
{
    transition t = {.st = st, .id = id};
    if (prepare(&t, body, at_ms, resp) < 0)
        return -1;
    int rc = run(NULL, conn, &t, req, resp);
    cJSON_Delete(t.unit_sides);
    return rc;
}

/* suggestion_transition - POST /v1/suggestions/{id}/transitions {"action": ..., ...} */
void suggestion_transition(http_req *req, http_resp *resp, void *ctx)
{
    service_ctx *sctx = ctx;
    transition t = {.st = sctx->state, .id = req->params[0]};
    if (!crypto_uuid_valid(t.id)) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such proposal");
        return;
    }
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (prepare(&t, body, suggestion_now_ms(t.st), resp) == 0)
        run(sctx, NULL, &t, req, resp);
    cJSON_Delete(t.unit_sides);
    cJSON_Delete(body);
}
