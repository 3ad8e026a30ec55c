/*
 * income_readmodel.c - what the income service knows of regions, projects,
 * households and enrollments, learned from regions.v1, projects.v1 and
 * households.v1 inside the consumer loop's transaction (core/kafka.h), so
 * a redelivered event changes nothing.
 *
 * Trusts the envelope only after the loop checked it; an event without the
 * fields needed is dead-lettered with the reason. Older versions of a
 * project or household never overwrite newer ones. The household's phone
 * and head name are kept so that income events can tell the notifier whom
 * to tell; they are never logged.
 */
#include "income.h"

#include <stdio.h>
#include <string.h>

/* str - a string member of obj, or NULL */
static const char *str(const cJSON *obj, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

/* num - an integral member of obj as text in buf, or NULL when absent or null */
static const char *num(const cJSON *obj, const char *name, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v))
        return NULL;
    snprintf(buf, len, "%.0f", v->valuedouble);
    return buf;
}

/* run - one statement of the read model; RETRY on a database failure, PERMANENT on bad data */
static kafka_apply_result run(PGconn *conn, const char *sql, int n, const char *const *params,
                              char *err, size_t errlen)
{
    db_err dberr;
    PGresult *res = db_exec(conn, sql, n, params, &dberr);
    if (res == NULL) {
        snprintf(err, errlen, "%s", dberr.msg);
        return strncmp(dberr.sqlstate, "22", 2) == 0 || strncmp(dberr.sqlstate, "23", 2) == 0
                   ? KAFKA_APPLY_PERMANENT
                   : KAFKA_APPLY_RETRY;
    }
    PQclear(res);
    return KAFKA_APPLY_OK;
}

/* text_array - a JSON array of strings as a PostgreSQL array literal; -1 when malformed */
static int text_array(const cJSON *arr, char *out, size_t len)
{
    size_t used = (size_t)snprintf(out, len, "{");
    const cJSON *v;
    int first = 1;
    if (!cJSON_IsArray(arr))
        return -1;
    cJSON_ArrayForEach(v, arr)
    {
        const char *s = cJSON_GetStringValue(v);
        if (s == NULL || strlen(s) > 64 || strpbrk(s, "{},\"\\ ") != NULL || used + 70 >= len)
            return -1;
        used += (size_t)snprintf(out + used, len - used, "%s%s", first ? "" : ",", s);
        first = 0;
    }
    snprintf(out + used, len - used, "}");
    return 0;
}

/* apply_region - any level: the views name towns, counties and sides too */
static kafka_apply_result apply_region(PGconn *conn, const cJSON *data, char *err, size_t errlen)
{
    const char *p[5] = {str(data, "code"), str(data, "name"), str(data, "level"),
                        str(data, "parent"), str(data, "side")};
    if (!p[0] || !p[1] || !p[2] || !p[4]) {
        snprintf(err, errlen, "region.upserted without code, name, level or side");
        return KAFKA_APPLY_PERMANENT;
    }
    return run(conn,
               "INSERT INTO regions (code, name, level, parent, side) VALUES ($1, $2, $3, $4, $5) "
               "ON CONFLICT (code) DO UPDATE SET name = $2, level = $3, parent = $4, side = $5, "
               "updated_at = now()",
               5, p, err, errlen);
}

/* apply_project - the project's current state, unless a newer one is known */
static kafka_apply_result apply_project(PGconn *conn, const cJSON *ev, const cJSON *data, char *err,
                                        size_t errlen)
{
    char villages[1024], notables[2048], ver[24];
    const char *id = str(data, "id"), *name = str(data, "name"), *status = str(data, "status");
    const char *time = str(ev, "time");
    if (!id || !name || !status || !num(data, "version", ver, sizeof(ver)) ||
        text_array(cJSON_GetObjectItemCaseSensitive(data, "village_codes"), villages,
                   sizeof(villages)) < 0 ||
        text_array(cJSON_GetObjectItemCaseSensitive(data, "notable_ids"), notables,
                   sizeof(notables)) < 0) {
        snprintf(err, errlen,
                 "project event without id, name, status, version, village_codes or notable_ids");
        return KAFKA_APPLY_PERMANENT;
    }
    char closed[11] = "";
    if (strcmp(status, "closed") == 0 && time && strlen(time) >= 10)
        snprintf(closed, sizeof(closed), "%.10s", time);
    const char *p[8] = {
        id, name, status, villages, notables, str(data, "start_date"), closed[0] ? closed : NULL,
        ver};
    return run(
        conn,
        "INSERT INTO projects (id, name, status, village_codes, notable_ids, start_date, "
        "closed_on, version) VALUES ($1::uuid, $2, $3, $4::text[], $5::text[], $6::date, "
        "$7::date, $8::int) "
        "ON CONFLICT (id) DO UPDATE SET name = $2, status = $3, village_codes = $4::text[], "
        "notable_ids = $5::text[], start_date = $6::date, "
        "closed_on = coalesce($7::date, CASE WHEN $3 = 'closed' THEN projects.closed_on END), "
        "version = $8::int, updated_at = now() WHERE projects.version <= $8::int",
        8, p, err, errlen);
}

/* apply_household - a household registered or updated */
static kafka_apply_result apply_household(PGconn *conn, const cJSON *data, char *err, size_t errlen)
{
    char members[24], baseline[24], ver[24];
    const cJSON *low = cJSON_GetObjectItemCaseSensitive(data, "low_income");
    const cJSON *cert = cJSON_GetObjectItemCaseSensitive(low, "certified");
    const char *p[8] = {str(data, "id"),
                        str(data, "head_name"),
                        str(data, "phone"),
                        str(data, "village_code"),
                        num(data, "members_count", members, sizeof(members)),
                        cJSON_IsTrue(cert) ? "true" : "false",
                        num(low, "baseline_per_capita_fen", baseline, sizeof(baseline)),
                        num(data, "version", ver, sizeof(ver))};
    if (!p[0] || !p[1] || !p[2] || !p[3] || !p[4] || !cJSON_IsBool(cert) || !p[7]) {
        snprintf(err, errlen,
                 "household event without id, head_name, phone, village_code, "
                 "members_count, low_income.certified or version");
        return KAFKA_APPLY_PERMANENT;
    }
    return run(conn,
               "INSERT INTO households (id, head_name, phone, village_code, members_count, "
               "low_income, baseline_per_capita_fen, version) VALUES ($1::uuid, $2, $3, $4, "
               "$5::int, $6::boolean, $7::bigint, $8::int) "
               "ON CONFLICT (id) DO UPDATE SET head_name = $2, phone = $3, village_code = $4, "
               "members_count = $5::int, low_income = $6::boolean, "
               "baseline_per_capita_fen = $7::bigint, version = $8::int, updated_at = now() "
               "WHERE households.version <= $8::int",
               8, p, err, errlen);
}

/* apply_enrollment - an enrollment started or ended: its current state */
static kafka_apply_result apply_enrollment(PGconn *conn, const cJSON *data, char *err,
                                           size_t errlen)
{
    char area[24];
    const char *p[8] = {str(data, "id"),           str(data, "household_id"),
                        str(data, "project_id"),   str(data, "kind"),
                        str(data, "village_code"), num(data, "area_mu_x100", area, sizeof(area)),
                        str(data, "start_date"),   str(data, "end_date")};
    if (!p[0] || !p[1] || !p[2] || !p[3] || !p[4] || !p[6]) {
        snprintf(err, errlen,
                 "enrollment event without id, household_id, project_id, kind, "
                 "village_code or start_date");
        return KAFKA_APPLY_PERMANENT;
    }
    /* An end is final: a late-arriving start never reopens it. */
    return run(conn,
               "INSERT INTO enrollments (id, household_id, project_id, kind, village_code, "
               "area_mu_x100, start_date, end_date) VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, "
               "$6::int, $7::date, $8::date) "
               "ON CONFLICT (id) DO UPDATE SET end_date = coalesce(enrollments.end_date, $8::date)",
               8, p, err, errlen);
}

/* income_apply - dispatch by event type; other types are ignored */
kafka_apply_result income_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err, size_t errlen)
{
    (void)ctx;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
    if (type == NULL || !cJSON_IsObject(data)) {
        snprintf(err, errlen, "event without type or data object");
        return KAFKA_APPLY_PERMANENT;
    }
    if (strcmp(type, "region.upserted") == 0)
        return apply_region(conn, data, err, errlen);
    if (strncmp(type, "project.", 8) == 0)
        return apply_project(conn, ev, data, err, errlen);
    if (strcmp(type, "household.registered") == 0 || strcmp(type, "household.updated") == 0)
        return apply_household(conn, data, err, errlen);
    if (strncmp(type, "enrollment.", 11) == 0)
        return apply_enrollment(conn, data, err, errlen);
    return KAFKA_APPLY_OK;
}
