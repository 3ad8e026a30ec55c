/*
 * outbox.h - the transactional outbox and its relay to Kafka.
 *
 * A service writes its events into <schema>.outbox inside the same database
 * transaction as the state change (outbox_add); a relay thread reads pending
 * rows in id order, produces them with the idempotent producer, and marks a
 * row published only after its delivery report says delivered. With Kafka
 * down the rows wait, the relay backs off (100 ms doubling to 5 s), and
 * nothing acknowledged is lost. The relay is woken by the commit: in
 * process by outbox_relay_wake, from other processes by the NOTIFY of the
 * outbox trigger, which it LISTENs to; it polls only as a fallback
 * (OUTBOX_POLL_MS). Published rows are pruned after OUTBOX_RETAIN_HOURS.
 *
 * Table (created by the service's first migration, see schemas/sql/):
 *   outbox(id bigserial primary key, event_id uuid unique, topic text,
 *          key text, payload jsonb, created_at timestamptz,
 *          published_at timestamptz)
 */
#ifndef SHANTANG_CORE_OUTBOX_H
#define SHANTANG_CORE_OUTBOX_H

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include "core/db.h"

/*
 * outbox_add - insert the envelope ev for topic with key (the aggregate id)
 * on conn, which must be inside the caller's transaction. ev stays the
 * caller's. Returns 0, or -1 with err.
 */
int outbox_add(PGconn *conn, const char *topic, const char *key, const cJSON *ev, db_err *err);

typedef struct outbox_relay outbox_relay;

/*
 * outbox_relay_start - start the relay thread over pool with the producer rk
 * (borrowed; must outlive the relay). The pool's connections are marked
 * shantang.outbox_wake = 'local' (see db_pool_set): whoever commits outbox
 * rows through it must call outbox_relay_wake afterwards. poll_ms is the
 * fallback poll (OUTBOX_POLL_MS; 0: 5000). Returns NULL with err on
 * failure.
 */
outbox_relay *outbox_relay_start(db_pool *pool, rd_kafka_t *rk, int retain_hours, int poll_ms,
                                 char *err, size_t errlen);

/* outbox_relay_wake - tell the relay new rows are waiting (after a commit); never blocks */
void outbox_relay_wake(outbox_relay *r);

/* outbox_relay_pending - rows not yet published at the last pass (for /metrics and /readyz) */
long outbox_relay_pending(const outbox_relay *r);

/* outbox_relay_published - rows published since start */
long outbox_relay_published(const outbox_relay *r);

/* outbox_relay_stop - finish the current batch (bounded by its deadline), join the thread; returns
 * NULL */
outbox_relay *outbox_relay_stop(outbox_relay *r);

#endif
