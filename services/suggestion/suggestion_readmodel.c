/*
 * suggestion_readmodel.c - what the service knows of regions, projects and
 * notables, learned from regions.v1, projects.v1 and notables.v1 inside the
 * consumer loop's transaction (core/kafka.h, core/readmodel.h).
 *
 * A notable's phone is kept so that proposal events can tell the notifier
 * whom to tell; it is never logged and never in a public summary. Older
 * project versions never overwrite newer ones.
 */
#include "suggestion.h"

#include <stdio.h>
#include <string.h>

#include "core/readmodel.h"

/* apply_project - the project's current state, unless a newer one is known */
static kafka_apply_result apply_project(PGconn *conn, const cJSON *data, char *err, size_t errlen)
{
    char villages[1024], ver[24];
    const char *p[5] = {rm_str(data, "id"), rm_str(data, "name"), rm_str(data, "status"), villages,
                        rm_num(data, "version", ver, sizeof(ver))};
    if (!p[0] || !p[1] || !p[2] || !p[4] ||
        rm_text_array(cJSON_GetObjectItemCaseSensitive(data, "village_codes"), villages,
                      sizeof(villages)) < 0) {
        snprintf(err, errlen, "project event without id, name, status, village_codes or version");
        return KAFKA_APPLY_PERMANENT;
    }
    return rm_run(conn,
                  "INSERT INTO projects (id, name, status, village_codes, version) "
                  "VALUES ($1::uuid, $2, $3, $4::text[], $5::int) "
                  "ON CONFLICT (id) DO UPDATE SET name = $2, status = $3, "
                  "village_codes = $4::text[], version = $5::int, updated_at = now() "
                  "WHERE projects.version <= $5::int",
                  5, p, err, errlen);
}

/* apply_notable - a notable registered or updated: name and phone */
static kafka_apply_result apply_notable(PGconn *conn, const cJSON *data, char *err, size_t errlen)
{
    const char *p[3] = {rm_str(data, "id"), rm_str(data, "name"), rm_str(data, "phone")};
    if (!p[0] || !p[1]) {
        snprintf(err, errlen, "notable event without id or name");
        return KAFKA_APPLY_PERMANENT;
    }
    return rm_run(conn,
                  "INSERT INTO notables (id, name, phone) VALUES ($1::uuid, $2, $3) "
                  "ON CONFLICT (id) DO UPDATE SET name = $2, phone = $3, updated_at = now()",
                  3, p, err, errlen);
}

/* suggestion_consumes - the events suggestion_apply reads (its read model) */
const catalogue_event *const suggestion_consumes[] = {
    &cat_region_upserted,        &cat_project_registered, &cat_project_updated,
    &cat_project_status_changed, &cat_notable_registered, NULL};

/* suggestion_apply - dispatch by event type; other types are ignored */
kafka_apply_result suggestion_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                    size_t errlen)
{
    (void)ctx;
    const char *type = rm_str(ev, "type");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
    if (type == NULL || !cJSON_IsObject(data)) {
        snprintf(err, errlen, "event without type or data object");
        return KAFKA_APPLY_PERMANENT;
    }
    if (strcmp(type, "region.upserted") == 0)
        return rm_apply_region(conn, data, err, errlen);
    if (strncmp(type, "project.", 8) == 0)
        return apply_project(conn, data, err, errlen);
    if (strncmp(type, "notable.", 8) == 0)
        return apply_notable(conn, data, err, errlen);
    return KAFKA_APPLY_OK;
}
