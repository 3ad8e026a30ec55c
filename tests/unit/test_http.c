/*
 * test_http.c - the HTTP front (core/http.c) over the wire: a real
 * http_server on 127.0.0.1 with a few test routes, driven with libcurl.
 *
 * Covers routing by method and {param} (404, 405 + Allow, the route with
 * fewer parameters winning), the body limit (413 refused early, drained, and
 * chunked), UTF-8 checks (400), malformed JSON (400), bearer tokens (401,
 * 403, handler sees req->auth), problem+json shape, X-Request-Id, /healthz,
 * /readyz, /metrics, the field validators, page limits, cursors, and a
 * graceful http_stop that lets an in-flight request finish.
 * Reads nothing from the environment; listens on 18000 + pid % 1000 (or the
 * next free port above it).
 */
#include "check.h"

#include "core/auth.h"
#include "core/http.h"
#include "core/page.h"
#include "util/crypto.h"
#include "util/log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BODY_LIMIT 1024

static const unsigned char key[] = "test-key-0123456789-0123456789-0123456789";
static char base[64];
static atomic_int ready_flag = 1;
static atomic_int slow_entered;

/* ---------- test handlers ---------- */

/* h_params - echo the route and the path parameters */
static void h_params(http_req *req, http_resp *resp, void *ctx)
{
    (void)ctx;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "route", req->route);
    cJSON *a = cJSON_AddArrayToObject(o, "params");
    for (int i = 0; i < req->nparams; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(req->params[i]));
    cJSON_AddStringToObject(o, "method", req->method);
    http_reply_json(resp, 200, o);
}

/* h_create - parse and validate a body, answer who called */
static void h_create(http_req *req, http_resp *resp, void *ctx)
{
    const char *name = NULL, *day = NULL;
    long long count = -1;
    int present = 0;

    (void)ctx;
    cJSON *in = http_parse_json(req, resp);
    if (in == NULL)
        return;
    if (http_field_string(in, "name", 1, 1, 5, &name, resp) < 0 ||
        http_field_int64(in, "count", 1, 0, 100, &count, &present, resp) < 0 ||
        http_field_date(in, "day", 0, &day, resp) < 0) {
        cJSON_Delete(in);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "count", (double)count);
    cJSON_AddStringToObject(o, "sub", req->auth.sub);
    cJSON_AddStringToObject(o, "role", auth_role_name(req->auth.role));
    cJSON_AddBoolToObject(o, "authenticated", req->authenticated);
    cJSON_AddStringToObject(o, "request_id", req->request_id);
    cJSON_Delete(in);
    snprintf(resp->location, sizeof(resp->location), "/v1/items/1");
    http_reply_json(resp, 201, o);
}

/* h_list - answer the page limit and the decoded cursor */
static void h_list(http_req *req, http_resp *resp, void *ctx)
{
    char cursor[64];

    (void)ctx;
    int limit = page_limit(req, resp);
    if (limit < 0)
        return;
    int rc = page_cursor_decode(req, cursor, sizeof(cursor), resp);
    if (rc < 0)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "limit", limit);
    if (rc == 0)
        cJSON_AddStringToObject(o, "cursor", cursor);
    else
        cJSON_AddNullToObject(o, "cursor");
    http_reply_json(resp, 200, o);
}

/* h_import - a literal route next to a {param} one */
static void h_import(http_req *req, http_resp *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    http_reply_raw(resp, 202, "application/json", "{\"import\":true}", 15);
}

/* h_raw - echo the body as text */
static void h_raw(http_req *req, http_resp *resp, void *ctx)
{
    (void)ctx;
    http_reply_raw(resp, 200, "text/plain; charset=utf-8", req->body, req->body_len);
}

/* h_stream - a stream route: answer how many bytes were spooled */
static void h_stream(http_req *req, http_resp *resp, void *ctx)
{
    char out[64];
    (void)ctx;
    int n = snprintf(out, sizeof(out), "{\"spooled\":%zu}", req->body_len);
    http_reply_raw(resp, 200, "application/json", out, (size_t)n);
}

/* h_nothing - a buggy handler that sets no status */
static void h_nothing(http_req *req, http_resp *resp, void *ctx)
{
    (void)req;
    (void)resp;
    (void)ctx;
}

/* h_slow - takes 300 ms, for the graceful stop */
static void h_slow(http_req *req, http_resp *resp, void *ctx)
{
    const struct timespec t = {0, 300 * 1000 * 1000};

    (void)req;
    (void)ctx;
    atomic_store(&slow_entered, 1);
    nanosleep(&t, NULL);
    http_reply_raw(resp, 200, "application/json", "{\"slow\":true}", 13);
}

/* test_ready - the /readyz callback */
static int test_ready(void *ctx)
{
    (void)ctx;
    return atomic_load(&ready_flag);
}

static const http_route routes[] = {
    {"GET", "/v1/echo/{a}/items/{b}", 0, h_params, 0},
    {"POST", "/v1/items", ROLE_ADMIN | ROLE_NOTABLE, h_create, 0},
    {"GET", "/v1/items", 0, h_list, 0},
    {"GET", "/v1/items/{id}", 0, h_params, 0},
    {"POST", "/v1/items/import", ROLE_ADMIN, h_import, 0},
    {"POST", "/v1/raw", 0, h_raw, 0},
    {"GET", "/v1/nostatus", 0, h_nothing, 0},
    {"GET", "/v1/slow", 0, h_slow, 0},
    {"POST", "/v1/stream", 0, h_stream, 2 * BODY_LIMIT},
};

/* ---------- the client ---------- */

typedef struct reply {
    CURLcode rc;      /* transfer result */
    long status;      /* HTTP status */
    char body[16384]; /* body, NUL-terminated, cut at the buffer */
    size_t len;       /* bytes of body kept */
    char head[8192];  /* raw response headers */
    size_t hlen;      /* bytes of head */
} reply;

typedef struct upload {
    const char *data; /* what to send */
    size_t len, off;  /* its size and how much went out */
} upload;

/* collect - append what fits of k bytes to a fixed, NUL-terminated buffer */
static void collect(char *buf, size_t cap, size_t *len, const char *p, size_t k)
{
    size_t room = cap - 1 - *len;
    memcpy(buf + *len, p, k < room ? k : room);
    *len += k < room ? k : room;
    buf[*len] = '\0';
}

/* on_body - collect the body */
static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    collect(r->body, sizeof(r->body), &r->len, p, sz * n);
    return sz * n;
}

/* on_head - collect the headers */
static size_t on_head(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    collect(r->head, sizeof(r->head), &r->hlen, p, sz * n);
    return sz * n;
}

/* on_read - feed a chunked upload in 512-byte pieces */
static size_t on_read(char *p, size_t sz, size_t n, void *ud)
{
    upload *u = ud;
    size_t k = sz * n, left = u->len - u->off;
    if (k > 512)
        k = 512;
    if (k > left)
        k = left;
    memcpy(p, u->data + u->off, k);
    u->off += k;
    return k;
}

/*
 * call - one request. headers is a NULL-terminated list (may be NULL); body
 * with len >= 0 is sent as is; chunked sends it with Transfer-Encoding.
 */
static void call_ex(reply *r, const char *method, const char *path, const char *const *headers,
                    const char *body, long len, int chunked)
{
    char url[512];
    struct curl_slist *h = NULL;
    upload up = {body, body ? (size_t)len : 0, 0};

    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "%s%s", base, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL && chunked) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    } else if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, len);
    }
    int typed = 0;
    for (int i = 0; headers && headers[i]; i++) {
        h = curl_slist_append(h, headers[i]);
        typed |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
    }
    if (body != NULL && !typed) /* a JSON client unless the test says otherwise */
        h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

/* call - one request with a plain body (or none) */
static void call(reply *r, const char *method, const char *path, const char *const *headers,
                 const char *body)
{
    call_ex(r, method, path, headers, body, body ? (long)strlen(body) : 0, 0);
}

/* header - the value of response header name (last one wins) into out, or NULL */
static const char *header(const reply *r, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    const char *found = NULL;

    for (const char *p = r->head; *p;) {
        const char *e = strstr(p, "\r\n");
        if (e == NULL)
            break;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, outlen, "%.*s", (int)(e - v), v);
            found = out;
        }
        p = e + 2;
    }
    return found;
}

/* json_str - a string member of a parsed reply body, "" if absent */
static const char *json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* bearer - "Authorization: Bearer <token>" for a role, expiring ttl seconds from now */
static char *bearer(const char *sub, int role, long ttl)
{
    auth_claims c = {0};
    char err[128];

    snprintf(c.sub, sizeof(c.sub), "%s", sub);
    c.role = role;
    c.iat = (long)time(NULL) - 120;
    c.exp = (long)time(NULL) + ttl;
    char *tok = auth_jwt_sign(&c, key, sizeof(key) - 1, err, sizeof(err));
    if (tok == NULL) {
        fprintf(stderr, "auth_jwt_sign: %s\n", err);
        exit(2);
    }
    size_t n = strlen(tok) + 32;
    char *h = malloc(n);
    snprintf(h, n, "Authorization: Bearer %s", tok);
    free(tok);
    return h;
}

/* utf8_whole - 1 if s is well-formed UTF-8 (lead and continuation bytes agree) */
static int utf8_whole(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = *p < 0x80             ? 1
                   : (*p & 0xE0) == 0xC0 ? 2
                   : (*p & 0xF0) == 0xE0 ? 3
                   : (*p & 0xF8) == 0xF0 ? 4
                                         : 0;
        if (n == 0)
            return 0;
        for (size_t k = 1; k < n; k++)
            if ((p[k] & 0xC0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

/* check_problem - the reply is problem+json with status, slug and pointer (NULL = none) */
static void check_problem(const reply *r, long status, const char *slug, const char *pointer,
                          const char *what)
{
    char ct[128], type[160], rid[128];

    CHECK(r->status == status, "%s: status got %ld, want %ld (body %s)", what, r->status, status,
          r->body);
    CHECK_STR(header(r, "Content-Type", ct, sizeof(ct)), "application/problem+json", what);
    cJSON *o = cJSON_Parse(r->body);
    CHECK(o != NULL, "%s: body is not JSON: %s", what, r->body);
    if (o == NULL)
        return;
    snprintf(type, sizeof(type), "https://shantang.cn/problems/%s", slug);
    CHECK_STR(json_str(o, "type"), type, what);
    CHECK(*json_str(o, "title") != '\0', "%s: title missing", what);
    CHECK(*json_str(o, "detail") != '\0', "%s: detail missing", what);
    CHECK_INT(cJSON_GetObjectItem(o, "status") ? cJSON_GetObjectItem(o, "status")->valueint : -1,
              status, what);
    CHECK_STR(json_str(o, "request_id"), header(r, "X-Request-Id", rid, sizeof(rid)), what);
    if (pointer != NULL) {
        CHECK_STR(json_str(o, "pointer"), pointer, what);
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "errors"), 0);
        CHECK_STR(json_str(e, "pointer"), pointer, what);
        CHECK(*json_str(e, "detail") != '\0', "%s: errors[0].detail missing", what);
    } else {
        CHECK(cJSON_GetObjectItem(o, "pointer") == NULL, "%s: unexpected pointer", what);
    }
    cJSON_Delete(o);
}

/* ---------- the tests ---------- */

/* test_routing - method and pattern matching, 404, 405 with Allow, precedence */
static void test_routing(void)
{
    reply r;
    char v[256];

    call(&r, "GET", "/v1/echo/x1/items/y%20z", NULL, NULL);
    CHECK_INT(r.status, 200, "GET two params");
    cJSON *o = cJSON_Parse(r.body);
    CHECK_STR(json_str(o, "route"), "/v1/echo/{a}/items/{b}", "route seen by the handler");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "params"), 0)->valuestring, "x1",
              "first param");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "params"), 1)->valuestring, "y z",
              "second param, percent-decoded");
    cJSON_Delete(o);
    CHECK_STR(header(&r, "Content-Type", v, sizeof(v)), "application/json", "json content type");
    CHECK_STR(header(&r, "Cache-Control", v, sizeof(v)), "no-store", "no-store");

    static const struct {
        const char *method, *path;
        long status;
        const char *slug, *allow;
    } cases[] = {
        {"GET", "/nope", 404, "not-found", NULL},
        {"GET", "/v1/echo//items/y", 404, "not-found", NULL},    /* empty {param} */
        {"GET", "/v1/items/", 404, "not-found", NULL},           /* trailing slash */
        {"GET", "/v1/echo/a/items/b/c", 404, "not-found", NULL}, /* extra segment */
        {"PUT", "/v1/items", 405, "method-not-allowed", "POST, GET"},
        {"DELETE", "/v1/raw", 405, "method-not-allowed", "POST"},
        {"PUT", "/v1/items/import", 405, "method-not-allowed", "GET, POST"},
        {"POST", "/healthz", 405, "method-not-allowed", "GET"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[128];
        snprintf(what, sizeof(what), "%s %s", cases[i].method, cases[i].path);
        call(&r, cases[i].method, cases[i].path, NULL, NULL);
        check_problem(&r, cases[i].status, cases[i].slug, NULL, what);
        if (cases[i].allow)
            CHECK_STR(header(&r, "Allow", v, sizeof(v)), cases[i].allow, what);
    }

    /* GET /v1/items/import is the {id} route; POST is the literal one */
    call(&r, "GET", "/v1/items/import", NULL, NULL);
    CHECK(r.status == 200 && strstr(r.body, "\"params\":[\"import\"]"), "GET import as {id}: %s",
          r.body);
    char *admin = bearer("u-admin", ROLE_ADMIN, 600);
    const char *h[] = {admin, NULL};
    call(&r, "POST", "/v1/items/import", h, "");
    CHECK_INT(r.status, 202, "POST /v1/items/import runs the literal route");
    free(admin);

    /* HEAD runs the GET route without a body */
    call(&r, "HEAD", "/healthz", NULL, NULL);
    CHECK_INT(r.status, 200, "HEAD /healthz");
    CHECK_INT(r.len, 0, "HEAD has no body");

    call(&r, "GET", "/v1/nostatus", NULL, NULL);
    check_problem(&r, 500, "internal", NULL, "handler without a status");
}

/* test_limits - 413 in its three forms, and the limit itself */
static void test_limits(void)
{
    reply r;
    char *big = malloc(4 * BODY_LIMIT + 1);
    memset(big, 'a', 4 * BODY_LIMIT);
    big[4 * BODY_LIMIT] = '\0';
    const char *expect[] = {"Expect: 100-continue", NULL};
    const char *no_expect[] = {"Expect:", NULL};

    call_ex(&r, "POST", "/v1/raw", NULL, big, BODY_LIMIT, 0);
    CHECK_INT(r.status, 200, "body of exactly the limit");
    CHECK_INT(r.len, BODY_LIMIT, "body of the limit echoed whole");

    call_ex(&r, "POST", "/v1/raw", expect, big, BODY_LIMIT + 1, 0);
    check_problem(&r, 413, "too-large", NULL, "over the limit, Expect: 100-continue");
    call_ex(&r, "POST", "/v1/raw", no_expect, big, 4 * BODY_LIMIT, 0);
    check_problem(&r, 413, "too-large", NULL, "over the limit, drained");
    call_ex(&r, "POST", "/v1/raw", no_expect, big, 4 * BODY_LIMIT, 1);
    check_problem(&r, 413, "too-large", NULL, "over the limit, chunked");
    /* a chunked body well past limit + 1 MiB: still drained and answered */
    size_t huge = BODY_LIMIT + (3u << 20);
    char *flood = malloc(huge);
    memset(flood, 'a', huge);
    call_ex(&r, "POST", "/v1/raw", no_expect, flood, (long)huge, 1);
    check_problem(&r, 413, "too-large", NULL, "chunked, 3 MiB over the limit");
    /* a stream route (an import) has its own limit, and the same answer past it */
    call_ex(&r, "POST", "/v1/stream", no_expect, flood, 2 * BODY_LIMIT, 1);
    CHECK(r.status == 200 && strstr(r.body, "\"spooled\":2048"),
          "stream route at its limit: %ld %s", r.status, r.body);
    call_ex(&r, "POST", "/v1/stream", no_expect, flood, (long)huge, 1);
    check_problem(&r, 413, "too-large", NULL, "stream route, chunked, 3 MiB over its limit");
    free(flood);
    call_ex(&r, "POST", "/v1/raw", no_expect, big, 100, 1);
    CHECK(r.status == 200 && r.len == 100, "chunked under the limit: %ld %zu", r.status, r.len);
    /* a protected route refuses an oversized body before looking at the token */
    call_ex(&r, "POST", "/v1/items", no_expect, big, 2 * BODY_LIMIT, 0);
    check_problem(&r, 413, "too-large", NULL, "413 before 401");
    call(&r, "GET", "/healthz", NULL, NULL);
    CHECK_INT(r.status, 200, "server still serves after refusals");
    free(big);
}

/* test_utf8 - bodies, paths and query arguments must be UTF-8 */
static void test_utf8(void)
{
    static const struct {
        const char *body;
        long status;
        const char *what;
    } cases[] = {
        {"\xe5\xb1\xb1\xe5\xa1\x98", 200, "山塘"},    {"\xf0\x9f\x98\x80", 200, "U+1F600"},
        {"\xf4\x8f\xbf\xbf", 200, "U+10FFFF"},        {"\xc0\xaf", 400, "overlong /"},
        {"\xe0\x80\xaf", 400, "overlong 3-byte"},     {"\xed\xa0\x80", 400, "surrogate D800"},
        {"\xf4\x90\x80\x80", 400, "beyond U+10FFFF"}, {"\xe5\xb1", 400, "truncated"},
        {"a\x80z", 400, "lone continuation"},         {"\xff", 400, "FF"},
    };
    reply r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        call(&r, "POST", "/v1/raw", NULL, cases[i].body);
        if (cases[i].status == 200) {
            CHECK(r.status == 200 && strcmp(r.body, cases[i].body) == 0, "%s: got %ld",
                  cases[i].what, r.status);
        } else {
            check_problem(&r, 400, "bad-encoding", NULL, cases[i].what);
        }
    }
    call(&r, "GET", "/v1/items?limit=5&q=%FF", NULL, NULL);
    check_problem(&r, 400, "bad-encoding", NULL, "query argument not UTF-8");
    call(&r, "GET", "/v1/items/%C0%AF", NULL, NULL);
    check_problem(&r, 400, "bad-encoding", NULL, "path not UTF-8");
    call(&r, "GET", "/v1/items/%E5%B1%B1", NULL, NULL);
    CHECK(r.status == 200 && strstr(r.body, "\xe5\xb1\xb1"), "UTF-8 path param: %s", r.body);
}

/* test_auth - 401, 403 and the claims reaching the handler */
static void test_auth(void)
{
    const char *body = "{\"name\":\"\xe5\xb1\xb1\xe5\xa1\x98\",\"count\":3}";
    char *notable = bearer("n-1", ROLE_NOTABLE, 600);
    char *planner = bearer("p-1", ROLE_PLANNER, 600);
    char *expired = bearer("n-1", ROLE_NOTABLE, -60);
    char *forged = strdup(notable);
    forged[strlen(forged) - 6] = forged[strlen(forged) - 6] == 'A' ? 'B' : 'A';
    char v[256];
    reply r;

    static const char *none[] = {NULL};
    const char *basic[] = {"Authorization: Basic dXNlcjpwYXNz", NULL};
    const char *empty[] = {"Authorization: Bearer ", NULL};
    const char *exp_h[] = {expired, NULL};
    const char *forged_h[] = {forged, NULL};
    const char *junk[] = {"Authorization: Bearer not.a.jwt", NULL};
    const struct {
        const char *const *h;
        const char *what;
    } unauth[] = {
        {none, "no token"},       {basic, "Basic scheme"},     {empty, "empty bearer"},
        {exp_h, "expired token"}, {forged_h, "bad signature"}, {junk, "garbage token"},
    };
    for (size_t i = 0; i < sizeof(unauth) / sizeof(unauth[0]); i++) {
        call(&r, "POST", "/v1/items", unauth[i].h, body);
        check_problem(&r, 401, "unauthenticated", NULL, unauth[i].what);
        CHECK(header(&r, "WWW-Authenticate", v, sizeof(v)) && strncmp(v, "Bearer", 6) == 0,
              "%s: WWW-Authenticate", unauth[i].what);
    }

    const char *planner_h[] = {planner, NULL};
    call(&r, "POST", "/v1/items", planner_h, body);
    check_problem(&r, 403, "forbidden", NULL, "planner may not write");

    const char *notable_h[] = {notable, "X-Request-Id: req-42.a_b", NULL};
    call(&r, "POST", "/v1/items", notable_h, body);
    CHECK_INT(r.status, 201, "notable may write");
    cJSON *o = cJSON_Parse(r.body);
    CHECK_STR(json_str(o, "sub"), "n-1", "handler sees req->auth.sub");
    CHECK_STR(json_str(o, "role"), "notable", "handler sees req->auth.role");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "authenticated")), "req->authenticated set");
    CHECK_STR(json_str(o, "request_id"), "req-42.a_b", "handler sees the request id");
    cJSON_Delete(o);
    CHECK_STR(header(&r, "Location", v, sizeof(v)), "/v1/items/1", "Location header");

    free(notable);
    free(planner);
    free(expired);
    free(forged);
}

/* test_json - malformed bodies and the validators over the wire */
static void test_json(void)
{
    char *admin = bearer("a-1", ROLE_ADMIN, 600);
    const char *h[] = {admin, NULL};
    static const struct {
        const char *body;
        long status;
        const char *slug, *pointer, *what;
    } cases[] = {
        {"", 400, "malformed-json", NULL, "empty body"},
        {"{\"name\":", 400, "malformed-json", NULL, "truncated JSON"},
        {"{} x", 400, "malformed-json", NULL, "trailing garbage"},
        {"[1,2]", 400, "malformed-json", NULL, "array, not object"},
        {"{\"count\":1}", 422, "validation", "/name", "name missing"},
        {"{\"name\":5,\"count\":1}", 422, "validation", "/name", "name not a string"},
        {"{\"name\":\"abcdef\",\"count\":1}", 422, "validation", "/name", "name too long"},
        {"{\"name\":\"ab\",\"count\":\"1\"}", 422, "validation", "/count", "count a string"},
        {"{\"name\":\"ab\",\"count\":101}", 422, "validation", "/count", "count over max"},
        {"{\"name\":\"ab\",\"count\":1,\"day\":\"2023-02-29\"}", 422, "validation", "/day",
         "not a date"},
        {"{\"name\":\"ab\",\"count\":1,\"day\":\"2024-02-29\"}", 201, NULL, NULL, "leap day"},
    };
    reply r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        call(&r, "POST", "/v1/items", h, cases[i].body);
        if (cases[i].status == 201) {
            CHECK_INT(r.status, 201, cases[i].what);
            continue;
        }
        check_problem(&r, cases[i].status, cases[i].slug, cases[i].pointer, cases[i].what);
    }
    call(&r, "POST", "/v1/items", h, "{\"count\":1}");
    cJSON *o = cJSON_Parse(r.body);
    CHECK_STR(json_str(o, "instance"), "/v1/items", "problem instance is the path");
    cJSON_Delete(o);
    free(admin);
}

/* test_strict_json - RFC 8259 numbers, integers as written, control characters, media type */
static void test_strict_json(void)
{
    char *admin = bearer("a-1", ROLE_ADMIN, 600);
    const char *h[] = {admin, NULL};
    static const struct {
        const char *body;
        long len; /* -1: strlen */
        long status;
        const char *slug, *pointer, *what;
    } cases[] = {
        {"{\"name\":\"ab\",\"count\":01}", -1, 400, "malformed-json", NULL, "leading zero"},
        {"{\"name\":\"ab\",\"count\":-01}", -1, 400, "malformed-json", NULL, "-01"},
        {"{\"name\":\"ab\",\"count\":1.}", -1, 400, "malformed-json", NULL, "1."},
        {"{\"name\":\"ab\",\"count\":.5}", -1, 400, "malformed-json", NULL, ".5"},
        {"{\"name\":\"ab\",\"count\":1e}", -1, 400, "malformed-json", NULL, "1e"},
        {"{\"name\":\"ab\",\"count\":1.0}", -1, 422, "validation", "/count", "1.0 integer"},
        {"{\"name\":\"ab\",\"count\":1e2}", -1, 422, "validation", "/count", "1e2 integer"},
        {"{\"name\":\"ab\",\"count\":-0}", -1, 422, "validation", "/count", "-0 integer"},
        {"{\"name\":\"ab\",\"count\":0}", -1, 201, NULL, NULL, "0 integer"},
        {"{\"name\":\"ab\",\"count\":10,\"x\":[0.5,-0,1E+2]}", -1, 201, NULL, NULL,
         "numbers elsewhere"},
        {"{\"name\":\"a\\u0000b\",\"count\":1}", -1, 422, "validation", "/name",
         "\\u0000 in a string"},
        {"{\"name\":\"a\0b\",\"count\":1}", 24, 422, "validation", "/name", "raw NUL"},
        {"{\"name\":\"a\\u0001\",\"count\":1}", -1, 422, "validation", "/name", "U+0001"},
        {"{\"name\":\"a\\n\",\"count\":1}", -1, 422, "validation", "/name", "LF in a name"},
        {"{\"name\":\"a\tb\",\"count\":1}", -1, 422, "validation", "/name", "raw tab"},
        {"{\"name\":\"a\x1f\",\"count\":1}", -1, 422, "validation", "/name", "raw U+001F"},
        {"{\"name\":\"ab\",\"count\":1,\"x\":{\"y\":[\"\\u0000\"]}}", -1, 422, "validation",
         "/x/y/0", "NUL deep inside"},
        {"{\"name\":\"ab\",\"count\":1,\"x\":\"\\\\u0000\"}", -1, 201, NULL, NULL,
         "an escaped backslash before u0000"},
    };
    reply r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long len = cases[i].len < 0 ? (long)strlen(cases[i].body) : cases[i].len;
        call_ex(&r, "POST", "/v1/items", h, cases[i].body, len, 0);
        if (cases[i].status == 201)
            CHECK(r.status == 201, "%s: got %ld, want 201 (%s)", cases[i].what, r.status, r.body);
        else
            check_problem(&r, cases[i].status, cases[i].slug, cases[i].pointer, cases[i].what);
    }

    static const struct {
        const char *type;
        long status;
    } types[] = {
        {"Content-Type: application/json", 201},
        {"Content-Type: application/json; charset=utf-8", 201},
        {"Content-Type: Application/JSON;charset=UTF-8", 201},
        {"Content-Type: text/plain", 415},
        {"Content-Type: application/x-www-form-urlencoded", 415},
        {"Content-Type: application/jsonx", 415},
        {"Content-Type:", 415},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        const char *th[] = {admin, types[i].type, NULL};
        call(&r, "POST", "/v1/items", th, "{\"name\":\"ab\",\"count\":1}");
        if (types[i].status == 201)
            CHECK(r.status == 201, "%s: got %ld", types[i].type, r.status);
        else
            check_problem(&r, 415, "unsupported-media-type", NULL, types[i].type);
    }
    free(admin);
}

/* test_request_id - X-Request-Id echoed when sane, generated otherwise */
static void test_request_id(void)
{
    char long_id[80], hdr[128], v[128];
    reply r;

    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", long_id);
    const char *sane[] = {"X-Request-Id: 0f0e-ABC_x.1", NULL};
    const char *spaces[] = {"X-Request-Id: has space", NULL};
    const char *quote[] = {"X-Request-Id: a\"b", NULL};
    const char *toolong[] = {hdr, NULL};

    call(&r, "GET", "/healthz", sane, NULL);
    CHECK_STR(header(&r, "X-Request-Id", v, sizeof(v)), "0f0e-ABC_x.1", "sane id echoed");
    call(&r, "GET", "/healthz", NULL, NULL);
    CHECK(header(&r, "X-Request-Id", v, sizeof(v)) && crypto_uuid_valid(v),
          "absent id: a UUID is generated");
    const char *const *bad[] = {spaces, quote, toolong};
    for (size_t i = 0; i < 3; i++) {
        call(&r, "GET", "/healthz", bad[i], NULL);
        CHECK(header(&r, "X-Request-Id", v, sizeof(v)) && crypto_uuid_valid(v),
              "insane id %zu replaced by a UUID (got %s)", i, v);
    }
}

/* test_builtins - /healthz, /readyz following the callback, /metrics */
static void test_builtins(void)
{
    char v[256];
    reply r;

    call(&r, "GET", "/healthz", NULL, NULL);
    CHECK_INT(r.status, 200, "/healthz");
    atomic_store(&ready_flag, 1);
    call(&r, "GET", "/readyz", NULL, NULL);
    CHECK_INT(r.status, 200, "/readyz ready");
    atomic_store(&ready_flag, 0);
    call(&r, "GET", "/readyz", NULL, NULL);
    check_problem(&r, 503, "not-ready", NULL, "/readyz not ready");
    CHECK(header(&r, "Retry-After", v, sizeof(v)) != NULL, "503 has Retry-After");
    atomic_store(&ready_flag, 1);

    call(&r, "GET", "/metrics", NULL, NULL);
    CHECK_INT(r.status, 200, "/metrics");
    CHECK(header(&r, "Content-Type", v, sizeof(v)) && strncmp(v, "text/plain", 10) == 0,
          "/metrics is text/plain: %s", v);
    static const char *const want[] = {
        "shantang_http_requests_total{route=\"/v1/items\",method=\"POST\",code=\"201\"}",
        "shantang_http_requests_total{route=\"/v1/items\",method=\"POST\",code=\"401\"}",
        "shantang_http_requests_total{route=\"unmatched\",method=\"GET\",code=\"404\"}",
        "shantang_http_requests_total{route=\"/readyz\",method=\"GET\",code=\"503\"}",
        "shantang_http_request_duration_seconds_count{route=\"/v1/items\",method=\"POST\"}",
        "shantang_http_requests_in_flight",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        CHECK(strstr(r.body, want[i]) != NULL, "/metrics lacks %s", want[i]);
}

/* test_pages - ?limit= and ?cursor= */
static void test_pages(void)
{
    static const struct {
        const char *query;
        long status;
        int limit;
    } cases[] = {
        {"", 200, 50},          {"?limit=1", 200, 1},     {"?limit=1000", 200, 1000},
        {"?limit=0", 422, 0},   {"?limit=abc", 422, 0},   {"?limit=1001", 422, 0},
        {"?limit=-1", 422, 0},  {"?limit=", 422, 0},      {"?limit=%2B5", 422, 0},
        {"?limit=10x", 422, 0}, {"?limit=99999", 422, 0},
    };
    char path[256];
    reply r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), "/v1/items%s", cases[i].query);
        call(&r, "GET", path, NULL, NULL);
        if (cases[i].status == 200) {
            cJSON *o = cJSON_Parse(r.body);
            CHECK(r.status == 200 && o &&
                      cJSON_GetObjectItem(o, "limit")->valueint == cases[i].limit,
                  "%s: got %ld %s", path, r.status, r.body);
            cJSON_Delete(o);
        } else {
            check_problem(&r, 422, "validation", "/limit", path);
        }
    }

    static const char *const keys[] = {"2024-01-31|0190f0e8-aaaa", "a", "ab", "abc",
                                       "\xe5\xb1\xb1\xe5\xa1\x98"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char *c = page_cursor_encode(keys[i]);
        CHECK(c && strpbrk(c, "+/=") == NULL, "cursor %zu is unpadded Base64url: %s", i,
              c ? c : "(null)");
        snprintf(path, sizeof(path), "/v1/items?cursor=%s", c ? c : "");
        call(&r, "GET", path, NULL, NULL);
        cJSON *o = cJSON_Parse(r.body);
        CHECK_STR(json_str(o, "cursor"), keys[i], "cursor round trip");
        cJSON_Delete(o);
        free(c);
    }
    call(&r, "GET", "/v1/items", NULL, NULL);
    CHECK(strstr(r.body, "\"cursor\":null") != NULL, "absent cursor: %s", r.body);
    static const char *const garbage[] = {
        "%25%25%25",
        "!!!!",
        "A",
        "AA%0A",
        "AB%00",
        "wA", /* one byte 0xC0: not UTF-8 */
        ("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUZHSElKS0xNTk9QU"
         "VJTVFVWV1hZWkFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFla")}; /* one long entry, on purpose */
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        snprintf(path, sizeof(path), "/v1/items?cursor=%s", garbage[i]);
        call(&r, "GET", path, NULL, NULL);
        check_problem(&r, 422, "validation", "/cursor", path);
    }
}

/* test_validators - the field helpers without a server */
static void test_validators(void)
{
    cJSON *o = cJSON_Parse("{\"s\":\"\xe5\xb1\xb1\xe5\xa1\x98\xe6\x9d\x91\",\"n\":42,\"big\":"
                           "9007199254740993,\"neg\":-9007199254740991,\"f\":1.5,\"str\":\"7\","
                           "\"nul\":null,\"d\":\"2024-02-29\",\"d2\":\"2024-2-29\",\"a/b\":1}");
    http_resp resp = {0};
    const char *s = NULL;
    long long v = 0;
    int present = -1;

    /* string length counts characters: 山塘村 is 3 characters, 9 bytes */
    CHECK_INT(http_field_string(o, "s", 1, 3, 3, &s, &resp), 0, "3 chars within 3..3");
    CHECK_STR(s, "\xe5\xb1\xb1\xe5\xa1\x98\xe6\x9d\x91", "string out");
    CHECK_INT(http_field_string(o, "s", 1, 4, 9, &s, &resp), -1, "3 chars under min 4");
    CHECK_INT(resp.status, 422, "too short status");
    CHECK(resp.body && strstr(resp.body, "\"pointer\":\"/s\""), "pointer /s: %s", resp.body);
    CHECK_STR(resp.content_type, "application/problem+json", "problem content type");
    CHECK_INT(http_field_string(o, "s", 1, 1, 2, &s, &resp), -1, "3 chars over max 2");
    CHECK_INT(http_field_string(o, "n", 1, 0, 9, &s, &resp), -1, "number is not a string");
    s = "untouched";
    CHECK_INT(http_field_string(o, "absent", 0, 1, 9, &s, &resp), 0, "absent optional");
    CHECK_STR(s, "untouched", "absent optional leaves out untouched");
    CHECK_INT(http_field_string(o, "nul", 0, 1, 9, &s, &resp), 0, "null optional is absent");
    CHECK_INT(http_field_string(o, "absent", 1, 1, 9, &s, &resp), -1, "absent required");
    CHECK_INT(http_field_string(o, "a/b", 1, 1, 9, &s, &resp), -1, "escaped pointer");
    CHECK(strstr(resp.body, "\"pointer\":\"/a~1b\"") != NULL, "pointer escapes /: %s", resp.body);

    /* a member name longer than a pointer holds is cut between characters:
     * "a" and 60 times U+1D57F (4 bytes each) are more than the 160 bytes of the buffer */
    char longname[242] = "a";
    for (int i = 0; i < 60; i++)
        strcat(longname, "\xf0\x9d\x95\xbf");
    CHECK_INT(http_field_string(o, longname, 1, 1, 9, &s, &resp), -1, "long name absent");
    CHECK(resp.body != NULL && utf8_whole(resp.body), "long pointer stays UTF-8: %s", resp.body);
    cJSON *lp = resp.body ? cJSON_Parse(resp.body) : NULL;
    const char *lpv = json_str(lp, "pointer");
    CHECK(lpv != NULL && lpv[0] == '/' && strlen(lpv) > 100 && (strlen(lpv) - 2) % 4 == 0 &&
              strncmp(lpv + 1, longname, strlen(lpv) - 1) == 0,
          "long pointer is a whole-character prefix: %s", lpv ? lpv : "(none)");
    cJSON_Delete(lp);

    static const struct {
        const char *name;
        long long min, max;
        int rc;
        long long want;
    } ints[] = {
        {"n", 0, 100, 0, 42},
        {"n", 43, 100, -1, 0},
        {"n", 0, 41, -1, 0},
        {"big", 0, 9223372036854775807LL, -1, 0}, /* beyond 2^53: not exact */
        {"neg", -9223372036854775807LL - 1, 0, 0, -9007199254740991LL},
        {"neg", -1000, 0, -1, 0},
        {"f", 0, 10, -1, 0},
        {"str", 0, 10, -1, 0},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        v = 0;
        int rc =
            http_field_int64(o, ints[i].name, 1, ints[i].min, ints[i].max, &v, &present, &resp);
        CHECK(rc == ints[i].rc && (rc < 0 || v == ints[i].want),
              "int64 %s [%lld,%lld]: rc %d v %lld", ints[i].name, ints[i].min, ints[i].max, rc, v);
        if (rc < 0) {
            char ptr[64];
            snprintf(ptr, sizeof(ptr), "\"pointer\":\"/%s\"", ints[i].name);
            CHECK(resp.status == 422 && strstr(resp.body, ptr), "int64 %s problem: %s",
                  ints[i].name, resp.body);
        }
    }
    v = 7;
    CHECK_INT(http_field_int64(o, "absent", 0, 0, 1, &v, &present, &resp), 0, "absent int64");
    CHECK(v == 7 && present == 0, "absent int64 untouched, present 0");
    http_field_int64(o, "n", 0, 0, 100, &v, &present, &resp);
    CHECK_INT(present, 1, "present int64");

    const char *d = NULL;
    CHECK_INT(http_field_date(o, "d", 1, &d, &resp), 0, "leap day");
    CHECK_INT(http_field_date(o, "d2", 1, &d, &resp), -1, "unpadded date");
    CHECK_INT(http_field_date(o, "n", 1, &d, &resp), -1, "number date");

    free(resp.body);
    cJSON_Delete(o);

    /* http_problem on its own: the RFC 9457 members, no request context */
    http_resp p = {0};
    http_problem(&p, 409, "conflict", "Conflict", "/x/0", "item %d exists", 3);
    cJSON *j = cJSON_Parse(p.body);
    CHECK_STR(json_str(j, "type"), "https://shantang.cn/problems/conflict", "problem type");
    CHECK_STR(json_str(j, "detail"), "item 3 exists", "problem detail formatted");
    CHECK_INT(p.status, 409, "problem status");
    cJSON_Delete(j);
    http_problem(&p, 400, "x", "X", NULL, "bad byte \xff here"); /* replaces, scrubs */
    CHECK(p.body && strstr(p.body, "bad byte ? here"), "detail scrubbed to UTF-8: %s", p.body);
    free(p.body);
}

/* slow_client - thread: GET /v1/slow */
static void *slow_client(void *arg)
{
    call((reply *)arg, "GET", "/v1/slow", NULL, NULL);
    return NULL;
}

/* test_stop - http_stop lets the in-flight request finish, then refuses */
static void test_stop(http_server *srv)
{
    static reply slow;
    reply r;
    pthread_t t;
    const struct timespec tick = {0, 5 * 1000 * 1000};

    pthread_create(&t, NULL, slow_client, &slow);
    for (int i = 0; i < 400 && !atomic_load(&slow_entered); i++)
        nanosleep(&tick, NULL);
    CHECK(atomic_load(&slow_entered), "slow handler started");
    srv = http_stop(srv);
    CHECK(srv == NULL, "http_stop returns NULL");
    pthread_join(t, NULL);
    CHECK(slow.rc == CURLE_OK && slow.status == 200, "in-flight request finished: rc %d status %ld",
          (int)slow.rc, slow.status);
    call(&r, "GET", "/healthz", NULL, NULL);
    CHECK(r.rc == CURLE_COULDNT_CONNECT, "after stop: connection refused (rc %d)", (int)r.rc);
}

int main(void)
{
    char err[256];
    http_server *srv = NULL;
    int port = 18000 + (int)(getpid() % 1000);
    auth_verifier_config vc = {
        .audience = "shantang", .hs256_key = key, .hs256_len = sizeof(key) - 1, .skew_s = 0};
    auth_verifier *verifier = auth_verifier_new(&vc, err, sizeof(err));
    http_config cfg = {
        .addr = "127.0.0.1",
        .threads = 4,
        .body_limit = BODY_LIMIT,
        .verifier = verifier,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .ready = test_ready,
    };

    log_init("test_http", LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_validators();

    for (int i = 0; i < 20 && srv == NULL; i++) {
        cfg.port = port + i;
        srv = http_start(&cfg, err, sizeof(err));
    }
    if (srv == NULL) {
        fprintf(stderr, "http_start: %s\n", err);
        return 1;
    }
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", cfg.port);

    /* start-up refusals: port in use, bad patterns, protected routes without a key */
    CHECK(http_start(&cfg, err, sizeof(err)) == NULL && strstr(err, "cannot listen"),
          "port in use refused: %s", err);
    static const http_route bad[] = {{"GET", "/v1/{a}x", 0, h_raw, 0}};
    http_config c2 = cfg;
    c2.routes = bad;
    c2.nroutes = 1;
    CHECK(http_start(&c2, err, sizeof(err)) == NULL, "pattern /v1/{a}x refused");
    c2 = cfg;
    c2.verifier = NULL;
    c2.port = cfg.port + 1;
    CHECK(http_start(&c2, err, sizeof(err)) == NULL && strstr(err, "verifier"),
          "role routes without a key refused: %s", err);

    test_routing();
    test_limits();
    test_utf8();
    test_auth();
    test_json();
    test_strict_json();
    test_request_id();
    test_builtins();
    test_pages();
    test_stop(srv);
    auth_verifier_free(verifier);
    curl_global_cleanup();
    return check_done();
}
