/*
 * idem.h - Idempotency-Key support for creating POSTs.
 *
 * <schema>.idempotency_keys(principal text, key text, route text,
 *   request_hash text, status int, body text, created_at timestamptz,
 *   primary key (principal, key))
 * The key is claimed inside the same transaction that creates the resource:
 * a concurrent request with the same key waits on the row lock and then sees
 * the stored answer; the first answer is replayed byte for byte; the same key
 * with a different request (another path, or another body) is refused. Keys
 * expire after 24 hours.
 */
#ifndef SHANTANG_CORE_IDEM_H
#define SHANTANG_CORE_IDEM_H

#include "core/db.h"

typedef enum {
    IDEM_NEW = 0,      /* claimed: go on, then call idem_finish in the same transaction */
    IDEM_REPLAY = 1,   /* answered before: status and body filled, roll back */
    IDEM_MISMATCH = 2, /* same key, different request: answer 422, roll back */
    IDEM_ERROR = -1    /* database error in err */
} idem_result;

/*
 * idem_claim - claim (principal, key) for route with request_hash (the
 * caller's digest of what makes the request: service_create uses
 * HMAC-SHA-256 of the body keyed by the path), on conn inside the caller's
 * transaction. On IDEM_REPLAY *status and
 * *body (malloc'd, caller frees) hold the first answer.
 */
idem_result idem_claim(PGconn *conn, const char *principal, const char *key, const char *route,
                       const char *request_hash, int *status, char **body, db_err *err);

/* idem_finish - store the answer for a claimed key; 0, or -1 with err */
int idem_finish(PGconn *conn, const char *principal, const char *key, int status, const char *body,
                db_err *err);

#endif
