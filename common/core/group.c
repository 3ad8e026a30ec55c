/*
 * group.c - group commit of command statements (see group.h).
 *
 * The statements wait in one FIFO queue. Whoever finds nobody collecting
 * becomes the leader of the next group: it waits (bounded) for more
 * arrivals while other groups run, takes up to max statements from the
 * head, runs them on one pooled connection and hands every thread its
 * result. Everybody else sleeps on the same condition variable until its
 * statement is done, or until it may lead the group after.
 *
 * A group of one is a plain db_exec. A group of several is one pipeline:
 * the statements, then a Sync, sent in non-blocking mode (the server's
 * answers are read while the pipeline is still being written, so neither
 * side can block the other); PostgreSQL runs everything before the Sync as
 * one transaction. When the server answers a statement with an error, that
 * transaction was rolled back and every statement is run again alone. When
 * the connection fails instead, nobody knows whether the commit happened:
 * every statement answers the failure, as a lone statement would, and none
 * is run again.
 */
#include "core/group.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/metrics.h"
#include "util/log.h"

enum { GROUP_MAX = 256 }; /* statements in one group at most, whatever max says */

typedef struct group_cmd {
    const char *sql;
    int n;
    const char *const *params;
    PGresult *res; /* the result, or NULL with err */
    db_err err;
    int taken; /* in a group being run */
    int done;
    struct group_cmd *next;
} group_cmd;

struct group {
    db_pool *pool;
    int max, wait_us;
    pthread_mutex_t lock;
    pthread_cond_t changed;  /* an arrival, a group taken or ended */
    group_cmd *head, **tail; /* statements not yet taken, oldest first */
    int npending;
    int collecting;      /* a leader is collecting the next group */
    int running;         /* groups being run */
    unsigned long ended; /* groups ended so far */
    metric *groups, *statements, *reruns;
};

group *group_new(db_pool *pool, int max, int wait_us)
{
    group *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    g->pool = pool;
    g->max = max < 1 ? 1 : max > GROUP_MAX ? GROUP_MAX : max;
    g->wait_us = wait_us < 0 ? 0 : wait_us;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g->changed, &attr);
    pthread_condattr_destroy(&attr);
    g->tail = &g->head;
    g->groups = metrics_counter("shantang_group_commits_total",
                                "groups of two or more command statements committed together", "");
    g->statements = metrics_counter("shantang_group_commit_statements_total",
                                    "command statements committed in such groups", "");
    g->reruns = metrics_counter("shantang_group_commit_reruns_total",
                                "groups rolled back by one statement's error and run again "
                                "one statement at a time",
                                "");
    return g;
}

group *group_free(group *g)
{
    if (g) {
        pthread_cond_destroy(&g->changed);
        pthread_mutex_destroy(&g->lock);
        free(g);
    }
    return NULL;
}

/* run_alone - each statement in its own transaction, on conn */
static void run_alone(PGconn *conn, group_cmd **cmds, int k)
{
    for (int i = 0; i < k; i++)
        cmds[i]->res = db_exec(conn, cmds[i]->sql, cmds[i]->n, cmds[i]->params, &cmds[i]->err);
}

/* pipeline_send - the statements and a Sync, flushed; 0, or -1 when the connection failed */
static int pipeline_send(PGconn *conn, group_cmd **cmds, int k)
{
    if (PQsetnonblocking(conn, 1) != 0)
        return -1;
    int ok = 1;
    for (int i = 0; ok && i < k; i++)
        ok = PQsendQueryParams(conn, cmds[i]->sql, cmds[i]->n, NULL, cmds[i]->params, NULL, NULL,
                               0) == 1;
    ok = ok && PQpipelineSync(conn) == 1;
    int r;
    while (ok && (r = PQflush(conn)) != 0) {
        struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN | POLLOUT};
        /* the server may be answering while it still reads: take its answers in */
        ok = r > 0 && poll(&p, 1, 1000) >= 0 && (!(p.revents & POLLIN) || PQconsumeInput(conn));
    }
    return PQsetnonblocking(conn, 0) == 0 && ok ? 0 : -1;
}

/*
 * pipeline_read - each statement's result, then the Sync's: 1 all committed,
 * 0 a statement failed (the transaction was rolled back), -1 the connection failed
 */
static int pipeline_read(PGconn *conn, group_cmd **cmds, int k, db_err *fail)
{
    int failed = 0;
    for (int i = 0; i < k; i++) {
        PGresult *res = PQgetResult(conn);
        if (res == NULL)
            return -1;
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            cmds[i]->res = res;
        } else {
            if (st == PGRES_FATAL_ERROR && !failed) {
                db_err_from(fail, res, conn, "statement failed");
                failed = 1;
            }
            PQclear(res);
        }
        while ((res = PQgetResult(conn)) != NULL) /* the end of this statement's results */
            PQclear(res);
    }
    /* an error at commit comes before the Sync's result */
    for (;;) {
        PGresult *res = PQgetResult(conn);
        if (res == NULL)
            return -1;
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_FATAL_ERROR && !failed) {
            db_err_from(fail, res, conn, "commit failed");
            failed = 1;
        }
        PQclear(res);
        if (st == PGRES_PIPELINE_SYNC)
            break;
    }
    return failed ? 0 : 1;
}

/* run_group - the taken statements cmds[0..k), their results set */
static void run_group(group *g, int timeout_ms, group_cmd **cmds, int k)
{
    db_err err;
    PGconn *conn = db_acquire(g->pool, timeout_ms, &err);
    if (conn == NULL) {
        for (int i = 0; i < k; i++)
            cmds[i]->err = err;
        return;
    }
    if (k == 1 || PQenterPipelineMode(conn) != 1) {
        run_alone(conn, cmds, k);
        db_release(g->pool, conn);
        return;
    }
    int got = pipeline_send(conn, cmds, k) < 0 ? -1 : pipeline_read(conn, cmds, k, &err);
    if (got < 0)
        db_err_from(&err, NULL, conn, "connection to the database lost");
    if (got < 0 || PQexitPipelineMode(conn) != 1) {
        /* db_release closes a connection left in the pipeline */
        for (int i = 0; i < k; i++) {
            PQclear(cmds[i]->res);
            cmds[i]->res = NULL;
            cmds[i]->err = err;
        }
    } else if (got == 0) {
        log_debug("group of %d rolled back (%s %s); each runs alone", k, err.sqlstate, err.msg);
        metrics_inc(g->reruns);
        for (int i = 0; i < k; i++) {
            PQclear(cmds[i]->res);
            cmds[i]->res = NULL;
        }
        run_alone(conn, cmds, k);
    } else {
        metrics_inc(g->groups);
        metrics_add(g->statements, k);
    }
    db_release(g->pool, conn);
}

/* lead - collect, take and run the next group; called and returns with g->lock held */
static void lead(group *g, int timeout_ms)
{
    g->collecting = 1;
    if (g->running > 0 && g->wait_us > 0) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)g->wait_us * 1000;
        until.tv_sec += until.tv_nsec / 1000000000;
        until.tv_nsec %= 1000000000;
        unsigned long ended = g->ended;
        while (g->npending < g->max && g->running > 0 && g->ended == ended)
            if (pthread_cond_timedwait(&g->changed, &g->lock, &until) == ETIMEDOUT)
                break;
    }
    group_cmd *cmds[GROUP_MAX];
    int k = 0;
    while (g->head && k < g->max) {
        cmds[k] = g->head;
        cmds[k]->taken = 1;
        g->head = g->head->next;
        k++;
    }
    if (g->head == NULL)
        g->tail = &g->head;
    g->npending -= k;
    g->collecting = 0;
    g->running++;
    pthread_cond_broadcast(&g->changed); /* somebody else may collect the group after */
    pthread_mutex_unlock(&g->lock);

    run_group(g, timeout_ms, cmds, k);

    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < k; i++)
        cmds[i]->done = 1;
    g->running--;
    g->ended++;
    pthread_cond_broadcast(&g->changed);
}

PGresult *group_exec(group *g, int timeout_ms, const char *sql, int n, const char *const *params,
                     db_err *err)
{
    if (g == NULL) { /* a context without a database (the fuzzing harnesses) */
        if (err) {
            err->sqlstate[0] = '\0';
            snprintf(err->msg, sizeof(err->msg), "no database");
        }
        return NULL;
    }
    group_cmd c = {.sql = sql, .n = n, .params = params};
    pthread_mutex_lock(&g->lock);
    *g->tail = &c;
    g->tail = &c.next;
    g->npending++;
    pthread_cond_broadcast(&g->changed);
    while (!c.done) {
        if (!c.taken && !g->collecting)
            lead(g, timeout_ms);
        else
            pthread_cond_wait(&g->changed, &g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    if (c.res == NULL && err)
        *err = c.err;
    return c.res;
}
