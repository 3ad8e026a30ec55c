/*
 * log.c - JSON-lines logging with levels and a per-thread request id.
 *
 * Writes one JSON object per line to stderr with a single write(2), so lines
 * of concurrent threads never interleave. Messages are JSON-escaped and cut
 * at LOG_LINE_MAX bytes. Reads no configuration itself: the service skeleton
 * passes LOG_LEVEL to log_init().
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/timeutil.h"

#define LOG_LINE_MAX 8192

static const char *const level_names[] = {"debug", "info", "warn", "error", "fatal"};
static char log_service[32] = "shantang";
static log_level log_min = LOG_INFO;
static _Thread_local char log_req[80];

/* log_init - name and threshold for every later line */
void log_init(const char *service, log_level min_level)
{
    snprintf(log_service, sizeof(log_service), "%s", service ? service : "shantang");
    log_min = min_level;
}

/* log_level_parse - level by name, -1 if unknown */
int log_level_parse(const char *name)
{
    for (int i = 0; name && i < 5; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

/* log_set_request_id - this thread's request id (copied), NULL clears */
void log_set_request_id(const char *req_id)
{
    snprintf(log_req, sizeof(log_req), "%s", req_id ? req_id : "");
}

/* log_request_id - this thread's request id or NULL */
const char *log_request_id(void)
{
    return log_req[0] ? log_req : NULL;
}

/* escape - append s JSON-escaped to out[*n..cap), never past cap-1 */
static void escape(char *out, size_t *n, size_t cap, const char *s)
{
    for (; *s && *n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[(*n)++] = '\\';
            out[(*n)++] = (char)c;
        } else if (c == '\n') {
            out[(*n)++] = '\\';
            out[(*n)++] = 'n';
        } else if (c < 0x20) {
            *n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", c);
        } else {
            out[(*n)++] = (char)c;
        }
    }
}

/* log_msg - format, escape and write one line */
void log_msg(log_level lvl, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX - 512], line[LOG_LINE_MAX], ts[40];
    size_t n = 0;
    va_list ap;

    if (lvl < log_min || lvl > LOG_FATAL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    time_rfc3339(time_now_ms(), ts, sizeof(ts));
    n += (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":\"", ts,
                          level_names[lvl]);
    escape(line, &n, sizeof(line), log_service);
    if (log_req[0]) {
        n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"req\":\"");
        escape(line, &n, sizeof(line), log_req);
    }
    n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"msg\":\"");
    escape(line, &n, sizeof(line) - 3, msg);
    line[n++] = '"';
    line[n++] = '}';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

/* log_mask_phone - keep the first 3 and last 4 digits */
char *log_mask_phone(const char *phone, char *out, size_t outlen)
{
    size_t n = phone ? strlen(phone) : 0;
    if (outlen == 0)
        return out;
    if (n >= outlen)
        n = outlen - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (n >= 8 && (i < 3 || i >= n - 4)) ? phone[i] : '*';
    out[n] = '\0';
    return out;
}
