/*
 * service.c - the skeleton every Shantang program runs in (see service.h):
 * configuration, privileges, logging, database and migrations, Kafka
 * producer and outbox relay, consumers, the HTTP front, signals, and the
 * ordered shutdown; plus the handler-side unit of work and the shape of a
 * creating POST with Idempotency-Key.
 *
 * Reads the common parameters below and the service's own table. Reports
 * through log lines, /readyz and /metrics. Refuses to run as root.
 */
#include "core/service.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/event.h"
#include "core/metrics.h"
#include "util/crypto.h"
#include "util/log.h"

#ifndef SHANTANG_VERSION
#define SHANTANG_VERSION "0.1.0"
#endif

static const cfg_param common_params[SVC_NPARAMS] = {
    [SVC_HTTP_ADDR] = {"HTTP_ADDR", CFG_STR, "127.0.0.1", 0, 0, "listen address"},
    [SVC_HTTP_PORT] = {"HTTP_PORT", CFG_INT, NULL, 1, 65535, "listen port"},
    [SVC_HTTP_THREADS] = {"HTTP_THREADS", CFG_INT, "8", 1, 256, "HTTP worker threads"},
    [SVC_HTTP_BODY_LIMIT] = {"HTTP_BODY_LIMIT", CFG_INT, "65536", 1024, 67108864,
                             "largest request body in bytes (413 beyond)"},
    [SVC_DATABASE_URL] = {"DATABASE_URL", CFG_SECRET, NULL, 0, 0,
                          "libpq URL of the service's own database role"},
    [SVC_DB_POOL_SIZE] = {"DB_POOL_SIZE", CFG_INT, "10", 1, 200, "database connections"},
    [SVC_DB_STATEMENT_TIMEOUT_MS] = {"DB_STATEMENT_TIMEOUT_MS", CFG_INT, "5000", 100, 600000,
                                     "statement timeout in ms"},
    [SVC_KAFKA_BROKERS] = {"KAFKA_BROKERS", CFG_STR, "127.0.0.1:19092", 0, 0,
                           "Kafka bootstrap servers"},
    [SVC_KAFKA_GROUP_INSTANCE_ID] = {"KAFKA_GROUP_INSTANCE_ID", CFG_STR, "", 0, 0,
                                     "static consumer-group membership: this instance's stable, "
                                     "unique id; empty: <service>-<hostname>"},
    [SVC_JWT_SECRET] = {"JWT_SECRET", CFG_SECRET, "", 0, 0,
                        "development only: HS256 key (32 bytes or more) also accepted for "
                        "tokens without iss; empty in production"},
    [SVC_AUTH_ISSUER] = {"AUTH_ISSUER", CFG_STR, "http://127.0.0.1:8086", 0, 0,
                         "iss of the accounts service's tokens; empty: none"},
    [SVC_AUTH_JWKS_URL] = {"AUTH_JWKS_URL", CFG_STR, "", 0, 0,
                           "its JWKS; empty: AUTH_ISSUER/.well-known/jwks.json"},
    [SVC_AUTH_AUDIENCE] = {"AUTH_AUDIENCE", CFG_STR, "shantang", 0, 0,
                           "the aud every access token must hold"},
    [SVC_AUTH_ISSUERS_FILE] = {"AUTH_ISSUERS_FILE", CFG_STR, "", 0, 0,
                               "outside identity providers with their claim mappings (JSON); "
                               "empty: none"},
    [SVC_AUTH_CLOCK_SKEW_S] = {"AUTH_CLOCK_SKEW_S", CFG_INT, "60", 0, 300,
                               "leeway in seconds for exp, nbf and iat"},
    [SVC_AUTH_JWKS_REFRESH_S] = {"AUTH_JWKS_REFRESH_S", CFG_INT, "300", 1, 86400,
                                 "the issuers' JWKS are fetched again this often"},
    [SVC_AUTH_JWKS_MIN_REFRESH_S] = {"AUTH_JWKS_MIN_REFRESH_S", CFG_INT, "60", 1, 3600,
                                     "a token with an unknown kid refetches at most this often"},
    [SVC_LOG_LEVEL] = {"LOG_LEVEL", CFG_STR, "info", 0, 0, "debug, info, warn, error or fatal"},
    [SVC_MIGRATIONS_DIR] = {"MIGRATIONS_DIR", CFG_STR, "/usr/share/shantang/sql", 0, 0,
                            "where schemas/sql is installed"},
    [SVC_OUTBOX_RETAIN_HOURS] = {"OUTBOX_RETAIN_HOURS", CFG_INT, "168", 1, 8760,
                                 "hours published outbox rows are kept"},
    [SVC_OUTBOX_POLL_MS] = {"OUTBOX_POLL_MS", CFG_INT, "5000", 100, 600000,
                            "the relay looks for unannounced outbox rows this often, in ms (a "
                            "commit wakes it at once)"},
    [SVC_CONSUMER_BATCH_MAX] = {"CONSUMER_BATCH_MAX", CFG_INT, "500", 1, 10000,
                                "messages of one poll a consumer applies in one transaction"},
    [SVC_GROUP_COMMIT_MAX] = {"GROUP_COMMIT_MAX", CFG_INT, "64", 1, 256,
                              "command statements committed together at most (1: each alone)"},
    [SVC_GROUP_COMMIT_WAIT_US] = {"GROUP_COMMIT_WAIT_US", CFG_INT, "1000", 0, 100000,
                                  "how long a group collects statements while others commit, in "
                                  "microseconds (a lone request never waits)"},
    [SVC_SHUTDOWN_TIMEOUT_MS] = {"SHUTDOWN_TIMEOUT_MS", CFG_INT, "10000", 100, 120000,
                                 "how long SIGTERM waits for in-flight work, in ms"},
};

static volatile sig_atomic_t service_stopping;

/* on_signal - only clears the flag the main loop reads */
static void on_signal(int sig)
{
    (void)sig;
    service_stopping = 1;
}

/*
 * Kafka's state as the main loop last saw it (1 up, 0 down), for /healthz and
 * the shantang_kafka_up gauge. A broker outage does not make the service
 * unready: its writes wait in the outbox.
 */
static atomic_int service_kafka_up = 1;

/* service_ready - /readyz: the service can take requests, i.e. its database answers */
static int service_ready(void *arg)
{
    service_ctx *ctx = arg;
    return db_ping(ctx->db, 500) == 0;
}

/* service_health - /healthz detail (malloc'd JSON): "degraded" while Kafka is unreachable */
static char *service_health(void *arg)
{
    (void)arg;
    int up = atomic_load(&service_kafka_up);
    char buf[64];
    snprintf(buf, sizeof(buf), "{\"status\":\"%s\",\"kafka\":\"%s\"}", up ? "ok" : "degraded",
             up ? "up" : "down");
    return strdup(buf);
}

/* gauge_kafka_up - 1 while the brokers answer, 0 during an outage */
static double gauge_kafka_up(void *arg)
{
    (void)arg;
    return (double)atomic_load(&service_kafka_up);
}

/* kafka_check - ask the brokers for metadata and remember whether they answered */
static void kafka_check(rd_kafka_t *producer)
{
    int up = kafka_ping(producer, 1000) == 0;
    if (atomic_exchange(&service_kafka_up, up) != up) {
        if (up)
            log_info("kafka: the brokers answer again");
        else
            log_warn("kafka: the brokers do not answer; writes wait in the outbox (degraded)");
    }
}

#define SERVICE_MAX_CONSUMERS 8
#define SERVICE_MAX_TOPICS 16 /* topics one service produces or one consumer reads */
#define SERVICE_SPEC_LEN 128  /* "name:partitions[:config]" of one topic */

/* The running consumers, read by the metrics callbacks (HTTP stops before they do). */
static kafka_consumer *service_consumers[SERVICE_MAX_CONSUMERS];

/* consumer_sum - one counter summed over the running consumers */
static double consumer_sum(long (*get)(const kafka_consumer *))
{
    long n = 0;
    for (size_t i = 0; i < SERVICE_MAX_CONSUMERS; i++)
        if (service_consumers[i])
            n += get(service_consumers[i]);
    return (double)n;
}

static double gauge_applied(void *arg)
{
    (void)arg;
    return consumer_sum(kafka_consumer_applied);
}

static double gauge_duplicates(void *arg)
{
    (void)arg;
    return consumer_sum(kafka_consumer_duplicates);
}

static double gauge_deadlettered(void *arg)
{
    (void)arg;
    return consumer_sum(kafka_consumer_deadlettered);
}

static double gauge_reopened(void *arg)
{
    (void)arg;
    return consumer_sum(kafka_consumer_reopened);
}

static double gauge_batches(void *arg)
{
    (void)arg;
    return consumer_sum(kafka_consumer_batches);
}

static double gauge_pending(void *arg)
{
    return (double)outbox_relay_pending(((service_ctx *)arg)->relay);
}

static double gauge_published(void *arg)
{
    return (double)outbox_relay_published(((service_ctx *)arg)->relay);
}

const catalogue_event *const service_auth_consumes[] = {&cat_account_revoked, NULL};

/*
 * service_auth_apply - account.revoked: record the account's revocation
 * time in auth_revocations (the latest wins) and apply it to the verifier.
 * Other account events are ignored here.
 */
kafka_apply_result service_auth_apply(PGconn *conn, const cJSON *ev, void *arg, char *err,
                                      size_t errlen)
{
    service_ctx *ctx = arg;
    if (strcmp(event_type(ev), "account.revoked") != 0)
        return KAFKA_APPLY_OK;
    const cJSON *data = event_data(ev);
    const char *account =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "account_id"));
    const cJSON *before = cJSON_GetObjectItemCaseSensitive(data, "revoked_before");
    if (account == NULL || strlen(account) >= 64 || !cJSON_IsNumber(before) ||
        !(before->valuedouble >= 0 && before->valuedouble <= 1e12)) {
        snprintf(err, errlen, "account.revoked without account_id or revoked_before");
        return KAFKA_APPLY_PERMANENT;
    }
    char b[24];
    snprintf(b, sizeof(b), "%ld", (long)before->valuedouble);
    const char *params[2] = {account, b};
    db_err dberr;
    PGresult *res = db_exec(
        conn,
        "INSERT INTO auth_revocations (account_id, revoked_before) VALUES "
        "($1, $2::bigint) ON CONFLICT (account_id) DO UPDATE SET "
        "revoked_before = greatest(auth_revocations.revoked_before, "
        "$2::bigint), seq = nextval('auth_revocations_seq'), updated_at = clock_timestamp()",
        2, params, &dberr);
    if (res == NULL) {
        snprintf(err, errlen, "%s", dberr.msg);
        return KAFKA_APPLY_RETRY;
    }
    PQclear(res);
    auth_verifier_revoke(ctx->auth, account, (long)before->valuedouble);
    return KAFKA_APPLY_OK;
}

/*
 * service_auth_reload - apply the revocations recorded since seen (a row
 * id), as any instance's consumer recorded them. Returns the new mark.
 */
static long service_auth_reload(service_ctx *ctx, long seen)
{
    db_err err;
    char mark[24];
    snprintf(mark, sizeof(mark), "%ld", seen);
    PGconn *conn = db_acquire(ctx->db, 200, &err);
    if (conn == NULL)
        return seen;
    const char *params[1] = {mark};
    PGresult *res = db_exec(conn,
                            "SELECT account_id, revoked_before, seq FROM auth_revocations WHERE "
                            "seq > $1::bigint OR updated_at > now() - interval '30 seconds' "
                            "ORDER BY seq",
                            1, params, &err);
    db_release(ctx->db, conn);
    for (int i = 0; res && i < PQntuples(res); i++) {
        auth_verifier_revoke(ctx->auth, PQgetvalue(res, i, 0), atol(PQgetvalue(res, i, 1)));
        if (atol(PQgetvalue(res, i, 2)) > seen)
            seen = atol(PQgetvalue(res, i, 2));
    }
    PQclear(res);
    return seen;
}

/* migrate - the common tables, then the service's own migrations */
static int migrate(service_ctx *ctx, char *err, size_t errlen)
{
    db_err dberr;
    char dir[1024];
    PGconn *conn = db_acquire(ctx->db, 10000, &dberr);
    if (conn == NULL) {
        snprintf(err, errlen, "%s", dberr.msg);
        return -1;
    }
    const char *base = cfg_str(ctx->common, SVC_MIGRATIONS_DIR);
    int rc = 0;
    const char *subdirs[2] = {"common", ctx->name};
    for (int i = 0; i < 2 && rc == 0; i++) {
        snprintf(dir, sizeof(dir), "%s/%s", base, subdirs[i]);
        if (db_migrate(conn, ctx->name, dir, &dberr) < 0) {
            snprintf(err, errlen, "migrations: %s", dberr.msg);
            rc = -1;
        }
    }
    db_release(ctx->db, conn);
    return rc;
}

/*
 * produced_specs - "name:partitions[:config]" of every topic def produces,
 * deadletter.v1 included (every service runs a consumer), into specs and the
 * NULL-terminated list. Returns the count, or -1 when there are too many.
 */
static int produced_specs(const service_def *def, char specs[][SERVICE_SPEC_LEN], const char **list,
                          size_t max)
{
    size_t n = 0;
    const catalogue_topic *dl = &cat_topic_deadletter;
    for (const catalogue_topic *const *t = def->produces; t && *t; t++) {
        if (*t == dl)
            continue;
        if (n + 1 >= max || catalogue_topic_spec(*t, specs[n], SERVICE_SPEC_LEN) < 0)
            return -1;
        list[n] = specs[n];
        n++;
    }
    if (n + 1 >= max || catalogue_topic_spec(dl, specs[n], SERVICE_SPEC_LEN) < 0)
        return -1;
    list[n] = specs[n];
    list[++n] = NULL;
    return (int)n;
}

/* add_types - an array of the events' types under name in o; 0, or -1 when out of memory */
static int add_types(cJSON *o, const char *name, const catalogue_event *const *events)
{
    cJSON *arr = cJSON_AddArrayToObject(o, name);
    for (const catalogue_event *const *e = events; arr && e && *e; e++)
        if (!cJSON_AddItemToArray(arr, cJSON_CreateString((*e)->type)))
            return -1;
    return arr ? 0 : -1;
}

/*
 * print_events - --print-events: {"service", "produces": [topic...],
 * "consumers": [{"group", "events": [type...]}...]} on stdout; the exit code
 */
static int print_events(const service_def *def)
{
    char specs[SERVICE_MAX_TOPICS][SERVICE_SPEC_LEN], group[64];
    const char *list[SERVICE_MAX_TOPICS + 1];
    int n = produced_specs(def, specs, list, SERVICE_MAX_TOPICS + 1);
    cJSON *o = cJSON_CreateObject();
    int bad = n < 0 || !cJSON_AddStringToObject(o, "service", def->name);
    cJSON *produces = bad ? NULL : cJSON_AddArrayToObject(o, "produces");
    cJSON *consumers = produces ? cJSON_AddArrayToObject(o, "consumers") : NULL;
    bad = bad || consumers == NULL;
    for (int i = 0; i < n && !bad; i++) {
        *strchr(specs[i], ':') = '\0';
        bad = !cJSON_AddItemToArray(produces, cJSON_CreateString(specs[i]));
    }
    for (size_t i = 0; i < def->nconsumers + 1 && !bad; i++) {
        cJSON *c = cJSON_CreateObject();
        snprintf(group, sizeof(group), "%s.auth", def->name);
        bad =
            !cJSON_AddItemToArray(consumers, c) ||
            !cJSON_AddStringToObject(c, "group",
                                     i < def->nconsumers ? def->consumers[i].group_id : group) ||
            add_types(c, "events", i < def->nconsumers ? def->consumes : service_auth_consumes) < 0;
    }
    char *text = bad ? NULL : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text == NULL) {
        fprintf(stderr,
                "shantang-%s: cannot print the events (catalogue too large, or out of "
                "memory)\n",
                def->name);
        return 1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

/* service_main - run the program until SIGTERM; the exit code */
int service_main(int argc, char **argv, const service_def *def)
{
    cfg_param params[SVC_NPARAMS];
    char port[16], err[512];
    memcpy(params, common_params, sizeof(params));
    snprintf(port, sizeof(port), "%d", def->default_port);
    params[SVC_HTTP_PORT].def = port;
    char body_limit[24];
    if (def->default_body_limit > 0) {
        snprintf(body_limit, sizeof(body_limit), "%ld", def->default_body_limit);
        params[SVC_HTTP_BODY_LIMIT].def = body_limit;
    }

    const service_command *command = NULL;
    int cmd_argc = 0;
    for (int i = 1; i < argc; i++) {
        for (size_t c = 0; c < def->ncommands && command == NULL && i == 1; c++)
            if (strcmp(argv[i], def->commands[c].flag) == 0)
                command = &def->commands[c];
        if (command != NULL && argc - 2 == command->nargs) {
            cmd_argc = argc - 2;
            break;
        }
        if (strcmp(argv[i], "--print-config") == 0) {
            printf("# shantang-%s configuration (environment variables)\n", def->name);
            cfg_print_sample(params, SVC_NPARAMS, stdout);
            if (def->nparams)
                cfg_print_sample(def->params, def->nparams, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--print-events") == 0)
            return print_events(def);
        if (strcmp(argv[i], "--version") == 0) {
            printf("shantang-%s %s\n", def->name, SHANTANG_VERSION);
            return 0;
        }
        fprintf(stderr, "usage: shantang-%s [--print-config | --print-events | --version",
                def->name);
        for (size_t c = 0; c < def->ncommands; c++)
            fprintf(stderr, " | %s", def->commands[c].flag);
        fprintf(stderr, "]\n");
        for (size_t c = 0; c < def->ncommands; c++)
            fprintf(stderr, "  %s: %s\n", def->commands[c].flag, def->commands[c].help);
        return 64;
    }
    log_init(def->name, LOG_INFO);
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: the JWKS fetches use libcurl */
    if (geteuid() == 0) {
        log_fatal("refusing to run as root: run shantang-%s as its own unprivileged user",
                  def->name);
        return 78;
    }
    service_ctx ctx = {.name = def->name, .argc = cmd_argc, .argv = argv + 2};
    ctx.common = cfg_load(params, SVC_NPARAMS, err, sizeof(err));
    if (ctx.common && def->nparams)
        ctx.own = cfg_load(def->params, def->nparams, err, sizeof(err));
    if (ctx.common == NULL || (def->nparams && ctx.own == NULL)) {
        log_fatal("configuration: %s", err);
        cfg_free(ctx.common);
        return 78;
    }
    int level = log_level_parse(cfg_str(ctx.common, SVC_LOG_LEVEL));
    if (level < 0) {
        log_fatal("configuration: LOG_LEVEL must be debug, info, warn, error or fatal");
        return 78;
    }
    log_init(def->name, (log_level)level);
    const char *jwt = cfg_str(ctx.common, SVC_JWT_SECRET);
    if (*jwt && strlen(jwt) < 32) {
        log_fatal("configuration: JWT_SECRET must be empty or at least 32 bytes");
        return 78;
    }
    auth_verifier_config avc = {
        .issuer = cfg_str(ctx.common, SVC_AUTH_ISSUER),
        .jwks_url = cfg_str(ctx.common, SVC_AUTH_JWKS_URL),
        .audience = cfg_str(ctx.common, SVC_AUTH_AUDIENCE),
        .issuers_file = cfg_str(ctx.common, SVC_AUTH_ISSUERS_FILE),
        .hs256_key = *jwt ? (const unsigned char *)jwt : NULL,
        .hs256_len = strlen(jwt),
        .skew_s = (int)cfg_int(ctx.common, SVC_AUTH_CLOCK_SKEW_S),
        .refresh_s = (int)cfg_int(ctx.common, SVC_AUTH_JWKS_REFRESH_S),
        .min_refresh_s = (int)cfg_int(ctx.common, SVC_AUTH_JWKS_MIN_REFRESH_S),
    };
    if (command == NULL && (ctx.auth = auth_verifier_new(&avc, err, sizeof(err))) == NULL) {
        log_fatal("configuration: %s", err);
        ctx.common = cfg_free(ctx.common);
        ctx.own = cfg_free(ctx.own);
        return 78;
    }
    if (*jwt)
        log_warn("JWT_SECRET is set: HS256 development tokens are accepted");

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int code = 1;
    db_err dberr;
    kafka_consumer **consumers = service_consumers;
    kafka_consumer_def cdefs[SERVICE_MAX_CONSUMERS];
    const char *consumed[SERVICE_MAX_CONSUMERS][SERVICE_MAX_TOPICS + 1];
    char auth_group[64];
    http_server *http = NULL;
    const char *brokers = cfg_str(ctx.common, SVC_KAFKA_BROKERS);

    ctx.db = db_pool_new(cfg_str(ctx.common, SVC_DATABASE_URL), def->name,
                         (int)cfg_int(ctx.common, SVC_DB_POOL_SIZE),
                         (int)cfg_int(ctx.common, SVC_DB_STATEMENT_TIMEOUT_MS), def->name, &dberr);
    if (ctx.db == NULL) {
        log_fatal("database: %s", dberr.msg);
        goto out;
    }
    if (migrate(&ctx, err, sizeof(err)) < 0) {
        log_fatal("%s", err);
        goto out;
    }
    ctx.commit = group_new(ctx.db, (int)cfg_int(ctx.common, SVC_GROUP_COMMIT_MAX),
                           (int)cfg_int(ctx.common, SVC_GROUP_COMMIT_WAIT_US));
    if (ctx.commit == NULL) {
        log_fatal("out of memory");
        goto out;
    }
    if (command != NULL) { /* a one-off command: database only, no Kafka, no HTTP */
        code = command->run(&ctx);
        goto out;
    }
    if ((ctx.producer = kafka_producer_new(brokers, def->name, err, sizeof(err))) == NULL) {
        log_fatal("kafka producer: %s", err);
        goto out;
    }
    char specs[SERVICE_MAX_TOPICS][SERVICE_SPEC_LEN];
    const char *spec_list[SERVICE_MAX_TOPICS + 1];
    if (produced_specs(def, specs, spec_list, SERVICE_MAX_TOPICS + 1) < 0) {
        log_fatal("more than %d topics produced", SERVICE_MAX_TOPICS - 1);
        goto out;
    }
    if (kafka_ensure_topics(brokers, spec_list, 1, 5000, err, sizeof(err)) < 0)
        log_warn("kafka topics not checked (%s); events wait in the outbox", err);
    ctx.relay =
        outbox_relay_start(ctx.db, ctx.producer, (int)cfg_int(ctx.common, SVC_OUTBOX_RETAIN_HOURS),
                           (int)cfg_int(ctx.common, SVC_OUTBOX_POLL_MS), err, sizeof(err));
    if (ctx.relay == NULL) {
        log_fatal("outbox relay: %s", err);
        goto out;
    }
    metrics_gauge_fn("shantang_outbox_pending", "Outbox rows not yet published", gauge_pending,
                     &ctx);
    metrics_gauge_fn("shantang_outbox_published", "Outbox rows published since start",
                     gauge_published, &ctx);
    metrics_gauge_fn("shantang_kafka_up", "1 while the Kafka brokers answer, 0 during an outage",
                     gauge_kafka_up, NULL);
    kafka_check(ctx.producer);
    if (def->init && def->init(&ctx, err, sizeof(err)) < 0) {
        log_fatal("%s", err);
        goto out;
    }
    if (def->nconsumers + 1 > SERVICE_MAX_CONSUMERS) {
        log_fatal("%zu consumers defined; at most %d", def->nconsumers, SERVICE_MAX_CONSUMERS);
        goto out;
    }
    {
        metrics_gauge_fn("shantang_consumer_applied", "Events applied since start", gauge_applied,
                         NULL);
        metrics_gauge_fn("shantang_consumer_duplicates", "Redelivered events skipped since start",
                         gauge_duplicates, NULL);
        metrics_gauge_fn("shantang_consumer_deadlettered",
                         "Events sent to the dead-letter topic since start", gauge_deadlettered,
                         NULL);
        metrics_gauge_fn("shantang_consumer_reopened",
                         "Consumers made anew after a fatal error (a fenced static member)",
                         gauge_reopened, NULL);
        metrics_gauge_fn("shantang_consumer_batches",
                         "Consumer transactions committed since start (one poll's events each)",
                         gauge_batches, NULL);
    }
    /* static membership: a restarted consumer takes its partitions back at once instead of
       waiting for the session of its killed predecessor to time out */
    char instance_id[300], host[256] = "";
    if (*cfg_str(ctx.common, SVC_KAFKA_GROUP_INSTANCE_ID)) {
        snprintf(instance_id, sizeof(instance_id), "%s",
                 cfg_str(ctx.common, SVC_KAFKA_GROUP_INSTANCE_ID));
    } else {
        if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
            snprintf(host, sizeof(host), "localhost");
        snprintf(instance_id, sizeof(instance_id), "%s-%s", def->name, host);
    }
    log_info("kafka: consumer group instance id %s", instance_id);
    size_t nconsumers = def->nconsumers + 1;
    kafka_consumer_opts copts = {(int)cfg_int(ctx.common, SVC_CONSUMER_BATCH_MAX), ctx.relay};
    for (size_t i = 0; i < nconsumers; i++) {
        if (i < def->nconsumers) {
            cdefs[i] = def->consumers[i];
        } else { /* the revocations every service applies */
            snprintf(auth_group, sizeof(auth_group), "%s.auth", def->name);
            cdefs[i] = (kafka_consumer_def){auth_group, NULL, service_auth_apply, NULL, NULL, NULL};
        }
        if (cdefs[i].topics == NULL) { /* the topics its events travel on */
            int nt =
                catalogue_topics_of(i < def->nconsumers ? def->consumes : service_auth_consumes,
                                    consumed[i], SERVICE_MAX_TOPICS);
            if (nt <= 0) {
                log_fatal("consumer %s: no events to consume, or too many topics",
                          cdefs[i].group_id);
                goto out;
            }
            consumed[i][nt] = NULL;
            cdefs[i].topics = consumed[i];
        }
        cdefs[i].ctx = &ctx;
        cdefs[i].instance_id = instance_id;
        consumers[i] = kafka_consumer_start(brokers, &cdefs[i], ctx.db, &copts, err, sizeof(err));
        if (consumers[i] == NULL) {
            log_fatal("consumer %s: %s", cdefs[i].group_id, err);
            goto out;
        }
    }
    http_config hc = {
        .addr = cfg_str(ctx.common, SVC_HTTP_ADDR),
        .port = (int)cfg_int(ctx.common, SVC_HTTP_PORT),
        .threads = (int)cfg_int(ctx.common, SVC_HTTP_THREADS),
        .body_limit = (size_t)cfg_int(ctx.common, SVC_HTTP_BODY_LIMIT),
        .verifier = ctx.auth,
        .routes = def->routes,
        .nroutes = def->nroutes,
        .ctx = &ctx,
        .ready = service_ready,
        .health = service_health,
    };
    if ((http = http_start(&hc, err, sizeof(err))) == NULL) {
        log_fatal("http: %s", err);
        goto out;
    }
    log_info("shantang-%s %s listening on %s:%d", def->name, SHANTANG_VERSION, hc.addr, hc.port);
    long last_upkeep = 0, revocations_seen = 0;
    while (!service_stopping && !kafka_producer_fatal()) {
        usleep(100 * 1000);
        long now = (long)time(NULL);
        if (now - last_upkeep >= 2) {
            last_upkeep = now;
            auth_verifier_tick(ctx.auth, now);
            kafka_check(ctx.producer);
            revocations_seen = service_auth_reload(&ctx, revocations_seen);
        }
    }
    code = kafka_producer_fatal() ? 70 : 0;
    log_info("shutting down");
out:
    http = http_stop(http);
    for (size_t i = 0; i < SERVICE_MAX_CONSUMERS; i++)
        consumers[i] = kafka_consumer_stop(consumers[i]);
    if (def->fini)
        def->fini(&ctx);
    ctx.relay = outbox_relay_stop(ctx.relay);
    ctx.producer =
        kafka_producer_close(ctx.producer, (int)cfg_int(ctx.common, SVC_SHUTDOWN_TIMEOUT_MS));
    ctx.commit = group_free(ctx.commit);
    ctx.db = db_pool_free(ctx.db);
    ctx.auth = auth_verifier_free(ctx.auth);
    ctx.own = cfg_free(ctx.own);
    ctx.common = cfg_free(ctx.common);
    return code;
}

/* service_db_problem - a database failure as the right HTTP answer */
void service_db_problem(http_resp *resp, const db_err *err)
{
    const char *s = err ? err->sqlstate : "";
    if (resp == NULL)
        return;
    if (strcmp(s, "23505") == 0)
        http_problem(resp, 409, "conflict", "Already exists", NULL, "%s", err->msg);
    else if (strcmp(s, "23503") == 0 || strcmp(s, "23514") == 0 || strncmp(s, "22", 2) == 0)
        http_problem(resp, 422, "validation", "Invalid value", NULL, "%s", err->msg);
    else if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0)
        http_problem(resp, 409, "retry", "Concurrent change", NULL,
                     "another request changed the same data; try again");
    else {
        log_error("database: %s%s%s", err ? err->msg : "unknown", *s ? " sqlstate " : "", s);
        http_problem(resp, 503, "unavailable", "Database unavailable", NULL,
                     "the database did not answer; try again shortly");
    }
}

PGresult *service_query(PGconn *conn, const char *sql, int n, const char *const *params,
                        http_resp *resp)
{
    db_err err;
    PGresult *res = db_exec(conn, sql, n, params, &err);
    if (res == NULL)
        service_db_problem(resp, &err);
    return res;
}

int service_exec(PGconn *conn, const char *sql, int n, const char *const *params, http_resp *resp)
{
    PGresult *res = service_query(conn, sql, n, params, resp);
    PQclear(res);
    return res ? 0 : -1;
}

/* service_tx_begin - a pooled connection inside a transaction, or NULL after a 503 */
PGconn *service_tx_begin(service_ctx *ctx, http_resp *resp)
{
    db_err err;
    PGconn *conn = db_acquire(ctx->db, 5000, &err);
    if (conn == NULL || db_begin(conn, &err) < 0) {
        if (conn)
            db_release(ctx->db, conn);
        log_error("database: %s", err.msg);
        if (resp)
            http_problem(resp, 503, "unavailable", "Database unavailable", NULL,
                         "the database did not answer; try again shortly");
        return NULL;
    }
    return conn;
}

/* service_tx_end - commit or roll back, release, wake the relay after a commit */
int service_tx_end(service_ctx *ctx, PGconn *conn, int commit, http_resp *resp)
{
    db_err err;
    int rc = 0;
    if (commit) {
        if (db_commit(conn, &err) < 0) {
            db_rollback(conn);
            if (resp) {
                free(resp->body);
                resp->body = NULL;
                resp->location[0] = '\0';
                service_db_problem(resp, &err);
            }
            rc = -1;
        } else {
            outbox_relay_wake(ctx->relay);
        }
    } else {
        db_rollback(conn);
    }
    db_release(ctx->db, conn);
    return rc;
}

/* idem_key_of - the request's Idempotency-Key (NULL: none); -1 after a 422 for a bad one */
static int idem_key_of(const http_req *req, http_resp *resp, const char **key)
{
    *key = http_header(req, "Idempotency-Key");
    if (*key && (strlen(*key) == 0 || strlen(*key) > 200)) {
        http_problem(resp, 422, "validation", "Invalid Idempotency-Key", NULL,
                     "the Idempotency-Key header holds 1 to 200 characters");
        return -1;
    }
    return 0;
}

/* idem_hash - what makes the request, for its key: the body keyed by the path (hex) */
static void idem_hash(const http_req *req, char hash[65])
{
    unsigned char digest[32];
    /* the request is its path and its body: a key reused on another resource mismatches */
    crypto_hmac_sha256(req->path, strlen(req->path), req->body, req->body_len, digest);
    crypto_hex(digest, 32, hash);
}

int service_key_params(const http_req *req, http_resp *resp, char hash[65], const char *out[4])
{
    const char *key;
    if (idem_key_of(req, resp, &key) < 0)
        return -1;
    if (key)
        idem_hash(req, hash);
    out[0] = key ? req->auth.sub : NULL;
    out[1] = key;
    out[2] = key ? req->route : NULL;
    out[3] = key ? hash : NULL;
    return 0;
}

/* problem_extend - add the members of the JSON object members to the problem in resp,
   but for those it has; the problem stays as it is when either does not parse */
static void problem_extend(http_resp *resp, const char *members)
{
    cJSON *p = resp->body ? cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;
    cJSON *x = cJSON_Parse(members), *m;
    char *text = NULL;
    if (cJSON_IsObject(p) && cJSON_IsObject(x)) {
        cJSON_ArrayForEach(m, x)
        {
            if (!cJSON_HasObjectItem(p, m->string))
                cJSON_AddItemToObject(p, m->string, cJSON_Duplicate(m, 1));
        }
        text = cJSON_PrintUnformatted(p);
    }
    if (text)
        http_reply_raw(resp, resp->status, "application/problem+json", text, strlen(text));
    free(text);
    cJSON_Delete(p);
    cJSON_Delete(x);
}

int service_result_problem(http_resp *resp, const PGresult *res)
{
    if (PQntuples(res) != 1 || PQnfields(res) < 7 || PQgetisnull(res, 0, 0))
        return 0;
    http_problem(resp, atoi(PQgetvalue(res, 0, 0)), PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4),
                 PQgetisnull(res, 0, 5) ? NULL : PQgetvalue(res, 0, 5), "%s",
                 PQgetvalue(res, 0, 6));
    if (!PQgetisnull(res, 0, 1))
        problem_extend(resp, PQgetvalue(res, 0, 1));
    return -1;
}

int service_result_answer(http_resp *resp, const PGresult *res)
{
    if (PQntuples(res) != 1 || PQnfields(res) < 7 || PQgetisnull(res, 0, 0)) {
        log_error("service_result_answer: the command answered no command_result");
        http_problem(resp, 500, "internal", "Internal error", NULL, "the request was not run");
        return 500;
    }
    if (!PQgetisnull(res, 0, 3) || PQgetisnull(res, 0, 1)) { /* a slug: a problem */
        service_result_problem(resp, res);
        return resp->status;
    }
    http_reply_raw(resp, atoi(PQgetvalue(res, 0, 0)), "application/json", PQgetvalue(res, 0, 1),
                   (size_t)PQgetlength(res, 0, 1));
    if (!PQgetisnull(res, 0, 2))
        snprintf(resp->location, sizeof(resp->location), "%s", PQgetvalue(res, 0, 2));
    return resp->status;
}

int service_command_run_more(service_ctx *ctx, http_resp *resp, const char *sql, int n,
                             const char *const *params, char *more, size_t moresize)
{
    db_err err;
    if (more && moresize)
        more[0] = '\0';
    PGresult *res = group_exec(ctx->commit, 5000, sql, n, params, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return resp->status;
    }
    int status = service_result_answer(resp, res);
    if (status >= 200 && status < 300)
        outbox_relay_wake(ctx->relay);
    if (more && moresize && PQntuples(res) == 1 && PQnfields(res) > 7 && !PQgetisnull(res, 0, 7))
        snprintf(more, moresize, "%s", PQgetvalue(res, 0, 7));
    PQclear(res);
    return status;
}

int service_command_run(service_ctx *ctx, http_resp *resp, const char *sql, int n,
                        const char *const *params)
{
    return service_command_run_more(ctx, resp, sql, n, params, NULL, 0);
}

int service_create_one(service_ctx *ctx, http_req *req, http_resp *resp, const char *sql, int n,
                       const char *const *params)
{
    const char *all[SERVICE_CREATE_ONE_MAX_PARAMS + 4];
    char hash[65];
    if (n < 0 || n > SERVICE_CREATE_ONE_MAX_PARAMS) {
        log_error("service_create_one: %d parameters; at most %d", n,
                  SERVICE_CREATE_ONE_MAX_PARAMS);
        http_problem(resp, 500, "internal", "Internal error", NULL, "the request was not run");
        return 500;
    }
    if (service_key_params(req, resp, hash, all + n) < 0)
        return resp->status;
    for (int i = 0; i < n; i++)
        all[i] = params[i];
    return service_command_run(ctx, resp, sql, n + 4, all);
}
