/*
 * readmodel.h - the small pieces every consumer of another service's
 * events uses to keep its read model: field access on an event's data,
 * one statement run with the loop's verdict, and the regions table that
 * several services keep in the same shape.
 *
 * The consumer loop (core/kafka.h) runs these inside its transaction, so a
 * redelivered event changes nothing. A failed statement answers RETRY
 * unless the database called the data itself bad (SQLSTATE classes 22 and
 * 23), which can never apply: PERMANENT, dead-lettered with the reason.
 */
#ifndef SHANTANG_CORE_READMODEL_H
#define SHANTANG_CORE_READMODEL_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include "core/kafka.h"

/* rm_str - a string member of obj, or NULL */
const char *rm_str(const cJSON *obj, const char *name);

/* rm_num - an integral number member of obj as decimal text in buf, or NULL when absent */
const char *rm_num(const cJSON *obj, const char *name, char *buf, size_t len);

/*
 * rm_text_array - a JSON array of short strings (no quotes, braces, commas,
 * backslashes or spaces; at most 64 bytes each) as a PostgreSQL array
 * literal in out. Returns 0, or -1 when malformed or too long for len.
 */
int rm_text_array(const cJSON *arr, char *out, size_t len);

/* rm_run - one statement of the read model: OK, RETRY, or PERMANENT on bad data (err filled) */
kafka_apply_result rm_run(PGconn *conn, const char *sql, int n, const char *const *params,
                          char *err, size_t errlen);

/*
 * rm_apply_region - region.upserted into the service's table
 * regions(code, name, level, parent, side, updated_at), every level.
 */
kafka_apply_result rm_apply_region(PGconn *conn, const cJSON *data, char *err, size_t errlen);

#endif
