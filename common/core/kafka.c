/*
 * kafka.c - librdkafka plumbing: the idempotent producer, topic creation,
 * metadata pings, and the consumer-group loop that applies events
 * effectively once (see kafka.h for the protocol).
 *
 * Trusts nothing in a consumed message: it is parsed and checked as a
 * CloudEvents envelope before a handler sees it. Reports through log lines
 * and the counters read by /metrics. Every poll waits at most 100 ms.
 */
#include "core/kafka.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/event.h"
#include "core/outbox.h"
#include "util/log.h"
#include "util/timeutil.h"

static atomic_int kafka_fatal_flag;

/* set - one configuration property; -1 with err */
static int set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err, size_t errlen)
{
    return rd_kafka_conf_set(conf, name, value, err, errlen) == RD_KAFKA_CONF_OK ? 0 : -1;
}

struct kafka_delivery {
    atomic_int state; /* KAFKA_DELIVERY_* */
    atomic_int refs;  /* the producing code's and the delivery report's */
};

/* kafka_delivery_new - a tracker with both references */
kafka_delivery *kafka_delivery_new(void)
{
    kafka_delivery *d = malloc(sizeof(*d));
    if (d == NULL)
        return NULL;
    atomic_init(&d->state, KAFKA_DELIVERY_WAITING);
    atomic_init(&d->refs, 2);
    return d;
}

/* delivery_unref - drop one reference, freeing on the last */
static void delivery_unref(kafka_delivery *d)
{
    if (atomic_fetch_sub(&d->refs, 1) == 1)
        free(d);
}

/* kafka_delivery_unsent - never queued: no report will come */
void kafka_delivery_unsent(kafka_delivery *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->state, KAFKA_DELIVERY_FAILED);
    delivery_unref(d);
}

int kafka_delivery_state(const kafka_delivery *d)
{
    return d ? atomic_load(&((kafka_delivery *)d)->state) : KAFKA_DELIVERY_FAILED;
}

/* kafka_delivery_release - the producing code is done with d */
kafka_delivery *kafka_delivery_release(kafka_delivery *d)
{
    if (d)
        delivery_unref(d);
    return NULL;
}

/* producer_dr - delivery report: settle the tracker the message carries, drop its reference */
static void producer_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    kafka_delivery *d = m->_private;
    if (d == NULL)
        return;
    atomic_store(&d->state, m->err ? KAFKA_DELIVERY_FAILED : KAFKA_DELIVERY_OK);
    delivery_unref(d);
}

/* producer_error - log broker errors; remember a fatal one */
static void producer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof(why));
        log_fatal("kafka producer fatal error: %s", why);
        atomic_store(&kafka_fatal_flag, 1);
        return;
    }
    log_warn("kafka: %s", reason);
}

/* kafka_producer_new - idempotent, acks=all, bounded delivery time */
rd_kafka_t *kafka_producer_new(const char *brokers, const char *client_id, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", brokers, err, errlen) < 0 ||
        set(conf, "client.id", client_id, err, errlen) < 0 ||
        set(conf, "enable.idempotence", "true", err, errlen) < 0 ||
        set(conf, "acks", "all", err, errlen) < 0 ||
        set(conf, "compression.type", "lz4", err, errlen) < 0 ||
        set(conf, "linger.ms", "5", err, errlen) < 0 ||
        set(conf, "message.timeout.ms", "30000", err, errlen) < 0 ||
        set(conf, "socket.timeout.ms", "10000", err, errlen) < 0 ||
        set(conf, "reconnect.backoff.max.ms", "2000", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr);
    rd_kafka_conf_set_error_cb(conf, producer_error);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (rk == NULL)
        rd_kafka_conf_destroy(conf); /* rd_kafka_new takes conf only on success */
    return rk;
}

int kafka_producer_fatal(void)
{
    return atomic_load(&kafka_fatal_flag);
}

/* kafka_producer_close - flush with a deadline, say what is left, purge it, destroy */
rd_kafka_t *kafka_producer_close(rd_kafka_t *rk, int timeout_ms)
{
    if (rk == NULL)
        return NULL;
    rd_kafka_flush(rk, timeout_ms);
    int left = rd_kafka_outq_len(rk);
    if (left > 0) {
        log_warn("kafka: %d messages undelivered at shutdown (their outbox rows stay pending)",
                 left);
        /* Purged messages get a failed delivery report: serve those before destroying. */
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(rk, 1000);
    }
    rd_kafka_destroy(rk);
    return NULL;
}

/* kafka_ping - a metadata request answered in time */
int kafka_ping(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    int ok = md->broker_cnt > 0;
    rd_kafka_metadata_destroy(md);
    return ok ? 0 : -1;
}

/* kafka_ensure_topics - create missing "name:partitions" topics */
int kafka_ensure_topics(const char *brokers, const char *const *topics, int replication,
                        int timeout_ms, char *err, size_t errlen)
{
    /* A plain handle: the admin API needs no idempotent producer. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", brokers, err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    size_t n = 0;
    while (topics[n])
        n++;
    rd_kafka_NewTopic_t **nt = calloc(n ? n : 1, sizeof(*nt));
    if (nt == NULL) {
        snprintf(err, errlen, "out of memory");
        rd_kafka_destroy(rk);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s", topics[i]);
        char *colon = strchr(name, ':');
        int parts = colon ? atoi(colon + 1) : 1;
        char *config = colon ? strchr(colon + 1, ':') : NULL;
        if (colon)
            *colon = '\0';
        nt[i] = rd_kafka_NewTopic_new(name, parts > 0 ? parts : 1, replication, err, errlen);
        if (nt[i] == NULL)
            rc = -1;
        /* "name:partitions:key=value,key=value": topic configuration */
        char *save = NULL;
        for (char *kv = config ? strtok_r(config + 1, ",", &save) : NULL; kv && rc == 0;
             kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            if (eq == NULL) {
                snprintf(err, errlen, "topic %s: config %s is not key=value", name, kv);
                rc = -1;
                break;
            }
            *eq = '\0';
            if (rd_kafka_NewTopic_set_config(nt[i], kv, eq + 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(err, errlen, "topic %s: config %s refused", name, kv);
                rc = -1;
            }
        }
    }
    if (rc == 0 && n > 0) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opt =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opt, timeout_ms, NULL, 0);
        rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, NULL, 0);
        rd_kafka_CreateTopics(rk, nt, n, opt, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
        if (ev == NULL) {
            snprintf(err, errlen, "no answer from the cluster within %d ms", timeout_ms);
            rc = -1;
        } else if (rd_kafka_event_error(ev)) {
            snprintf(err, errlen, "%s", rd_kafka_event_error_string(ev));
            rc = -1;
        } else {
            size_t cnt;
            const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
            for (size_t i = 0; i < cnt; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
                if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                    snprintf(err, errlen, "%s: %s", rd_kafka_topic_result_name(res[i]),
                             rd_kafka_topic_result_error_string(res[i]));
                    rc = -1;
                }
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opt);
        rd_kafka_queue_destroy(q);
    }
    for (size_t i = 0; i < n; i++)
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    rd_kafka_destroy(rk);
    return rc;
}

struct kafka_consumer {
    rd_kafka_t *rk;         /* the consumer handle */
    char *brokers;          /* copy, for a handle made anew after a fatal error */
    kafka_consumer_def def; /* copy of the definition */
    db_pool *pool;          /* borrowed */
    pthread_t thread;       /* the loop */
    atomic_int stop;        /* set by kafka_consumer_stop */
    int batch_max;          /* messages of one poll applied in one transaction at most */
    int crash_after_commit; /* the test-only failpoint names this group (kafka.h) */
    outbox_relay *relay;    /* woken after dead letters were queued; borrowed, may be NULL */
    atomic_long applied, duplicates, deadlettered, reopened;
    atomic_long batches; /* transactions committed */
};

/*
 * One message of a batch and what the batch made of it. reason is set when
 * the message is dead-lettered (cannot be parsed, or its handler said
 * permanent); fresh is set by the attempt that recorded the ids.
 */
typedef struct batch_msg {
    rd_kafka_message_t *m; /* owned by the batch */
    cJSON *ev;             /* the parsed envelope, NULL when it is not one */
    const char *id;        /* event_id(ev), or fallback for a message that is not an envelope */
    char fallback[300];    /* topic/partition/offset */
    char reason[600];      /* why it is dead-lettered; "" while it is to be applied */
    int fresh;             /* 1 when the last attempt recorded its id for the first time */
} batch_msg;

typedef enum {
    BATCH_DONE,    /* committed */
    BATCH_AGAIN,   /* a transient failure outside any handler: back off, try it all again */
    BATCH_POISON,  /* rolled back: a message was found poisoned; again, isolating each */
    BATCH_RETRY_AT /* rolled back: a handler asked to retry message *at later */
} batch_result;

/* batch_store_offsets - commit-to-be: after b[lo..hi), per partition the next offset */
static void batch_store_offsets(kafka_consumer *c, const batch_msg *b, int lo, int hi)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (int i = lo; i < hi; i++) {
        const rd_kafka_message_t *m = b[i].m;
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(l, topic, m->partition);
        if (p == NULL)
            p = rd_kafka_topic_partition_list_add(l, topic, m->partition);
        if (m->offset + 1 > p->offset)
            p->offset = m->offset + 1;
    }
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(c->rk, l);
    if (e) /* a partition taken away meanwhile: its new owner gets the messages again, and
              processed_events absorbs them */
        log_warn("consumer %s: offset store failed: %s", c->def.group_id, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

/*
 * batch_record_ids - claim the ids of b[lo..hi) in processed_events in one
 * statement, setting each fresh flag: 1 for the first message of a new id, 0
 * for an id recorded before (or earlier in the batch). Returns 0, or -1
 * with err.
 */
static int batch_record_ids(PGconn *conn, batch_msg *b, int lo, int hi, db_err *err)
{
    cJSON *rows = cJSON_CreateArray();
    int built = rows != NULL;
    for (int i = lo; i < hi && built; i++) {
        cJSON *row = cJSON_CreateObject();
        built = row && cJSON_AddItemToArray(rows, row) && cJSON_AddNumberToObject(row, "i", i) &&
                cJSON_AddStringToObject(row, "id", b[i].id) &&
                cJSON_AddStringToObject(row, "t", rd_kafka_topic_name(b[i].m->rkt)) &&
                cJSON_AddNumberToObject(row, "p", b[i].m->partition) &&
                cJSON_AddNumberToObject(row, "o", (double)b[i].m->offset);
        if (row == NULL)
            built = 0;
    }
    char *json = built ? cJSON_PrintUnformatted(rows) : NULL;
    cJSON_Delete(rows);
    if (json == NULL) {
        err->sqlstate[0] = '\0';
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return -1;
    }
    const char *params[1] = {json};
    /* ON CONFLICT DO NOTHING also skips an id proposed twice by the same statement; the first
       message carrying it is the one applied */
    PGresult *res = db_exec(conn,
                            "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS "
                            "x(i int, id text, t text, p int, o bigint)), ins AS (INSERT INTO "
                            "processed_events (event_id, topic, \"partition\", \"offset\") "
                            "SELECT id, t, p, o FROM x ORDER BY i ON CONFLICT (event_id) DO "
                            "NOTHING RETURNING event_id) SELECT min(x.i) FROM x JOIN ins ON "
                            "ins.event_id = x.id GROUP BY x.id",
                            1, params, err);
    free(json);
    if (res == NULL)
        return -1;
    for (int i = lo; i < hi; i++)
        b[i].fresh = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        int i = atoi(PQgetvalue(res, r, 0));
        if (i >= lo && i < hi)
            b[i].fresh = 1;
    }
    PQclear(res);
    return 0;
}

/*
 * batch_dead_letter - queue the message with its reason, source topic,
 * partition and offset on the dead-letter topic through the outbox, in the
 * batch's transaction. Returns 0, or -1 with err (out of memory counts: a
 * dead letter short of its message would lose it).
 */
static int batch_dead_letter(kafka_consumer *c, PGconn *conn, const batch_msg *bm, db_err *err)
{
    const rd_kafka_message_t *m = bm->m;
    const char *subject = bm->ev ? event_subject(bm->ev) : NULL;
    cJSON *data = cJSON_CreateObject(), *ev = NULL;
    char *key = m->key ? strndup(m->key, m->key_len) : NULL;
    char *value = strndup(m->payload ? m->payload : "", m->len);
    cJSON *keyv = key ? cJSON_CreateString(key) : cJSON_CreateNull();
    int built = data && value && (key || !m->key) && keyv &&
                cJSON_AddStringToObject(data, "reason", bm->reason) &&
                cJSON_AddStringToObject(data, "group", c->def.group_id) &&
                cJSON_AddStringToObject(data, "topic", rd_kafka_topic_name(m->rkt)) &&
                cJSON_AddNumberToObject(data, "partition", m->partition) &&
                cJSON_AddNumberToObject(data, "offset", (double)m->offset) &&
                cJSON_AddItemToObject(data, "key", keyv);
    if (built) {
        keyv = NULL; /* owned by data now */
        built = cJSON_AddStringToObject(data, "value", value) != NULL;
    }
    cJSON_Delete(keyv);
    if (built) {
        ev = event_new(c->def.group_id, "deadletter", subject ? subject : (key ? key : bm->id),
                       data);
        data = NULL; /* event_new takes ownership */
    }
    cJSON_Delete(data);
    int rc = -1;
    if (ev == NULL) {
        err->sqlstate[0] = '\0';
        snprintf(err->msg, sizeof(err->msg), "out of memory");
    } else {
        rc = outbox_add(conn, KAFKA_DEADLETTER_TOPIC, key ? key : bm->id, ev, err);
    }
    cJSON_Delete(ev);
    free(key);
    free(value);
    return rc;
}

/* batch_sql - one statement without parameters; 0, or -1 with err */
static int batch_sql(PGconn *conn, const char *sql, db_err *err)
{
    PGresult *res = db_exec(conn, sql, 0, NULL, err);
    PQclear(res);
    return res ? 0 : -1;
}

/*
 * batch_apply_all - hand the fresh, valid events of b[lo..hi) to the
 * definition's batch handler in one call; its result (OK with none)
 */
static kafka_apply_result batch_apply_all(kafka_consumer *c, PGconn *conn, const batch_msg *b,
                                          int lo, int hi, char *why, size_t whylen)
{
    const cJSON **evs = malloc(sizeof(*evs) * (size_t)(hi - lo));
    if (evs == NULL) {
        snprintf(why, whylen, "out of memory");
        return KAFKA_APPLY_RETRY;
    }
    int n = 0;
    for (int i = lo; i < hi; i++)
        if (b[i].fresh && !b[i].reason[0])
            evs[n++] = b[i].ev;
    why[0] = '\0';
    kafka_apply_result r =
        n > 0 ? c->def.apply_batch(conn, evs, n, c->def.ctx, why, whylen) : KAFKA_APPLY_OK;
    free(evs);
    return r;
}

/*
 * batch_attempt - apply b[lo..hi) in one transaction and commit it. The ids
 * are recorded first, in one statement; then each fresh message in order is
 * dead-lettered (reason set) or handed to its handler (without isolate, a
 * definition with a batch handler gets them all in one call first, and its
 * refusal is taken as a poisoned batch, below). Without isolate,
 * the handlers run back to back and the first permanent failure rolls
 * everything back (BATCH_POISON, its reason set) so that the caller tries
 * again with isolate: each handler then runs inside a savepoint, and a
 * permanent failure rolls back that message alone, which is dead-lettered
 * in its place. A handler's transient failure rolls everything back and
 * names the message (BATCH_RETRY_AT, *at): what precedes it can be
 * committed on its own. A COMMIT that the server turned into a rollback (a
 * handler swallowed a failed statement) is BATCH_POISON too.
 */
static batch_result batch_attempt(kafka_consumer *c, PGconn *conn, batch_msg *b, int lo, int hi,
                                  int isolate, int *at)
{
    db_err err = {{0}, {0}};
    char why[512];
    if (db_begin(conn, &err) < 0)
        goto again;
    if (batch_record_ids(conn, b, lo, hi, &err) < 0)
        goto rollback;
    if (!isolate && c->def.apply_batch) {
        switch (batch_apply_all(c, conn, b, lo, hi, why, sizeof(why))) {
        case KAFKA_APPLY_OK:
            break;
        case KAFKA_APPLY_PERMANENT:
            db_rollback(conn);
            return BATCH_POISON; /* applied again one by one: the refused one is found */
        default:
            db_rollback(conn);
            log_warn("consumer %s: a batch will be retried: %s", c->def.group_id, why);
            return BATCH_AGAIN;
        }
    }
    for (int i = lo; i < hi; i++) {
        if (!b[i].fresh)
            continue;
        if (!isolate && c->def.apply_batch && !b[i].reason[0])
            continue; /* applied with the batch */
        if (b[i].reason[0]) {
            if (batch_dead_letter(c, conn, &b[i], &err) < 0)
                goto rollback;
            continue;
        }
        if (isolate && batch_sql(conn, "SAVEPOINT consumer_message", &err) < 0)
            goto rollback;
        why[0] = '\0';
        kafka_apply_result r = c->def.apply(conn, b[i].ev, c->def.ctx, why, sizeof(why));
        if (r == KAFKA_APPLY_OK && isolate &&
            batch_sql(conn, "RELEASE SAVEPOINT consumer_message", &err) < 0) {
            if (PQtransactionStatus(conn) != PQTRANS_INERROR)
                goto rollback;
            r = KAFKA_APPLY_PERMANENT; /* the handler swallowed a failed statement */
            snprintf(why, sizeof(why), "a statement of the handler failed: %s", err.msg);
        }
        if (r == KAFKA_APPLY_PERMANENT) {
            snprintf(b[i].reason, sizeof(b[i].reason), "%s", why[0] ? why : "refused");
            if (!isolate) {
                db_rollback(conn);
                return BATCH_POISON;
            }
            if (batch_sql(conn, "ROLLBACK TO SAVEPOINT consumer_message", &err) < 0 ||
                batch_dead_letter(c, conn, &b[i], &err) < 0)
                goto rollback;
        } else if (r != KAFKA_APPLY_OK) {
            db_rollback(conn);
            log_warn("consumer %s: event %s will be retried: %s", c->def.group_id, b[i].id, why);
            *at = i;
            return BATCH_RETRY_AT;
        }
    }
    PGresult *res = db_exec(conn, "COMMIT", 0, NULL, &err);
    if (res == NULL)
        goto rollback;
    int rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    if (rolled_back) {
        log_warn("consumer %s: a handler left its transaction failed; the batch is applied "
                 "again, each message on its own",
                 c->def.group_id);
        return isolate ? BATCH_AGAIN : BATCH_POISON;
    }
    return BATCH_DONE;
rollback:
    db_rollback(conn);
again:
    log_warn("consumer %s: %s", c->def.group_id, err.msg[0] ? err.msg : "database failure");
    return BATCH_AGAIN;
}

/* batch_done - count and report what a committed b[lo..hi) did, then store its offsets */
static void batch_done(kafka_consumer *c, const batch_msg *b, int lo, int hi)
{
    if (c->crash_after_commit) { /* test-only failpoint, see kafka.h */
        log_warn("consumer %s: %s set: killed between the batch's commit and its offsets",
                 c->def.group_id, KAFKA_FAILPOINT_ENV);
        raise(SIGKILL);
    }
    long applied = 0, dups = 0, dead = 0;
    for (int i = lo; i < hi; i++) {
        if (!b[i].fresh) {
            dups++;
            log_debug("consumer %s: event %s seen before", c->def.group_id, b[i].id);
        } else if (b[i].reason[0]) {
            dead++;
            log_warn("consumer %s: %s (%s) dead-lettered to %s: %s", c->def.group_id, b[i].id,
                     b[i].ev ? event_type(b[i].ev) : "not an event", KAFKA_DEADLETTER_TOPIC,
                     b[i].reason);
        } else {
            applied++;
        }
    }
    atomic_fetch_add(&c->applied, applied);
    atomic_fetch_add(&c->duplicates, dups);
    atomic_fetch_add(&c->deadlettered, dead);
    atomic_fetch_add(&c->batches, 1);
    if (dead > 0 && c->relay)
        outbox_relay_wake(c->relay);
    batch_store_offsets(c, b, lo, hi);
}

/* batch_backoff - sleep *ms (in 50 ms steps, ended by stop), then double it up to 5 s */
static void batch_backoff(kafka_consumer *c, int *ms)
{
    for (int waited = 0; waited < *ms && !atomic_load(&c->stop); waited += 50)
        usleep(50 * 1000);
    *ms = *ms * 2 > 5000 ? 5000 : *ms * 2;
}

/*
 * batch_apply - apply the n messages of one poll, in order, in as few
 * transactions as their outcomes allow: one when every handler succeeds or
 * fails permanently; a handler's transient failure commits what precedes
 * the message and retries from it after the back-off (100 ms doubling to
 * 5 s), without polling in between, so its partition does not move on.
 * Returns when all are committed or the consumer stops.
 */
static void batch_apply(kafka_consumer *c, batch_msg *b, int n)
{
    int lo = 0, backoff = 100;
    while (lo < n && !atomic_load(&c->stop)) {
        db_err err;
        PGconn *conn = db_acquire(c->pool, 5000, &err);
        if (conn == NULL) {
            log_warn("consumer %s: %s", c->def.group_id, err.msg);
            batch_backoff(c, &backoff);
            continue;
        }
        int hi = n, isolate = 0, at = 0;
        while (!atomic_load(&c->stop)) {
            batch_result r = batch_attempt(c, conn, b, lo, hi, isolate, &at);
            if (r == BATCH_DONE) {
                batch_done(c, b, lo, hi);
                lo = hi;
                backoff = 100;
                break;
            }
            if (r == BATCH_POISON) {
                isolate = 1;
            } else if (r == BATCH_RETRY_AT && at > lo) {
                hi = at; /* commit what precedes it first */
            } else {
                break; /* back off with the connection given back */
            }
        }
        db_release(c->pool, conn);
        if (lo < n && !atomic_load(&c->stop))
            batch_backoff(c, &backoff);
    }
}

/* consumer_open - a subscribed consumer handle for c's definition, or NULL with err */
static rd_kafka_t *consumer_open(const kafka_consumer *c, char *err, size_t errlen)
{
    const kafka_consumer_def *def = &c->def;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", c->brokers, err, errlen) < 0 ||
        set(conf, "group.id", def->group_id, err, errlen) < 0 ||
        set(conf, "client.id", def->group_id, err, errlen) < 0 ||
        set(conf, "enable.auto.commit", "true", err, errlen) < 0 ||
        set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        set(conf, "auto.offset.reset", "earliest", err, errlen) < 0 ||
        set(conf, "auto.commit.interval.ms", "1000", err, errlen) < 0 ||
        /* a consumer behind by 100,000 events (an import's) prefetched all of them by
           librdkafka's defaults (100,000 messages a partition, 64 MiB): a few batches
           ahead is enough to keep it busy. The two queue limits are only checked
           before a fetch, though, and the fetch limits count compressed bytes: lz4
           shrinks our JSON events about 6 times, so with 4 MiB fetches (1 MiB a
           partition) income caught up on 60,000 household events holding 40 MiB of
           them decompressed at once. A fetch of at most 1 MiB (librdkafka's least:
           message.max.bytes), 256 KiB a partition, is a few thousand events, still
           several batches ahead */
        set(conf, "queued.min.messages", "2000", err, errlen) < 0 ||
        set(conf, "queued.max.messages.kbytes", "4096", err, errlen) < 0 ||
        set(conf, "fetch.max.bytes", "1048576", err, errlen) < 0 ||
        set(conf, "max.partition.fetch.bytes", "262144", err, errlen) < 0 ||
        (def->instance_id && *def->instance_id &&
         set(conf, "group.instance.id", def->instance_id, err, errlen) < 0)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new takes conf only on success */
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(4);
    if (subs == NULL) {
        snprintf(err, errlen, "out of memory");
        rd_kafka_destroy(rk);
        return NULL;
    }
    for (int i = 0; def->topics[i]; i++)
        rd_kafka_topic_partition_list_add(subs, def->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        snprintf(err, errlen, "subscribe: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

/*
 * consumer_reopen - after a fatal consumer error the handle is unusable for
 * good: librdkafka raises one when the broker fences a static member (a
 * broker that was down longer than the session, or restarted, takes the
 * member's rejoin for another instance with the same group.instance.id).
 * The handle is destroyed without a commit (offsets stored since the last
 * commit are delivered again, and processed_events absorbs them) and a new
 * one subscribes, retried every 2 s until it succeeds or the loop stops.
 */
static void consumer_reopen(kafka_consumer *c)
{
    char why[512] = "";
    rd_kafka_fatal_error(c->rk, why, sizeof(why));
    log_error("consumer %s: fatal error (%s): making the consumer anew", c->def.group_id, why);
    rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    c->rk = NULL;
    while (c->rk == NULL && !atomic_load(&c->stop)) {
        char err[256] = "";
        c->rk = consumer_open(c, err, sizeof(err));
        if (c->rk == NULL) {
            log_error("consumer %s: cannot make the consumer anew: %s", c->def.group_id, err);
            for (int waited = 0; waited < 2000 && !atomic_load(&c->stop); waited += 50)
                usleep(50 * 1000);
        }
    }
    atomic_fetch_add(&c->reopened, 1);
}

/*
 * consumer_loop - poll a batch (the first message waits up to 100 ms, the
 * rest are what is already fetched, up to batch_max), apply it, store its
 * offsets. rd_kafka_poll() must not be called here (on a consumer whose
 * queue was redirected it aborts on a fetched message). If retries outlast
 * max.poll.interval.ms the group rebalances; the messages may then also be
 * applied by the new owner, which processed_events absorbs. A fatal error
 * (a fenced static member) makes the handle anew once the batch polled so
 * far is applied.
 */
static void *consumer_loop(void *arg)
{
    kafka_consumer *c = arg;
    batch_msg *b = calloc((size_t)c->batch_max, sizeof(*b));
    if (b == NULL) {
        log_fatal("consumer %s: out of memory", c->def.group_id);
        abort();
    }
    while (!atomic_load(&c->stop)) {
        int n = 0, fatal = 0;
        while (n < c->batch_max) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, n == 0 ? 100 : 0);
            if (m == NULL)
                break;
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                rd_kafka_message_destroy(m);
                fatal = 1;
                break;
            }
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    log_warn("consumer %s: %s", c->def.group_id, rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                continue;
            }
            batch_msg *bm = &b[n++];
            memset(bm, 0, sizeof(*bm));
            bm->m = m;
            snprintf(bm->fallback, sizeof(bm->fallback), "%s/%d/%lld", rd_kafka_topic_name(m->rkt),
                     (int)m->partition, (long long)m->offset);
            bm->id = bm->fallback;
            bm->ev = m->payload ? cJSON_ParseWithLength(m->payload, m->len) : NULL;
            char why[512] = "";
            if (bm->ev == NULL || event_validate(bm->ev, why, sizeof(why)) < 0)
                snprintf(bm->reason, sizeof(bm->reason), "%s", bm->ev == NULL ? "not JSON" : why);
            else
                bm->id = event_id(bm->ev);
        }
        if (n > 0)
            batch_apply(c, b, n);
        for (int i = 0; i < n; i++) {
            cJSON_Delete(b[i].ev);
            rd_kafka_message_destroy(b[i].m);
        }
        if (fatal) /* after the batch: its messages belong to the old handle */
            consumer_reopen(c);
    }
    free(b);
    return NULL;
}

/* kafka_consumer_start - subscribe and run the loop in a thread */
kafka_consumer *kafka_consumer_start(const char *brokers, const kafka_consumer_def *def,
                                     db_pool *pool, const kafka_consumer_opts *opts, char *err,
                                     size_t errlen)
{
    kafka_consumer *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->brokers = strdup(brokers)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(c);
        return NULL;
    }
    c->def = *def;
    c->pool = pool;
    c->batch_max = opts && opts->batch_max > 0 ? opts->batch_max : KAFKA_BATCH_MAX_DEFAULT;
    c->relay = opts ? opts->relay : NULL;
    const char *fp = getenv(KAFKA_FAILPOINT_ENV);
    c->crash_after_commit = fp && strcmp(fp, def->group_id) == 0;
    if (c->crash_after_commit)
        log_warn("consumer %s: %s is set: this process kills itself after its first batch",
                 def->group_id, KAFKA_FAILPOINT_ENV);
    c->rk = consumer_open(c, err, errlen);
    if (c->rk == NULL || pthread_create(&c->thread, NULL, consumer_loop, c) != 0) {
        if (c->rk) {
            snprintf(err, errlen, "no thread for the consumer");
            rd_kafka_destroy(c->rk);
        }
        free(c->brokers);
        free(c);
        return NULL;
    }
    return c;
}

long kafka_consumer_applied(const kafka_consumer *c)
{
    return atomic_load(&((kafka_consumer *)c)->applied);
}

long kafka_consumer_duplicates(const kafka_consumer *c)
{
    return atomic_load(&((kafka_consumer *)c)->duplicates);
}

long kafka_consumer_deadlettered(const kafka_consumer *c)
{
    return atomic_load(&((kafka_consumer *)c)->deadlettered);
}

long kafka_consumer_reopened(const kafka_consumer *c)
{
    return atomic_load(&((kafka_consumer *)c)->reopened);
}

long kafka_consumer_batches(const kafka_consumer *c)
{
    return atomic_load(&((kafka_consumer *)c)->batches);
}

/* kafka_consumer_stop - stop, commit stored offsets, leave the group */
kafka_consumer *kafka_consumer_stop(kafka_consumer *c)
{
    if (c == NULL)
        return NULL;
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
    if (c->rk) {
        rd_kafka_consumer_close(c->rk);
        rd_kafka_destroy(c->rk);
    }
    free(c->brokers);
    free(c);
    return NULL;
}
