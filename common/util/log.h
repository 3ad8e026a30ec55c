/*
 * log.h - JSON-lines logging with a level ladder and a per-thread request id.
 *
 * Every line goes to stderr as one JSON object:
 *   {"ts":"2026-11-25T01:02:03.456Z","level":"info","service":"registry",
 *    "req":"<request id or absent>","msg":"..."}
 * Personal data never reaches a log line unmasked: callers pass phones through
 * log_mask_phone() and never log ID-card numbers at all.
 * Configuration: the service skeleton calls log_init() with LOG_LEVEL.
 * Thread-safe: one write(2) per line.
 */
#ifndef SHANTANG_UTIL_LOG_H
#define SHANTANG_UTIL_LOG_H

#include <stddef.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL } log_level;

/* log_init - set the service name shown on every line and the lowest level written */
void log_init(const char *service, log_level min_level);

/* log_level_parse - "debug".."fatal" to a level; returns -1 for anything else */
int log_level_parse(const char *name);

/* log_set_request_id - the request id put on every line this thread writes; NULL clears it */
void log_set_request_id(const char *req_id);

/* log_request_id - this thread's request id, or NULL */
const char *log_request_id(void);

/* log_msg - write one line at lvl; printf-style; the message is JSON-escaped */
void log_msg(log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_fatal(...) log_msg(LOG_FATAL, __VA_ARGS__)

/*
 * log_mask_phone - copy a phone number with all but the first 3 and last 4
 * digits replaced by '*' ("138****5678"); shorter input becomes all '*'.
 * Returns out. out must hold at least 32 bytes; NULL in gives "".
 */
char *log_mask_phone(const char *phone, char *out, size_t outlen);

#endif
