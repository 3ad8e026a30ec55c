/*
 * idem.c - Idempotency-Key claims and stored answers.
 *
 * The claim is an INSERT inside the caller's transaction: a concurrent
 * request with the same key blocks on the unique index until the first
 * commits (then sees its answer) or rolls back (then claims it itself).
 * Keys older than 24 hours are forgotten: the expired row of the same key is
 * deleted before the claim, and a sweep of other expired rows runs at most
 * once a minute per process.
 */
#include "core/idem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

static _Atomic int64_t idem_last_sweep;

/* idem_claim - NEW, REPLAY (with the first answer), MISMATCH, or ERROR */
idem_result idem_claim(PGconn *conn, const char *principal, const char *key, const char *route,
                       const char *request_hash, int *status, char **body, db_err *err)
{
    const char *params[4] = {principal, key, route, request_hash};
    PGresult *res;

    int64_t now = time_mono_ms(), last = atomic_load(&idem_last_sweep);
    if (now - last > 60000 && atomic_compare_exchange_strong(&idem_last_sweep, &last, now)) {
        res = db_exec(conn,
                      "DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY (SELECT ctid FROM "
                      "idempotency_keys WHERE created_at < now() - interval '24 hours' LIMIT 1000 "
                      "FOR UPDATE SKIP LOCKED))",
                      0, NULL, err);
        if (res == NULL)
            return IDEM_ERROR;
        PQclear(res);
    }
    res = db_exec(conn,
                  "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 "
                  "AND created_at < now() - interval '24 hours'",
                  2, params, err);
    if (res == NULL)
        return IDEM_ERROR;
    PQclear(res);
    res = db_exec(conn,
                  "INSERT INTO idempotency_keys (principal, key, route, request_hash) "
                  "VALUES ($1, $2, $3, $4) ON CONFLICT (principal, key) DO NOTHING RETURNING 1",
                  4, params, err);
    if (res == NULL)
        return IDEM_ERROR;
    int claimed = PQntuples(res) == 1;
    PQclear(res);
    if (claimed)
        return IDEM_NEW;
    res = db_exec(conn,
                  "SELECT route, request_hash, status, body FROM idempotency_keys "
                  "WHERE principal = $1 AND key = $2",
                  2, params, err);
    if (res == NULL)
        return IDEM_ERROR;
    idem_result r = IDEM_ERROR;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 2)) {
        snprintf(err->msg, sizeof(err->msg), "the key's first request is still being answered");
        snprintf(err->sqlstate, sizeof(err->sqlstate), "40001");
    } else if (strcmp(PQgetvalue(res, 0, 0), route) ||
               strcmp(PQgetvalue(res, 0, 1), request_hash)) {
        r = IDEM_MISMATCH;
    } else {
        *status = atoi(PQgetvalue(res, 0, 2));
        *body = strdup(PQgetvalue(res, 0, 3));
        r = *body ? IDEM_REPLAY : IDEM_ERROR;
    }
    PQclear(res);
    return r;
}

/* idem_finish - store the answer of a claimed key */
int idem_finish(PGconn *conn, const char *principal, const char *key, int status, const char *body,
                db_err *err)
{
    char st[16];
    snprintf(st, sizeof(st), "%d", status);
    const char *params[4] = {principal, key, st, body ? body : ""};
    return db_run(conn,
                  "UPDATE idempotency_keys SET status = $3::int, body = $4 "
                  "WHERE principal = $1 AND key = $2",
                  4, params, err);
}
