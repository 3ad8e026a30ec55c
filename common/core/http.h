/*
 * http.h - the HTTP front on libmicrohttpd: routing, limits, auth, errors.
 *
 * What it trusts: nothing from the client. Bodies over HTTP_BODY_LIMIT get
 * 413 before a handler runs; bodies that are not UTF-8 get 400; routes that
 * need a role get 401 without a valid bearer token and 403 with a token of
 * another role. Every response carries X-Request-Id (taken from the request
 * if it is sane, otherwise a new UUID), which is also the log request id.
 * Every error is RFC 9457 problem+json:
 *   {"type":"https://shantang.cn/problems/<slug>","title":"...","status":422,
 *    "detail":"...","instance":"/v1/projects","pointer":"/village_codes/0",
 *    "errors":[{"pointer":"/village_codes/0","detail":"..."}],
 *    "request_id":"..."}
 * Built-in routes: GET /healthz (process alive: 200 with the health callback's
 * JSON detail, e.g. {"status":"degraded","kafka":"down"}), GET /readyz (the
 * service's ready callback: it can take requests), GET /metrics (Prometheus).
 * Threads: a pool of HTTP_THREADS; handlers may block on the database.
 *
 * Decisions a client can see:
 * - A path no route knows gets 404 "not-found"; a known path with another
 *   method gets 405 "method-not-allowed" with an Allow header listing the
 *   methods it has. HEAD runs the GET route (the body is dropped). When
 *   several patterns fit a path, the one with the fewest {params} wins
 *   (POST /v1/regions/import beats /v1/regions/{code}); then table order.
 * - Order of checks: body size (413 "too-large"), path encoding (400),
 *   built-ins, routing (404/405), query arguments and body must be UTF-8
 *   (400 "bad-encoding"), then the bearer token (401 "unauthenticated" with
 *   WWW-Authenticate, 403 "forbidden"), then the handler. Routes with
 *   roles == 0 never read the Authorization header.
 * - A Content-Length over the limit is refused at once when the client waits
 *   for 100-continue or announces more than the limit + 1 MiB; otherwise the
 *   body is read and dropped so the client can read the 413. A chunked body
 *   over the limit is read and dropped to its end too (cut off only when it
 *   goes on for more than 30 s), then answered 413.
 * - Problems about query parameters name them like body fields, as a JSON
 *   pointer of the parameter name: ?limit=0 gives "pointer":"/limit".
 * - X-Request-Id is taken from the client when it is 1..64 characters of
 *   [A-Za-z0-9._-]; otherwise a UUIDv7 is made.
 * - Every answer carries Cache-Control: no-store; a 503 or 429 carries Retry-After
 *   (resp->retry_after seconds, else 1).
 * - A handler that leaves resp->status outside 100..599 becomes a 500.
 */
#ifndef SHANTANG_CORE_HTTP_H
#define SHANTANG_CORE_HTTP_H

#include <stddef.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include "core/auth.h"

#define HTTP_MAX_PATH_PARAMS 4

typedef struct http_req {
    const char *method;                       /* "GET", "POST", ... */
    const char *path;                         /* URL path without the query */
    const char *route;                        /* the matched route pattern */
    const char *body;                         /* NUL-terminated body, "" if none */
    size_t body_len;                          /* bytes of body */
    const char *params[HTTP_MAX_PATH_PARAMS]; /* values of {name} segments, in order */
    int nparams;                              /* used entries of params */
    auth_claims auth;                         /* the caller, when authenticated */
    int authenticated;                        /* 1 when auth holds a verified token */
    const char *request_id;                   /* X-Request-Id of this request */
    void *conn;                               /* struct MHD_Connection *, for the accessors */
    FILE *body_file; /* a stream route's body, rewound (owned by the server); else NULL.
                        Then body is "" and body_len the number of bytes spooled. */
} http_req;

typedef struct http_resp {
    int status;                    /* HTTP status code */
    char *body;                    /* malloc'd body, owned by the response */
    const char *content_type;      /* static string */
    char location[256];            /* Location header when non-empty */
    char content_disposition[128]; /* Content-Disposition when non-empty */
    size_t body_len;               /* bytes of body (binary bodies allowed) */
    long retry_after;              /* Retry-After seconds when > 0 (a 503 or 429 gets 1 else) */
} http_resp;

typedef void (*http_handler)(http_req *req, http_resp *resp, void *ctx);

typedef struct http_route {
    const char *method;  /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *pattern; /* "/v1/projects/{id}"; {x} matches one non-empty segment */
    int roles;           /* ROLE_* bits allowed; 0 = no token needed */
    http_handler fn;     /* the handler */
    size_t stream_limit; /* > 0: the body is spooled to an unlinked temporary file of at
                            most this many bytes and handed over as req->body_file, never
                            held in memory nor checked as UTF-8; 0: the usual body */
} http_route;

/* http_query - the value of query argument name, or NULL (borrowed, valid during the request) */
const char *http_query(const http_req *req, const char *name);

/* http_header - the value of request header name (case-insensitive), or NULL */
const char *http_header(const http_req *req, const char *name);

/*
 * http_client_address - the numeric address of the peer into out (len
 * bytes; 46 suffice); "" when unknown. Returns out.
 */
char *http_client_address(const http_req *req, char *out, size_t len);

/* http_reply_json - set status and a JSON body; takes ownership of body (may be NULL) */
void http_reply_json(http_resp *resp, int status, cJSON *body);

/* http_reply_raw - set status, content type (static) and a copy of len bytes */
void http_reply_raw(http_resp *resp, int status, const char *content_type, const void *data,
                    size_t len);

/*
 * http_problem - an RFC 9457 answer. slug names the problem type
 * ("validation", "not-found", "conflict", ...); pointer is a JSON pointer to
 * the offending field or NULL. detail is printf-style.
 */
void http_problem(http_resp *resp, int status, const char *slug, const char *title,
                  const char *pointer, const char *detail_fmt, ...)
    __attribute__((format(printf, 6, 7)));

/*
 * http_parse_json - parse the request body as a JSON object, strictly by RFC
 * 8259 (01 or 1. is malformed). On failure sets a 400 problem on resp (415
 * when a client's request does not say Content-Type: application/json; a 422
 * naming the field when a string holds a NUL, raw or \u0000, or a control
 * character other than tab, CR and LF) and returns NULL. Caller owns the
 * result. Each number item keeps its literal in valuestring (freed with it).
 */
cJSON *http_parse_json(const http_req *req, http_resp *resp);

/* http_json_integral - 1 if a number item is an integer as written (not 1.0, 1e2 or -0) */
int http_json_integral(const cJSON *item);

typedef struct http_server http_server;

typedef struct http_config {
    const char *addr;           /* numeric listen address; NULL or "" = 127.0.0.1 */
    int port;                   /* listen port */
    int threads;                /* worker threads */
    size_t body_limit;          /* bytes; larger bodies get 413 */
    auth_verifier *verifier;    /* checks bearer tokens (borrowed) */
    const http_route *routes;   /* route table (borrowed) */
    size_t nroutes;             /* entries of routes */
    void *ctx;                  /* passed to every handler */
    int (*ready)(void *ctx);    /* /readyz: 1 when ready */
    char *(*health)(void *ctx); /* /healthz detail: malloc'd JSON object text; NULL: ok */
} http_config;

/* http_start - bind and start serving. Returns NULL with err on failure */
http_server *http_start(const http_config *cfg, char *err, size_t errlen);

/*
 * http_stop - stop accepting connections, let in-flight requests finish
 * (libmicrohttpd quiesce, then stop), free the server. Returns NULL.
 */
http_server *http_stop(http_server *srv);

/*
 * Validation helpers for handlers: each checks one field of obj, and on
 * failure sets a 422 problem naming /name (or the given pointer) and returns
 * -1. Absent optional fields return 0 and leave the output untouched; a JSON
 * null counts as absent. String lengths count UTF-8 characters, not bytes.
 * Integers must be integral JSON numbers of magnitude below 2^53 (larger ones
 * cannot be told apart as doubles) and within min..max; *present (may be
 * NULL) says whether the field was there. Dates are real YYYY-MM-DD dates.
 * http_field_string refuses every character below U+0020; http_field_text
 * (free text) allows tab, CR and LF. Integers written 1.0, 1e2 or -0 are not
 * integers.
 */
int http_field_string(const cJSON *obj, const char *name, int required, size_t min_chars,
                      size_t max_chars, const char **out, http_resp *resp);
int http_field_text(const cJSON *obj, const char *name, int required, size_t min_chars,
                    size_t max_chars, const char **out, http_resp *resp);
int http_field_int64(const cJSON *obj, const char *name, int required, long long min, long long max,
                     long long *out, int *present, http_resp *resp);
int http_field_date(const cJSON *obj, const char *name, int required, const char **out,
                    http_resp *resp);

#endif
