/*
 * fuzz_support.c - the shared part of every harness: requests built from
 * bytes, the answer's oracle, and the link-time stand-ins (-Wl,--wrap) for
 * the database and the libmicrohttpd connection.
 *
 * What it trusts: nothing the harness passes; it owns no global state but
 * the header/query tables (borrowed) and is single-threaded, as libFuzzer
 * calls it.
 */
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <microhttpd.h>

#include "util/log.h"

static const fuzz_kv *fuzz_headers, *fuzz_query;
static size_t fuzz_nheaders, fuzz_nquery;

/* fuzz_set_headers - the request headers answered from now on */
void fuzz_set_headers(const fuzz_kv *kv, size_t n)
{
    fuzz_headers = kv;
    fuzz_nheaders = n;
}

/* fuzz_set_query - the query arguments answered from now on */
void fuzz_set_query(const fuzz_kv *kv, size_t n)
{
    fuzz_query = kv;
    fuzz_nquery = n;
}

/* fuzz_quiet - only fatal log lines */
void fuzz_quiet(void)
{
    log_init("fuzz", LOG_FATAL);
}

/* fuzz_strndup - a NUL-terminated copy of n bytes; aborts without memory */
char *fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* fuzz_req - an authenticated request of role for route with a copy of body */
void fuzz_req(http_req *req, const char *method, const char *route, const uint8_t *body, size_t len,
              int role, const char *const *params)
{
    static int fake_connection; /* req->conn is only compared with NULL and handed to the wraps */
    memset(req, 0, sizeof(*req));
    req->method = method;
    req->path = route;
    req->route = route;
    req->body = fuzz_strndup(body, len);
    req->body_len = len;
    for (int i = 0; params && params[i] && i < HTTP_MAX_PATH_PARAMS; i++)
        req->params[req->nparams++] = params[i];
    req->request_id = "fuzz";
    req->conn = &fake_connection;
    req->authenticated = 1;
    req->auth.role = role;
    snprintf(req->auth.sub, sizeof(req->auth.sub), "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
    snprintf(req->auth.account, sizeof(req->auth.account), "%s", req->auth.sub);
    snprintf(req->auth.unit, sizeof(req->auth.unit), "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c");
    static const char *const regions[] = {"330482105201", "330482104000", "310116106201",
                                          "310116000000"};
    for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
        snprintf(req->auth.regions[req->auth.nregions++], 13, "%s", regions[i]);
    req->auth.exp = 4102444800L; /* 2100-01-01 */
    req->auth.iat = 1767225600L;
}

/* fuzz_req_free - release the body copy */
void fuzz_req_free(http_req *req)
{
    free((char *)req->body);
    req->body = NULL;
}

/* fuzz_check_resp - the answer must be one a client may get */
void fuzz_check_resp(http_resp *resp)
{
    if (getenv("SHANTANG_FUZZ_VERBOSE")) /* what a seed gets: SHANTANG_FUZZ_VERBOSE=1 fuzz_x FILE */
        fprintf(stderr, "answer %d %.*s\n", resp->status, (int)resp->body_len,
                resp->body ? resp->body : "");
    if (resp->status < 100 || resp->status > 599) {
        fprintf(stderr, "fuzz: status %d outside 100..599\n", resp->status);
        abort();
    }
    if (resp->status == 500) {
        fprintf(stderr, "fuzz: a 500 answer: %.*s\n", (int)resp->body_len,
                resp->body ? resp->body : "");
        abort();
    }
    if (resp->body && resp->content_type && strstr(resp->content_type, "json")) {
        cJSON *j = cJSON_ParseWithLength(resp->body, resp->body_len);
        if (j == NULL) {
            fprintf(stderr, "fuzz: a %s answer that is not JSON: %.*s\n", resp->content_type,
                    (int)resp->body_len, resp->body);
            abort();
        }
        cJSON_Delete(j);
    }
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

static const fuzz_kv *route_extra, *route_query;
static size_t route_nextra, route_nquery;

/* fuzz_route_query - the query arguments of every routed request that is not a GET */
void fuzz_route_query(const fuzz_kv *kv, size_t n)
{
    route_query = kv;
    route_nquery = n;
}

/* fuzz_route_headers - further headers of every routed request */
void fuzz_route_headers(const fuzz_kv *kv, size_t n)
{
    route_extra = kv;
    route_nextra = n;
}

/* nth_role - the k-th (mod their number) ROLE_* bit of roles; admin when none */
static int nth_role(int roles, int k)
{
    int bits[8], n = 0;
    for (int b = 0; b < 8; b++)
        if (roles & (1 << b))
            bits[n++] = 1 << b;
    return n ? bits[k % n] : ROLE_ADMIN;
}

#define FUZZ_MAX_QUERY 8
#define FUZZ_MAX_HEADERS 8

/* fuzz_route_run - one request from bytes to the route they pick */
void fuzz_route_run(const fuzz_route *routes, size_t n, void *ctx, const uint8_t *data, size_t size)
{
    if (size < 2 || n == 0)
        return;
    const fuzz_route *r = &routes[data[0] % n];
    int idem = data[1] & 1, role = nth_role(r->roles, data[1] >> 1);
    data += 2;
    size -= 2;

    fuzz_kv headers[FUZZ_MAX_HEADERS], query[FUZZ_MAX_QUERY];
    size_t nh = 0, nq = 0;
    headers[nh++] = (fuzz_kv){"Content-Type", "application/json"};
    if (idem)
        headers[nh++] = (fuzz_kv){"Idempotency-Key", "fuzz-0001"};
    for (size_t i = 0; i < route_nextra && nh < FUZZ_MAX_HEADERS; i++)
        headers[nh++] = route_extra[i];
    fuzz_set_headers(headers, nh);

    char *qs = NULL;
    int get = strcmp(r->method, "GET") == 0;
    if (get) {
        qs = fuzz_strndup(data, size);
        char *save = NULL;
        for (char *t = strtok_r(qs, "&", &save); t && nq < FUZZ_MAX_QUERY;
             t = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(t, '=');
            if (eq)
                *eq++ = '\0';
            query[nq++] = (fuzz_kv){t, eq ? eq : ""};
        }
        fuzz_set_query(query, nq);
    } else {
        fuzz_set_query(route_query, route_nquery);
    }

    http_req req;
    http_resp resp = {0};
    fuzz_req(&req, r->method, r->route, get ? NULL : data, get ? 0 : size, role, r->params);
    if (r->roles == 0) {
        req.authenticated = 0;
        memset(&req.auth, 0, sizeof(req.auth));
    }
    r->fn(&req, &resp, ctx);
    fuzz_req_free(&req);
    fuzz_check_resp(&resp);
    fuzz_set_headers(NULL, 0);
    fuzz_set_query(NULL, 0);
    free(qs);
}

/* ---------- link-time stand-ins (-Wl,--wrap=NAME routes NAME here) ---------- */

PGconn *__wrap_db_acquire(db_pool *pool, int timeout_ms, db_err *err);
const char *__wrap_MHD_lookup_connection_value(struct MHD_Connection *connection,
                                               enum MHD_ValueKind kind, const char *key);
const union MHD_ConnectionInfo *__wrap_MHD_get_connection_info(struct MHD_Connection *connection,
                                                               enum MHD_ConnectionInfoType type,
                                                               ...);

/* __wrap_db_acquire - no database while fuzzing: fail at once, as an unreachable server */
PGconn *__wrap_db_acquire(db_pool *pool, int timeout_ms, db_err *err)
{
    (void)pool;
    (void)timeout_ms;
    if (err) {
        err->sqlstate[0] = '\0';
        snprintf(err->msg, sizeof(err->msg), "fuzzing: no database");
    }
    return NULL;
}

/* __wrap_MHD_lookup_connection_value - a header or query argument from the harness's table */
const char *__wrap_MHD_lookup_connection_value(struct MHD_Connection *connection,
                                               enum MHD_ValueKind kind, const char *key)
{
    (void)connection;
    if (key == NULL)
        return NULL;
    if (kind == MHD_HEADER_KIND) {
        for (size_t i = 0; i < fuzz_nheaders; i++)
            if (strcasecmp(fuzz_headers[i].name, key) == 0)
                return fuzz_headers[i].value;
    } else if (kind == MHD_GET_ARGUMENT_KIND) {
        for (size_t i = 0; i < fuzz_nquery; i++)
            if (strcmp(fuzz_query[i].name, key) == 0)
                return fuzz_query[i].value;
    }
    return NULL;
}

/* __wrap_MHD_get_connection_info - no peer address (the caller treats it as unknown) */
const union MHD_ConnectionInfo *__wrap_MHD_get_connection_info(struct MHD_Connection *connection,
                                                               enum MHD_ConnectionInfoType type,
                                                               ...)
{
    (void)connection;
    (void)type;
    return NULL;
}
