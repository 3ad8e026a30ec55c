/*
 * db.c - PostgreSQL through libpq: a connection pool, parameterised
 * statements, transactions and the migration runner.
 *
 * Trusts the server it is pointed at. Every connection is set to the
 * service's schema, a statement timeout and Asia/Shanghai time; connect
 * attempts time out after 5 s unless the connection string says otherwise.
 * Errors carry the SQLSTATE; messages never contain parameter values
 * (libpq's primary message only). The connection string may hold a password:
 * it is never logged.
 *
 * Pool: at most size connections, opened lazily; a caller waits on a
 * condition variable up to its timeout for one to be released. A connection
 * found broken on acquire is replaced; one released inside a transaction is
 * rolled back, and closed if that fails.
 */
#include "core/db.h"

#include <ctype.h>
#include <limits.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/timeutil.h"

struct db_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *conninfo;      /* as given (may hold a password; never logged) */
    char schema[64];     /* search_path */
    char app[64];        /* application_name */
    int stmt_timeout_ms; /* statement_timeout */
    char settings[256];  /* "; SET name TO 'value'" for each db_pool_set, run on connecting */
    int size;            /* connections at most */
    int open;            /* connections made */
    PGconn **idle;       /* idle connections, a stack */
    int nidle;           /* entries of idle */
};

void db_err_from(db_err *err, const PGresult *res, PGconn *conn, const char *fallback)
{
    if (err == NULL)
        return;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state ? state : "");
    if (msg == NULL && conn != NULL && PQstatus(conn) != CONNECTION_OK)
        msg = "connection to the database lost";
    snprintf(err->msg, sizeof(err->msg), "%s", msg ? msg : fallback);
}

/* db_notice - server notices go to the debug log, not to stderr */
static void db_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("database notice: %.200s", message);
}

/* db_connect - one new connection set up for the pool, or NULL with err */
static PGconn *db_connect(db_pool *pool, db_err *err)
{
    /*
     * conninfo is a key=value string or a postgresql:// URI, expanded from
     * "dbname" (expand_dbname=1). Keywords are processed in order and the
     * last wins, so the defaults come first: a connect_timeout or
     * application_name in conninfo overrides them.
     */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"5", pool->app, pool->conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        if (err) {
            err->sqlstate[0] = '\0';
            snprintf(err->msg, sizeof(err->msg), "cannot connect to the database: %s",
                     conn ? strtok(PQerrorMessage(conn), "\n") : "out of memory");
        }
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, db_notice, NULL);
    char *schema = PQescapeIdentifier(conn, pool->schema, strlen(pool->schema));
    char sql[640];
    pthread_mutex_lock(&pool->lock);
    snprintf(sql, sizeof(sql),
             "SET search_path TO %s; SET statement_timeout = %d; SET TimeZone TO "
             "'Asia/Shanghai'%s",
             schema ? schema : "\"\"", pool->stmt_timeout_ms, pool->settings);
    pthread_mutex_unlock(&pool->lock);
    PQfreemem(schema);
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        db_err_from(err, res, conn, "cannot set up the connection");
        PQclear(res);
        PQfinish(conn);
        return NULL;
    }
    PQclear(res);
    return conn;
}

/* db_pool_new - a pool; the first connection is made now to fail early */
db_pool *db_pool_new(const char *conninfo, const char *schema, int size, int stmt_timeout_ms,
                     const char *app_name, db_err *err)
{
    db_err scratch;
    if (err == NULL)
        err = &scratch;
    if (size < 1)
        size = 1;
    db_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL || (pool->idle = calloc((size_t)size, sizeof(PGconn *))) == NULL ||
        (pool->conninfo = strdup(conninfo)) == NULL) {
        err->sqlstate[0] = '\0';
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return db_pool_free(pool);
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    pool->settings[0] = '\0';
    snprintf(pool->schema, sizeof(pool->schema), "%s", schema);
    snprintf(pool->app, sizeof(pool->app), "%s", app_name ? app_name : "shantang");
    pool->size = size;
    pool->stmt_timeout_ms = stmt_timeout_ms;
    PGconn *first = db_connect(pool, err);
    if (first == NULL)
        return db_pool_free(pool);
    pool->open = 1;
    pool->idle[pool->nidle++] = first;
    return pool;
}

/* plain - 1 when s is a non-empty run of letters, digits, '.' and '_' (nothing to quote) */
static int plain(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '_'))
            return 0;
    return 1;
}

/* db_pool_set - a session setting on the idle connections now and on every later one */
int db_pool_set(db_pool *pool, const char *name, const char *value, db_err *err)
{
    char set[160];
    if (!plain(name) || !plain(value) ||
        (size_t)snprintf(set, sizeof(set), "SET %s TO '%s'", name, value) >= sizeof(set)) {
        err->sqlstate[0] = '\0';
        snprintf(err->msg, sizeof(err->msg), "db_pool_set: not a plain name and value");
        return -1;
    }
    int rc = 0;
    pthread_mutex_lock(&pool->lock);
    size_t used = strlen(pool->settings);
    if (used + strlen(set) + 3 > sizeof(pool->settings)) {
        err->sqlstate[0] = '\0';
        snprintf(err->msg, sizeof(err->msg), "db_pool_set: too many settings");
        rc = -1;
    } else {
        snprintf(pool->settings + used, sizeof(pool->settings) - used, "; %s", set);
    }
    for (int i = 0; rc == 0 && i < pool->nidle; i++) {
        PGresult *res = PQexec(pool->idle[i], set);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) { /* a broken one: reconnects (and sets) */
            PQfinish(pool->idle[i]);
            pool->idle[i--] = pool->idle[--pool->nidle];
            pool->open--;
        }
        PQclear(res);
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

/* db_connect_own - a connection set up like the pool's, outside it */
PGconn *db_connect_own(db_pool *pool, db_err *err)
{
    return db_connect(pool, err);
}

/* db_acquire - an idle, a new, or (after waiting) a freed connection */
PGconn *db_acquire(db_pool *pool, int timeout_ms, db_err *err)
{
    struct timespec deadline;
    time_deadline(&deadline, timeout_ms);
    pthread_mutex_lock(&pool->lock);
    while (pool->nidle == 0 && pool->open >= pool->size) {
        if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool->lock);
            if (err) {
                err->sqlstate[0] = '\0';
                snprintf(err->msg, sizeof(err->msg), "no database connection free within %d ms",
                         timeout_ms);
            }
            return NULL;
        }
    }
    PGconn *conn = NULL;
    if (pool->nidle > 0)
        conn = pool->idle[--pool->nidle];
    else
        pool->open++; /* reserve a slot, connect outside the lock */
    pthread_mutex_unlock(&pool->lock);

    if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        conn = NULL;
    }
    if (conn == NULL) {
        conn = db_connect(pool, err);
        if (conn == NULL) {
            pthread_mutex_lock(&pool->lock);
            pool->open--;
            pthread_cond_signal(&pool->freed);
            pthread_mutex_unlock(&pool->lock);
        }
    }
    return conn;
}

/* db_release - back to the pool, rolled back if a transaction was left open */
void db_release(db_pool *pool, PGconn *conn)
{
    if (conn == NULL)
        return;
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        db_rollback(conn);
    pthread_mutex_lock(&pool->lock);
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PQfinish(conn);
        pool->open--;
    } else {
        pool->idle[pool->nidle++] = conn;
    }
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

/* db_pool_free - close idle connections and free; NULL */
db_pool *db_pool_free(db_pool *pool)
{
    if (pool == NULL)
        return NULL;
    for (int i = 0; pool->idle && i < pool->nidle; i++)
        PQfinish(pool->idle[i]);
    if (pool->idle) {
        pthread_mutex_destroy(&pool->lock);
        pthread_cond_destroy(&pool->freed);
    }
    free(pool->idle);
    free(pool->conninfo);
    free(pool);
    return NULL;
}

/* db_ping - a trivial query on a pooled connection */
int db_ping(db_pool *pool, int timeout_ms)
{
    PGconn *conn = db_acquire(pool, timeout_ms, NULL);
    if (conn == NULL)
        return -1;
    PGresult *res = PQexec(conn, "SELECT 1");
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -1;
    PQclear(res);
    db_release(pool, conn);
    return rc;
}

/* db_exec - a parameterised statement; the result or NULL with err */
PGresult *db_exec(PGconn *conn, const char *sql, int n, const char *const *params, db_err *err)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    db_err_from(err, res, conn, "statement failed");
    PQclear(res);
    return NULL;
}

int db_run(PGconn *conn, const char *sql, int n, const char *const *params, db_err *err)
{
    PGresult *res = db_exec(conn, sql, n, params, err);
    PQclear(res);
    return res ? 0 : -1;
}

int db_copy_begin(PGconn *conn, const char *sql, db_err *err)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) == PGRES_COPY_IN) {
        PQclear(res);
        return 0;
    }
    db_err_from(err, res, conn, "COPY did not start");
    PQclear(res);
    return -1;
}

int db_copy_put(PGconn *conn, const char *buf, size_t n, db_err *err)
{
    if (n > INT_MAX || PQputCopyData(conn, buf, (int)n) != 1) {
        db_err_from(err, NULL, conn, "COPY data not sent");
        return -1;
    }
    return 0;
}

int db_copy_end(PGconn *conn, const char *abort, db_err *err)
{
    int rc = PQputCopyEnd(conn, abort) == 1 ? 0 : -1;
    PGresult *res;
    if (rc < 0)
        db_err_from(err, NULL, conn, "COPY not ended");
    /* the COPY's result, then NULL; any other result means it failed */
    while ((res = PQgetResult(conn)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            db_err_from(err, res, conn, "COPY failed");
            rc = -1;
        }
        PQclear(res);
    }
    return abort ? -1 : rc;
}

/* simple - run a statement without parameters; 0 or -1 with err */
static int simple(PGconn *conn, const char *sql, db_err *err)
{
    return db_run(conn, sql, 0, NULL, err);
}

int db_begin(PGconn *conn, db_err *err)
{
    return simple(conn, "BEGIN", err);
}

int db_commit(PGconn *conn, db_err *err)
{
    return simple(conn, "COMMIT", err);
}

int db_rollback(PGconn *conn)
{
    return simple(conn, "ROLLBACK", NULL);
}

/* name_cmp - qsort order of file names */
static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* read_file - malloc'd content of path, or NULL */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[8192];
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *p = realloc(buf, cap);
            if (p == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (buf == NULL)
        buf = calloc(1, 1);
    else
        buf[len] = '\0';
    return buf;
}

/* apply_one - one migration file and its record, in one transaction on the schema */
static int apply_one(PGconn *conn, const char *qschema, const char *version, const char *sql,
                     db_err *err)
{
    char q[256];
    if (db_begin(conn, err) < 0)
        return -1;
    /* The files name tables unqualified: they land in the schema being migrated. */
    snprintf(q, sizeof(q), "SET LOCAL search_path TO %s", qschema);
    if (simple(conn, q, err) < 0) {
        db_rollback(conn);
        return -1;
    }
    PGresult *res = PQexec(conn, sql); /* a file may hold several statements */
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_err_from(err, res, conn, "migration failed");
        PQclear(res);
        db_rollback(conn);
        return -1;
    }
    PQclear(res);
    const char *params[1] = {version};
    snprintf(q, sizeof(q), "INSERT INTO %s.schema_migrations (version) VALUES ($1)", qschema);
    res = db_exec(conn, q, 1, params, err);
    if (res == NULL) {
        db_rollback(conn);
        return -1;
    }
    PQclear(res);
    return db_commit(conn, err);
}

/* list_migrations - the sorted NNN_*.sql names of dir (malloc'd each); count, or -1 */
static int list_migrations(const char *dir, char **names, int max)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0 && e->d_name[0] >= '0' &&
            e->d_name[0] <= '9' && (names[n] = strdup(e->d_name)) != NULL)
            n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), name_cmp);
    return n;
}

/*
 * db_migrate - apply what is new in dir, in name order, under an advisory
 * lock. A version is recorded as "<last folder of dir>/<file name>", so
 * several folders (common/, the service's own) can share one table. While it
 * runs, statement_timeout is raised to 10 minutes (migrations and waiting for
 * another instance's lock may be slow) and restored afterwards.
 */
int db_migrate(PGconn *conn, const char *schema, const char *dir, db_err *err)
{
    char q[512], version[320], path[1024], saved_timeout[64] = "";
    db_err scratch;
    if (err == NULL)
        err = &scratch;
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    char *names[512];
    int n = list_migrations(dir, names, 512);
    if (n < 0) {
        err->sqlstate[0] = '\0';
        snprintf(err->msg, sizeof(err->msg), "cannot open migrations folder %s", dir);
        return -1;
    }
    char *qschema = PQescapeIdentifier(conn, schema, strlen(schema));
    if (qschema == NULL || strlen(qschema) > 130) {
        err->sqlstate[0] = '\0';
        snprintf(err->msg, sizeof(err->msg), "bad schema name");
        PQfreemem(qschema);
        for (int i = 0; i < n; i++)
            free(names[i]);
        return -1;
    }
    char lock_key[200];
    snprintf(lock_key, sizeof(lock_key), "%s.migrate", schema);
    const char *lock_params[1] = {lock_key};

    int applied = -1, locked = 0;
    PGresult *res = db_exec(conn, "SHOW statement_timeout", 0, NULL, err);
    if (res != NULL) {
        snprintf(saved_timeout, sizeof(saved_timeout), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    if (res == NULL || simple(conn, "SET statement_timeout = '10min'", err) < 0)
        goto out;
    res = db_exec(conn, "SELECT pg_advisory_lock(hashtext($1))", 1, lock_params, err);
    PQclear(res);
    if (res == NULL)
        goto out;
    locked = 1;
    snprintf(q, sizeof(q),
             "CREATE TABLE IF NOT EXISTS %s.schema_migrations (version text PRIMARY KEY, "
             "applied_at timestamptz NOT NULL DEFAULT now())",
             qschema);
    if (simple(conn, q, err) < 0)
        goto out;
    applied = 0;
    for (int i = 0; i < n && applied >= 0; i++) {
        snprintf(version, sizeof(version), "%s/%s", base, names[i]);
        const char *params[1] = {version};
        snprintf(q, sizeof(q), "SELECT 1 FROM %s.schema_migrations WHERE version = $1", qschema);
        res = db_exec(conn, q, 1, params, err);
        if (res == NULL) {
            applied = -1;
            break;
        }
        int done = PQntuples(res) > 0;
        PQclear(res);
        if (done)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        char *sql = read_file(path);
        if (sql == NULL || apply_one(conn, qschema, version, sql, err) < 0) {
            char why[256];
            snprintf(why, sizeof(why), "%s", sql ? err->msg : "cannot read the file");
            if (sql == NULL)
                err->sqlstate[0] = '\0';
            snprintf(err->msg, sizeof(err->msg), "%.100s: %.150s", version, why);
            applied = -1;
        } else {
            log_info("migration %s applied", version);
            applied++;
        }
        free(sql);
    }
out:
    if (locked) {
        res = db_exec(conn, "SELECT pg_advisory_unlock(hashtext($1))", 1, lock_params, NULL);
        PQclear(res);
    }
    if (saved_timeout[0]) {
        const char *params[1] = {saved_timeout};
        res = db_exec(conn, "SELECT set_config('statement_timeout', $1, false)", 1, params, NULL);
        PQclear(res);
    }
    PQfreemem(qschema);
    for (int i = 0; i < n; i++)
        free(names[i]);
    return applied;
}
