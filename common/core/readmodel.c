/*
 * readmodel.c - shared pieces of the services' read models; see readmodel.h.
 */
#include "core/readmodel.h"

#include <stdio.h>
#include <string.h>

#include "core/db.h"

/* rm_str - a string member of obj, or NULL */
const char *rm_str(const cJSON *obj, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

/* rm_num - an integral member of obj as text in buf, or NULL when absent or null */
const char *rm_num(const cJSON *obj, const char *name, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v))
        return NULL;
    snprintf(buf, len, "%.0f", v->valuedouble);
    return buf;
}

/*
 * rm_text_array - a JSON array of strings as a PostgreSQL array literal; -1
 * when malformed or when out (len bytes) cannot hold the whole literal
 */
int rm_text_array(const cJSON *arr, char *out, size_t len)
{
    if (!cJSON_IsArray(arr) || len < 3)
        return -1;
    size_t used = (size_t)snprintf(out, len, "{");
    const cJSON *v;
    int first = 1;
    cJSON_ArrayForEach(v, arr)
    {
        const char *s = cJSON_GetStringValue(v);
        /* room for the separator, the string, the closing brace and the NUL */
        if (s == NULL || strlen(s) > 64 || strpbrk(s, "{},\"\\ ") != NULL ||
            used + (first ? 0 : 1) + strlen(s) + 2 > len)
            return -1;
        used += (size_t)snprintf(out + used, len - used, "%s%s", first ? "" : ",", s);
        first = 0;
    }
    snprintf(out + used, len - used, "}");
    return 0;
}

/* rm_run - one statement; RETRY on a database failure, PERMANENT on bad data */
kafka_apply_result rm_run(PGconn *conn, const char *sql, int n, const char *const *params,
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

/* rm_apply_region - any level: views name towns, counties and sides too */
kafka_apply_result rm_apply_region(PGconn *conn, const cJSON *data, char *err, size_t errlen)
{
    const char *p[5] = {rm_str(data, "code"), rm_str(data, "name"), rm_str(data, "level"),
                        rm_str(data, "parent"), rm_str(data, "side")};
    if (!p[0] || !p[1] || !p[2] || !p[4]) {
        snprintf(err, errlen, "region.upserted without code, name, level or side");
        return KAFKA_APPLY_PERMANENT;
    }
    return rm_run(conn,
                  "INSERT INTO regions (code, name, level, parent, side) VALUES ($1, $2, $3, $4, "
                  "$5) ON CONFLICT (code) DO UPDATE SET name = $2, level = $3, parent = $4, "
                  "side = $5, updated_at = now()",
                  5, p, err, errlen);
}
