/*
 * enrollment_readmodel.c - what the service knows of villages and projects,
 * learned from regions.v1 and projects.v1 inside the consumer loop's
 * transaction (core/kafka.h), so a redelivered event changes nothing.
 *
 * Trusts the envelope only after the loop checked it; a project or region
 * event without the fields needed is dead-lettered with the reason. Older
 * project versions never overwrite newer ones.
 */
#include "enrollment.h"

#include <stdio.h>
#include <string.h>

#include "core/readmodel.h"

/* apply_region - a village upserted; other levels are not needed here */
static kafka_apply_result apply_region(PGconn *conn, const cJSON *data, char *err, size_t errlen)
{
    const char *code = rm_str(data, "code"), *name = rm_str(data, "name"),
               *level = rm_str(data, "level");
    const char *side = rm_str(data, "side"), *parent = rm_str(data, "parent");
    if (!code || !name || !level || !side) {
        snprintf(err, errlen, "region.upserted without code, name, level or side");
        return KAFKA_APPLY_PERMANENT;
    }
    if (strcmp(level, "village") != 0)
        return KAFKA_APPLY_OK;
    const char *params[4] = {code, name, parent, side};
    db_err dberr;
    PGresult *res = db_exec(conn,
                            "INSERT INTO villages (code, name, town, side) VALUES ($1, $2, $3, $4) "
                            "ON CONFLICT (code) DO UPDATE SET name = $2, town = $3, side = $4, "
                            "updated_at = now()",
                            4, params, &dberr);
    if (res == NULL) {
        snprintf(err, errlen, "%s", dberr.msg);
        return KAFKA_APPLY_RETRY;
    }
    PQclear(res);
    return KAFKA_APPLY_OK;
}

/* apply_project - the project's current state, unless a newer one is already known */
static kafka_apply_result apply_project(PGconn *conn, const cJSON *data, char *err, size_t errlen)
{
    const char *id = rm_str(data, "id"), *name = rm_str(data, "name"),
               *status = rm_str(data, "status");
    const cJSON *villages = cJSON_GetObjectItemCaseSensitive(data, "village_codes");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(data, "version");
    if (!id || !name || !status || !cJSON_IsArray(villages) || !cJSON_IsNumber(version)) {
        snprintf(err, errlen, "project event without id, name, status, village_codes or version");
        return KAFKA_APPLY_PERMANENT;
    }
    char codes[1024], ver[16];
    size_t used = (size_t)snprintf(codes, sizeof(codes), "{");
    const cJSON *v;
    int first = 1;
    cJSON_ArrayForEach(v, villages)
    {
        const char *code = cJSON_GetStringValue(v);
        if (code == NULL || strlen(code) != 12 || strspn(code, "0123456789") != 12 ||
            used + 16 >= sizeof(codes)) {
            snprintf(err, errlen, "project %s has a malformed village code", id);
            return KAFKA_APPLY_PERMANENT;
        }
        used +=
            (size_t)snprintf(codes + used, sizeof(codes) - used, "%s%s", first ? "" : ",", code);
        first = 0;
    }
    snprintf(codes + used, sizeof(codes) - used, "}");
    snprintf(ver, sizeof(ver), "%d", version->valueint);
    const char *params[5] = {id, name, status, codes, ver};
    db_err dberr;
    PGresult *res = db_exec(conn,
                            "INSERT INTO projects (id, name, status, village_codes, version) "
                            "VALUES ($1::uuid, $2, $3, $4::text[], $5::int) "
                            "ON CONFLICT (id) DO UPDATE SET name = $2, status = $3, "
                            "village_codes = $4::text[], version = $5::int, updated_at = now() "
                            "WHERE projects.version <= $5::int",
                            5, params, &dberr);
    if (res == NULL) {
        snprintf(err, errlen, "%s", dberr.msg);
        return strncmp(dberr.sqlstate, "22", 2) == 0 ? KAFKA_APPLY_PERMANENT : KAFKA_APPLY_RETRY;
    }
    PQclear(res);
    return KAFKA_APPLY_OK;
}

/* enrollment_consumes - the events enrollment_apply reads (its read model) */
const catalogue_event *const enrollment_consumes[] = {&cat_region_upserted, &cat_project_registered,
                                                      &cat_project_updated,
                                                      &cat_project_status_changed, NULL};

/* enrollment_apply - dispatch by event type; other types are ignored */
kafka_apply_result enrollment_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                    size_t errlen)
{
    (void)ctx;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
    if (strcmp(type, "region.upserted") == 0)
        return apply_region(conn, data, err, errlen);
    if (strncmp(type, "project.", 8) == 0)
        return apply_project(conn, data, err, errlen);
    return KAFKA_APPLY_OK;
}
