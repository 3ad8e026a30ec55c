/*
 * outbox.c - the transactional outbox and its relay to Kafka.
 *
 * The relay thread takes pending rows in id order (FOR UPDATE SKIP LOCKED,
 * so several instances share the work without publishing a row twice at
 * once), produces them, waits for every delivery report of the batch, and
 * marks only the delivered rows published in the same transaction that
 * locked them. Undelivered rows stay pending and are tried again after a
 * back-off; a row may then reach Kafka twice (at-least-once), which the
 * consumers' processed_events absorb. Within one key, order is kept: a
 * batch stops producing a key after one of its rows failed to be queued.
 */
#include "core/outbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/event.h"
#include "util/log.h"
#include "util/timeutil.h"

#define OUTBOX_BATCH 200
#define OUTBOX_DELIVERY_WAIT_MS 35000 /* message.timeout.ms + margin */

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
    PGresult *res = db_exec(conn,
                            "INSERT INTO outbox (event_id, topic, key, payload) "
                            "VALUES ($1::uuid, $2, $3, $4::jsonb)",
                            4, params, err);
    free(payload);
    PQclear(res);
    return res ? 0 : -1;
}

struct outbox_relay {
    db_pool *pool;         /* borrowed */
    rd_kafka_t *rk;        /* borrowed */
    int retain_hours;      /* prune published rows older than this */
    pthread_t thread;      /* the relay loop */
    pthread_mutex_t lock;  /* guards wake and the condvar */
    pthread_cond_t cond;   /* signalled by outbox_relay_wake and stop */
    int wake;              /* work announced since the last pass */
    atomic_int stop;       /* set by outbox_relay_stop */
    atomic_long pending;   /* rows pending at the last pass */
    atomic_long published; /* rows published since start */
};

/* relay_pass - publish one batch; returns rows published, or -1 on failure */
static int relay_pass(outbox_relay *r, PGconn *conn)
{
    db_err err;
    if (db_begin(conn, &err) < 0)
        return -1;
    PGresult *res = db_exec(conn,
                            "SELECT id, topic, key, payload::text FROM outbox WHERE published_at "
                            "IS NULL ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED",
                            0, NULL, &err);
    if (res == NULL) {
        db_rollback(conn);
        return -1;
    }
    int n = PQntuples(res);
    if (n <= 0 || n > OUTBOX_BATCH) {
        PQclear(res);
        db_commit(conn, &err);
        return 0;
    }
    int slots[OUTBOX_BATCH];
    for (int i = 0; i < n; i++) {
        slots[i] = 0;
        const char *key = PQgetvalue(res, i, 2);
        int blocked = 0;
        for (int j = 0; j < i && !blocked; j++) /* an earlier row of this key failed to queue */
            blocked = slots[j] == -1 && strcmp(PQgetvalue(res, j, 2), key) == 0;
        if (blocked) {
            slots[i] = -1;
            continue;
        }
        for (int attempt = 0;; attempt++) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                r->rk, RD_KAFKA_V_TOPIC(PQgetvalue(res, i, 1)),
                RD_KAFKA_V_KEY(key, (size_t)PQgetlength(res, i, 2)),
                RD_KAFKA_V_VALUE(PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&slots[i]),
                RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && attempt < 50) {
                rd_kafka_poll(r->rk, 100);
                continue;
            }
            log_warn("outbox: cannot queue row %s for %s: %s", PQgetvalue(res, i, 0),
                     PQgetvalue(res, i, 1), rd_kafka_err2str(e));
            slots[i] = -1;
            break;
        }
    }
    /* Wait for every report of the batch (bounded by the message timeout). */
    int64_t deadline = time_mono_ms() + OUTBOX_DELIVERY_WAIT_MS;
    for (;;) {
        int waiting = 0;
        for (int i = 0; i < n; i++)
            waiting += slots[i] == 0;
        if (waiting == 0 || time_mono_ms() > deadline)
            break;
        rd_kafka_poll(r->rk, 100);
    }
    /* Mark the delivered rows: an array literal of ids (at most 20 digits each). */
    char ids[OUTBOX_BATCH * 22 + 4];
    size_t cap = sizeof(ids), used = 0;
    int delivered = 0;
    used += (size_t)snprintf(ids, cap, "{");
    for (int i = 0; i < n; i++) {
        if (slots[i] != 1)
            continue;
        used += (size_t)snprintf(ids + used, cap - used, "%s%s", delivered ? "," : "",
                                 PQgetvalue(res, i, 0));
        delivered++;
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
        log_warn("outbox: marking rows published failed: %s", err.msg);
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

/* relay_wait - sleep up to ms, or until woken or stopped */
static void relay_wait(outbox_relay *r, int ms)
{
    struct timespec ts;
    time_deadline(&ts, ms);
    pthread_mutex_lock(&r->lock);
    while (!r->wake && !atomic_load(&r->stop))
        if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) != 0)
            break;
    r->wake = 0;
    pthread_mutex_unlock(&r->lock);
}

/* relay_loop - publish until stopped, backing off while Kafka or the database fail */
static void *relay_loop(void *arg)
{
    outbox_relay *r = arg;
    int backoff = 100;
    int64_t last_prune = 0;
    while (!atomic_load(&r->stop)) {
        db_err err;
        PGconn *conn = db_acquire(r->pool, 2000, &err);
        int rc = -1;
        if (conn) {
            rc = relay_pass(r, conn);
            int64_t now = time_mono_ms();
            relay_housekeeping(r, conn, now - last_prune > 60000);
            if (now - last_prune > 60000)
                last_prune = now;
            db_release(r->pool, conn);
        }
        if (rc < 0) {
            relay_wait(r, backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        } else {
            backoff = 100;
            if (rc < OUTBOX_BATCH)
                relay_wait(r, 500);
        }
        rd_kafka_poll(r->rk, 0);
    }
    return NULL;
}

/* outbox_relay_start - the relay thread */
outbox_relay *outbox_relay_start(db_pool *pool, rd_kafka_t *rk, int retain_hours, char *err,
                                 size_t errlen)
{
    outbox_relay *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->pool = pool;
    r->rk = rk;
    r->retain_hours = retain_hours;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (pthread_create(&r->thread, NULL, relay_loop, r) != 0) {
        snprintf(err, errlen, "cannot start the relay thread");
        free(r);
        return NULL;
    }
    return r;
}

/* outbox_relay_wake - new rows committed */
void outbox_relay_wake(outbox_relay *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->wake = 1;
    pthread_cond_signal(&r->cond);
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
    outbox_relay_wake(r);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r);
    return NULL;
}
