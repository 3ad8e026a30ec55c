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
    atomic_long applied, duplicates, deadlettered, reopened;
};

/* store_offset - commit-to-be: the next offset of the message's partition */
static void store_offset(kafka_consumer *c, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset + 1;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(c->rk, l);
    if (e)
        log_warn("kafka: offset store failed: %s", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

/* record_id - claim the event id in processed_events: 1 new, 0 seen, -1 error */
static int record_id(PGconn *conn, const char *id, const rd_kafka_message_t *m, db_err *err)
{
    char part[16], off[24];
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    const char *params[4] = {id, rd_kafka_topic_name(m->rkt), part, off};
    PGresult *res = db_exec(conn,
                            "INSERT INTO processed_events (event_id, topic, \"partition\", "
                            "\"offset\") VALUES ($1, $2, $3::int, $4::bigint) "
                            "ON CONFLICT (event_id) DO NOTHING RETURNING 1",
                            4, params, err);
    if (res == NULL)
        return -1;
    int fresh = PQntuples(res) == 1;
    PQclear(res);
    return fresh;
}

/*
 * dead_letter - record the id and queue the message with its reason on the
 * dead-letter topic, in one transaction of its own. Returns 1 when queued,
 * 0 when the id was recorded before (a redelivery: queued the first time),
 * -1 with err.
 */
static int dead_letter(kafka_consumer *c, PGconn *conn, const char *id, const char *subject,
                       const rd_kafka_message_t *m, const char *reason, db_err *err)
{
    cJSON *data = cJSON_CreateObject(), *ev = NULL;
    char *key = m->key ? strndup(m->key, m->key_len) : NULL;
    char *value = strndup(m->payload ? m->payload : "", m->len);
    cJSON *keyv = key ? cJSON_CreateString(key) : cJSON_CreateNull();
    /* a dead letter short of its message (or key) for want of memory would lose it:
       every part must be there, else the consumer retries later */
    int built = data && value && (key || !m->key) && keyv &&
                cJSON_AddStringToObject(data, "reason", reason) &&
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
        ev = event_new(c->def.group_id, "deadletter", subject ? subject : (key ? key : id), data);
        data = NULL; /* event_new takes ownership */
    }
    cJSON_Delete(data);
    int rc = -1;
    if (ev == NULL) {
        err->sqlstate[0] = '\0';
        snprintf(err->msg, sizeof(err->msg), "out of memory");
    } else if (db_begin(conn, err) == 0) {
        int fresh = record_id(conn, id, m, err);
        if (fresh >= 0 &&
            (fresh == 0 ||
             outbox_add(conn, KAFKA_DEADLETTER_TOPIC, key ? key : id, ev, err) == 0) &&
            db_commit(conn, err) == 0)
            rc = fresh;
        else
            db_rollback(conn);
    }
    cJSON_Delete(ev);
    free(key);
    free(value);
    return rc;
}

typedef enum { DONE, AGAIN } step;

/* consume_one - apply one message; AGAIN when it must be tried again later */
static step consume_one(kafka_consumer *c, const rd_kafka_message_t *m)
{
    db_err err = {{0}, {0}};
    char why[512] = "", fallback_id[300];
    PGconn *conn = db_acquire(c->pool, 5000, &err);
    if (conn == NULL) {
        log_warn("consumer %s: %s", c->def.group_id, err.msg);
        return AGAIN;
    }
    snprintf(fallback_id, sizeof(fallback_id), "%s/%d/%lld", rd_kafka_topic_name(m->rkt),
             (int)m->partition, (long long)m->offset);
    cJSON *ev = m->payload ? cJSON_ParseWithLength(m->payload, m->len) : NULL;
    step result = DONE;
    if (ev == NULL || event_validate(ev, why, sizeof(why)) < 0) {
        char reason[600];
        snprintf(reason, sizeof(reason), "%s", ev == NULL ? "not JSON" : why);
        int dl = dead_letter(c, conn, fallback_id, NULL, m, reason, &err);
        if (dl < 0) {
            result = AGAIN;
        } else if (dl == 0) {
            atomic_fetch_add(&c->duplicates, 1);
        } else {
            atomic_fetch_add(&c->deadlettered, 1);
            log_warn("consumer %s: %s at %s sent to %s", c->def.group_id, reason, fallback_id,
                     KAFKA_DEADLETTER_TOPIC);
        }
        goto out;
    }
    if (db_begin(conn, &err) < 0) {
        result = AGAIN;
        goto out;
    }
    int fresh = record_id(conn, event_id(ev), m, &err);
    if (fresh < 0) {
        db_rollback(conn);
        result = AGAIN;
        goto out;
    }
    if (fresh == 0) {
        db_commit(conn, &err);
        atomic_fetch_add(&c->duplicates, 1);
        log_debug("consumer %s: event %s seen before", c->def.group_id, event_id(ev));
        goto out;
    }
    kafka_apply_result r = c->def.apply(conn, ev, c->def.ctx, why, sizeof(why));
    if (r == KAFKA_APPLY_OK) {
        if (db_commit(conn, &err) < 0)
            result = AGAIN;
        else
            atomic_fetch_add(&c->applied, 1);
    } else if (r == KAFKA_APPLY_PERMANENT) {
        db_rollback(conn);
        int dl = dead_letter(c, conn, event_id(ev), event_subject(ev), m, why, &err);
        if (dl < 0) {
            result = AGAIN;
        } else {
            atomic_fetch_add(dl ? &c->deadlettered : &c->duplicates, 1);
            log_warn("consumer %s: event %s (%s) dead-lettered: %s", c->def.group_id, event_id(ev),
                     event_type(ev), why);
        }
    } else {
        db_rollback(conn);
        log_warn("consumer %s: event %s will be retried: %s", c->def.group_id, event_id(ev), why);
        result = AGAIN;
    }
out:
    if (result == AGAIN && err.msg[0])
        log_warn("consumer %s: %s", c->def.group_id, err.msg);
    cJSON_Delete(ev);
    db_release(c->pool, conn);
    return result;
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
 * consumer_loop - poll, apply, store offsets; back off on transient failures.
 * A message that must be retried is kept and applied again after the
 * back-off (100 ms doubling to 5 s) without polling in between: its
 * partition does not move on. rd_kafka_poll() must not be called here (on a
 * consumer whose queue was redirected it aborts on a fetched message). If
 * the retries outlast max.poll.interval.ms the group rebalances; the message
 * may then also be applied by the new owner, which processed_events absorbs.
 */
static void *consumer_loop(void *arg)
{
    kafka_consumer *c = arg;
    while (!atomic_load(&c->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 100);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
            rd_kafka_message_destroy(m);
            consumer_reopen(c);
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn("consumer %s: %s", c->def.group_id, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        int backoff = 100;
        while (consume_one(c, m) == AGAIN && !atomic_load(&c->stop)) {
            for (int waited = 0; waited < backoff && !atomic_load(&c->stop); waited += 50)
                usleep(50 * 1000);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        if (!atomic_load(&c->stop))
            store_offset(c, m);
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

/* kafka_consumer_start - subscribe and run the loop in a thread */
kafka_consumer *kafka_consumer_start(const char *brokers, const kafka_consumer_def *def,
                                     db_pool *pool, char *err, size_t errlen)
{
    kafka_consumer *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->brokers = strdup(brokers)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(c);
        return NULL;
    }
    c->def = *def;
    c->pool = pool;
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
