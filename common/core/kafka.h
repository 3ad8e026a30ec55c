/*
 * kafka.h - librdkafka plumbing: the idempotent producer, topic creation,
 * and the consumer-group loop that applies events effectively once.
 *
 * Producer: enable.idempotence=true, acks=all, lz4; only a delivery report
 * means delivered; a fatal idempotence error is reported through
 * kafka_producer_fatal() and the service stops (its supervisor restarts it).
 *
 * Consumer loop: enable.auto.offset.store=false. Each poll takes what is
 * already fetched, up to batch_max messages (CONSUMER_BATCH_MAX), and
 * applies them in order in one database transaction: every event id is
 * recorded in <schema>.processed_events by one statement (a redelivered id
 * changes nothing), then each new event goes to the handler; commit; only
 * then are the offsets stored (auto-commit then commits them within a
 * second). A message that cannot be processed (bad JSON, bad envelope,
 * handler says permanent) goes to the dead-letter topic through the outbox,
 * in the same transaction, with the reason, source topic, partition and
 * offset; the rest of the batch is applied: the first permanent failure
 * rolls the batch back and it is applied again with each handler inside a
 * savepoint, the poisoned message rolled back alone. A transient failure
 * (database down) commits what precedes the message and retries from it
 * with back-off, without moving on: one key's events stay in order.
 *
 * Test-only failpoint, off unless set: with SHANTANG_FAILPOINT_CONSUMER_CRASH
 * naming a consumer group, the process SIGKILLs itself right after that
 * group's first batch committed and before its offsets are stored (the
 * crash the restart must absorb: nothing applied twice, nothing lost).
 */
#ifndef SHANTANG_CORE_KAFKA_H
#define SHANTANG_CORE_KAFKA_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include "core/db.h"

#define KAFKA_DEADLETTER_TOPIC "deadletter.v1"
#define KAFKA_BATCH_MAX_DEFAULT 500 /* messages in one consumer transaction at most */
#define KAFKA_FAILPOINT_ENV "SHANTANG_FAILPOINT_CONSUMER_CRASH"

struct outbox_relay;

/*
 * kafka_producer_new - an idempotent producer for brokers with client.id.
 * Returns the handle (caller owns; destroy with kafka_producer_close) or
 * NULL with err.
 */
rd_kafka_t *kafka_producer_new(const char *brokers, const char *client_id, char *err,
                               size_t errlen);

/*
 * kafka_delivery - the outcome of one produced message, shared between the
 * code that produced it and the delivery report of a producer made by
 * kafka_producer_new: pass it as the message opaque (RD_KAFKA_V_OPAQUE).
 * It is reference counted, one reference for the producing code and one for
 * the report, so that the producing code may stop waiting (shutdown, a
 * deadline) without the report later writing into freed memory. States:
 * KAFKA_DELIVERY_WAITING until the report, then KAFKA_DELIVERY_OK or
 * KAFKA_DELIVERY_FAILED. Reports are served by whoever polls the producer.
 */
typedef struct kafka_delivery kafka_delivery;

enum { KAFKA_DELIVERY_FAILED = -1, KAFKA_DELIVERY_WAITING = 0, KAFKA_DELIVERY_OK = 1 };

/* kafka_delivery_new - a tracker holding both references; NULL when out of memory */
kafka_delivery *kafka_delivery_new(void);

/* kafka_delivery_unsent - the message was never queued: mark it failed, drop the report's reference
 */
void kafka_delivery_unsent(kafka_delivery *d);

/* kafka_delivery_state - KAFKA_DELIVERY_WAITING, _OK or _FAILED */
int kafka_delivery_state(const kafka_delivery *d);

/* kafka_delivery_release - drop the producing code's reference; returns NULL */
kafka_delivery *kafka_delivery_release(kafka_delivery *d);

/* kafka_producer_fatal - 1 once the producer has raised a fatal error */
int kafka_producer_fatal(void);

/*
 * kafka_producer_close - flush with a deadline of timeout_ms, log how many
 * messages were left undelivered, purge them (their delivery reports say
 * failed, so no kafka_delivery is leaked), destroy rk. Returns NULL.
 */
rd_kafka_t *kafka_producer_close(rd_kafka_t *rk, int timeout_ms);

/*
 * kafka_ensure_topics - create each topic "name:partitions[:key=value,...]" of the
 * NULL-terminated list with the admin API if missing (replication factor 1
 * unless KAFKA_REPLICATION says otherwise). Already existing is not an
 * error. Returns 0, or -1 with err.
 */
int kafka_ensure_topics(const char *brokers, const char *const *topics, int replication,
                        int timeout_ms, char *err, size_t errlen);

/* kafka_ping - 0 if the cluster answers a metadata request within timeout_ms */
int kafka_ping(rd_kafka_t *rk, int timeout_ms);

typedef enum {
    KAFKA_APPLY_OK = 0,        /* applied (or nothing to do); commit */
    KAFKA_APPLY_PERMANENT = 1, /* cannot ever apply: dead-letter with err, commit */
    KAFKA_APPLY_RETRY = 2      /* transient: roll back, back off, try the same message again */
} kafka_apply_result;

/*
 * kafka_apply_fn - apply one event on conn, inside the loop's transaction,
 * which also holds the other events of the batch (perhaps inside a
 * savepoint): do not begin, commit or roll back, and answer PERMANENT or
 * RETRY rather than carry on after a failed statement. ev is borrowed.
 * Fill err for PERMANENT and RETRY.
 */
typedef kafka_apply_result (*kafka_apply_fn)(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                             size_t errlen);

/*
 * kafka_apply_batch_fn - apply the n fresh events of a batch at once (in
 * poll order; evs borrowed), under the same rules as kafka_apply_fn. OK
 * applies them all; PERMANENT makes the loop apply them again one at a
 * time with apply, each in a savepoint, so that only the refused one is
 * dead-lettered; RETRY rolls the batch back and backs off.
 */
typedef kafka_apply_result (*kafka_apply_batch_fn)(PGconn *conn, const cJSON *const *evs, int n,
                                                   void *ctx, char *err, size_t errlen);

typedef struct kafka_consumer_def {
    const char *group_id;             /* consumer group, e.g. "enrollment" */
    const char *const *topics;        /* NULL-terminated topics to subscribe to */
    kafka_apply_fn apply;             /* the service's handler */
    void *ctx;                        /* passed to apply */
    const char *instance_id;          /* group.instance.id (static membership); NULL or "": none */
    kafka_apply_batch_fn apply_batch; /* NULL, or the whole batch's handler (fewer round trips) */
} kafka_consumer_def;

/* kafka_consumer_opts - how the process runs a consumer (the service's def says what it does) */
typedef struct kafka_consumer_opts {
    int batch_max; /* messages in one transaction at most; 0: KAFKA_BATCH_MAX_DEFAULT */
    struct outbox_relay *relay; /* woken after a batch queued dead letters; NULL: none */
} kafka_consumer_opts;

typedef struct kafka_consumer kafka_consumer;

/*
 * kafka_consumer_start - subscribe and run the loop in its own thread against
 * pool, with opts (NULL: the defaults). Returns NULL with err on failure.
 */
kafka_consumer *kafka_consumer_start(const char *brokers, const kafka_consumer_def *def,
                                     db_pool *pool, const kafka_consumer_opts *opts, char *err,
                                     size_t errlen);

/* kafka_consumer_applied - events applied (not counting duplicates) since start */
long kafka_consumer_applied(const kafka_consumer *c);

/* kafka_consumer_duplicates - redelivered events skipped since start */
long kafka_consumer_duplicates(const kafka_consumer *c);

/* kafka_consumer_deadlettered - events sent to the dead-letter topic since start */
long kafka_consumer_deadlettered(const kafka_consumer *c);

/* kafka_consumer_reopened - handles made anew after a fatal consumer error since start */
long kafka_consumer_reopened(const kafka_consumer *c);

/* kafka_consumer_batches - transactions committed since start (each one poll's messages or part) */
long kafka_consumer_batches(const kafka_consumer *c);

/*
 * kafka_consumer_stop - stop the loop, close the consumer (commits stored
 * offsets and leaves the group), join the thread. Returns NULL.
 */
kafka_consumer *kafka_consumer_stop(kafka_consumer *c);

#endif
