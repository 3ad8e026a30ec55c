/*
 * page.c - cursor-paginated list answers, shared by every service: the
 * ?limit= and ?cursor= of a request, and the page with its next cursor.
 *
 * Trusts the rows it is given to hold valid JSON (they come from the
 * service's own jsonb columns or functions). Reads no configuration.
 */
#include "core/page.h"

#include "core/service.h"
#include "util/crypto.h"
#include "util/sbuf.h"
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 50 /* ?limit= when absent */
#define PAGE_MAX 1000   /* largest ?limit= */

/* page_limit - ?limit= (default 50, 1..1000), or -1 after a 422 naming /limit */
int page_limit(const http_req *req, http_resp *resp)
{
    const char *q = http_query(req, "limit");
    int v = 0;

    if (q == NULL)
        return PAGE_DEFAULT;
    size_t n = strlen(q);
    int ok = n >= 1 && n <= 4;
    for (size_t i = 0; ok && i < n; i++) {
        if (q[i] < '0' || q[i] > '9')
            ok = 0;
        else
            v = v * 10 + (q[i] - '0');
    }
    if (!ok || v < 1 || v > PAGE_MAX) {
        http_problem(resp, 422, "validation", "Validation failed", "/limit",
                     "limit must be an integer from 1 to %d", PAGE_MAX);
        return -1;
    }
    return v;
}

/* page_cursor_encode - Base64url (unpadded) of key; malloc'd, NULL on failure */
char *page_cursor_encode(const char *key)
{
    if (key == NULL)
        return NULL;
    size_t len = strlen(key), cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    if (crypto_b64_encode((const unsigned char *)key, len, 1, out, cap) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* page_cursor_decode - ?cursor= decoded into key: 0, 1 when absent or empty, -1 after a 422 */
int page_cursor_decode(const http_req *req, char *key, size_t keylen, http_resp *resp)
{
    const char *q = http_query(req, "cursor");

    if (q == NULL || *q == '\0')
        return 1;
    size_t qlen = strlen(q);
    int n = -1;
    if (keylen > 1 && qlen <= 4 * (keylen / 3 + 1))
        n = crypto_b64_decode(q, qlen, (unsigned char *)key, keylen - 1);
    if (n > 0) {
        key[n] = '\0';
        for (int i = 0; i < n; i++)
            if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
                n = -1;
    }
    if (n <= 0 || !utf8_valid(key, (size_t)n)) {
        if (keylen > 0)
            key[0] = '\0';
        http_problem(resp, 422, "validation", "Invalid cursor", "/cursor",
                     "the cursor is not one this list gave out");
        return -1;
    }
    return 0;
}

/* page_reply - answer a page of items with its next cursor */
void page_reply(http_resp *resp, const PGresult *res, int json_col, int key_col, int limit,
                const char *extra_json)
{
    sbuf b = {0};
    int rows = PQntuples(res);
    int shown = rows > limit ? limit : rows;

    sbuf_str(&b, "{\"items\":[");
    for (int i = 0; i < shown; i++) {
        if (i)
            sbuf_put(&b, ",", 1);
        sbuf_str(&b, PQgetvalue(res, i, json_col));
    }
    sbuf_str(&b, "],\"next\":");
    if (rows > limit && shown > 0) {
        char *cursor = page_cursor_encode(PQgetvalue(res, shown - 1, key_col));
        if (cursor == NULL) {
            b.failed = 1;
        } else {
            sbuf_put(&b, "\"", 1);
            sbuf_str(&b, cursor);
            sbuf_put(&b, "\"", 1);
            free(cursor);
        }
    } else {
        sbuf_str(&b, "null");
    }
    if (extra_json != NULL && *extra_json) {
        sbuf_put(&b, ",", 1);
        sbuf_str(&b, extra_json);
    }
    sbuf_put(&b, "}", 1);
    if (b.failed) {
        free(b.p);
        http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        return;
    }
    http_reply_raw(resp, 200, "application/json", b.p, b.len);
    free(b.p);
}

/* page_args - the limit and cursor of a list request; -1 after a 422 */
int page_args(const http_req *req, http_resp *resp, int uuid_keys, char cursor_buf[64],
              const char **cursor_out, char limit_sql[16])
{
    int limit = page_limit(req, resp);
    if (limit < 0)
        return -1;
    int rc = page_cursor_decode(req, cursor_buf, 64, resp);
    if (rc < 0)
        return -1;
    if (rc == 0 && uuid_keys && !crypto_uuid_valid(cursor_buf)) {
        http_problem(resp, 422, "validation", "Invalid cursor", "/cursor",
                     "the cursor does not come from this list");
        return -1;
    }
    *cursor_out = rc == 0 ? cursor_buf : NULL;
    snprintf(limit_sql, 16, "%d", limit + 1);
    return limit;
}

/*
 * page_run - run a read-only query on a pooled connection and answer it: a
 * page of limit items, or (limit < 0) the single row's JSON or a 404 naming
 * what, or a 403 when scoped and the row's second column is not 't'; a
 * database failure becomes its problem.
 */
static void page_run(struct service_ctx *ctx, http_resp *resp, const char *sql, int n,
                     const char *const *params, int limit, const char *what, int scoped)
{
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        return;
    db_err err;
    PGresult *res = db_exec(conn, sql, n, params, &err);
    if (res == NULL)
        service_db_problem(resp, &err);
    else if (limit >= 0)
        page_reply(resp, res, 0, 1, limit, NULL);
    else if (PQntuples(res) == 0)
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such %s", what);
    else if (scoped && strcmp(PQgetvalue(res, 0, 1), "t") != 0)
        http_problem(resp, 403, "forbidden", "Outside your villages", NULL,
                     "the %s has no village in your scope", what);
    else
        http_reply_raw(resp, 200, "application/json", PQgetvalue(res, 0, 0),
                       (size_t)PQgetlength(res, 0, 0));
    PQclear(res);
    service_tx_end(ctx, conn, 0, NULL);
}

/* page_query - run a list query and answer its page */
void page_query(struct service_ctx *ctx, http_resp *resp, const char *sql, int n,
                const char *const *params, int limit)
{
    page_run(ctx, resp, sql, n, params, limit < 0 ? 0 : limit, NULL, 0);
}

/* page_query_one - run a one-row query and answer its JSON, or 404 */
void page_query_one(struct service_ctx *ctx, http_resp *resp, const char *sql, int n,
                    const char *const *params, const char *what)
{
    page_run(ctx, resp, sql, n, params, -1, what, 0);
}

/* page_query_one_scoped - one row's JSON, 403 outside the scope, or 404 */
void page_query_one_scoped(struct service_ctx *ctx, http_resp *resp, const char *sql, int n,
                           const char *const *params, const char *what)
{
    page_run(ctx, resp, sql, n, params, -1, what, 1);
}
