/*
 * outbox.c - the transactional outbox and its relay to Kafka.
 *
 * The relay thread takes pending rows in id order, produces them with the
 * idempotent producer, waits for every delivery report of the batch
 * (kafka_delivery trackers, see kafka.h), and marks only the delivered rows
 * published, in the same transaction that locked them. Undelivered rows stay
 * pending and are tried again after a back-off (100 ms doubling to 5 s).
 *
 * When it is woken: after a pass that left nothing behind, the relay sleeps
 * until a commit is announced - in process by outbox_relay_wake (a byte on
 * a pipe), or by PostgreSQL: the outbox trigger (common migration 003)
 * NOTIFYs "<schema>.outbox" for writers outside a relay's process, and the
 * relay LISTENs on a connection of its own. So an event leaves within
 * milliseconds of its commit and an idle service queries nothing but the
 * fallback poll (OUTBOX_POLL_MS, default 5 s; 500 ms while the LISTEN
 * connection is lost), which also catches rows nobody announced.
 *
 * What it guarantees:
 * - A committed row is published at least once: it is marked only after a
 *   delivery report said delivered. A crash between delivery and the mark
 *   publishes it again; the consumers' processed_events absorb that.
 * - One relay per schema at a time: each pass holds a transaction-level
 *   advisory lock, so several instances of a service do not interleave.
 * - Per key, rows are produced in id order, and the idempotent producer keeps
 *   that order on the partition. After a row of a topic and key could not be
 *   queued, the rest of that key waits for the next pass. If a queued row
 *   fails (timed out while the broker was away) while a later row of the
 *   same key was delivered, the failed one is published on the next pass,
 *   after the later one: consumers must not assume more than "every event
 *   arrives" in that rare case.
 *
 * Reads nothing from configuration itself (retain_hours and poll_ms come
 * from OUTBOX_RETAIN_HOURS and OUTBOX_POLL_MS through the caller). Reports pending and published
 * counts for /metrics, and warnings in the log while it cannot publish.
 */
#include "core/outbox.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/event.h"
#include "core/kafka.h"
#include "util/log.h"
#include "util/timeutil.h"

#define OUTBOX_BATCH 200
#define OUTBOX_BATCH_SQL "200"        /* the same, for the query text */
#define OUTBOX_DELIVERY_WAIT_MS 60000 /* message.timeout.ms + one request in flight */
#define OUTBOX_STOP_GRACE_MS 3000     /* how long a stopping relay still waits for reports */
#define OUTBOX_UNHEARD_POLL_MS 500    /* the poll while the LISTEN connection is down */
#define RELAY_BUSY (-2)               /* relay_pass: another instance holds the relay's lock */
#define RELAY_BUSY_RETRY_MS 50        /* how soon a relay tries again after RELAY_BUSY */

/* outbox_add - insert an envelope in the caller's transaction */
int outbox_add(PGconn *conn, const char *topic, const char *key, const cJSON *ev, db_err *err)
{
    char *payload = cJSON_PrintUnformatted(ev);
    if (payload == NULL) {
        err->sqlstate[0] = '\0';
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return -1;
    }
    const char *params[4] = {event_id(ev), topic, key, payload};
    int rc = db_run(conn,
                    "INSERT INTO outbox (event_id, topic, key, payload) "
                    "VALUES ($1::uuid, $2, $3, $4::jsonb)",
                    4, params, err);
    free(payload);
    return rc;
}

struct outbox_relay {
    db_pool *pool;           /* borrowed */
    rd_kafka_t *rk;          /* borrowed */
    int retain_hours;        /* prune published rows older than this */
    pthread_t thread;        /* the relay loop */
    int poll_ms;             /* the fallback poll while listening (OUTBOX_POLL_MS) */
    pthread_mutex_t lock;    /* guards wake and the pipe's reads */
    int pipe[2];             /* outbox_relay_wake and stop write a byte; the relay polls [0] */
    int wake;                /* work announced since the last pass (a byte is in the pipe) */
    PGconn *listen;          /* LISTEN "<schema>.outbox"; NULL while it cannot be had */
    int listen_lost;         /* the last attempt failed (logged once per outage) */
    int64_t listen_retry_at; /* the next attempt to listen, monotonic ms */
    atomic_int stop;         /* set by outbox_relay_stop */
    atomic_long pending;     /* rows pending at the last pass */
    atomic_long published;   /* rows published since start */
};

/* relay_queue - hand row i of res to the producer; its tracker in *d (NULL if never queued) */
static void relay_queue(outbox_relay *r, const PGresult *res, int i, kafka_delivery **d)
{
    *d = kafka_delivery_new();
    if (*d == NULL) {
        log_warn("outbox: out of memory queueing row %s", PQgetvalue(res, i, 0));
        return;
    }
    for (int attempt = 0;; attempt++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            r->rk, RD_KAFKA_V_TOPIC(PQgetvalue(res, i, 1)),
            RD_KAFKA_V_KEY(PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2)),
            RD_KAFKA_V_VALUE(PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(*d), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && attempt < 50 && !atomic_load(&r->stop)) {
            rd_kafka_poll(r->rk, 100);
            continue;
        }
        log_warn("outbox: cannot queue row %s for %s: %s", PQgetvalue(res, i, 0),
                 PQgetvalue(res, i, 1), rd_kafka_err2str(e));
        kafka_delivery_unsent(*d); /* no report will come for it */
        return;
    }
}

/* relay_settled - 1 when every tracker of the batch has its report */
static int relay_settled(kafka_delivery *const *d, int n)
{
    for (int i = 0; i < n; i++)
        if (d[i] && kafka_delivery_state(d[i]) == KAFKA_DELIVERY_WAITING)
            return 0;
    return 1;
}

/*
 * relay_pass - publish one batch: lock pending rows, produce them, wait for
 * their delivery reports, mark the delivered ones published, commit.
 * Returns rows published when all were, RELAY_BUSY when another instance
 * holds the relay's lock, or -1 when any failed (back off).
 */
static int relay_pass(outbox_relay *r, PGconn *conn)
{
    db_err err;
    if (db_begin(conn, &err) < 0)
        return -1;
    PGresult *res = db_exec(conn,
                            "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || "
                            "'.outbox_relay'))",
                            0, NULL, &err);
    int failed = res == NULL, mine = res && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!mine) { /* another instance is relaying, or the database failed */
        db_rollback(conn);
        return failed ? -1 : RELAY_BUSY;
    }
    res = db_exec(conn,
                  "SELECT id, topic, key, payload::text FROM outbox WHERE published_at "
                  "IS NULL ORDER BY id LIMIT " OUTBOX_BATCH_SQL " FOR UPDATE SKIP LOCKED",
                  0, NULL, &err);
    if (res == NULL) {
        db_rollback(conn);
        log_warn("outbox: reading pending rows failed: %s", err.msg);
        return -1;
    }
    int n = PQntuples(res);
    if (n <= 0 || n > OUTBOX_BATCH) {
        PQclear(res);
        db_commit(conn, &err);
        return 0;
    }
    kafka_delivery *d[OUTBOX_BATCH] = {0};
    for (int i = 0; i < n && !atomic_load(&r->stop); i++) {
        const char *topic = PQgetvalue(res, i, 1), *key = PQgetvalue(res, i, 2);
        int blocked = 0; /* an earlier row of this topic and key could not be queued */
        for (int j = 0; j < i && !blocked; j++)
            blocked = kafka_delivery_state(d[j]) == KAFKA_DELIVERY_FAILED &&
                      strcmp(PQgetvalue(res, j, 2), key) == 0 &&
                      strcmp(PQgetvalue(res, j, 1), topic) == 0;
        if (!blocked)
            relay_queue(r, res, i, &d[i]);
    }
    /*
     * Wait for every report of the batch: librdkafka gives each queued message
     * one within message.timeout.ms (plus a request in flight). On stop, wait
     * only a short grace; messages still out then are left to the producer's
     * flush at shutdown and their rows stay pending (a later start may publish
     * them again: at-least-once).
     */
    int64_t deadline = time_mono_ms() + OUTBOX_DELIVERY_WAIT_MS, stop_deadline = 0;
    while (!relay_settled(d, n) && time_mono_ms() < deadline) {
        if (stop_deadline == 0 && atomic_load(&r->stop)) {
            stop_deadline = time_mono_ms() + OUTBOX_STOP_GRACE_MS;
            if (stop_deadline < deadline)
                deadline = stop_deadline;
        }
        rd_kafka_poll(r->rk, 100);
    }
    /* Mark the delivered rows: an array literal of ids (at most 20 digits each). */
    char ids[OUTBOX_BATCH * 22 + 4];
    size_t cap = sizeof(ids), used = 0;
    int delivered = 0;
    used += (size_t)snprintf(ids, cap, "{");
    for (int i = 0; i < n; i++) {
        if (kafka_delivery_state(d[i]) == KAFKA_DELIVERY_OK) {
            used += (size_t)snprintf(ids + used, cap - used, "%s%s", delivered ? "," : "",
                                     PQgetvalue(res, i, 0));
            delivered++;
        }
        d[i] = kafka_delivery_release(d[i]);
    }
    snprintf(ids + used, cap - used, "}");
    PQclear(res);
    int rc = delivered;
    if (delivered > 0) {
        const char *params[1] = {ids};
        res = db_exec(conn, "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                      1, params, &err);
        PQclear(res);
        if (res == NULL)
            rc = -1;
    }
    if (rc < 0 || db_commit(conn, &err) < 0) {
        db_rollback(conn);
        log_warn("outbox: marking rows published failed (they will be published again): %s",
                 err.msg);
        return -1;
    }
    atomic_fetch_add(&r->published, delivered);
    if (delivered < n) {
        log_warn("outbox: %d of %d events not delivered yet; will retry", n - delivered, n);
        return -1;
    }
    return delivered;
}

/* relay_housekeeping - count pending rows; prune old published ones */
static void relay_housekeeping(outbox_relay *r, PGconn *conn, int prune)
{
    db_err err;
    PGresult *res =
        db_exec(conn, "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0, NULL, &err);
    if (res) {
        atomic_store(&r->pending, atol(PQgetvalue(res, 0, 0)));
        PQclear(res);
    }
    if (prune) {
        char hours[16];
        snprintf(hours, sizeof(hours), "%d", r->retain_hours);
        const char *params[1] = {hours};
        res = db_exec(conn,
                      "DELETE FROM outbox WHERE published_at < now() - make_interval(hours => "
                      "$1::int)",
                      1, params, &err);
        PQclear(res);
    }
}

/*
 * relay_listen - (re)open the LISTEN connection on "<schema>.outbox" when it
 * is missing or broken. Without it the relay polls every
 * OUTBOX_UNHEARD_POLL_MS; a failure is logged once per outage.
 */
static void relay_listen(outbox_relay *r)
{
    if (r->listen && PQstatus(r->listen) == CONNECTION_OK)
        return;
    if (r->listen) {
        PQfinish(r->listen);
        r->listen = NULL;
    }
    int64_t now = time_mono_ms();
    if (now < r->listen_retry_at)
        return;
    r->listen_retry_at = now + 1000;
    db_err err;
    PGconn *conn = db_connect_own(r->pool, &err);
    PGresult *res = conn ? PQexec(conn, "SELECT quote_ident(current_schema() || '.outbox')") : NULL;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        char sql[200];
        snprintf(sql, sizeof(sql), "LISTEN %s", PQgetvalue(res, 0, 0));
        PQclear(res);
        res = PQexec(conn, sql);
        if (PQresultStatus(res) == PGRES_COMMAND_OK && PQsetnonblocking(conn, 1) == 0) {
            PQclear(res);
            r->listen = conn;
            if (r->listen_lost)
                log_info("outbox: listening for commits again");
            r->listen_lost = 0;
            return;
        }
    }
    if (!r->listen_lost)
        log_warn("outbox: cannot listen for commits (polling every %d ms meanwhile): %s",
                 OUTBOX_UNHEARD_POLL_MS, conn ? strtok(PQerrorMessage(conn), "\n") : err.msg);
    r->listen_lost = 1;
    PQclear(res);
    PQfinish(conn);
}

/* relay_heard - read what the LISTEN connection received; 1 when a commit was announced */
static int relay_heard(outbox_relay *r)
{
    if (r->listen == NULL)
        return 0;
    if (PQconsumeInput(r->listen) == 0) { /* broken: relay_listen reconnects */
        log_warn("outbox: the connection listening for commits was lost");
        r->listen_lost = 1;
        PQfinish(r->listen);
        r->listen = NULL;
        return 1; /* a pass now: something may have been missed */
    }
    int heard = 0;
    PGnotify *n;
    while ((n = PQnotifies(r->listen)) != NULL) {
        heard = 1;
        PQfreemem(n);
    }
    return heard;
}

/* relay_drain - empty the wake pipe and clear the wake flag */
static void relay_drain(outbox_relay *r)
{
    char buf[64];
    pthread_mutex_lock(&r->lock);
    while (read(r->pipe[0], buf, sizeof(buf)) > 0)
        ;
    r->wake = 0;
    pthread_mutex_unlock(&r->lock);
}

/*
 * relay_wait - wait up to ms, or until stopped, or (when wakeable) until a
 * commit is announced, in process (outbox_relay_wake) or by NOTIFY. The
 * producer is polled every second meanwhile so that its callbacks run.
 */
static void relay_wait(outbox_relay *r, int ms, int wakeable)
{
    int64_t deadline = time_mono_ms() + ms;
    if (wakeable) {
        pthread_mutex_lock(&r->lock);
        int woken = r->wake;
        pthread_mutex_unlock(&r->lock);
        if (woken) {
            relay_drain(r);
            relay_heard(r);
            return;
        }
    }
    while (!atomic_load(&r->stop)) {
        int64_t left = deadline - time_mono_ms();
        if (left <= 0)
            break;
        struct pollfd fds[2] = {{.fd = r->pipe[0], .events = POLLIN},
                                {.fd = r->listen ? PQsocket(r->listen) : -1, .events = POLLIN}};
        int got = poll(fds, wakeable ? 2 : 1, left > 1000 ? 1000 : (int)left);
        rd_kafka_poll(r->rk, 0);
        if (got <= 0)
            continue;
        if (wakeable && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) && relay_heard(r))
            break;
        if (fds[0].revents & POLLIN) {
            if (wakeable)
                break;
            /* a back-off is not cut short by new rows (the flag stays for after it), only
               by stop */
            pthread_mutex_lock(&r->lock);
            char buf[64];
            while (read(r->pipe[0], buf, sizeof(buf)) > 0)
                ;
            pthread_mutex_unlock(&r->lock);
        }
    }
    if (wakeable) {
        relay_drain(r);
        relay_heard(r); /* notifications that came with the wake are served by this pass */
    }
}

/* relay_loop - publish until stopped, backing off while Kafka or the database fail */
static void *relay_loop(void *arg)
{
    outbox_relay *r = arg;
    int backoff = 100;
    int64_t last_prune = 0;
    while (!atomic_load(&r->stop)) {
        relay_listen(r); /* before the pass: a commit announced during it is heard after */
        db_err err;
        PGconn *conn = db_acquire(r->pool, 2000, &err);
        int rc = -1;
        if (conn) {
            rc = relay_pass(r, conn);
            int64_t now = time_mono_ms();
            int prune = last_prune == 0 || now - last_prune > 60000;
            relay_housekeeping(r, conn, prune);
            if (prune)
                last_prune = now;
            db_release(r->pool, conn);
        } else if (backoff == 100) {
            log_warn("outbox: %s", err.msg);
        }
        if (rc == RELAY_BUSY) {
            /* another instance's pass may have started before our rows were committed, and
               nothing wakes us again for them: try again shortly */
            relay_wait(r, RELAY_BUSY_RETRY_MS, 0);
        } else if (rc < 0) {
            relay_wait(r, backoff, 0);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        } else {
            backoff = 100;
            if (rc < OUTBOX_BATCH)
                relay_wait(r, r->listen ? r->poll_ms : OUTBOX_UNHEARD_POLL_MS, 1);
        }
        rd_kafka_poll(r->rk, 0);
    }
    if (r->listen)
        PQfinish(r->listen);
    r->listen = NULL;
    return NULL;
}

/* outbox_relay_start - the relay thread */
outbox_relay *outbox_relay_start(db_pool *pool, rd_kafka_t *rk, int retain_hours, int poll_ms,
                                 char *err, size_t errlen)
{
    outbox_relay *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    db_err dberr;
    r->pipe[0] = r->pipe[1] = -1;
    if (pipe(r->pipe) < 0 || fcntl(r->pipe[0], F_SETFL, O_NONBLOCK) < 0 ||
        fcntl(r->pipe[1], F_SETFL, O_NONBLOCK) < 0) {
        snprintf(err, errlen, "cannot make the relay's wake pipe");
        goto fail;
    }
    /* this process wakes its relay itself after its commits: its inserts need no NOTIFY */
    if (db_pool_set(pool, "shantang.outbox_wake", "local", &dberr) < 0) {
        snprintf(err, errlen, "%s", dberr.msg);
        goto fail;
    }
    r->pool = pool;
    r->rk = rk;
    r->retain_hours = retain_hours;
    r->poll_ms = poll_ms > 0 ? poll_ms : 5000;
    pthread_mutex_init(&r->lock, NULL);
    if (pthread_create(&r->thread, NULL, relay_loop, r) != 0) {
        snprintf(err, errlen, "cannot start the relay thread");
        pthread_mutex_destroy(&r->lock);
        goto fail;
    }
    return r;
fail:
    if (r->pipe[0] >= 0) {
        close(r->pipe[0]);
        close(r->pipe[1]);
    }
    free(r);
    return NULL;
}

/* outbox_relay_wake - new rows committed: one byte down the pipe unless one is waiting */
void outbox_relay_wake(outbox_relay *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    if (!r->wake) {
        r->wake = 1;
        ssize_t w = write(r->pipe[1], "w", 1); /* full: the relay is awake anyway */
        (void)w;
    }
    pthread_mutex_unlock(&r->lock);
}

long outbox_relay_pending(const outbox_relay *r)
{
    return r ? atomic_load(&((outbox_relay *)r)->pending) : 0;
}

long outbox_relay_published(const outbox_relay *r)
{
    return r ? atomic_load(&((outbox_relay *)r)->published) : 0;
}

/* outbox_relay_stop - finish the pass under way and join */
outbox_relay *outbox_relay_stop(outbox_relay *r)
{
    if (r == NULL)
        return NULL;
    atomic_store(&r->stop, 1);
    pthread_mutex_lock(&r->lock);
    ssize_t w = write(r->pipe[1], "s", 1);
    (void)w;
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->lock);
    close(r->pipe[0]);
    close(r->pipe[1]);
    free(r);
    return NULL;
}
