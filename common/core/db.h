/*
 * db.h - PostgreSQL through libpq: a small connection pool, parameterised
 * statements only, transactions, and the migration runner.
 *
 * Every connection sets search_path to the service's own schema,
 * statement_timeout (DB_STATEMENT_TIMEOUT_MS), TimeZone 'Asia/Shanghai'
 * and application_name. Errors carry the SQLSTATE so callers can map a
 * unique violation (23505), a foreign-key violation (23503) or a
 * serialization failure (40001) to the right HTTP answer.
 */
#ifndef SHANTANG_CORE_DB_H
#define SHANTANG_CORE_DB_H

#include <stddef.h>
#include <libpq-fe.h>

typedef struct db_err {
    char sqlstate[6]; /* "" when the failure was not from the server */
    char msg[256];    /* human-readable, never contains parameter values */
} db_err;

typedef struct db_pool db_pool;

/*
 * db_pool_new - open up to size connections lazily to conninfo with the
 * given schema as search_path. Returns NULL with err if the first connection
 * fails.
 */
db_pool *db_pool_new(const char *conninfo, const char *schema, int size, int stmt_timeout_ms,
                     const char *app_name, db_err *err);

/*
 * db_acquire - a connection for this thread's exclusive use, waiting up to
 * timeout_ms; reconnects a broken one. NULL with err on timeout or failure.
 * Give it back with db_release.
 */
PGconn *db_acquire(db_pool *pool, int timeout_ms, db_err *err);

/* db_release - return conn to the pool; a connection left in a transaction is rolled back */
void db_release(db_pool *pool, PGconn *conn);

/*
 * db_pool_set - the session setting name = value (letters, digits, '.'
 * and '_' only) on every connection of the pool: the idle ones now, every
 * one made later. Call it while no connection is acquired. Returns 0, or
 * -1 with err.
 */
int db_pool_set(db_pool *pool, const char *name, const char *value, db_err *err);

/*
 * db_connect_own - a connection set up like the pool's (schema, timeouts,
 * settings) but not counted in it, for a long-lived use such as LISTEN.
 * The caller PQfinish()es it. NULL with err on failure.
 */
PGconn *db_connect_own(db_pool *pool, db_err *err);

/* db_pool_free - close every connection; returns NULL */
db_pool *db_pool_free(db_pool *pool);

/* db_ping - 0 if a trivial query succeeds on some pooled connection within timeout_ms */
int db_ping(db_pool *pool, int timeout_ms);

/*
 * db_exec - run sql with n text parameters ($1..$n; NULL element = SQL NULL).
 * Returns the result (caller PQclear()s it) when the status is COMMAND_OK or
 * TUPLES_OK; otherwise NULL with err filled.
 */
PGresult *db_exec(PGconn *conn, const char *sql, int n, const char *const *params, db_err *err);

/* db_run - db_exec for a statement whose result is not needed: 0, or -1 with err */
int db_run(PGconn *conn, const char *sql, int n, const char *const *params, db_err *err);

/* db_err_from - err from a failed result (or, res NULL, from conn's state), else fallback */
void db_err_from(db_err *err, const PGresult *res, PGconn *conn, const char *fallback);

/*
 * db_copy_begin / db_copy_put / db_copy_end - a COPY ... FROM STDIN on conn:
 * begin runs sql (which must start a COPY FROM STDIN), put sends n bytes of
 * its data (libpq buffers them and sends as its buffer fills), end finishes
 * it (abort NULL) or makes it fail with that message, and reads the COPY's
 * result. Each returns 0, or -1 with err (end with an abort message: -1);
 * after a begin that succeeded, end is called whatever happens before the
 * connection runs anything else. Bounded by the connection's
 * statement_timeout, which counts from begin.
 */
int db_copy_begin(PGconn *conn, const char *sql, db_err *err);
int db_copy_put(PGconn *conn, const char *buf, size_t n, db_err *err);
int db_copy_end(PGconn *conn, const char *abort, db_err *err);

/* db_begin / db_commit / db_rollback - 0 on success, -1 with err */
int db_begin(PGconn *conn, db_err *err);
int db_commit(PGconn *conn, db_err *err);
int db_rollback(PGconn *conn);

/*
 * db_migrate - apply every dir/NNN_*.sql not yet recorded in
 * <schema>.schema_migrations, in name order, each in its own transaction,
 * under an advisory lock so that concurrent instances apply each once.
 * Returns the number applied, or -1 with err naming the file.
 */
int db_migrate(PGconn *conn, const char *schema, const char *dir, db_err *err);

#endif
