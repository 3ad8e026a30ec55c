/*
 * shantang-ctl - the operator's tool for a Shantang installation: signs
 * bearer tokens, checks that a Kafka cluster answers, creates topics, reads a
 * topic from the beginning, produces one message, and prints the event
 * catalogue. The local stack
 * (deploy/local/stack) and the integration tests drive Kafka only through it.
 *
 *   shantang-ctl token [--secret-file F] ROLE [--sub S] [--region CODE]...
 *                      [--unit ID] [--ttl SECONDS]
 *   shantang-ctl ping --brokers B [--timeout-ms N]
 *   shantang-ctl topics --brokers B [--replication N] [--timeout-ms N] NAME:PARTITIONS...
 *   shantang-ctl tail --brokers B --topic T [--timeout-ms N] [--max N] [--group G]
 *   shantang-ctl produce --brokers B --topic T --key K [--timeout-ms N]   (value on stdin)
 *   shantang-ctl catalogue [--json | --topics]
 *
 * catalogue prints the event catalogue (core/catalogue.h): every topic with
 * its partitions, producer, key rule and event types with their schemas; as
 * JSON with --json; with --topics as the lines of deploy/kafka/topics
 * ("name partitions [config]").
 * Trusts: its command line and stdin (it is run by the operator). Reads from
 * configuration: the signing key from --secret-file, else JWT_SECRET, else
 * the file named by JWT_SECRET_FILE (the key is the file's text with trailing
 * newlines stripped, as the services read it); KAFKA_REPLICATION for topics
 * when --replication is not given. Never prints the key.
 * Reports: results on stdout (a token, one JSON line per message), problems
 * on stderr; exit 0 on success, 1 on failure, 2 on a usage error.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include "core/auth.h"
#include "core/catalogue.h"
#include "core/kafka.h"
#include "util/log.h"

#define CTL_MAX_VALUE (16L * 1024 * 1024) /* largest value produce reads from stdin */
#define CTL_MAX_TOPICS 256                /* NAME:PARTITIONS arguments of topics */
#define CTL_POLL_MS 100                   /* every Kafka poll is this short */

static volatile sig_atomic_t ctl_stop; /* set by SIGINT/SIGTERM; loops check it */

/* ctl_on_signal - only note that the operator asked to stop */
static void ctl_on_signal(int sig)
{
    (void)sig;
    ctl_stop = 1;
}

/* ctl_usage - print the synopsis to stderr and return the usage exit code */
static int ctl_usage(const char *why)
{
    if (why)
        fprintf(stderr, "shantang-ctl: %s\n", why);
    fputs("usage:\n"
          "  shantang-ctl token [--secret-file F] ROLE [--sub S] [--region CODE]... [--unit ID]"
          " [--ttl SECONDS]\n"
          "  shantang-ctl ping --brokers B [--timeout-ms N]\n"
          "  shantang-ctl topics --brokers B [--replication N] [--timeout-ms N]"
          " NAME:PARTITIONS...\n"
          "  shantang-ctl tail --brokers B --topic T [--timeout-ms N] [--max N] [--group G]\n"
          "  shantang-ctl produce --brokers B --topic T --key K [--timeout-ms N] < value\n"
          "  shantang-ctl catalogue [--json | --topics]\n",
          stderr);
    return 2;
}

/* ctl_parse_long - strict decimal in [min, max] into *out; 0 on success, -1 otherwise */
static int ctl_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* ctl_now_ms - a monotonic clock in milliseconds */
static long long ctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * ctl_opt_value - if argv[*i] is the option name, take its value from the
 * next argument and advance *i. Returns 1 when matched (value in *val),
 * 0 when not this option, -1 when the value is missing.
 */
static int ctl_opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    if (strcmp(argv[*i], name) != 0)
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

/*
 * ctl_read_secret - the signing key: from path if given, else JWT_SECRET,
 * else the file in JWT_SECRET_FILE. Trailing CR/LF stripped. Returns a
 * malloc'd string (caller frees) or NULL after printing why.
 */
static char *ctl_read_secret(const char *path)
{
    const char *env = getenv("JWT_SECRET");
    char *buf;
    size_t n;
    FILE *f;

    if (!path && env && *env)
        return strdup(env);
    if (!path)
        path = getenv("JWT_SECRET_FILE");
    if (!path || !*path) {
        fputs("shantang-ctl: no key: give --secret-file, JWT_SECRET or JWT_SECRET_FILE\n", stderr);
        return NULL;
    }
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "shantang-ctl: cannot read secret file %s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf = malloc(4097);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    n = fread(buf, 1, 4096, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n == 0 || strlen(buf) != n) {
        fprintf(stderr, "shantang-ctl: secret file %s is empty or binary\n", path);
        free(buf);
        return NULL;
    }
    return buf;
}

/* ctl_is_region - 1 if s is a 12-digit region code */
static int ctl_is_region(const char *s)
{
    size_t i;

    for (i = 0; s[i]; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return i == 12;
}

/* ctl_token - sign a token for ROLE and print it */
static int ctl_token(int argc, char **argv)
{
    const char *secret_file = NULL, *role_name = NULL, *sub = NULL, *unit = NULL, *val = NULL;
    long ttl = 86400;
    auth_claims claims;
    char err[256] = "";
    char *key, *token;
    int i, r;

    memset(&claims, 0, sizeof(claims));
    for (i = 0; i < argc; i++) {
        if ((r = ctl_opt_value(argc, argv, &i, "--secret-file", &secret_file)) != 0) {
        } else if ((r = ctl_opt_value(argc, argv, &i, "--sub", &sub)) != 0) {
        } else if ((r = ctl_opt_value(argc, argv, &i, "--unit", &unit)) != 0) {
        } else if ((r = ctl_opt_value(argc, argv, &i, "--ttl", &val)) != 0) {
            if (r > 0 && ctl_parse_long(val, -315360000L, 315360000L, &ttl) < 0)
                return ctl_usage("--ttl: seconds expected (negative gives an expired token)");
        } else if ((r = ctl_opt_value(argc, argv, &i, "--region", &val)) != 0) {
            if (r > 0) {
                if (!ctl_is_region(val))
                    return ctl_usage("--region: a 12-digit region code expected");
                if (claims.nregions >= AUTH_MAX_REGIONS)
                    return ctl_usage("too many --region");
                memcpy(claims.regions[claims.nregions++], val, 13);
            }
        } else if (argv[i][0] == '-') {
            return ctl_usage("token: unknown option");
        } else if (!role_name) {
            role_name = argv[i];
        } else {
            return ctl_usage("token: one ROLE only");
        }
        if (r < 0)
            return ctl_usage("an option is missing its value");
    }
    if (!role_name)
        return ctl_usage("token: ROLE missing");
    claims.role = auth_role_parse(role_name);
    if (!claims.role)
        return ctl_usage("token: ROLE is one of admin, coordinator, notable, handler, "
                         "supervisor, planner");
    if (sub)
        r = snprintf(claims.sub, sizeof(claims.sub), "%s", sub);
    else
        r = snprintf(claims.sub, sizeof(claims.sub), "local-%s", role_name);
    if (r < 0 || (size_t)r >= sizeof(claims.sub))
        return ctl_usage("--sub: at most 63 bytes");
    if (unit && snprintf(claims.unit, sizeof(claims.unit), "%s", unit) >= (int)sizeof(claims.unit))
        return ctl_usage("--unit: at most 63 bytes");
    claims.iat = (long)time(NULL);
    claims.exp = claims.iat + ttl;

    key = ctl_read_secret(secret_file);
    if (!key)
        return 1;
    token = auth_jwt_sign(&claims, (const unsigned char *)key, strlen(key), err, sizeof(err));
    free(key);
    if (!token) {
        fprintf(stderr, "shantang-ctl: cannot sign: %s\n", err);
        return 1;
    }
    printf("%s\n", token);
    free(token);
    return 0;
}

/* ctl_quiet_log - librdkafka log callback that drops everything (for ping) */
static void ctl_quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

/*
 * ctl_conf - a configuration with bootstrap.servers and client.id set, and
 * the given extra key/value pairs (NULL-terminated). Returns the conf (caller
 * owns) or NULL after printing why.
 */
static rd_kafka_conf_t *ctl_conf(const char *brokers, const char *const *kv)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    size_t i;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", "shantang-ctl", err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "shantang-ctl: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (i = 0; kv && kv[i]; i += 2) {
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "shantang-ctl: %s\n", err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

/*
 * ctl_handle - a client of type with conf; takes ownership of conf in every
 * case. Returns the handle or NULL after printing why.
 */
static rd_kafka_t *ctl_handle(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));

    if (!rk) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new only owns conf on success */
        fprintf(stderr, "shantang-ctl: %s\n", err);
    }
    return rk;
}

/* ctl_ping - exit 0 when the cluster answers a metadata request in time */
static int ctl_ping(int argc, char **argv)
{
    const char *brokers = NULL, *val = NULL;
    const struct rd_kafka_metadata *md = NULL;
    long timeout_ms = 5000;
    rd_kafka_conf_t *conf;
    rd_kafka_resp_err_t e;
    rd_kafka_t *rk;
    int i, r, ok;

    for (i = 0; i < argc; i++) {
        if ((r = ctl_opt_value(argc, argv, &i, "--brokers", &brokers)) != 0) {
        } else if ((r = ctl_opt_value(argc, argv, &i, "--timeout-ms", &val)) != 0) {
            if (r > 0 && ctl_parse_long(val, 1, 3600000, &timeout_ms) < 0)
                return ctl_usage("--timeout-ms: milliseconds expected");
        } else {
            return ctl_usage("ping: unknown argument");
        }
        if (r < 0)
            return ctl_usage("an option is missing its value");
    }
    if (!brokers)
        return ctl_usage("ping: --brokers missing");
    conf = ctl_conf(brokers, NULL);
    if (!conf)
        return 1;
    rd_kafka_conf_set_log_cb(conf, ctl_quiet_log);
    rk = ctl_handle(RD_KAFKA_PRODUCER, conf);
    conf = NULL;
    if (!rk)
        return 1;
    /* all_topics=0 and no topic: only the brokers, the cheapest metadata answer */
    e = rd_kafka_metadata(rk, 0, NULL, &md, (int)timeout_ms);
    ok = e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0;
    if (!ok)
        fprintf(stderr, "shantang-ctl: %s does not answer: %s\n", brokers,
                e ? rd_kafka_err2str(e) : "no brokers in metadata");
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return ok ? 0 : 1;
}

/* ctl_topic_arg_ok - 1 if s looks like NAME:PARTITIONS[:KEY=VALUE,...], 1..10000 partitions */
static int ctl_topic_arg_ok(const char *s)
{
    const char *colon = strchr(s, ':');
    char parts[16];
    long n;

    if (colon == NULL || colon == s)
        return 0;
    const char *end = strchr(colon + 1, ':');
    size_t len = end ? (size_t)(end - colon - 1) : strlen(colon + 1);
    if (len == 0 || len >= sizeof(parts) || (end && strchr(end + 1, '=') == NULL))
        return 0;
    memcpy(parts, colon + 1, len);
    parts[len] = '\0';
    return ctl_parse_long(parts, 1, 10000, &n) == 0;
}

/* ctl_topics - create the missing topics of the command line */
static int ctl_topics(int argc, char **argv)
{
    const char *brokers = NULL, *val = NULL, *env = getenv("KAFKA_REPLICATION");
    const char *list[CTL_MAX_TOPICS + 1];
    long timeout_ms = 30000, replication = 1;
    char err[512] = "";
    int i, r, n = 0;

    if (env && *env && ctl_parse_long(env, 1, 32, &replication) < 0)
        return ctl_usage("KAFKA_REPLICATION: 1..32 expected");
    for (i = 0; i < argc; i++) {
        if ((r = ctl_opt_value(argc, argv, &i, "--brokers", &brokers)) != 0) {
        } else if ((r = ctl_opt_value(argc, argv, &i, "--timeout-ms", &val)) != 0) {
            if (r > 0 && ctl_parse_long(val, 1, 3600000, &timeout_ms) < 0)
                return ctl_usage("--timeout-ms: milliseconds expected");
        } else if ((r = ctl_opt_value(argc, argv, &i, "--replication", &val)) != 0) {
            if (r > 0 && ctl_parse_long(val, 1, 32, &replication) < 0)
                return ctl_usage("--replication: 1..32 expected");
        } else if (argv[i][0] == '-') {
            return ctl_usage("topics: unknown option");
        } else {
            if (!ctl_topic_arg_ok(argv[i]))
                return ctl_usage("topics: NAME:PARTITIONS expected");
            if (n >= CTL_MAX_TOPICS)
                return ctl_usage("topics: too many topics");
            list[n++] = argv[i];
        }
        if (r < 0)
            return ctl_usage("an option is missing its value");
    }
    if (!brokers)
        return ctl_usage("topics: --brokers missing");
    if (n == 0)
        return ctl_usage("topics: no NAME:PARTITIONS given");
    list[n] = NULL;
    if (kafka_ensure_topics(brokers, list, (int)replication, (int)timeout_ms, err, sizeof(err)) <
        0) {
        fprintf(stderr, "shantang-ctl: topics: %s\n", err);
        return 1;
    }
    return 0;
}

/*
 * ctl_print_message - one JSON line {"topic","partition","offset","key",
 * "value"}; value is the parsed JSON when the whole payload is JSON, else a
 * string; a missing key or value is null. Returns 0, -1 on allocation failure.
 */
static int ctl_print_message(const rd_kafka_message_t *m)
{
    cJSON *o = cJSON_CreateObject(), *v = NULL;
    const char *end = NULL;
    char *text;

    if (!o)
        return -1;
    cJSON_AddStringToObject(o, "topic", rd_kafka_topic_name(m->rkt));
    cJSON_AddNumberToObject(o, "partition", m->partition);
    cJSON_AddNumberToObject(o, "offset", (double)m->offset);
    if (m->key) {
        char *k = strndup((const char *)m->key, m->key_len);
        cJSON_AddItemToObject(o, "key", k ? cJSON_CreateString(k) : cJSON_CreateNull());
        free(k);
    } else {
        cJSON_AddNullToObject(o, "key");
    }
    if (m->payload) {
        v = cJSON_ParseWithLengthOpts((const char *)m->payload, m->len, &end, 0);
        if (v) {
            while (end < (const char *)m->payload + m->len &&
                   (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
                end++;
            if (end != (const char *)m->payload + m->len)
                v = (cJSON_Delete(v), NULL);
        }
        if (!v) {
            char *s = strndup((const char *)m->payload, m->len);
            v = s ? cJSON_CreateString(s) : cJSON_CreateNull();
            free(s);
        }
        cJSON_AddItemToObject(o, "value", v);
    } else {
        cJSON_AddNullToObject(o, "value");
    }
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return -1;
    printf("%s\n", text);
    fflush(stdout);
    cJSON_free(text);
    return 0;
}

static volatile int ctl_assigned; /* tail --group: partitions assigned at least once */

/* ctl_rebalance - tail --group: accept the assignment and note that it happened */
static void ctl_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        ctl_assigned = 1;
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/*
 * ctl_assign_all - assign every partition of topic at the beginning.
 * Returns 0, or -1 after printing why (unknown topic, no metadata).
 */
static int ctl_assign_all(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e;
    int i, rc = -1;

    if (!rkt) {
        fprintf(stderr, "shantang-ctl: topic %s: %s\n", topic,
                rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (e) {
        fprintf(stderr, "shantang-ctl: metadata for %s: %s\n", topic, rd_kafka_err2str(e));
    } else if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        fprintf(stderr, "shantang-ctl: topic %s: %s\n", topic,
                md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                        : "no partitions");
    } else {
        parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        for (i = 0; i < md->topics[0].partition_cnt; i++)
            rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)
                ->offset = RD_KAFKA_OFFSET_BEGINNING;
        e = rd_kafka_assign(rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        if (e)
            fprintf(stderr, "shantang-ctl: assign %s: %s\n", topic, rd_kafka_err2str(e));
        else
            rc = 0;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/*
 * ctl_tail - print a topic's messages from the beginning until --max
 * messages or --timeout-ms without a message. Without --group it assigns
 * every partition at the beginning and never commits; with --group it joins that group
 * (earliest when the group has no offset) and commits what it printed.
 */
static int ctl_tail(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL, *group = NULL, *val = NULL;
    /* without --group: a throw-away group id (librdkafka 2.0.2 refuses assign()
     * without one) that never commits nor stores an offset */
    const char *kv[] = {
        "auto.offset.reset",        "earliest", "group.id", NULL, "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",    NULL};
    char plain_group[64];
    long timeout_ms = 3000, max = 0, printed = 0;
    long long last, join_deadline;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    int i, r, rc = 0;

    for (i = 0; i < argc; i++) {
        if ((r = ctl_opt_value(argc, argv, &i, "--brokers", &brokers)) != 0) {
        } else if ((r = ctl_opt_value(argc, argv, &i, "--topic", &topic)) != 0) {
        } else if ((r = ctl_opt_value(argc, argv, &i, "--group", &group)) != 0) {
        } else if ((r = ctl_opt_value(argc, argv, &i, "--timeout-ms", &val)) != 0) {
            if (r > 0 && ctl_parse_long(val, 1, 3600000, &timeout_ms) < 0)
                return ctl_usage("--timeout-ms: milliseconds expected");
        } else if ((r = ctl_opt_value(argc, argv, &i, "--max", &val)) != 0) {
            if (r > 0 && ctl_parse_long(val, 1, LONG_MAX, &max) < 0)
                return ctl_usage("--max: a positive count expected");
        } else {
            return ctl_usage("tail: unknown argument");
        }
        if (r < 0)
            return ctl_usage("an option is missing its value");
    }
    if (!brokers || !topic)
        return ctl_usage("tail: --brokers and --topic are required");

    if (group) {
        kv[3] = group;
        kv[5] = "true";
        kv[7] = "true";
    } else {
        snprintf(plain_group, sizeof(plain_group), "shantang-ctl-tail-%ld-%ld", (long)getpid(),
                 (long)time(NULL));
        kv[3] = plain_group;
    }
    conf = ctl_conf(brokers, kv);
    if (!conf)
        return 1;
    if (group)
        rd_kafka_conf_set_rebalance_cb(conf, ctl_rebalance);
    rk = ctl_handle(RD_KAFKA_CONSUMER, conf);
    conf = NULL;
    if (!rk)
        return 1;

    if (group) {
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_resp_err_t e;

        rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
        e = rd_kafka_subscribe(rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (e) {
            fprintf(stderr, "shantang-ctl: subscribe %s: %s\n", topic, rd_kafka_err2str(e));
            rd_kafka_destroy(rk);
            return 1;
        }
    } else if (ctl_assign_all(rk, topic, timeout_ms > 10000 ? (int)timeout_ms : 10000) < 0) {
        rd_kafka_destroy(rk);
        return 1;
    }

    /* a group's join may take a while: the idle clock starts once assigned */
    join_deadline = ctl_now_ms() + 30000 + timeout_ms;
    last = ctl_now_ms();
    while (!ctl_stop && (max == 0 || printed < max)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, CTL_POLL_MS);

        if (group && !ctl_assigned) {
            last = ctl_now_ms();
            if (last > join_deadline) {
                fprintf(stderr, "shantang-ctl: group %s got no assignment\n", group);
                rc = 1;
                if (m)
                    rd_kafka_message_destroy(m);
                break;
            }
        }
        if (!m) {
            if (ctl_now_ms() - last >= timeout_ms)
                break;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* not enabled, but harmless */
        } else if (m->err) {
            fprintf(stderr, "shantang-ctl: %s\n", rd_kafka_message_errstr(m));
            if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
                rc = 1;
                rd_kafka_message_destroy(m);
                break;
            }
        } else {
            if (ctl_print_message(m) < 0)
                rc = 1;
            printed++;
            last = ctl_now_ms();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk); /* with --group: commits what was printed */
    rd_kafka_destroy(rk);
    return rc;
}

/* the outcome of produce's one message, filled by its delivery report */
typedef struct ctl_delivery {
    int done;                /* the delivery report arrived */
    rd_kafka_resp_err_t err; /* its error, 0 when delivered */
    int32_t partition;       /* where it landed */
    int64_t offset;          /* at which offset */
} ctl_delivery;

/* ctl_on_delivery - record the delivery report of produce's message */
static void ctl_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    ctl_delivery *d = m->_private;

    (void)rk;
    (void)opaque;
    if (!d)
        return;
    d->done = 1;
    d->err = m->err;
    d->partition = m->partition;
    d->offset = m->offset;
}

/*
 * ctl_read_stdin - all of stdin (at most CTL_MAX_VALUE bytes) into a
 * malloc'd buffer (caller frees) with its length. NULL after printing why.
 */
static char *ctl_read_stdin(size_t *len)
{
    size_t cap = 65536, n = 0, got;
    char *buf = malloc(cap), *grown;

    while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= (size_t)CTL_MAX_VALUE) {
                fputs("shantang-ctl: value larger than 16 MiB\n", stderr);
                free(buf);
                return NULL;
            }
            grown = realloc(buf, cap * 2);
            if (!grown)
                free(buf);
            buf = grown;
            cap *= 2;
        }
    }
    if (!buf || ferror(stdin)) {
        fputs("shantang-ctl: cannot read the value from stdin\n", stderr);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* ctl_produce - send stdin as one message and wait for its delivery report */
static int ctl_produce(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL, *key = NULL, *val = NULL;
    const char *kv[] = {"enable.idempotence", "true", "acks", "all",
                        "message.timeout.ms", NULL,   NULL};
    char timeout_text[32];
    long timeout_ms = 30000;
    long long deadline;
    ctl_delivery d = {0, RD_KAFKA_RESP_ERR_NO_ERROR, -1, -1};
    rd_kafka_conf_t *conf;
    rd_kafka_resp_err_t e;
    rd_kafka_t *rk;
    size_t len = 0;
    char *value;
    int i, r;

    for (i = 0; i < argc; i++) {
        if ((r = ctl_opt_value(argc, argv, &i, "--brokers", &brokers)) != 0) {
        } else if ((r = ctl_opt_value(argc, argv, &i, "--topic", &topic)) != 0) {
        } else if ((r = ctl_opt_value(argc, argv, &i, "--key", &key)) != 0) {
        } else if ((r = ctl_opt_value(argc, argv, &i, "--timeout-ms", &val)) != 0) {
            if (r > 0 && ctl_parse_long(val, 1000, 3600000, &timeout_ms) < 0)
                return ctl_usage("--timeout-ms: 1000.. milliseconds expected");
        } else {
            return ctl_usage("produce: unknown argument");
        }
        if (r < 0)
            return ctl_usage("an option is missing its value");
    }
    if (!brokers || !topic || !key)
        return ctl_usage("produce: --brokers, --topic and --key are required");
    value = ctl_read_stdin(&len);
    if (!value)
        return 1;

    snprintf(timeout_text, sizeof(timeout_text), "%ld", timeout_ms);
    kv[5] = timeout_text;
    conf = ctl_conf(brokers, kv);
    if (!conf) {
        free(value);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, ctl_on_delivery);
    rk = ctl_handle(RD_KAFKA_PRODUCER, conf);
    conf = NULL;
    if (!rk) {
        free(value);
        return 1;
    }
    e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
    free(value);
    if (e) {
        fprintf(stderr, "shantang-ctl: produce to %s: %s\n", topic, rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return 1;
    }
    /* message.timeout.ms bounds the report; the extra second covers its delivery */
    deadline = ctl_now_ms() + timeout_ms + 1000;
    while (!d.done && !ctl_stop && ctl_now_ms() < deadline)
        rd_kafka_poll(rk, CTL_POLL_MS);
    if (!d.done)
        fprintf(stderr, "shantang-ctl: no delivery report for %s in time\n", topic);
    else if (d.err)
        fprintf(stderr, "shantang-ctl: not delivered to %s: %s\n", topic, rd_kafka_err2str(d.err));
    else
        fprintf(stderr, "delivered to %s [%d] at offset %lld\n", topic, (int)d.partition,
                (long long)d.offset);
    rd_kafka_flush(rk, 1000);
    rd_kafka_destroy(rk);
    return d.done && !d.err ? 0 : 1;
}

/* ctl_catalogue - print the event catalogue as text, JSON or topic lines */
static int ctl_catalogue(int argc, char **argv)
{
    int json = argc == 1 && strcmp(argv[0], "--json") == 0;
    int topics = argc == 1 && strcmp(argv[0], "--topics") == 0;
    if (argc > 1 || (argc == 1 && !json && !topics))
        return ctl_usage("catalogue: --json or --topics, or nothing");
    if (json) {
        cJSON *c = catalogue_json();
        char *text = c ? cJSON_Print(c) : NULL;
        cJSON_Delete(c);
        if (text == NULL) {
            fprintf(stderr, "shantang-ctl: catalogue: out of memory\n");
            return 1;
        }
        printf("%s\n", text);
        cJSON_free(text);
        return 0;
    }
    for (const catalogue_topic *const *t = catalogue_topics; *t; t++) {
        if (topics) {
            printf("%s %d%s%s\n", (*t)->name, (*t)->partitions, (*t)->config ? " " : "",
                   (*t)->config ? (*t)->config : "");
            continue;
        }
        printf("%s  partitions %d%s%s  producer %s\n  %s\n  key: %s\n", (*t)->name,
               (*t)->partitions, (*t)->config ? "  " : "", (*t)->config ? (*t)->config : "",
               strcmp((*t)->producer, "*") == 0 ? "every consumer" : (*t)->producer, (*t)->summary,
               (*t)->key);
        for (const catalogue_event *const *e = (*t)->events; *e; e++)
            printf("    %-26s schemas/events/%-38s %s\n", (*e)->type, (*e)->schema, (*e)->summary);
        printf("\n");
    }
    return 0;
}

/* main - dispatch to the subcommand */
int main(int argc, char **argv)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ctl_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_init("ctl", LOG_WARN);

    if (argc < 2)
        return ctl_usage(NULL);
    if (strcmp(argv[1], "token") == 0)
        return ctl_token(argc - 2, argv + 2);
    if (strcmp(argv[1], "ping") == 0)
        return ctl_ping(argc - 2, argv + 2);
    if (strcmp(argv[1], "topics") == 0)
        return ctl_topics(argc - 2, argv + 2);
    if (strcmp(argv[1], "tail") == 0)
        return ctl_tail(argc - 2, argv + 2);
    if (strcmp(argv[1], "produce") == 0)
        return ctl_produce(argc - 2, argv + 2);
    if (strcmp(argv[1], "catalogue") == 0)
        return ctl_catalogue(argc - 2, argv + 2);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        ctl_usage(NULL);
        return 0;
    }
    return ctl_usage("unknown subcommand");
}
