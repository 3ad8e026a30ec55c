/*
 * service.h - the one skeleton every Shantang program runs in.
 *
 * main() hands a service_def to service_main(), which: refuses to run as
 * root; loads the common parameters and the service's own table from the
 * environment; initialises logging; opens the database pool on the service's
 * schema and applies its migrations (schemas/sql/<name>/, MIGRATIONS_DIR);
 * creates the idempotent producer and starts the outbox relay; calls the
 * service's init; starts its consumers and the HTTP front; then waits for
 * SIGTERM/SIGINT (the handler only clears a flag). Shutdown in order: stop
 * HTTP (in-flight requests finish), stop consumers, the service's fini, stop
 * the relay, flush the producer with a deadline, close the database.
 *
 * Tokens: the verifier is built from the AUTH_* parameters (core/auth.h).
 * Every service also runs the consumer group "<name>.auth" on accounts.v1:
 * each account.revoked event is recorded in <schema>.auth_revocations and
 * applied to the verifier at once; the main loop reloads that table every
 * two seconds (so that every instance learns what any one consumed) and
 * refreshes the issuers' JWKS when due.
 * `<program> --print-config` writes the sample environment file and exits;
 * `<program> --print-events` writes what it produces and consumes, from the
 * event catalogue (core/catalogue.h), as one JSON object and exits.
 */
#ifndef SHANTANG_CORE_SERVICE_H
#define SHANTANG_CORE_SERVICE_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>
#include "util/cfg.h"
#include "core/catalogue.h"
#include "core/db.h"
#include "core/group.h"
#include "core/http.h"
#include "core/kafka.h"
#include "core/outbox.h"

/* The common parameters every service reads, in table order. */
enum {
    SVC_HTTP_ADDR,
    SVC_HTTP_PORT,
    SVC_HTTP_THREADS,
    SVC_HTTP_BODY_LIMIT,
    SVC_DATABASE_URL,
    SVC_DB_POOL_SIZE,
    SVC_DB_STATEMENT_TIMEOUT_MS,
    SVC_KAFKA_BROKERS,
    SVC_KAFKA_GROUP_INSTANCE_ID,
    SVC_JWT_SECRET,
    SVC_AUTH_ISSUER,
    SVC_AUTH_JWKS_URL,
    SVC_AUTH_AUDIENCE,
    SVC_AUTH_ISSUERS_FILE,
    SVC_AUTH_CLOCK_SKEW_S,
    SVC_AUTH_JWKS_REFRESH_S,
    SVC_AUTH_JWKS_MIN_REFRESH_S,
    SVC_LOG_LEVEL,
    SVC_MIGRATIONS_DIR,
    SVC_OUTBOX_RETAIN_HOURS,
    SVC_OUTBOX_POLL_MS,
    SVC_CONSUMER_BATCH_MAX,
    SVC_GROUP_COMMIT_MAX,
    SVC_GROUP_COMMIT_WAIT_US,
    SVC_SHUTDOWN_TIMEOUT_MS,
    SVC_NPARAMS
};

typedef struct service_ctx {
    const char *name;     /* service name, also its schema and client id */
    cfg *common;          /* common parameters, indexed by SVC_* */
    cfg *own;             /* the service's own parameters, indexed by its enum */
    db_pool *db;          /* pool on the service's schema */
    rd_kafka_t *producer; /* the idempotent producer (used by the relay) */
    outbox_relay *relay;  /* the relay; wake it after committing outbox rows */
    group *commit;        /* group commit of command statements (service_create_one) */
    auth_verifier *auth;  /* verifies bearer tokens; revocations are applied to it */
    void *state;          /* the service's own state, set by its init */
    int argc;             /* a one-off command's arguments after its flag */
    char **argv;          /* (borrowed from main) */
} service_ctx;

/*
 * service_command - a one-off command of the program (`shantang-income
 * --verify`): run after configuration, the database pool and the
 * migrations, without Kafka or HTTP; its return value is the exit code.
 */
typedef struct service_command {
    const char *flag;             /* "--verify" */
    const char *help;             /* one line for the usage message */
    int (*run)(service_ctx *ctx); /* the command; prints its own output */
    int nargs;                    /* arguments it takes after the flag (ctx->argc) */
} service_command;

typedef struct service_def {
    const char *name;                       /* "registry": schema, client id, log name */
    int default_port;                       /* HTTP_PORT default */
    long default_body_limit;                /* HTTP_BODY_LIMIT default; 0 = 64 KiB */
    const cfg_param *params;                /* the service's own parameters (may be NULL) */
    size_t nparams;                         /* entries of params */
    const http_route *routes;               /* the service's routes */
    size_t nroutes;                         /* entries of routes */
    const catalogue_topic *const *produces; /* NULL-terminated: the topics it publishes (created
                                               if missing; deadletter.v1 is always added) */
    const catalogue_event *const *consumes; /* NULL-terminated: the events its consumers apply */
    const kafka_consumer_def *consumers;    /* consumer loops; ctx is replaced by the service_ctx;
                                               topics NULL: the topics of consumes */
    size_t nconsumers;                      /* entries of consumers */
    int (*init)(service_ctx *ctx, char *err, size_t errlen); /* after db and kafka; may be NULL */
    void (*fini)(service_ctx *ctx);  /* before the relay stops; may be NULL */
    const service_command *commands; /* one-off commands (may be NULL) */
    size_t ncommands;                /* entries of commands */
} service_def;

/* service_auth_consumes - what every service's "<name>.auth" group applies: account.revoked */
extern const catalogue_event *const service_auth_consumes[];

/*
 * service_auth_apply - the "<name>.auth" consumer's handler (arg: the
 * service_ctx): account.revoked into <schema>.auth_revocations and the
 * verifier; other account events are ignored. PERMANENT without account_id
 * or revoked_before.
 */
kafka_apply_result service_auth_apply(PGconn *conn, const cJSON *ev, void *arg, char *err,
                                      size_t errlen);

/* service_main - run the program; returns the process exit code */
int service_main(int argc, char **argv, const service_def *def);

/*
 * service_tx_begin / service_tx_end - the handler-side unit of work: acquire
 * a connection and begin; on end commit (commit=1) or roll back, release the
 * connection, and wake the relay after a commit. service_tx_begin returns
 * NULL after setting a 503 problem on resp when the database is unavailable.
 * service_tx_end returns 0, or -1 after setting a 503 problem on a failed
 * commit.
 */
PGconn *service_tx_begin(service_ctx *ctx, http_resp *resp);
int service_tx_end(service_ctx *ctx, PGconn *conn, int commit, http_resp *resp);

/*
 * service_db_problem - answer a database failure: 23505 -> 409, 23503/23514/
 * 22xxx -> 422, 40001/40P01 -> 409 retryable, connection loss or timeout ->
 * 503 with Retry-After; the detail never echoes parameter values.
 */
void service_db_problem(http_resp *resp, const db_err *err);

/*
 * service_create_one - a creating POST in one statement, one round trip: sql
 * calls a command function (schemas/sql/common/005_commands.sql) with the n
 * params and then, as $n+1..$n+4, the Idempotency-Key's principal, key,
 * route and request hash (all NULL without a key; a key of 1 to 200
 * characters, else 422). The statement runs in autocommit, alone or group
 * committed with concurrent ones (ctx->commit, core/group.h): either way it
 * is committed before the answer is built, and another request's failure
 * does not change its answer. Its
 * command_result row answers as service_result_answer; a statement that
 * fails answers as service_db_problem. Returns the status answered.
 */
#define SERVICE_CREATE_ONE_MAX_PARAMS 32
int service_create_one(service_ctx *ctx, http_req *req, http_resp *resp, const char *sql, int n,
                       const char *const *params);

/*
 * service_command_run - run the command statement sql with its n params as
 * service_create_one does, for a command without a key (a change: PATCH,
 * a status, a verdict) or whose handler made the key's four itself
 * (service_key_params): a transition, which reads first and may run its
 * command again. Returns the status answered.
 */
int service_command_run(service_ctx *ctx, http_resp *resp, const char *sql, int n,
                        const char *const *params);

/*
 * service_command_run_more - service_command_run for a query that adds one
 * column after the command_result (its eighth): that column's value is
 * copied into more (moresize bytes; "" when NULL, absent or the statement
 * failed), for a handler that acts on what the command did once it
 * answered. Returns the status answered.
 */
int service_command_run_more(service_ctx *ctx, http_resp *resp, const char *sql, int n,
                             const char *const *params, char *more, size_t moresize);

/*
 * service_key_params - the Idempotency-Key's principal, key, route and
 * request hash (into hash) as out[0..3], the last four parameters of a
 * command function (all NULL without a key); -1 after a 422 for a bad key.
 */
int service_key_params(const http_req *req, http_resp *resp, char hash[65], const char *out[4]);

/*
 * service_result_problem - when res's one command_result row (common 005)
 * holds a problem, answer it on resp and return -1; 0 otherwise (a NULL
 * result: the check found nothing to refuse). A problem row's body, when
 * not NULL, is a JSON object of extension members (RFC 9457) added to the
 * problem, {"existing_id": ...} say; the standard members are kept.
 */
int service_result_problem(http_resp *resp, const PGresult *res);

/*
 * service_result_answer - answer resp from res's command_result row (its
 * first seven columns; a query may add more after them): the status with
 * its body and Location, or its problem (a row with a slug). Returns the
 * status answered, 500 when res holds no command_result.
 */
int service_result_answer(http_resp *resp, const PGresult *res);

/*
 * service_query / service_exec - run a statement inside a request, turning a
 * failure into its problem on resp (service_db_problem). service_query
 * returns the result (the caller PQclear()s it) or NULL after the problem;
 * service_exec, for a statement whose result is not needed, returns 0 or -1
 * after the problem.
 */
PGresult *service_query(PGconn *conn, const char *sql, int n, const char *const *params,
                        http_resp *resp);
int service_exec(PGconn *conn, const char *sql, int n, const char *const *params, http_resp *resp);

#endif
