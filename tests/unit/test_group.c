/*
 * test_group.c - group commit (core/group.h) on a real PostgreSQL
 * (SHANTANG_TEST_PG_URL, set by deploy/local/stack test; without it the test
 * fails: a skip would leave a plain ctest green with none of this shown).
 *
 * Shows: statements submitted together by many threads are committed in
 * groups (fewer commits than statements); a statement failing inside a
 * group (a unique violation) gets its own error while every other statement
 * of that group still commits, once; every result handed back is committed
 * (another connection sees it); a lone statement does not wait for the
 * collecting time; with a group size of 1 nothing is grouped.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/db.h"
#include "core/group.h"
#include "core/metrics.h"
#include "util/log.h"
#include "util/timeutil.h"

enum { THREADS = 24, EACH = 20, SHARED_EVERY = 5 };

static db_pool *pool;
static group *grp;
static pthread_barrier_t start;

/* one thread's outcome */
typedef struct {
    int t;
    int ok, dup, other, unseen;
} outcome;

/* count - one number from a query on a connection of the pool */
static long count(const char *sql)
{
    db_err err;
    PGconn *conn = db_acquire(pool, 5000, &err);
    PGresult *res = conn ? db_exec(conn, sql, 0, NULL, &err) : NULL;
    long n = res ? atol(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    db_release(pool, conn);
    return n;
}

/* metric_value - a counter's value from the exposition text, or -1 */
static double metric_value(const char *name)
{
    char *text = metrics_render(), *p = text;
    double v = -1;
    size_t len = strlen(name);
    while (p && (p = strstr(p, name)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[len] == ' ') {
            v = atof(p + len + 1);
            break;
        }
        p += len;
    }
    free(text);
    return v;
}

/* worker - EACH inserts of its own ids, every SHARED_EVERY-th of an id all threads insert */
static void *worker(void *arg)
{
    outcome *o = arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < EACH; i++) {
        char id[32], v[32];
        int shared = i % SHARED_EVERY == 0;
        snprintf(id, sizeof(id), "%d", shared ? 900000 + i : o->t * 1000 + i);
        snprintf(v, sizeof(v), "t%d", o->t);
        const char *params[2] = {id, v};
        db_err err;
        PGresult *res = group_exec(
            grp, 5000, "INSERT INTO g (id, v) VALUES ($1::int, $2) RETURNING id", 2, params, &err);
        if (res != NULL) {
            o->ok++;
            /* committed before it was handed back: another session sees it */
            char q[128];
            snprintf(q, sizeof(q), "SELECT count(*) FROM g WHERE id = %s AND v = '%s'", id, v);
            if (strcmp(PQgetvalue(res, 0, 0), id) != 0 || count(q) != 1)
                o->unseen++;
        } else if (strcmp(err.sqlstate, "23505") == 0 && shared) {
            o->dup++;
        } else {
            fprintf(stderr, "insert %s: %s %s\n", id, err.sqlstate, err.msg);
            o->other++;
        }
        PQclear(res);
    }
    return NULL;
}

/* run_threads - THREADS workers at once; the sums of their outcomes */
static outcome run_threads(void)
{
    pthread_t th[THREADS];
    outcome o[THREADS], sum = {0};
    pthread_barrier_init(&start, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        o[t] = (outcome){.t = t};
        pthread_create(&th[t], NULL, worker, &o[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        sum.ok += o[t].ok;
        sum.dup += o[t].dup;
        sum.other += o[t].other;
        sum.unseen += o[t].unseen;
    }
    pthread_barrier_destroy(&start);
    return sum;
}

int main(void)
{
    const char *url = getenv("SHANTANG_TEST_PG_URL");
    char schema[32], ddl[256];
    db_err err;
    if (url == NULL || *url == '\0') {
        printf("FAIL: SHANTANG_TEST_PG_URL is not set (deploy/local/stack test sets it)\n");
        return 1;
    }
    log_init("test", LOG_ERROR);
    snprintf(schema, sizeof(schema), "group_%d", (int)getpid());
    pool = db_pool_new(url, schema, 4, 5000, "test_group", &err);
    CHECK(pool != NULL, "pool: %s", err.msg);
    if (pool == NULL)
        return check_done();
    PGconn *conn = db_acquire(pool, 5000, &err);
    snprintf(ddl, sizeof(ddl), "CREATE SCHEMA %s; CREATE TABLE %s.g (id int PRIMARY KEY, v text)",
             schema, schema);
    PGresult *res = PQexec(conn, ddl);
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "schema: %s", PQerrorMessage(conn));
    PQclear(res);
    db_release(pool, conn);

    /* 1. many threads at once, groups of up to 64 collecting for up to 50 ms */
    grp = group_new(pool, 64, 50000);
    outcome s = run_threads();
    int shared_ids = (EACH + SHARED_EVERY - 1) / SHARED_EVERY;
    CHECK_INT(s.other, 0, "no statement failed but for the shared ids");
    CHECK_INT(s.unseen, 0, "every result handed back was committed");
    CHECK_INT(s.ok, THREADS * (EACH - shared_ids) + shared_ids,
              "every own id inserted, and each shared id once");
    CHECK_INT(s.dup, (THREADS - 1) * shared_ids, "every other insert of a shared id refused");
    CHECK_INT(count("SELECT count(*) FROM g"), s.ok, "the rows are the successes, no more");
    double groups = metric_value("shantang_group_commits_total");
    double stmts = metric_value("shantang_group_commit_statements_total");
    double reruns = metric_value("shantang_group_commit_reruns_total");
    CHECK(groups >= 1 && stmts > groups, "statements were committed in groups (%g in %g)", stmts,
          groups);
    CHECK(reruns >= 1, "a group with a failing statement was run again (%g)", reruns);
    printf("%d statements: %g committed in %g groups, %g groups run again\n", THREADS * EACH, stmts,
           groups, reruns);

    /* 2. a lone statement does not wait for the collecting time (here 2 s) */
    grp = group_free(grp);
    grp = group_new(pool, 64, 2000000);
    const char *lone[2] = {"777777", "lone"};
    int64_t t0 = time_mono_ms();
    res = group_exec(grp, 5000, "INSERT INTO g (id, v) VALUES ($1::int, $2) RETURNING id", 2, lone,
                     &err);
    CHECK(res != NULL, "a lone insert: %s", err.msg);
    PQclear(res);
    CHECK(time_mono_ms() - t0 < 1000, "a lone statement ran at once (%lld ms)",
          (long long)(time_mono_ms() - t0));

    /* 3. a group size of 1: every statement alone, the same outcome */
    grp = group_free(grp);
    grp = group_new(pool, 1, 50000);
    conn = db_acquire(pool, 5000, &err);
    PQclear(PQexec(conn, "TRUNCATE g"));
    db_release(pool, conn);
    double before = metric_value("shantang_group_commits_total");
    s = run_threads();
    CHECK_INT(s.ok, THREADS * (EACH - shared_ids) + shared_ids, "alone: the same successes");
    CHECK_INT(s.dup, (THREADS - 1) * shared_ids, "alone: the same refusals");
    CHECK(metric_value("shantang_group_commits_total") == before, "alone: no group");
    grp = group_free(grp);

    conn = db_acquire(pool, 5000, &err);
    snprintf(ddl, sizeof(ddl), "DROP SCHEMA %s CASCADE", schema);
    PQclear(PQexec(conn, ddl));
    db_release(pool, conn);
    pool = db_pool_free(pool);
    return check_done();
}
