/*
 * registry_regions.c - region reference data: the importer for the national
 * statistical code list format, the village check other handlers use, and
 * the read API (/v1/regions).
 *
 * A new or changed region is published as region.upserted on regions.v1 so
 * that other services learn the villages from events, never from this
 * schema; re-importing an unchanged list publishes nothing.
 * Trusts: nothing in an imported file; every row is checked (12-digit code,
 * known level, parent present before its children) and the whole import is
 * one transaction. Reads REGISTRY_REGIONS_FILE at start-up (main.c).
 */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/outbox.h"
#include "core/page.h"
#include "core/service.h"
#include "util/csv.h"

#define REGION_LINE_MAX 1024

/* region_publish - region.upserted with the region's JSON on regions.v1, in the caller's tx */
static int region_publish(PGconn *conn, const char *code, const char *json, db_err *err)
{
    cJSON *ev = event_new("registry", "region.upserted", code, cJSON_Parse(json));
    int rc = ev ? outbox_add(conn, REGISTRY_TOPIC_REGIONS, code, ev, err) : -1;
    if (ev == NULL)
        snprintf(err->msg, sizeof(err->msg), "out of memory");
    cJSON_Delete(ev);
    return rc;
}

/* registry_regions_import - upsert every row of a region list; -1 and err on the first bad line */
long registry_regions_import(PGconn *conn, FILE *in, char *err, size_t errlen)
{
    static const char *sql =
        "INSERT INTO regions (code, name, level, parent, side, official) "
        "VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6::boolean) "
        "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, level = EXCLUDED.level, "
        "parent = EXCLUDED.parent, side = EXCLUDED.side, official = EXCLUDED.official "
        "WHERE (regions.name, regions.level, regions.parent, regions.side, regions.official) "
        "IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.level, EXCLUDED.parent, EXCLUDED.side, "
        "EXCLUDED.official) RETURNING region_json(regions)::text";
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, next_line = 1, spanned = 0, rows = 0;
    ssize_t len;
    int rc = -1;

    while ((len = csv_read_record(in, &line, &cap, &spanned)) >= 0) {
        lineno = next_line;
        next_line += spanned;
        if (len >= REGION_LINE_MAX) {
            snprintf(err, errlen, "line %ld: longer than %d bytes", lineno, REGION_LINE_MAX - 1);
            goto out;
        }
        char *text = csv_trim(line);
        if (lineno == 1 && strncmp(text, "\xEF\xBB\xBF", 3) == 0)
            text += 3; /* a spreadsheet's byte-order mark */
        if (*text == '\0' || *text == '#')
            continue;
        char *f[6];
        int n = csv_split(text, f, 6);
        if (rows == 0 && strcmp(f[0], "code") == 0)
            continue; /* header row */
        if (n < 4 || n > 5) {
            snprintf(err, errlen, "line %ld: expected code,name,level,parent[,provisional]",
                     lineno);
            goto out;
        }
        if (!registry_region_code_valid(f[0])) {
            snprintf(err, errlen, "line %ld: code must be 12 digits", lineno);
            goto out;
        }
        const char *level = registry_level_parse(f[2]);
        if (level == NULL) {
            snprintf(err, errlen, "line %ld: unknown level", lineno);
            goto out;
        }
        if (*f[1] == '\0') {
            snprintf(err, errlen, "line %ld: empty name", lineno);
            goto out;
        }
        int is_province = strcmp(level, "province") == 0;
        if (is_province != (*f[3] == '\0') || (*f[3] && !registry_region_code_valid(f[3]))) {
            snprintf(err, errlen, "line %ld: a province has no parent, every other level one",
                     lineno);
            goto out;
        }
        const char *official = (n == 5 && strcmp(f[4], "provisional") == 0) ? "false" : "true";
        if (n == 5 && *f[4] && strcmp(f[4], "provisional") != 0 && strcmp(f[4], "official")) {
            snprintf(err, errlen, "line %ld: 5th column must be official or provisional", lineno);
            goto out;
        }
        const char *params[6] = {f[0], f[1], level, f[3], registry_region_side(f[0]), official};
        db_err dberr;
        PGresult *res = db_exec(conn, sql, 6, params, &dberr);
        if (res == NULL) {
            if (strcmp(dberr.sqlstate, "23503") == 0)
                snprintf(err, errlen, "line %ld: parent %s is not known (list parents first)",
                         lineno, f[3]);
            else
                snprintf(err, errlen, "line %ld: %s", lineno, dberr.msg);
            goto out;
        }
        /* A new or changed region is published; an unchanged one returns no row. */
        if (PQntuples(res) == 1 && region_publish(conn, f[0], PQgetvalue(res, 0, 0), &dberr) < 0) {
            snprintf(err, errlen, "line %ld: %s", lineno, dberr.msg);
            PQclear(res);
            goto out;
        }
        PQclear(res);
        rows++;
    }
    rc = 0;
out:
    free(line);
    return rc < 0 ? -1 : rows;
}

/* registry_regions_list - GET /v1/regions?level=&parent=&side= */
void registry_regions_list(http_req *req, http_resp *resp, void *ctx)
{
    const char *level = http_query(req, "level");
    const char *parent = http_query(req, "parent");
    const char *side = http_query(req, "side");
    const char *cursor;
    char cursor_buf[64], limit_sql[16];
    int limit = page_args(req, resp, 0, cursor_buf, &cursor, limit_sql);

    if (limit < 0)
        return;
    if (level && registry_level_parse(level) == NULL) {
        http_problem(resp, 422, "validation", "Invalid filter", "/level",
                     "level is one of province, city, county, town, village");
        return;
    }
    if (side && strcmp(side, "zhejiang") && strcmp(side, "shanghai")) {
        http_problem(resp, 422, "validation", "Invalid filter", "/side",
                     "side is zhejiang or shanghai");
        return;
    }
    if (parent && !registry_region_code_valid(parent)) {
        http_problem(resp, 422, "validation", "Invalid filter", "/parent",
                     "parent is a 12-digit region code");
        return;
    }
    const char *params[5] = {cursor, level ? registry_level_parse(level) : NULL, parent, side,
                             limit_sql};
    page_query(ctx, resp,
               "SELECT region_json(r)::text, r.code FROM regions r "
               "WHERE ($1::text IS NULL OR r.code > $1) "
               "AND ($2::text IS NULL OR r.level = $2) "
               "AND ($3::text IS NULL OR r.parent = $3) "
               "AND ($4::text IS NULL OR r.side = $4) "
               "ORDER BY r.code LIMIT $5::int",
               5, params, limit);
}

/* registry_regions_get - GET /v1/regions/{code} */
void registry_regions_get(http_req *req, http_resp *resp, void *ctx)
{
    const char *params[1] = {req->params[0]};
    if (!registry_region_code_valid(params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such region");
        return;
    }
    page_query_one(ctx, resp, "SELECT region_json(r)::text FROM regions r WHERE r.code = $1", 1,
                   params, "region");
}

/* registry_regions_import_http - POST /v1/regions/import (admin), body text/csv */
void registry_regions_import_http(http_req *req, http_resp *resp, void *ctx)
{
    char err[256];
    FILE *in = fmemopen((void *)req->body, req->body_len, "r");
    if (in == NULL || req->body_len == 0) {
        if (in)
            fclose(in);
        http_problem(resp, 400, "bad-request", "Empty import", NULL,
                     "the body is the region list as CSV");
        return;
    }
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL) {
        fclose(in);
        return;
    }
    long rows = registry_regions_import(conn, in, err, sizeof(err));
    fclose(in);
    if (rows < 0) {
        http_problem(resp, 422, "invalid-import", "Invalid region list", NULL, "%s", err);
        service_tx_end(ctx, conn, 0, NULL);
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "imported", (double)rows);
    if (service_tx_end(ctx, conn, 1, resp) == 0)
        http_reply_json(resp, 200, body);
    else
        cJSON_Delete(body);
}
