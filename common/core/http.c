/*
 * http.c - the HTTP front on libmicrohttpd: routing, limits, auth, errors.
 *
 * What it trusts: nothing from the client. The request line, path, query
 * arguments and body are checked here before a handler runs: bodies over
 * cfg->body_limit get 413 (refused from Content-Length when the client waits
 * for 100-continue or announces far too much, otherwise drained and refused),
 * a path, query argument or body that is not UTF-8 gets 400, a route that
 * needs a role gets 401 without a valid bearer token and 403 with a token of
 * another role. Handlers run on libmicrohttpd's worker threads with the log
 * request id set, and their answers are sent with Cache-Control: no-store.
 *
 * Configuration: everything comes from http_config (the service skeleton
 * fills it from HTTP_ADDR, HTTP_PORT, HTTP_THREADS, HTTP_BODY_LIMIT and the
 * token verifier of the AUTH_* parameters); this file reads no environment.
 *
 * Reports: one access line per request at info (method, path without the
 * query, status, milliseconds; never bodies or query strings), libmicrohttpd's
 * own complaints at warn, and the metrics
 *   shantang_http_requests_total{route,method,code}
 *   shantang_http_request_duration_seconds_sum / _count{route,method}
 *   shantang_http_requests_in_flight
 */
#include "core/http.h"

#include "core/metrics.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/utf8.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_PROBLEM_BASE "https://shantang.cn/problems/"
#define HTTP_STOP_WAIT_MS 10000     /* how long http_stop lets requests finish */
#define HTTP_CONN_TIMEOUT_S 30      /* idle connections are closed after this */
#define HTTP_CONN_LIMIT 1024        /* concurrent connections, all threads */
#define HTTP_DRAIN_EXTRA (1u << 20) /* bytes past the limit read before refusing */
#define HTTP_DRAIN_S 30             /* an upload past limit + extra is cut after this */
#define HTTP_REQUEST_ID_MAX 64      /* longest X-Request-Id taken from a client */
#define HTTP_LOG_PATH_MAX 200       /* bytes of path shown in the access line */
#define HTTP_MAX_THREADS 256        /* sanity bound on cfg->threads */

struct http_server {
    struct MHD_Daemon *daemon; /* the libmicrohttpd daemon */
    http_config cfg;           /* copy of the configuration (its pointers borrowed) */
    atomic_int inflight;       /* requests begun and not yet completed */
    atomic_int stopping;       /* 1 once http_stop began: answers close the connection */
};

/* conn_ctx - one request's state across the access handler's calls */
typedef struct conn_ctx {
    char *body;            /* accumulated upload, NUL-terminated; NULL if none */
    size_t len;            /* bytes in body */
    size_t cap;            /* bytes allocated for body */
    size_t received;       /* bytes uploaded, kept or not */
    int too_big;           /* 1 once the upload passed the limit */
    int answered;          /* 1 once a response was queued */
    struct timespec start; /* monotonic time of the first call */
    FILE *spool;           /* a stream route's body on disk, or NULL */
    size_t limit;          /* the body limit of this request */
} conn_ctx;

/* The request being handled on this thread, for http_problem. */
static _Thread_local const char *tl_request_id;
static _Thread_local const char *tl_instance;

/* Requests in flight over every server of the process, for the gauge. */
static atomic_int http_inflight_all;
static atomic_int http_gauge_registered;

/* ---------- responses ---------- */

/* http_reply_json - set status and a JSON body; takes ownership of body (may be NULL) */
void http_reply_json(http_resp *resp, int status, cJSON *body)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    resp->status = status;
    resp->content_type = "application/json";
    if (body == NULL)
        return;
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (text == NULL) {
        resp->status = 500; /* out of memory: an empty 500 is all we can say */
        return;
    }
    resp->body = text;
    resp->body_len = strlen(text);
}

/* http_reply_raw - set status, content type (static) and a copy of len bytes */
void http_reply_raw(http_resp *resp, int status, const char *content_type, const void *data,
                    size_t len)
{
    free(resp->body);
    resp->body = malloc(len + 1);
    resp->status = status;
    resp->content_type = content_type;
    if (resp->body == NULL) {
        resp->status = 500;
        resp->content_type = "application/json";
        resp->body_len = 0;
        return;
    }
    if (len > 0)
        memcpy(resp->body, data, len);
    resp->body[len] = '\0';
    resp->body_len = len;
}

/* problem_v - http_problem with a va_list */
static void problem_v(http_resp *resp, int status, const char *slug, const char *title,
                      const char *pointer, const char *fmt, va_list ap)
{
    char detail[512], type[160], where[512];

    vsnprintf(detail, sizeof(detail), fmt, ap);
    utf8_scrub(detail); /* a detail must never make the JSON invalid */
    if (pointer != NULL) {
        /* nor a pointer that its caller's buffer cut inside a character */
        snprintf(where, sizeof(where), "%s", pointer);
        utf8_scrub(where);
        pointer = where;
    }
    snprintf(type, sizeof(type), HTTP_PROBLEM_BASE "%s", slug ? slug : "error");

    cJSON *o = cJSON_CreateObject();
    if (o != NULL) {
        cJSON_AddStringToObject(o, "type", type);
        cJSON_AddStringToObject(o, "title", title ? title : "Error");
        cJSON_AddNumberToObject(o, "status", status);
        cJSON_AddStringToObject(o, "detail", detail);
        if (tl_instance != NULL)
            cJSON_AddStringToObject(o, "instance", tl_instance);
        if (pointer != NULL) {
            cJSON_AddStringToObject(o, "pointer", pointer);
            cJSON *errors = cJSON_AddArrayToObject(o, "errors");
            cJSON *e = cJSON_CreateObject();
            if (e != NULL) {
                cJSON_AddStringToObject(e, "pointer", pointer);
                cJSON_AddStringToObject(e, "detail", detail);
                if (!cJSON_AddItemToArray(errors, e))
                    cJSON_Delete(e);
            }
        }
        if (tl_request_id != NULL)
            cJSON_AddStringToObject(o, "request_id", tl_request_id);
    }
    http_reply_json(resp, status, o);
    resp->status = status;
    resp->content_type = "application/problem+json";
}

/* http_problem - an RFC 9457 answer (see http.h) */
void http_problem(http_resp *resp, int status, const char *slug, const char *title,
                  const char *pointer, const char *detail_fmt, ...)
{
    va_list ap;

    va_start(ap, detail_fmt);
    problem_v(resp, status, slug, title, pointer, detail_fmt, ap);
    va_end(ap);
}

/* ---------- request accessors ---------- */

/* http_query - the value of query argument name, or NULL */
const char *http_query(const http_req *req, const char *name)
{
    if (req == NULL || req->conn == NULL)
        return NULL;
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND,
                                       name);
}

/* http_header - the value of request header name (case-insensitive), or NULL */
const char *http_header(const http_req *req, const char *name)
{
    if (req == NULL || req->conn == NULL)
        return NULL;
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_HEADER_KIND, name);
}

/* http_client_address - the peer's numeric address, "" if unknown */
char *http_client_address(const http_req *req, char *out, size_t len)
{
    out[0] = '\0';
    if (req == NULL || req->conn == NULL)
        return out;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        (struct MHD_Connection *)req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
    return out;
}

/* ---------- strict JSON ---------- */

/*
 * cJSON is lenient where RFC 8259 is not (it takes 01 and 1.), keeps no
 * trace of how a number was written, and cuts a string at a NUL. So a body
 * is first scanned here: numbers must follow the RFC grammar, each number's
 * literal is remembered (and later hung on its item as valuestring, which
 * cJSON frees with the item), and a NUL inside a string (raw, or \u0000) is
 * turned into U+0001 in a copy so that it survives parsing and the control
 * character check can refuse the field it sits in.
 */

/* json_lit - where one number literal of the body starts and how long it is */
typedef struct json_lit {
    size_t at;  /* offset in the body */
    size_t len; /* bytes */
} json_lit;

/* json_number_len - length of an RFC 8259 number at s (n bytes), 0 if there is none */
static size_t json_number_len(const char *s, size_t n)
{
    size_t i = 0;

    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0') {
        i++;
    } else if (i < n && s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return 0;
    }
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E'))
        return 0; /* 01, 1.2.3: not one number */
    return i;
}

/*
 * json_scan - check the numbers of body (len bytes) and list their literals
 * (*lits, malloc'd, *nlits entries); NULs inside strings become U+0001 in a
 * copy (*copy, malloc'd, or NULL when the body needs none). Returns 0, or
 * the offset + 1 of a malformed number, or -1 when out of memory.
 */
static long json_scan(const char *body, size_t len, json_lit **lits, size_t *nlits, char **copy)
{
    size_t cap = 0;
    int in_str = 0;

    *lits = NULL, *nlits = 0, *copy = NULL;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_str) {
            if (c == '\\' && i + 1 < len) {
                if (body[i + 1] == 'u' && i + 5 < len && memcmp(body + i + 2, "0000", 4) == 0) {
                    if (*copy == NULL && (*copy = malloc(len + 1)) != NULL)
                        memcpy(*copy, body, len), (*copy)[len] = '\0';
                    if (*copy == NULL)
                        return -1;
                    (*copy)[i + 5] = '1'; /* \u0000 -> \u0001 */
                }
                i++;
            } else if (c == '\0') {
                if (*copy == NULL && (*copy = malloc(len + 1)) != NULL)
                    memcpy(*copy, body, len), (*copy)[len] = '\0';
                if (*copy == NULL)
                    return -1;
                (*copy)[i] = '\x01';
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t n = json_number_len(body + i, len - i);
            if (n == 0)
                return (long)i + 1;
            if (*nlits == cap) {
                cap = cap ? 2 * cap : 16;
                json_lit *p = realloc(*lits, cap * sizeof(*p));
                if (p == NULL)
                    return -1;
                *lits = p;
            }
            (*lits)[(*nlits)++] = (json_lit){i, n};
            i += n - 1;
        }
    }
    return 0;
}

/* json_attach - hang each number's literal on its item, in document order; -1 out of memory */
static int json_attach(cJSON *item, const char *body, const json_lit *lits, size_t nlits,
                       size_t *next)
{
    for (; item != NULL; item = item->next) {
        if (cJSON_IsNumber(item) && *next < nlits && item->valuestring == NULL) {
            const json_lit *l = &lits[(*next)++];
            if ((item->valuestring = strndup(body + l->at, l->len)) == NULL)
                return -1;
        }
        if (item->child != NULL && json_attach(item->child, body, lits, nlits, next) < 0)
            return -1;
    }
    return 0;
}

/*
 * pointer_step - append "/" + token (~ and / escaped) to a JSON pointer in
 * buf; a token longer than buf has room for is cut after its last whole
 * character, never inside one, so that the pointer stays UTF-8
 */
static void pointer_step(char *buf, size_t len, const char *token)
{
    size_t o = strlen(buf);

    if (o + 2 >= len)
        return;
    buf[o++] = '/';
    for (const unsigned char *p = (const unsigned char *)token; *p;) {
        size_t n = *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
        if (*p == '~' || *p == '/') {
            if (o + 2 >= len)
                break;
            buf[o++] = '~';
            buf[o++] = *p == '~' ? '0' : '1';
            p++;
            continue;
        }
        if (o + n >= len)
            break;
        for (size_t k = 0; k < n && *p; k++)
            buf[o++] = (char)*p++;
    }
    buf[o] = '\0';
}

/* text_control - 1 if s holds a control character other than tab, LF and CR */
static int text_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
            return 1;
    return 0;
}

/* any_control - 1 if s holds any character below U+0020 */
static int any_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20)
            return 1;
    return 0;
}

/*
 * json_controls - find a string (or member name) below item holding a control
 * character no field allows (a NUL included); its pointer goes into buf.
 * Returns 1 when found.
 */
static int json_controls(const cJSON *item, char *buf, size_t len)
{
    size_t base = strlen(buf);
    int index = 0;

    for (; item != NULL; item = item->next, index++) {
        buf[base] = '\0';
        if (item->string != NULL) {
            pointer_step(buf, len, item->string);
            if (text_control(item->string))
                return 1;
        } else {
            char num[24];
            snprintf(num, sizeof(num), "%d", index);
            pointer_step(buf, len, num);
        }
        if (cJSON_IsString(item) && item->valuestring && text_control(item->valuestring))
            return 1;
        if (item->child != NULL && json_controls(item->child, buf, len))
            return 1;
    }
    buf[base] = '\0';
    return 0;
}

/* json_media_type - 1 if a Content-Type value is application/json (parameters allowed) */
static int json_media_type(const char *v)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;

    if (v == NULL)
        return 0;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strncasecmp(v, want, n) != 0)
        return 0;
    v += n;
    while (*v == ' ' || *v == '\t')
        v++;
    return *v == '\0' || *v == ';';
}

/* http_parse_json - the body as a JSON object, or NULL after a 400/415/422 problem */
cJSON *http_parse_json(const http_req *req, http_resp *resp)
{
    const char *end = NULL;
    json_lit *lits = NULL;
    size_t nlits = 0, next = 0;
    char *copy = NULL, where[160] = "";

    if (req->body == NULL || req->body_len == 0) {
        http_problem(resp, 400, "malformed-json", "Malformed JSON", NULL,
                     "the request body is empty; a JSON object is expected");
        return NULL;
    }
    if (req->conn != NULL && !json_media_type(http_header(req, "Content-Type"))) {
        http_problem(resp, 415, "unsupported-media-type", "Unsupported media type", NULL,
                     "the request body must be sent as Content-Type: application/json");
        return NULL;
    }
    long bad = json_scan(req->body, req->body_len, &lits, &nlits, &copy);
    if (bad != 0) {
        free(lits);
        free(copy);
        if (bad < 0)
            http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        else
            http_problem(resp, 400, "malformed-json", "Malformed JSON", NULL,
                         "the request body is not valid JSON: a malformed number at byte %ld",
                         bad - 1);
        return NULL;
    }
    const char *text = copy ? copy : req->body;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, req->body_len, &end, 0);
    if (doc == NULL) {
        long at = end != NULL ? (long)(end - text) : 0;
        free(lits);
        free(copy);
        http_problem(resp, 400, "malformed-json", "Malformed JSON", NULL,
                     "the request body is not valid JSON (near byte %ld)", at);
        return NULL;
    }
    for (const char *p = end; p < text + req->body_len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(doc);
            free(lits);
            free(copy);
            http_problem(resp, 400, "malformed-json", "Malformed JSON", NULL,
                         "the request body has content after the JSON value (byte %ld)",
                         (long)(p - text));
            return NULL;
        }
    }
    int oom = json_attach(doc, text, lits, nlits, &next) < 0;
    free(lits);
    free(copy);
    if (oom) {
        cJSON_Delete(doc);
        http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        return NULL;
    }
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        http_problem(resp, 400, "malformed-json", "Malformed JSON", NULL,
                     "the request body must be a JSON object");
        return NULL;
    }
    if (json_controls(doc->child, where, sizeof(where))) {
        cJSON_Delete(doc);
        http_problem(resp, 422, "validation", "Validation failed", where,
                     "%s holds a control character (NUL or below U+0020)", where);
        return NULL;
    }
    return doc;
}

/* http_json_integral - 1 if a number item was written as an integer (no fraction,
   exponent or -0), judged from its literal when http_parse_json kept it */
int http_json_integral(const cJSON *item)
{
    if (!cJSON_IsNumber(item))
        return 0;
    const char *lit = item->valuestring;
    if (lit == NULL)
        return 1; /* built in memory, not parsed: the value alone decides */
    if (strpbrk(lit, ".eE") != NULL || strcmp(lit, "-0") == 0)
        return 0;
    return 1;
}

/* ---------- field validation ---------- */

/* field_pointer - "/" + name as a JSON pointer (~ and / escaped) into buf */
static const char *field_pointer(const char *name, char *buf, size_t len)
{
    if (len < 2)
        return "";
    buf[0] = '\0';
    pointer_step(buf, len, name);
    return buf;
}

/* field_problem - a 422 validation problem naming /name; returns -1 */
static int field_problem(http_resp *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int field_problem(http_resp *resp, const char *name, const char *fmt, ...)
{
    char ptr[160];
    va_list ap;

    va_start(ap, fmt);
    problem_v(resp, 422, "validation", "Validation failed", field_pointer(name, ptr, sizeof(ptr)),
              fmt, ap);
    va_end(ap);
    return -1;
}

/* field_get - the member name of obj, or NULL when absent or JSON null */
static const cJSON *field_get(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
    return cJSON_IsNull(item) ? NULL : item;
}

/* field_string - a string field of min_chars..max_chars; text: tab, CR and LF allowed */
static int field_string(const cJSON *obj, const char *name, int required, size_t min_chars,
                        size_t max_chars, int text, const char **out, http_resp *resp)
{
    const cJSON *item = field_get(obj, name);

    if (item == NULL)
        return required ? field_problem(resp, name, "%s is required", name) : 0;
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return field_problem(resp, name, "%s must be a string", name);
    const char *s = item->valuestring;
    if (!utf8_valid(s, strlen(s)))
        return field_problem(resp, name, "%s must be valid UTF-8", name);
    if (text ? text_control(s) : any_control(s))
        return field_problem(resp, name, "%s must not hold control characters%s", name,
                             text ? " other than tab and line breaks" : "");
    size_t n = utf8_chars(s);
    if (n < min_chars)
        return field_problem(resp, name, "%s must be at least %zu characters long", name,
                             min_chars);
    if (n > max_chars)
        return field_problem(resp, name, "%s must be at most %zu characters long", name, max_chars);
    *out = s;
    return 0;
}

/* http_field_string - check a one-line string field of min_chars..max_chars characters */
int http_field_string(const cJSON *obj, const char *name, int required, size_t min_chars,
                      size_t max_chars, const char **out, http_resp *resp)
{
    return field_string(obj, name, required, min_chars, max_chars, 0, out, resp);
}

/* http_field_text - check a free-text field: like http_field_string, tab and line breaks allowed */
int http_field_text(const cJSON *obj, const char *name, int required, size_t min_chars,
                    size_t max_chars, const char **out, http_resp *resp)
{
    return field_string(obj, name, required, min_chars, max_chars, 1, out, resp);
}

/* http_field_int64 - check an integer field within min..max (exact below 2^53) */
int http_field_int64(const cJSON *obj, const char *name, int required, long long min, long long max,
                     long long *out, int *present, http_resp *resp)
{
    const double exact = 9007199254740992.0; /* 2^53: beyond it doubles skip integers */
    const cJSON *item = field_get(obj, name);

    if (present != NULL)
        *present = 0;
    if (item == NULL)
        return required ? field_problem(resp, name, "%s is required", name) : 0;
    double d = item->valuedouble;
    if (!cJSON_IsNumber(item) || !http_json_integral(item) || d != d || d <= -exact || d >= exact ||
        d != (double)(long long)d)
        return field_problem(resp, name, "%s must be an integer", name);
    long long v = (long long)d;
    if (v < min || v > max)
        return field_problem(resp, name, "%s must be between %lld and %lld", name, min, max);
    *out = v;
    if (present != NULL)
        *present = 1;
    return 0;
}

/* http_field_date - check a YYYY-MM-DD calendar date field */
int http_field_date(const cJSON *obj, const char *name, int required, const char **out,
                    http_resp *resp)
{
    const cJSON *item = field_get(obj, name);

    if (item == NULL)
        return required ? field_problem(resp, name, "%s is required", name) : 0;
    if (!cJSON_IsString(item) || item->valuestring == NULL || !time_date_valid(item->valuestring))
        return field_problem(resp, name, "%s must be a date YYYY-MM-DD", name);
    *out = item->valuestring;
    return 0;
}

/* ---------- routing ---------- */

/*
 * route_match - 1 if path fits pattern. The values of {x} segments are
 * copied, NUL-terminated, into buf (strlen(path)+1 bytes) and listed in params.
 */
static int route_match(const char *pattern, const char *path, char *buf, const char **params,
                       int *nparams)
{
    const char *p = pattern, *s = path;
    char *w = buf;
    int n = 0;

    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return 0;
        p++, s++;
        const char *pe = strchrnul(p, '/'), *se = strchrnul(s, '/');
        size_t plen = (size_t)(pe - p), slen = (size_t)(se - s);
        if (*p == '{') {
            if (slen == 0 || n == HTTP_MAX_PATH_PARAMS)
                return 0;
            memcpy(w, s, slen);
            w[slen] = '\0';
            params[n++] = w;
            w += slen + 1;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return 0;
        }
        p = pe, s = se;
    }
    if (*p || *s)
        return 0;
    *nparams = n;
    return 1;
}

/* method_fits - 1 if a request method runs a route of route_method (HEAD runs GET) */
static int method_fits(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

/* allow_add - add method to a ", "-separated Allow list unless present */
static void allow_add(char *allow, size_t len, const char *method)
{
    size_t mlen = strlen(method);

    for (const char *p = allow; *p;) {
        const char *e = strchrnul(p, ',');
        if ((size_t)(e - p) == mlen && memcmp(p, method, mlen) == 0)
            return;
        p = *e ? e + 2 : e;
    }
    size_t used = strlen(allow);
    snprintf(allow + used, len - used, "%s%s", used ? ", " : "", method);
}

/* pattern_check - 0 if a route pattern is usable, -1 with err */
static int pattern_check(const http_route *r, char *err, size_t errlen)
{
    int params = 0;

    if (r->method == NULL || r->pattern == NULL || r->fn == NULL || r->pattern[0] != '/') {
        snprintf(err, errlen, "route %s: needs a method, a pattern starting with / and a handler",
                 r->pattern ? r->pattern : "(null)");
        return -1;
    }
    for (const char *p = r->pattern; *p; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '?' || *p == '%') {
            snprintf(err, errlen, "route %s: bad character in pattern", r->pattern);
            return -1;
        }
        if (*p == '{') {
            const char *e = strchrnul(p, '/');
            if (p[-1] != '/' || e - p < 3 || e[-1] != '}' ||
                memchr(p + 1, '{', (size_t)(e - p - 1))) {
                snprintf(err, errlen, "route %s: a parameter must be a whole {name} segment",
                         r->pattern);
                return -1;
            }
            params++;
        }
    }
    if (params > HTTP_MAX_PATH_PARAMS) {
        snprintf(err, errlen, "route %s: more than %d parameters", r->pattern,
                 HTTP_MAX_PATH_PARAMS);
        return -1;
    }
    return 0;
}

/* ---------- the request pipeline ---------- */

/* request_id_sane - 1 if a client's X-Request-Id may be used: 1..64 of [A-Za-z0-9._-] */
static int request_id_sane(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        if (!ok || n >= HTTP_REQUEST_ID_MAX)
            return 0;
    }
    return n > 0;
}

/* query_arg_check - MHD iterator: clear *ok on a query key or value that is not UTF-8 */
static enum MHD_Result query_arg_check(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    int *ok = cls;

    (void)kind;
    if ((key != NULL && !utf8_valid(key, strlen(key))) ||
        (value != NULL && !utf8_valid(value, strlen(value)))) {
        *ok = 0;
        return MHD_NO;
    }
    return MHD_YES;
}

/* method_label - the method as a metrics label; "other" for unknown ones */
static const char *method_label(const char *m)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "other";
}

/* inflight_value - gauge callback: requests in flight in this process */
static double inflight_value(void *arg)
{
    (void)arg;
    return (double)atomic_load(&http_inflight_all);
}

/* record_metrics - count one answered request and its duration */
static void record_metrics(const char *route, const char *method, int status, double seconds)
{
    char labels[320];

    snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",code=\"%d\"", route,
             method_label(method), status);
    metrics_inc(metrics_counter("shantang_http_requests_total", "HTTP requests answered", labels));
    snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\"", route, method_label(method));
    metrics_add(metrics_counter("shantang_http_request_duration_seconds_sum",
                                "Seconds spent answering HTTP requests", labels),
                seconds);
    metrics_inc(metrics_counter("shantang_http_request_duration_seconds_count",
                                "HTTP requests timed", labels));
}

/* log_path - the path cut to HTTP_LOG_PATH_MAX bytes on a character boundary into buf */
static const char *log_path(const char *path, int valid, char *buf, size_t len)
{
    if (!valid)
        return "(not UTF-8)";
    size_t n = strlen(path);
    if (n < len)
        return path;
    n = len - 1;
    while (n > 0 && ((unsigned char)path[n] & 0xC0) == 0x80)
        n--;
    memcpy(buf, path, n);
    buf[n] = '\0';
    return buf;
}

/*
 * queue_answer - hand resp to libmicrohttpd with the common headers. The
 * body's ownership passes to the MHD response (or is freed on failure).
 */
static enum MHD_Result queue_answer(http_server *srv, struct MHD_Connection *conn, http_resp *resp,
                                    const char *rid, const char *allow, const char *www_auth)
{
    static char empty[1];
    struct MHD_Response *r;

    if (resp->body != NULL) {
        r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
        if (r == NULL)
            free(resp->body);
        resp->body = NULL;
    } else {
        r = MHD_create_response_from_buffer(0, empty, MHD_RESPMEM_PERSISTENT);
    }
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/json");
    MHD_add_response_header(r, "X-Request-Id", rid);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (resp->location[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
    if (resp->content_disposition[0])
        MHD_add_response_header(r, "Content-Disposition", resp->content_disposition);
    if (allow != NULL && allow[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (www_auth != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, www_auth);
    if (resp->retry_after > 0) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%ld", resp->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    } else if (resp->status == 503 || resp->status == 429) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    }
    if (atomic_load(&srv->stopping))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* check_bearer - 0 and req->auth filled, or -1 after a 401/403 problem */
static int check_bearer(http_server *srv, const http_route *route, http_req *req, http_resp *resp,
                        const char **www_auth)
{
    char why[128] = "";
    const char *h = http_header(req, MHD_HTTP_HEADER_AUTHORIZATION);

    if (h == NULL) {
        *www_auth = "Bearer realm=\"shantang\"";
        http_problem(resp, 401, "unauthenticated", "Authentication required", NULL,
                     "this route needs a bearer token");
        return -1;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        *www_auth = "Bearer realm=\"shantang\", error=\"invalid_request\"";
        http_problem(resp, 401, "unauthenticated", "Authentication required", NULL,
                     "the Authorization header must carry a Bearer token");
        return -1;
    }
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    if (*token == '\0' ||
        auth_verify(srv->cfg.verifier, token, (long)time(NULL), &req->auth, why, sizeof(why)) < 0) {
        memset(&req->auth, 0, sizeof(req->auth));
        *www_auth = "Bearer realm=\"shantang\", error=\"invalid_token\"";
        http_problem(resp, 401, "unauthenticated", "Authentication required", NULL,
                     "the bearer token is not valid (%s)", why[0] ? why : "empty");
        return -1;
    }
    if ((req->auth.role & route->roles) == 0) {
        http_problem(resp, 403, "forbidden", "Forbidden", NULL, "the role %s may not use %s %s",
                     auth_role_name(req->auth.role), route->method, route->pattern);
        return -1;
    }
    req->authenticated = 1;
    return 0;
}

/* builtin - answer /healthz, /readyz and /metrics; 1 if path is one of them */
static int builtin(http_server *srv, const char *method, const char *path, http_resp *resp,
                   char *allow, size_t allowlen)
{
    if (strcmp(path, "/healthz") != 0 && strcmp(path, "/readyz") != 0 &&
        strcmp(path, "/metrics") != 0)
        return 0;
    if (!method_fits("GET", method)) {
        snprintf(allow, allowlen, "GET");
        http_problem(resp, 405, "method-not-allowed", "Method not allowed", NULL,
                     "%s only answers GET", path);
        return 1;
    }
    if (strcmp(path, "/healthz") == 0) {
        char *detail = srv->cfg.health ? srv->cfg.health(srv->cfg.ctx) : NULL;
        if (detail != NULL)
            http_reply_raw(resp, 200, "application/json", detail, strlen(detail));
        else
            http_reply_raw(resp, 200, "application/json", "{\"status\":\"ok\"}", 15);
        free(detail);
    } else if (strcmp(path, "/readyz") == 0) {
        if (srv->cfg.ready == NULL || srv->cfg.ready(srv->cfg.ctx))
            http_reply_raw(resp, 200, "application/json", "{\"status\":\"ready\"}", 18);
        else
            http_problem(resp, 503, "not-ready", "Not ready", NULL,
                         "the service cannot reach its database yet");
    } else {
        char *text = metrics_render();
        if (text == NULL) {
            http_problem(resp, 500, "internal", "Internal error", NULL, "out of memory");
        } else {
            http_reply_raw(resp, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                           strlen(text));
            free(text);
        }
    }
    return 1;
}

/*
 * dispatch - decide the answer to a complete request: limits, routing,
 * encoding and auth checks, then the handler. Fills resp, allow, www_auth
 * and *route_label. paramsbuf holds strlen(path)+1 bytes.
 */
static void dispatch(http_server *srv, conn_ctx *cc, http_req *req, http_resp *resp, int path_ok,
                     char *paramsbuf, char *allow, size_t allowlen, const char **www_auth,
                     const char **route_label)
{
    const http_route *best = NULL;
    int best_params = HTTP_MAX_PATH_PARAMS + 1, n = 0, query_ok = 1;
    const char *scratch[HTTP_MAX_PATH_PARAMS];

    if (cc->too_big) {
        http_problem(resp, 413, "too-large", "Request body too large", NULL,
                     "the request body is larger than %zu bytes", cc->limit);
        return;
    }
    if (!path_ok) {
        http_problem(resp, 400, "bad-encoding", "Bad request", NULL, "the path is not UTF-8");
        return;
    }
    if (builtin(srv, req->method, req->path, resp, allow, allowlen)) {
        *route_label = req->path;
        return;
    }
    /* the route of the fewest {params} wins, so /v1/x/import beats /v1/x/{id} */
    for (size_t i = 0; i < srv->cfg.nroutes; i++) {
        const http_route *r = &srv->cfg.routes[i];
        if (!route_match(r->pattern, req->path, paramsbuf, scratch, &n))
            continue;
        if (!method_fits(r->method, req->method)) {
            allow_add(allow, allowlen, r->method);
            continue;
        }
        if (n < best_params)
            best = r, best_params = n;
    }
    if (best == NULL) {
        if (allow[0])
            http_problem(resp, 405, "method-not-allowed", "Method not allowed", NULL,
                         "%s is not allowed here; see the Allow header", req->method);
        else
            http_problem(resp, 404, "not-found", "Not found", NULL, "no such resource");
        return;
    }
    allow[0] = '\0';
    route_match(best->pattern, req->path, paramsbuf, req->params, &req->nparams);
    req->route = best->pattern;
    *route_label = best->pattern;

    MHD_get_connection_values((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND,
                              query_arg_check, &query_ok);
    if (!query_ok) {
        http_problem(resp, 400, "bad-encoding", "Bad request", NULL,
                     "a query argument is not UTF-8");
        return;
    }
    if (req->body_file == NULL && !utf8_valid(req->body, req->body_len)) {
        http_problem(resp, 400, "bad-encoding", "Bad request", NULL,
                     "the request body is not UTF-8");
        return;
    }
    if (best->roles != 0 && check_bearer(srv, best, req, resp, www_auth) < 0)
        return;

    best->fn(req, resp, srv->cfg.ctx);
    if (resp->status < 100 || resp->status > 599) {
        log_error("handler of %s %s left no valid status (%d)", best->method, best->pattern,
                  resp->status);
        http_problem(resp, 500, "internal", "Internal error", NULL, "the request failed");
    }
}

/* answer - run one complete request and queue its response */
static enum MHD_Result answer(http_server *srv, struct MHD_Connection *conn, conn_ctx *cc,
                              const char *url, const char *method)
{
    char rid[HTTP_REQUEST_ID_MAX + 1], allow[64] = "", pathbuf[HTTP_LOG_PATH_MAX + 1];
    const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    const char *www_auth = NULL, *route_label = "unmatched";
    http_req req = {0};
    http_resp resp = {0};
    struct timespec now;

    if (request_id_sane(given))
        snprintf(rid, sizeof(rid), "%s", given);
    else
        crypto_uuid_v7(rid);
    int path_ok = utf8_valid(url, strlen(url));
    log_set_request_id(rid);
    tl_request_id = rid;
    tl_instance = path_ok ? url : NULL;

    req.method = method;
    req.path = url;
    req.body = cc->body ? cc->body : "";
    req.body_len = cc->len;
    if (cc->spool) {
        rewind(cc->spool);
        req.body_file = cc->spool;
    }
    req.request_id = rid;
    req.conn = conn;
    char *paramsbuf = malloc(strlen(url) + 1);
    if (paramsbuf == NULL)
        http_problem(&resp, 500, "internal", "Internal error", NULL, "out of memory");
    else
        dispatch(srv, cc, &req, &resp, path_ok, paramsbuf, allow, sizeof(allow), &www_auth,
                 &route_label);

    int status = resp.status;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double secs =
        (double)(now.tv_sec - cc->start.tv_sec) + (double)(now.tv_nsec - cc->start.tv_nsec) / 1e9;
    record_metrics(route_label, method, status, secs);
    log_info("%s %s %d %.1fms", method, log_path(url, path_ok, pathbuf, sizeof(pathbuf)), status,
             secs * 1000.0);

    cc->answered = 1;
    enum MHD_Result ret = queue_answer(srv, conn, &resp, rid, allow, www_auth);
    free(paramsbuf);
    tl_request_id = NULL;
    tl_instance = NULL;
    log_set_request_id(NULL);
    return ret;
}

/* content_length_over - 1 if a Content-Length value exceeds limit (or cannot be read) */
static int content_length_over(const char *v, size_t limit, unsigned long long *out)
{
    unsigned long long n = 0;

    if (*v == '\0')
        return 1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || n > (ULLONG_MAX - 9) / 10)
            return 1;
        n = n * 10 + (unsigned long long)(*v - '0');
    }
    *out = n;
    return n > limit;
}

/* stream_limit - the stream limit of the route a request will take, 0 if none */
static size_t stream_limit(http_server *srv, const char *method, const char *url)
{
    const char *scratch[HTTP_MAX_PATH_PARAMS];
    char *buf = malloc(strlen(url) + 1);
    size_t limit = 0;
    int n;
    for (size_t i = 0; buf && i < srv->cfg.nroutes && limit == 0; i++) {
        const http_route *r = &srv->cfg.routes[i];
        if (r->stream_limit > 0 && method_fits(r->method, method) &&
            route_match(r->pattern, url, buf, scratch, &n))
            limit = r->stream_limit;
    }
    free(buf);
    return limit;
}

/* elapsed_s - seconds since a monotonic start time */
static double elapsed_s(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* http_access - libmicrohttpd's access handler: called per request several times */
static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls)
{
    http_server *srv = cls;
    conn_ctx *cc = *con_cls;

    (void)version;
    if (cc == NULL) {
        cc = calloc(1, sizeof(*cc));
        if (cc == NULL)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &cc->start);
        *con_cls = cc;
        atomic_fetch_add(&srv->inflight, 1);
        atomic_fetch_add(&http_inflight_all, 1);
        cc->limit = srv->cfg.body_limit;
        size_t stream = stream_limit(srv, method, url);
        if (stream > 0 && (cc->spool = tmpfile()) != NULL)
            cc->limit = stream;
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long announced = ULLONG_MAX;
        if (cl != NULL && content_length_over(cl, cc->limit, &announced)) {
            cc->too_big = 1;
            const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
            /* refuse now when the client waits for 100-continue or it is too much to drain;
               otherwise read (and drop) the body so the client sees the answer */
            if (expect != NULL || announced - cc->limit > HTTP_DRAIN_EXTRA)
                return answer(srv, conn, cc, url, method);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        cc->received += n;
        if (cc->answered)
            return MHD_YES;
        if (cc->too_big || cc->len + n > cc->limit) {
            cc->too_big = 1;
            free(cc->body);
            cc->body = NULL;
            cc->len = cc->cap = 0;
            /* libmicrohttpd cannot answer in the middle of an upload, so the rest is
               read and dropped and the 413 goes out at its end; only an upload that
               goes on past the limit for longer than HTTP_DRAIN_S is cut off */
            return cc->received > cc->limit + HTTP_DRAIN_EXTRA &&
                           elapsed_s(&cc->start) > HTTP_DRAIN_S
                       ? MHD_NO
                       : MHD_YES;
        }
        if (cc->spool != NULL) { /* a stream route: to disk, never whole in memory */
            if (fwrite(upload, 1, n, cc->spool) != n)
                return MHD_NO;
            cc->len += n;
            return MHD_YES;
        }
        if (cc->len + n + 1 > cc->cap) {
            size_t cap = cc->cap ? cc->cap : 4096;
            while (cap < cc->len + n + 1)
                cap *= 2;
            if (cap > srv->cfg.body_limit + 1)
                cap = srv->cfg.body_limit + 1;
            char *p = realloc(cc->body, cap);
            if (p == NULL)
                return MHD_NO;
            cc->body = p;
            cc->cap = cap;
        }
        memcpy(cc->body + cc->len, upload, n);
        cc->len += n;
        cc->body[cc->len] = '\0';
        return MHD_YES;
    }
    if (cc->answered)
        return MHD_YES;
    return answer(srv, conn, cc, url, method);
}

/* http_completed - libmicrohttpd's completion callback: free the request's state */
static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    http_server *srv = cls;
    conn_ctx *cc = *con_cls;

    (void)conn;
    (void)toe;
    if (cc == NULL)
        return;
    free(cc->body);
    if (cc->spool)
        fclose(cc->spool);
    free(cc);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
    atomic_fetch_sub(&http_inflight_all, 1);
}

/* http_mhd_log - route libmicrohttpd's messages to the log at warn */
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_warn("libmicrohttpd: %s", line);
}

/* listen_socket - a non-blocking socket listening on addr:port, or -1 with err */
static int listen_socket(const char *addr, int port, int *ipv6, char *err, size_t errlen)
{
    struct sockaddr_in6 sa6 = {0};
    struct sockaddr_in sa4 = {0};
    struct sockaddr *sa;
    socklen_t salen;
    int one = 1;

    if (addr == NULL || *addr == '\0' || strcmp(addr, "localhost") == 0)
        addr = "127.0.0.1";
    if (inet_pton(AF_INET, addr, &sa4.sin_addr) == 1) {
        sa4.sin_family = AF_INET;
        sa4.sin_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&sa4, salen = sizeof(sa4), *ipv6 = 0;
    } else if (inet_pton(AF_INET6, addr, &sa6.sin6_addr) == 1) {
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&sa6, salen = sizeof(sa6), *ipv6 = 1;
    } else {
        snprintf(err, errlen, "HTTP address %s is not a numeric IPv4 or IPv6 address", addr);
        return -1;
    }
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (*ipv6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, sa, salen) < 0 || listen(fd, 128) < 0) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", addr, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* http_start - bind and start serving. Returns NULL with err on failure */
http_server *http_start(const http_config *cfg, char *err, size_t errlen)
{
    int need_key = 0, ipv6 = 0;

    if (cfg == NULL || cfg->port < 1 || cfg->port > 65535 || cfg->threads < 1 ||
        cfg->threads > HTTP_MAX_THREADS || cfg->body_limit == 0 ||
        (cfg->nroutes > 0 && cfg->routes == NULL)) {
        snprintf(err, errlen,
                 "http: bad configuration (port 1..65535, threads 1..%d, "
                 "body limit > 0)",
                 HTTP_MAX_THREADS);
        return NULL;
    }
    for (size_t i = 0; i < cfg->nroutes; i++) {
        if (pattern_check(&cfg->routes[i], err, errlen) < 0)
            return NULL;
        need_key |= cfg->routes[i].roles != 0;
    }
    if (need_key && cfg->verifier == NULL) {
        snprintf(err, errlen, "http: routes need a role but there is no token verifier");
        return NULL;
    }
    int fd = listen_socket(cfg->addr, cfg->port, &ipv6, err, errlen);
    if (fd < 0)
        return NULL;
    http_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        close(fd);
        snprintf(err, errlen, "http: out of memory");
        return NULL;
    }
    srv->cfg = *cfg;
    atomic_init(&srv->inflight, 0);
    atomic_init(&srv->stopping, 0);
    if (atomic_exchange(&http_gauge_registered, 1) == 0)
        metrics_gauge_fn("shantang_http_requests_in_flight", "HTTP requests being answered",
                         inflight_value, NULL);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, http_access, srv, MHD_OPTION_EXTERNAL_LOGGER,
        http_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_LIMIT, MHD_OPTION_NOTIFY_COMPLETED,
        http_completed, srv, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        close(fd);
        free(srv);
        snprintf(err, errlen, "http: libmicrohttpd would not start on port %d", cfg->port);
        return NULL;
    }
    log_info("http: listening on %s port %d with %d threads",
             cfg->addr && *cfg->addr ? cfg->addr : "127.0.0.1", cfg->port, cfg->threads);
    return srv;
}

/* http_stop - stop accepting, let in-flight requests finish (bounded), free. Returns NULL */
http_server *http_stop(http_server *srv)
{
    const struct timespec tick = {0, 10 * 1000 * 1000};
    int waited_ms = 0;

    if (srv == NULL)
        return NULL;
    atomic_store(&srv->stopping, 1);
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd); /* new connections are refused from here on */
    while (atomic_load(&srv->inflight) > 0 && waited_ms < HTTP_STOP_WAIT_MS) {
        nanosleep(&tick, NULL);
        waited_ms += 10;
    }
    int left = atomic_load(&srv->inflight);
    if (left > 0)
        log_warn("http: stopping with %d requests still running after %d ms", left, waited_ms);
    MHD_stop_daemon(srv->daemon); /* joins the worker threads */
    log_info("http: stopped");
    free(srv);
    return NULL;
}
