/*
 * probe_consumer.c - a consumer built on the common consumer loop, used by
 * the integration tests to show on the real broker and the real database
 * that a redelivered event is applied once and that an unprocessable
 * message goes to the dead-letter topic without blocking its partition.
 *
 * It works in its own schema (created if missing) through a superuser URL,
 * applies the common migrations there, and counts every application of an
 * event id in probe_applied. It stops when --event ID has been seen (or,
 * with --applied N, once N events were applied) and --linger-ms more have
 * passed, or after --max-seconds, and prints
 * {"applied": n, "duplicates": n, "deadlettered": n, "batches": n,
 * "heap_peak_kb": n} on stdout (batches: the transactions the loop
 * committed; probe_applied.seq gives the order of application;
 * heap_peak_kb: the most heap the process had in use, sampled every 64th
 * application, from the allocator's own count: ASan's under sanitizers,
 * glibc's otherwise). --batch-max N sets how many messages
 * one transaction takes at most (CONSUMER_BATCH_MAX). With
 * --retry-type TYPE, events of that type fail transiently for as long as it
 * runs (the consumer keeps retrying them; their offsets must not be
 * committed), so a test can stop it in the middle of an unfinished effect.
 *
 * Usage: probe_consumer --db URL --schema S --migrations DIR --brokers B
 *        --topic T --group G (--event ID | --applied N) [--linger-ms N] [--max-seconds N]
 *        [--retry-type TYPE] [--batch-max N]
 * The consumer's test-only failpoint (SHANTANG_FAILPOINT_CONSUMER_CRASH, see
 * core/kafka.h) is read from the environment as in every service.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
/* ASan's allocator, in place of glibc's (sanitizer/allocator_interface.h; gcc ships no header) */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#include "core/db.h"
#include "core/event.h"
#include "core/kafka.h"
#include "core/outbox.h"
#include "util/log.h"
#include "util/timeutil.h"

typedef struct probe {
    const char *wanted; /* the event id the test waits for */
    const char *retry;  /* an event type refused transiently, or NULL */
    volatile int seen;  /* set once it was applied or skipped as a duplicate */
    long calls;         /* applications so far (the consumer's thread only) */
    size_t heap_peak;   /* the most heap in use seen, bytes */
} probe;

/* heap_in_use - bytes the allocator has handed out and not had back, every thread's */
static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

/* probe_apply - count this application; permanent failure for type "probe.poison" */
static kafka_apply_result probe_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                      size_t errlen)
{
    probe *p = ctx;
    const char *params[1] = {event_id(ev)};
    db_err dberr;

    if (p->calls++ % 64 == 0) {
        size_t used = heap_in_use();
        if (used > p->heap_peak)
            p->heap_peak = used;
    }

    if (strcmp(event_type(ev), "probe.poison") == 0) {
        snprintf(err, errlen, "probe.poison is refused on purpose");
        return KAFKA_APPLY_PERMANENT;
    }
    if (p->retry && strcmp(event_type(ev), p->retry) == 0) {
        snprintf(err, errlen, "%s is held back on purpose", p->retry);
        return KAFKA_APPLY_RETRY;
    }
    PGresult *res = db_exec(conn,
                            "INSERT INTO probe_applied (event_id, n) VALUES ($1, 1) "
                            "ON CONFLICT (event_id) DO UPDATE SET n = probe_applied.n + 1",
                            1, params, &dberr);
    if (res == NULL) {
        snprintf(err, errlen, "%s", dberr.msg);
        return KAFKA_APPLY_RETRY;
    }
    PQclear(res);
    if (strcmp(params[0], p->wanted) == 0)
        p->seen = 1;
    return KAFKA_APPLY_OK;
}

/* arg - the value after flag name in argv, or def */
static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

int main(int argc, char **argv)
{
    const char *url = arg(argc, argv, "--db", NULL), *schema = arg(argc, argv, "--schema", NULL);
    const char *dir = arg(argc, argv, "--migrations", NULL);
    const char *brokers = arg(argc, argv, "--brokers", "127.0.0.1:19092");
    const char *topic = arg(argc, argv, "--topic", NULL), *group = arg(argc, argv, "--group", NULL);
    probe p = {arg(argc, argv, "--event", ""), arg(argc, argv, "--retry-type", NULL), 0, 0, 0};
    long linger = atol(arg(argc, argv, "--linger-ms", "3000"));
    long max_s = atol(arg(argc, argv, "--max-seconds", "60"));
    long want_applied = atol(arg(argc, argv, "--applied", "0"));
    int batch_max = atoi(arg(argc, argv, "--batch-max", "0"));
    char err[512], ddl[256];
    db_err dberr;

    if (!url || !schema || !dir || !topic || !group) {
        fprintf(stderr, "usage: see the file header\n");
        return 2;
    }
    log_init("probe", LOG_WARN);
    db_pool *pool = db_pool_new(url, schema, 4, 5000, "probe", &dberr);
    if (pool == NULL) {
        fprintf(stderr, "probe: %s\n", dberr.msg);
        return 1;
    }
    PGconn *conn = db_acquire(pool, 5000, &dberr);
    snprintf(ddl, sizeof(ddl),
             "CREATE SCHEMA IF NOT EXISTS \"%s\"; SET search_path TO \"%s\"; CREATE TABLE IF NOT "
             "EXISTS probe_applied (event_id text PRIMARY KEY, n int NOT NULL, seq bigserial)",
             schema, schema);
    PGresult *res = conn ? PQexec(conn, ddl) : NULL;
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK ||
        db_migrate(conn, schema, dir, &dberr) < 0) {
        fprintf(stderr, "probe: set-up failed: %s\n", conn ? PQerrorMessage(conn) : dberr.msg);
        return 1;
    }
    PQclear(res);
    db_release(pool, conn);

    rd_kafka_t *rk = kafka_producer_new(brokers, "probe", err, sizeof(err));
    outbox_relay *relay = rk ? outbox_relay_start(pool, rk, 1, 0, err, sizeof(err)) : NULL;
    const char *topics[2] = {topic, NULL};
    kafka_consumer_def def = {group, topics, probe_apply, &p, NULL, NULL};
    kafka_consumer_opts opts = {batch_max, relay};
    kafka_consumer *c =
        relay ? kafka_consumer_start(brokers, &def, pool, &opts, err, sizeof(err)) : NULL;
    if (c == NULL) {
        fprintf(stderr, "probe: %s\n", err);
        return 1;
    }
    int64_t start = time_mono_ms(), seen_at = 0;
    while (time_mono_ms() - start < max_s * 1000) {
        if (want_applied > 0 && kafka_consumer_applied(c) >= want_applied)
            p.seen = 1;
        if (p.seen && seen_at == 0)
            seen_at = time_mono_ms();
        if (seen_at && time_mono_ms() - seen_at >= linger)
            break;
        usleep(50 * 1000);
    }
    long applied = kafka_consumer_applied(c), dups = kafka_consumer_duplicates(c);
    long dead = kafka_consumer_deadlettered(c), batches = kafka_consumer_batches(c);
    c = kafka_consumer_stop(c);
    /* give the relay a moment to hand dead letters to the broker */
    for (int i = 0; i < 50 && outbox_relay_pending(relay) > 0; i++)
        usleep(100 * 1000);
    relay = outbox_relay_stop(relay);
    rk = kafka_producer_close(rk, 5000);
    pool = db_pool_free(pool);
    printf("{\"applied\": %ld, \"duplicates\": %ld, \"deadlettered\": %ld, \"batches\": %ld, "
           "\"seen\": %d, \"heap_peak_kb\": %zu}\n",
           applied, dups, dead, batches, p.seen, p.heap_peak / 1024);
    return p.seen ? 0 : 3;
}
