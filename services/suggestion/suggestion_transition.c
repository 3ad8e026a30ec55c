/*
 * suggestion_transition.c - POST /v1/suggestions/{id}/transitions: one
 * step of the lifecycle, decided by the table of suggestion_fsm.c.
 *
 * In one transaction: lock the proposal's row (FOR UPDATE: two handlers
 * acting at the same moment are serialised, and the second is judged on
 * the first's result), read its parts, then in this order: may this caller
 * make this action at all (403), does the action lead anywhere from the
 * current state (409 naming the state and the allowed actions), do the
 * record's facts permit it (409), are the fields it needs there and valid
 * (422 naming the field). Then the rows change, the history gains a row
 * (who, when, why) and the event goes to the outbox, all or nothing.
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
    /* read under the lock */
    sfsm_state state;
    char submitter[64];
    int category;
    sfsm_facts facts;
    char sides[MAX_PARTS][16];
    int nsides;
    part parts[MAX_PARTS];
    int nparts;
} transition;

/* text_field - a required text of 1..SUGGESTION_NOTE_MAX characters */
static int text_field(const cJSON *body, const char *name, const char **out, http_resp *resp)
{
    return http_field_text(body, name, 1, 1, SUGGESTION_NOTE_MAX, out, resp);
}

/* load - lock the proposal and read what the decision needs; -1 after a problem */
static int load(PGconn *conn, transition *t, http_resp *resp)
{
    const char *params[1] = {t->id};
    db_err err;
    PGresult *res = db_exec(conn,
                            "SELECT state, submitter_id, category, satisfied IS NOT NULL, "
                            "coalesce(satisfied, false), reopen_count, array_to_string(sides, ',') "
                            "FROM suggestions WHERE id = $1::uuid FOR UPDATE",
                            1, params, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such proposal");
        return -1;
    }
    t->state = sfsm_state_parse(PQgetvalue(res, 0, 0));
    snprintf(t->submitter, sizeof(t->submitter), "%s", PQgetvalue(res, 0, 1));
    t->category = suggestion_category_index(PQgetvalue(res, 0, 2));
    t->facts.has_feedback = PQgetvalue(res, 0, 3)[0] == 't';
    t->facts.satisfied = PQgetvalue(res, 0, 4)[0] == 't';
    t->facts.reopen_count = atoi(PQgetvalue(res, 0, 5));
    char sides[64];
    snprintf(sides, sizeof(sides), "%s", PQgetvalue(res, 0, 6));
    PQclear(res);
    char *save = NULL;
    for (char *s = strtok_r(sides, ",", &save); s && t->nsides < MAX_PARTS;
         s = strtok_r(NULL, ",", &save))
        snprintf(t->sides[t->nsides++], sizeof(t->sides[0]), "%s", s);

    res = db_exec(conn,
                  "SELECT side, unit_id, state FROM parts WHERE suggestion_id = $1::uuid "
                  "ORDER BY side DESC",
                  1, params, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    for (int i = 0; i < PQntuples(res) && i < MAX_PARTS; i++) {
        part *p = &t->parts[t->nparts++];
        snprintf(p->side, sizeof(p->side), "%s", PQgetvalue(res, i, 0));
        snprintf(p->unit, sizeof(p->unit), "%s", PQgetvalue(res, i, 1));
        p->state = sfsm_state_parse(PQgetvalue(res, i, 2));
    }
    PQclear(res);
    return 0;
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

/* history - one row of who, when, why */
static int history(PGconn *conn, transition *t, const http_req *req, const char *from,
                   const char *to, const char *side, const cJSON *details, db_err *err)
{
    char *json = details ? cJSON_PrintUnformatted(details) : NULL;
    const char *params[9] = {t->id,
                             sfsm_action_name(t->action),
                             from,
                             to,
                             side,
                             auth_role_name(req->auth.role),
                             req->auth.sub,
                             t->now,
                             json ? json : "{}"};
    int rc = db_run(conn,
                    "INSERT INTO history (suggestion_id, action, from_state, to_state, "
                    "side, actor_role, actor_id, at, details) VALUES ($1::uuid, $2, $3, "
                    "$4, $5, $6, $7, $8::timestamptz, $9::jsonb)",
                    9, params, err);
    free(json);
    return rc;
}

/* assign_units - the units of an assignment: one per side of the proposal; -1 after a 422 */
static int assign_units(PGconn *conn, transition *t, char units[MAX_PARTS][64], http_resp *resp)
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
        const char *params[1] = {id};
        db_err err;
        PGresult *res = id && strlen(id) < 64
                            ? db_exec(conn, "SELECT side FROM units WHERE id = $1", 1, params, &err)
                            : NULL;
        if (res == NULL && id && strlen(id) < 64) {
            service_db_problem(resp, &err);
            return -1;
        }
        if (res == NULL || PQntuples(res) == 0) {
            PQclear(res);
            http_problem(resp, 422, "validation", "Unknown unit", pointer,
                         "no handling unit has this id");
            return -1;
        }
        int k = -1;
        for (int s = 0; s < t->nsides; s++)
            if (strcmp(t->sides[s], PQgetvalue(res, 0, 0)) == 0)
                k = s;
        PQclear(res);
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

/* do_assign - assignment (from accepted) or reopening (from closed): the parts anew */
static int do_assign(PGconn *conn, transition *t, http_resp *resp, cJSON *details, cJSON *extra)
{
    char units[MAX_PARTS][64], due[MAX_PARTS][11];
    db_err err;
    if (t->action == SFSM_ACT_ASSIGN) {
        if (assign_units(conn, t, units, resp) < 0)
            return -1;
    } else {
        for (int s = 0; s < t->nsides; s++) {
            units[s][0] = '\0';
            for (int i = 0; i < t->nparts; i++)
                if (strcmp(t->parts[i].side, t->sides[s]) == 0)
                    snprintf(units[s], 64, "%s", t->parts[i].unit);
        }
    }
    cJSON *parts = cJSON_AddArrayToObject(details, "parts");
    for (int s = 0; s < t->nsides; s++) {
        if (due_date_for(t, t->sides[s], due[s], resp) < 0)
            return -1;
        const char *params[5] = {t->id, t->sides[s], units[s], due[s], t->now};
        if (db_run(conn,
                   "INSERT INTO parts (suggestion_id, side, unit_id, state, due_date, assigned_at) "
                   "VALUES ($1::uuid, $2, $3, 'assigned', $4::date, $5::timestamptz) "
                   "ON CONFLICT (suggestion_id, side) DO UPDATE SET unit_id = $3, "
                   "state = 'assigned', due_date = $4::date, assigned_at = $5::timestamptz, "
                   "resolved_at = NULL, answer = NULL, last_note = NULL, overdue_at = NULL, "
                   "escalation_level = NULL, escalated_at = NULL",
                   5, params, &err) < 0)
            goto fail;
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "side", t->sides[s]);
        cJSON_AddStringToObject(p, "unit_id", units[s]);
        cJSON_AddStringToObject(p, "due_date", due[s]);
        cJSON_AddItemToArray(parts, p);
    }
    cJSON_AddItemReferenceToObject(extra, "parts", parts);
    const char *params[3] = {t->id, t->now, t->action == SFSM_ACT_REOPEN ? "t" : "f"};
    if (db_run(conn,
               "UPDATE suggestions SET state = 'assigned', assigned_at = $2::timestamptz, "
               "resolved_at = CASE WHEN $3::boolean THEN NULL ELSE resolved_at END, "
               "closed_at = CASE WHEN $3::boolean THEN NULL ELSE closed_at END, "
               "closed_by = CASE WHEN $3::boolean THEN NULL ELSE closed_by END, "
               "reopen_count = reopen_count + CASE WHEN $3::boolean THEN 1 ELSE 0 END, "
               "version = version + 1 WHERE id = $1::uuid",
               3, params, &err) < 0)
        goto fail;
    return 0;
fail:
    service_db_problem(resp, &err);
    return -1;
}

/* do_part - progress or resolve on the caller's part; the proposal follows sfsm_overall() */
static int do_part(PGconn *conn, transition *t, part *mine, sfsm_state to, const char *text,
                   http_resp *resp, sfsm_state *overall)
{
    db_err err;
    const char *params[5] = {t->id, mine->side, sfsm_state_name(to), text, t->now};
    if (db_run(conn,
               "UPDATE parts SET state = $3, "
               "last_note = CASE WHEN $3 = 'in_progress' THEN $4 ELSE last_note END, "
               "answer = CASE WHEN $3 = 'resolved' THEN $4 ELSE answer END, "
               "resolved_at = CASE WHEN $3 = 'resolved' THEN $5::timestamptz END "
               "WHERE suggestion_id = $1::uuid AND side = $2",
               5, params, &err) < 0)
        goto fail;
    mine->state = to;
    sfsm_state states[MAX_PARTS];
    for (int i = 0; i < t->nparts; i++)
        states[i] = t->parts[i].state;
    *overall = sfsm_overall(states, (size_t)t->nparts);
    if (*overall == SFSM_NONE) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "inconsistent parts");
        return -1;
    }
    const char *p2[3] = {t->id, sfsm_state_name(*overall), t->now};
    if (db_run(conn,
               "UPDATE suggestions SET state = $2, "
               "resolved_at = CASE WHEN $2 = 'resolved' THEN $3::timestamptz END, "
               "version = version + 1 WHERE id = $1::uuid",
               3, p2, &err) < 0)
        goto fail;
    return 0;
fail:
    service_db_problem(resp, &err);
    return -1;
}

/* transition_step - the whole transition, run inside service_create */
static int transition_step(PGconn *conn, http_req *req, http_resp *resp, void *arg)
{
    transition *t = arg;
    db_err err;
    if (load(conn, t, resp) < 0)
        return -1;
    int part_action = t->action == SFSM_ACT_PROGRESS || t->action == SFSM_ACT_RESOLVE;
    part *mine = NULL;
    for (int i = 0; i < t->nparts && req->auth.unit[0]; i++)
        if (strcmp(t->parts[i].unit, req->auth.unit) == 0)
            mine = &t->parts[i];
    int is_submitter = strcmp(t->submitter, req->auth.sub) == 0;
    if (!sfsm_may(t->action, req->auth.role, is_submitter, mine != NULL)) {
        http_problem(resp, 403, "forbidden", "Forbidden", "/action",
                     "a %s %s may not %s this proposal", auth_role_name(req->auth.role),
                     req->auth.role == ROLE_HANDLER   ? "whose unit holds no part of it"
                     : req->auth.role == ROLE_NOTABLE ? "who did not submit it"
                                                      : "",
                     sfsm_action_name(t->action));
        return -1;
    }
    sfsm_state from = part_action ? mine->state : t->state, to;
    char why[200];
    if (part_action && t->state != SFSM_ASSIGNED && t->state != SFSM_IN_PROGRESS)
        from = t->state; /* resolved or closed as a whole: judge the proposal's state */
    if (sfsm_next(from, t->action, &to) < 0) {
        if (part_action && from == mine->state)
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

    cJSON *details = cJSON_CreateObject(), *extra = cJSON_CreateObject();
    const char *event = sfsm_event_type(t->action), *text = NULL, *side = NULL;
    int rc = -1;
    if (details == NULL || extra == NULL) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        goto out;
    }
    switch (t->action) {
    case SFSM_ACT_ACCEPT:
    case SFSM_ACT_REJECT:
    case SFSM_ACT_CLOSE: {
        if (t->action == SFSM_ACT_REJECT) {
            if (text_field(t->body, "reason", &text, resp) < 0)
                goto out;
            cJSON_AddStringToObject(details, "reason", text);
            cJSON_AddStringToObject(extra, "reason", text);
        }
        if (t->action == SFSM_ACT_CLOSE)
            cJSON_AddStringToObject(extra, "closed_by", "supervisor");
        const char *params[4] = {t->id, sfsm_state_name(to), t->now, text};
        if (db_run(conn,
                   "UPDATE suggestions SET state = $2, version = version + 1, "
                   "accepted_at = CASE WHEN $2 = 'accepted' THEN $3::timestamptz ELSE accepted_at "
                   "END, rejected_at = CASE WHEN $2 = 'rejected' THEN $3::timestamptz END, "
                   "reject_reason = CASE WHEN $2 = 'rejected' THEN $4 END, "
                   "closed_at = CASE WHEN $2 = 'closed' THEN $3::timestamptz ELSE closed_at END, "
                   "closed_by = CASE WHEN $2 = 'closed' THEN 'supervisor' ELSE closed_by END "
                   "WHERE id = $1::uuid",
                   4, params, &err) < 0) {
            service_db_problem(resp, &err);
            goto out;
        }
        break;
    }
    case SFSM_ACT_ASSIGN:
    case SFSM_ACT_REOPEN:
        if (do_assign(conn, t, resp, details, extra) < 0)
            goto out;
        break;
    case SFSM_ACT_PROGRESS:
    case SFSM_ACT_RESOLVE: {
        const char *field = t->action == SFSM_ACT_PROGRESS ? "note" : "answer";
        if (text_field(t->body, field, &text, resp) < 0)
            goto out;
        cJSON_AddStringToObject(details, field, text);
        sfsm_state overall;
        if (do_part(conn, t, mine, to, text, resp, &overall) < 0)
            goto out;
        side = mine->side;
        cJSON_AddStringToObject(extra, "side", mine->side);
        cJSON_AddStringToObject(extra, "unit_id", mine->unit);
        cJSON_AddStringToObject(extra, "part_state", sfsm_state_name(to));
        if (t->action == SFSM_ACT_RESOLVE && overall != SFSM_RESOLVED)
            event = "suggestion.progressed"; /* one side answered; the other has not yet */
        to = overall;
        break;
    }
    case SFSM_ACT_FEEDBACK: {
        const cJSON *sat = cJSON_GetObjectItemCaseSensitive(t->body, "satisfied");
        if (!cJSON_IsBool(sat)) {
            http_problem(resp, 422, "validation", "Missing verdict", "/satisfied",
                         "satisfied is true or false");
            goto out;
        }
        if (text_field(t->body, "comment", &text, resp) < 0)
            goto out;
        cJSON_AddBoolToObject(details, "satisfied", cJSON_IsTrue(sat));
        cJSON_AddStringToObject(details, "comment", text);
        cJSON_AddBoolToObject(extra, "satisfied", cJSON_IsTrue(sat));
        cJSON_AddStringToObject(extra, "closed_by", "feedback");
        const char *params[4] = {t->id, cJSON_IsTrue(sat) ? "t" : "f", text, t->now};
        if (db_run(conn,
                   "UPDATE suggestions SET state = 'closed', satisfied = $2::boolean, "
                   "feedback_comment = $3, closed_at = $4::timestamptz, closed_by = 'feedback', "
                   "version = version + 1 WHERE id = $1::uuid",
                   4, params, &err) < 0) {
            service_db_problem(resp, &err);
            goto out;
        }
        break;
    }
    default:
        http_problem(resp, 422, "validation", "Unknown action", "/action", "unknown action");
        goto out;
    }
    if (history(conn, t, req, sfsm_state_name(from), sfsm_state_name(to), side, details, &err) <
            0 ||
        suggestion_publish(conn, event, t->id, extra, &err) < 0) {
        service_db_problem(resp, &err);
        goto out;
    }
    const char *params[1] = {t->id};
    PGresult *res = db_exec(conn,
                            "SELECT suggestion_json(s)::text FROM suggestions s "
                            "WHERE s.id = $1::uuid",
                            1, params, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        goto out;
    }
    http_reply_raw(resp, 200, "application/json", PQgetvalue(res, 0, 0),
                   strlen(PQgetvalue(res, 0, 0)));
    PQclear(res);
    log_info("proposal %s: %s by %s, now %s", t->id, sfsm_action_name(t->action),
             auth_role_name(req->auth.role), sfsm_state_name(to));
    rc = 0;
out:
    cJSON_Delete(details);
    cJSON_Delete(extra);
    return rc;
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

/* suggestion_step - a transition inside the caller's transaction */
int suggestion_step(PGconn *conn, http_req *req, http_resp *resp, suggestion_state *st,
                    const char *id, const cJSON *body, int64_t at_ms)
{
    transition t = {.st = st, .id = id};
    if (prepare(&t, body, at_ms, resp) < 0)
        return -1;
    return transition_step(conn, req, resp, &t);
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
        service_create(sctx, req, resp, transition_step, &t);
    cJSON_Delete(body);
}
