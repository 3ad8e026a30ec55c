/*
 * page.h - the one shape of every list answer: {"items": [...], "next": c}.
 *
 * A list query selects limit+1 rows ordered by a unique key, with the item's
 * JSON in one column and the key in another. page_reply answers the first
 * limit items and, when the extra row exists, a cursor (Base64url of the
 * last answered key) that the next request passes back as ?cursor=.
 * Items arrive as JSON text from PostgreSQL and are spliced without being
 * re-parsed.
 */
#ifndef SHANTANG_CORE_PAGE_H
#define SHANTANG_CORE_PAGE_H

#include <libpq-fe.h>
#include "core/http.h"

/*
 * Cursor pagination: page_limit reads ?limit= (default 50, 1..1000; a
 * bad value sets a 422 with pointer "/limit" and returns -1). A cursor is the
 * unpadded Base64url of the last item's sort key; page_cursor_decode writes
 * it into key (NUL-terminated), returning 0, 1 when absent or empty, or -1
 * after setting a 422 with pointer "/cursor" (bad Base64, longer than keylen-1
 * bytes, not UTF-8, or holding control characters).
 */
int page_limit(const http_req *req, http_resp *resp);
int page_cursor_decode(const http_req *req, char *key, size_t keylen, http_resp *resp);
char *page_cursor_encode(const char *key); /* malloc'd */

/*
 * page_reply - answer 200 with the page built from res (borrowed): items
 * from column json_col, cursor from column key_col. extra_json, when not
 * NULL, is a JSON member list spliced after "next" (e.g. "\"total\":12").
 */
void page_reply(http_resp *resp, const PGresult *res, int json_col, int key_col, int limit,
                const char *extra_json);

/*
 * page_args - read ?limit= and ?cursor= of a list request. *cursor_out is
 * the decoded cursor (in cursor_buf) or NULL when absent; with uuid_keys
 * the cursor must decode to a UUID. limit_sql receives limit+1 as text, the
 * row count the list query asks for. Returns the limit, or -1 after setting
 * a 422 problem.
 */
int page_args(const http_req *req, http_resp *resp, int uuid_keys, char cursor_buf[64],
              const char **cursor_out, char limit_sql[16]);

struct service_ctx;

/*
 * page_query - run a read-only list query (column 0 the item's JSON, column
 * 1 its key) on a pooled connection and answer the page, or the database
 * problem.
 */
void page_query(struct service_ctx *ctx, http_resp *resp, const char *sql, int n,
                const char *const *params, int limit);

/*
 * page_query_one - run a read-only query whose single row holds one JSON
 * text column and answer it: 200, 404 ("No such <what>"), or the database
 * problem.
 */
void page_query_one(struct service_ctx *ctx, http_resp *resp, const char *sql, int n,
                    const char *const *params, const char *what);

/*
 * page_query_one_scoped - like page_query_one, for a query whose second
 * column says whether the row is inside the caller's scope ('t'/'f'): a
 * row outside it answers 403 instead of its JSON.
 */
void page_query_one_scoped(struct service_ctx *ctx, http_resp *resp, const char *sql, int n,
                           const char *const *params, const char *what);

#endif
