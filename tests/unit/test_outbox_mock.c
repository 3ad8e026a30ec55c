/*
 * test_outbox_mock.c - the outbox relay against broker faults, on
 * librdkafka's mock cluster and a real PostgreSQL (SHANTANG_TEST_PG_URL,
 * set by deploy/local/stack test; without it the test fails: a skip would
 * leave a plain ctest green with none of this shown).
 *
 * Shows: with the broker down, committed outbox rows stay pending and
 * nothing is lost; once it is back they are published, in order, each
 * exactly once even when Produce requests fail and are retried (the
 * idempotent producer); the relay marks them published.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/db.h"
#include "core/event.h"
#include "core/kafka.h"
#include "core/outbox.h"
#include "util/log.h"
#include "util/timeutil.h"

#define TOPIC "mock.v1"

static long count_pending(db_pool *pool)
{
    db_err err;
    PGconn *conn = db_acquire(pool, 5000, &err);
    PGresult *res =
        db_exec(conn, "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0, NULL, &err);
    long n = res ? atol(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    db_release(pool, conn);
    return n;
}

/* add_events - n events for key in one transaction; their ids into ids */
static void add_events(db_pool *pool, const char *key, int n, char ids[][37])
{
    db_err err;
    PGconn *conn = db_acquire(pool, 5000, &err);
    db_begin(conn, &err);
    for (int i = 0; i < n; i++) {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddNumberToObject(data, "seq", i);
        cJSON *ev = event_new("test", "mock.tested", key, data);
        snprintf(ids[i], 37, "%s", event_id(ev));
        CHECK_INT(outbox_add(conn, TOPIC, key, ev, &err), 0, "outbox_add");
        cJSON_Delete(ev);
    }
    CHECK_INT(db_commit(conn, &err), 0, "commit outbox rows");
    db_release(pool, conn);
}

/* read_all - every message of the topic's partition 0, as event ids, into got */
static int read_all(const char *bootstraps, char got[][37], int max)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "mock-reader", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int n = 0;
    int64_t deadline = time_mono_ms() + 20000;
    while (time_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL)
            continue;
        int eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (!m->err && n < max) {
            cJSON *ev = cJSON_ParseWithLength(m->payload, m->len);
            snprintf(got[n++], 37, "%s", ev && event_id(ev) ? event_id(ev) : "?");
            cJSON_Delete(ev);
        }
        rd_kafka_message_destroy(m);
        if (eof)
            break;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

int main(void)
{
    const char *url = getenv("SHANTANG_TEST_PG_URL");
    char err[256], schema[64], ddl[160], ids[8][37], got[16][37];
    db_err dberr;

    if (url == NULL || *url == '\0') {
        printf("FAIL: SHANTANG_TEST_PG_URL is not set (deploy/local/stack test sets it)\n");
        return 1;
    }
    log_init("test", LOG_ERROR);
    snprintf(schema, sizeof(schema), "mock_%d", (int)getpid());
    db_pool *pool = db_pool_new(url, schema, 4, 5000, "test_outbox_mock", &dberr);
    CHECK(pool != NULL, "pool: %s", dberr.msg);
    if (pool == NULL)
        return check_done();
    PGconn *conn = db_acquire(pool, 5000, &dberr);
    snprintf(ddl, sizeof(ddl), "CREATE SCHEMA %s", schema);
    PQclear(PQexec(conn, ddl));
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/schemas/sql/common", getenv("SHANTANG_SOURCE_DIR"));
    CHECK(db_migrate(conn, schema, dir, &dberr) >= 1, "common migrations: %s", dberr.msg);
    db_release(pool, conn);

    /* the mock cluster, hosted by a handle of its own */
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    rd_kafka_conf_set(mconf, "test.mock.num.brokers", "1", err, sizeof(err));
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, err, sizeof(err));
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(mrk);
    rd_kafka_mock_topic_create(mc, TOPIC, 1, 1);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);

    rd_kafka_t *rk = kafka_producer_new(boot, "test", err, sizeof(err));
    CHECK(rk != NULL, "producer: %s", err);

    /* 1. broker down: rows stay pending, nothing is lost */
    rd_kafka_mock_broker_set_down(mc, 1);
    add_events(pool, "agg-1", 3, ids);
    outbox_relay *relay = outbox_relay_start(pool, rk, 1, 0, err, sizeof(err));
    CHECK(relay != NULL, "relay: %s", err);
    outbox_relay_wake(relay);
    sleep(2);
    CHECK_INT(count_pending(pool), 3, "pending while the broker is down");

    /* 2. broker back, and Produce failing twice more: published once each, in order */
    rd_kafka_mock_push_request_errors(mc, 0, 2, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    rd_kafka_mock_broker_set_up(mc, 1);
    add_events(pool, "agg-1", 2, ids + 3);
    outbox_relay_wake(relay);
    int64_t deadline = time_mono_ms() + 60000;
    while (count_pending(pool) > 0 && time_mono_ms() < deadline)
        usleep(200 * 1000);
    CHECK_INT(count_pending(pool), 0, "all published after the broker came back");
    CHECK(outbox_relay_published(relay) >= 5, "relay counted %ld", outbox_relay_published(relay));
    int n = read_all(boot, got, 16);
    CHECK_INT(n, 5, "messages on the topic (no duplicates)");
    for (int i = 0; i < 5 && i < n; i++)
        CHECK_STR(got[i], ids[i], "order of one aggregate's events");

    relay = outbox_relay_stop(relay);
    rk = kafka_producer_close(rk, 2000);
    rd_kafka_destroy(mrk);
    conn = db_acquire(pool, 5000, &dberr);
    snprintf(ddl, sizeof(ddl), "DROP SCHEMA %s CASCADE", schema);
    PQclear(PQexec(conn, ddl));
    db_release(pool, conn);
    pool = db_pool_free(pool);
    return check_done();
}
