/*
 * suggestion_supervisor.c - the supervisor: the loop that keeps the county's
 * promise that every proposal is tracked to its end.
 *
 * One pass, at an instant "now" (the service clock, SUGGESTION_NOW when
 * set, so tests and drills can move time):
 *   1. overdue: a part not resolved whose due date is before today in
 *      Asia/Shanghai is marked overdue, at level village, and
 *      suggestion.overdue is published;
 *   2. escalation: a part still unresolved escalates to town after
 *      SUGGESTION_ESCALATE_TOWN_WORKDAYS working days at village level,
 *      then to county after SUGGESTION_ESCALATE_COUNTY_WORKDAYS more
 *      (suggestion.escalated, with the level and its region codes);
 *   3. auto-close: a proposal resolved SUGGESTION_AUTO_CLOSE_DAYS days ago
 *      without feedback is closed by the system (suggestion.closed).
 * Each step is one UPDATE ... WHERE <not yet done> RETURNING in its own
 * transaction, with the history rows and the events in the same
 * transaction. Every instance of the service runs the pass; two passes at
 * once are serialised by the rows' locks and PostgreSQL re-checks the
 * condition of a row another pass changed, so each row changes and each
 * event is published exactly once.
 */
#include "suggestion.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/timeutil.h"

/* The region codes of a part's level: its side's villages cut to town or county. */
#define LEVEL_CODES                                                                                \
    "ARRAY(SELECT DISTINCT CASE lvl WHEN 'village' THEN c WHEN 'town' THEN left(c, 9) || "         \
    "'000' ELSE left(c, 6) || '000000' END FROM unnest(s.village_codes) c "                        \
    "WHERE (left(c, 2) = '33') = (p.side = 'zhejiang') ORDER BY 1)"

/* publish_rows - history and an event for each returned row (id, side, unit, due, level, codes) */
static int publish_rows(PGconn *conn, PGresult *res, const char *type, const char *action,
                        const char *now, db_err *err)
{
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        cJSON *extra = cJSON_CreateObject();
        if (!PQgetisnull(res, i, 1)) {
            cJSON_AddStringToObject(extra, "side", PQgetvalue(res, i, 1));
            cJSON_AddStringToObject(extra, "unit_id", PQgetvalue(res, i, 2));
            cJSON_AddStringToObject(extra, "due_date", PQgetvalue(res, i, 3));
            cJSON_AddStringToObject(extra, "level", PQgetvalue(res, i, 4));
            cJSON_AddItemToObject(extra, "region_codes", cJSON_Parse(PQgetvalue(res, i, 5)));
        } else {
            cJSON_AddStringToObject(extra, "closed_by", "auto");
        }
        char *details = cJSON_PrintUnformatted(extra);
        const char *params[6] = {id, action, PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1),
                                 now, details ? details : "{}"};
        PGresult *h = db_exec(conn,
                              "INSERT INTO history (suggestion_id, action, from_state, to_state, "
                              "side, actor_role, actor_id, at, details) "
                              "SELECT id, $2, CASE WHEN $2 = 'close' THEN 'resolved' ELSE state "
                              "END, state, $3, 'system', 'supervisor', $4::timestamptz, "
                              "$5::jsonb FROM suggestions WHERE id = $1::uuid",
                              5, params, err);
        cJSON_free(details);
        int rc = h ? suggestion_publish(conn, type, id, extra, err) : -1;
        PQclear(h);
        cJSON_Delete(extra);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* step - one UPDATE ... RETURNING and its history and events, in one transaction */
static long step(service_ctx *ctx, const char *sql, int n, const char *const *params,
                 const char *type, const char *action, const char *now)
{
    db_err err;
    PGconn *conn = service_tx_begin(ctx, NULL);
    if (conn == NULL)
        return -1;
    PGresult *res = db_exec(conn, sql, n, params, &err);
    long count = res ? PQntuples(res) : -1;
    if (res == NULL || publish_rows(conn, res, type, action, now, &err) < 0) {
        log_error("supervisor: %s: %s", action, err.msg);
        PQclear(res);
        service_tx_end(ctx, conn, 0, NULL);
        return -1;
    }
    PQclear(res);
    if (service_tx_end(ctx, conn, 1, NULL) < 0)
        return -1;
    return count;
}

/* suggestion_supervise_once - overdue, escalation, auto-close at now_ms */
int suggestion_supervise_once(service_ctx *ctx, int64_t now_ms, long counts[3])
{
    suggestion_state *st = ctx->state;
    char now[40], today[11], town_cutoff[11], county_cutoff[11], close_days[16];
    time_rfc3339(now_ms, now, sizeof(now));
    time_shanghai_date(now_ms, today);
    snprintf(close_days, sizeof(close_days), "%d", st->auto_close_days);
    counts[0] = counts[1] = counts[2] = 0;
    int rc = 0;

    const char *p1[2] = {now, today};
    counts[0] = step(ctx,
                     "WITH lv AS (SELECT 'village'::text AS lvl) "
                     "UPDATE parts p SET overdue_at = $1::timestamptz, escalation_level = "
                     "'village', escalated_at = $1::timestamptz FROM suggestions s, lv "
                     "WHERE s.id = p.suggestion_id AND s.state IN ('assigned', 'in_progress') "
                     "AND p.state <> 'resolved' AND p.overdue_at IS NULL "
                     "AND p.due_date < $2::date "
                     "RETURNING p.suggestion_id, p.side, p.unit_id, p.due_date, lvl, "
                     "to_jsonb(" LEVEL_CODES ")::text",
                     2, p1, "suggestion.overdue", "overdue", now);
    if (counts[0] < 0)
        rc = -1;

    static const struct {
        const char *from, *to;
    } levels[2] = {{"village", "town"}, {"town", "county"}};
    for (int i = 0; i < 2; i++) {
        int grace = i == 0 ? st->escalate_town_workdays : st->escalate_county_workdays;
        char *cutoff = i == 0 ? town_cutoff : county_cutoff;
        if (suggestion_workdays_before(st->cal, today, grace, cutoff) < 0) {
            rc = -1;
            continue;
        }
        const char *p2[4] = {now, cutoff, levels[i].from, levels[i].to};
        long n = step(ctx,
                      "WITH lv AS (SELECT $4::text AS lvl) "
                      "UPDATE parts p SET escalation_level = $4, escalated_at = $1::timestamptz "
                      "FROM suggestions s, lv WHERE s.id = p.suggestion_id "
                      "AND s.state IN ('assigned', 'in_progress') AND p.state <> 'resolved' "
                      "AND p.escalation_level = $3 AND local_day(p.escalated_at) <= $2::date "
                      "RETURNING p.suggestion_id, p.side, p.unit_id, p.due_date, lvl, "
                      "to_jsonb(" LEVEL_CODES ")::text",
                      4, p2, "suggestion.escalated", "escalate", now);
        if (n < 0)
            rc = -1;
        else
            counts[1] += n;
    }

    const char *p3[2] = {now, close_days};
    counts[2] = step(ctx,
                     "UPDATE suggestions SET state = 'closed', closed_at = $1::timestamptz, "
                     "closed_by = 'auto', version = version + 1 WHERE state = 'resolved' "
                     "AND resolved_at <= $1::timestamptz - make_interval(days => $2::int) "
                     "RETURNING id, NULL, NULL, NULL, NULL, NULL",
                     2, p3, "suggestion.closed", "close", now);
    if (counts[2] < 0)
        rc = -1;
    if (counts[0] > 0 || counts[1] > 0 || counts[2] > 0)
        log_info("supervisor: %ld overdue, %ld escalated, %ld closed automatically", counts[0],
                 counts[1], counts[2]);
    return rc;
}

/* supervisor_main - a pass every interval until told to stop */
static void *supervisor_main(void *arg)
{
    service_ctx *ctx = arg;
    suggestion_state *st = ctx->state;
    pthread_mutex_lock(&st->mu);
    while (!st->stopping) {
        pthread_mutex_unlock(&st->mu);
        long counts[3];
        suggestion_supervise_once(ctx, suggestion_now_ms(st), counts);
        pthread_mutex_lock(&st->mu);
        struct timespec until;
        time_deadline(&until, st->supervise_interval_ms);
        while (!st->stopping && pthread_cond_timedwait(&st->cv, &st->mu, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* suggestion_supervisor_start - the thread */
int suggestion_supervisor_start(service_ctx *ctx, char *err, size_t errlen)
{
    suggestion_state *st = ctx->state;
    st->stopping = 0;
    if (pthread_create(&st->thread, NULL, supervisor_main, ctx) != 0) {
        snprintf(err, errlen, "cannot start the supervisor thread");
        return -1;
    }
    st->thread_started = 1;
    return 0;
}

/* suggestion_supervisor_stop - wake and join the thread (a pass in flight finishes) */
void suggestion_supervisor_stop(service_ctx *ctx)
{
    suggestion_state *st = ctx->state;
    if (st == NULL || !st->thread_started)
        return;
    pthread_mutex_lock(&st->mu);
    st->stopping = 1;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    st->thread_started = 0;
}

/* suggestion_supervise_command - one pass at the service clock; the counts as one JSON line */
int suggestion_supervise_command(service_ctx *ctx)
{
    long counts[3];
    int rc = suggestion_supervise_once(ctx, suggestion_now_ms(ctx->state), counts);
    printf("{\"overdue\": %ld, \"escalated\": %ld, \"closed\": %ld}\n", counts[0], counts[1],
           counts[2]);
    return rc == 0 ? 0 : 1;
}
