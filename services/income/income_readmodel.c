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

#include "core/readmodel.h"

/* apply_project - the project's current state, unless a newer one is known */
static kafka_apply_result apply_project(PGconn *conn, const cJSON *ev, const cJSON *data, char *err,
                                        size_t errlen)
{
    char villages[1024], notables[2048], ver[24];
    const char *id = rm_str(data, "id"), *name = rm_str(data, "name"),
               *status = rm_str(data, "status");
    const char *time = rm_str(ev, "time");
    if (!id || !name || !status || !rm_num(data, "version", ver, sizeof(ver)) ||
        rm_text_array(cJSON_GetObjectItemCaseSensitive(data, "village_codes"), villages,
                      sizeof(villages)) < 0 ||
        rm_text_array(cJSON_GetObjectItemCaseSensitive(data, "notable_ids"), notables,
                      sizeof(notables)) < 0) {
        snprintf(err, errlen,
                 "project event without id, name, status, version, village_codes or notable_ids");
        return KAFKA_APPLY_PERMANENT;
    }
    char closed[11] = "";
    if (strcmp(status, "closed") == 0 && time && strlen(time) >= 10)
        snprintf(closed, sizeof(closed), "%.10s", time);
    const char *p[8] = {
        id, name, status, villages, notables, rm_str(data, "start_date"), closed[0] ? closed : NULL,
        ver};
    return rm_run(
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
    const char *p[8] = {rm_str(data, "id"),
                        rm_str(data, "head_name"),
                        rm_str(data, "phone"),
                        rm_str(data, "village_code"),
                        rm_num(data, "members_count", members, sizeof(members)),
                        cJSON_IsTrue(cert) ? "true" : "false",
                        rm_num(low, "baseline_per_capita_fen", baseline, sizeof(baseline)),
                        rm_num(data, "version", ver, sizeof(ver))};
    if (!p[0] || !p[1] || !p[2] || !p[3] || !p[4] || !cJSON_IsBool(cert) || !p[7]) {
        snprintf(err, errlen,
                 "household event without id, head_name, phone, village_code, "
                 "members_count, low_income.certified or version");
        return KAFKA_APPLY_PERMANENT;
    }
    return rm_run(conn,
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
    const char *p[8] = {
        rm_str(data, "id"),           rm_str(data, "household_id"),
        rm_str(data, "project_id"),   rm_str(data, "kind"),
        rm_str(data, "village_code"), rm_num(data, "area_mu_x100", area, sizeof(area)),
        rm_str(data, "start_date"),   rm_str(data, "end_date")};
    if (!p[0] || !p[1] || !p[2] || !p[3] || !p[4] || !p[6]) {
        snprintf(err, errlen,
                 "enrollment event without id, household_id, project_id, kind, "
                 "village_code or start_date");
        return KAFKA_APPLY_PERMANENT;
    }
    /* An end is final: a late-arriving start never reopens it. */
    return rm_run(
        conn,
        "INSERT INTO enrollments (id, household_id, project_id, kind, village_code, "
        "area_mu_x100, start_date, end_date) VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, "
        "$6::int, $7::date, $8::date) "
        "ON CONFLICT (id) DO UPDATE SET end_date = coalesce(enrollments.end_date, $8::date)",
        8, p, err, errlen);
}

/* income_consumes - the events income_apply reads (its read model) */
const catalogue_event *const income_consumes[] = {
    &cat_region_upserted,        &cat_project_registered,   &cat_project_updated,
    &cat_project_status_changed, &cat_household_registered, &cat_household_updated,
    &cat_enrollment_started,     &cat_enrollment_ended,     NULL};

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
        return rm_apply_region(conn, data, err, errlen);
    if (strncmp(type, "project.", 8) == 0)
        return apply_project(conn, ev, data, err, errlen);
    if (strcmp(type, "household.registered") == 0 || strcmp(type, "household.updated") == 0)
        return apply_household(conn, data, err, errlen);
    if (strncmp(type, "enrollment.", 11) == 0)
        return apply_enrollment(conn, data, err, errlen);
    return KAFKA_APPLY_OK;
}
