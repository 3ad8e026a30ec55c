/*
 * accounts_readmodel.c - what the accounts service knows of the others,
 * learned from events inside the consumer loop's transaction (so a
 * redelivered event changes nothing): every region (regions.v1), every
 * notable (notables.v1), every handling unit (unit.registered on
 * suggestions.v1). A grant may name only what is known here.
 */
#include "accounts.h"

#include <stdio.h>
#include <string.h>

#include "core/readmodel.h"

/* apply_notable - a notable's id, name and home village */
static kafka_apply_result apply_notable(PGconn *conn, const cJSON *data, char *err, size_t errlen)
{
    const char *id = rm_str(data, "id"), *name = rm_str(data, "name");
    if (!id || !name) {
        snprintf(err, errlen, "notable event without id or name");
        return KAFKA_APPLY_PERMANENT;
    }
    const char *p[3] = {id, name, rm_str(data, "home_village")};
    return rm_run(conn,
                  "INSERT INTO notables (id, name, home_village) VALUES ($1, $2, $3) ON CONFLICT "
                  "(id) DO UPDATE SET name = $2, home_village = $3, updated_at = now()",
                  3, p, err, errlen);
}

/* apply_unit - a handling unit's id, name and region */
static kafka_apply_result apply_unit(PGconn *conn, const cJSON *data, char *err, size_t errlen)
{
    const char *id = rm_str(data, "id"), *name = rm_str(data, "name");
    if (!id || !name) {
        snprintf(err, errlen, "unit.registered without id or name");
        return KAFKA_APPLY_PERMANENT;
    }
    const char *p[3] = {id, name, rm_str(data, "region_code")};
    return rm_run(conn,
                  "INSERT INTO units (id, name, region_code) VALUES ($1, $2, $3) ON CONFLICT (id) "
                  "DO UPDATE SET name = $2, region_code = $3, updated_at = now()",
                  3, p, err, errlen);
}

/* accounts_consumes - the events accounts_apply reads (its read model) */
const catalogue_event *const accounts_consumes[] = {&cat_region_upserted, &cat_notable_registered,
                                                    &cat_unit_registered, NULL};

/* accounts_apply - dispatch by event type; the other types are not needed here */
kafka_apply_result accounts_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                  size_t errlen)
{
    (void)ctx;
    const char *type = rm_str(ev, "type");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
    if (strcmp(type, "region.upserted") == 0)
        return rm_apply_region(conn, data, err, errlen);
    if (strncmp(type, "notable.", 8) == 0)
        return apply_notable(conn, data, err, errlen);
    if (strcmp(type, "unit.registered") == 0)
        return apply_unit(conn, data, err, errlen);
    return KAFKA_APPLY_OK;
}
