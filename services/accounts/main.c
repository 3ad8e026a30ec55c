/*
 * main.c - shantang-accounts: accounts, grants, sign-in, and the tokens
 * every service verifies with the public keys published here.
 *
 * Thin: declares the parameters, routes, topics and consumer and hands
 * them to the common skeleton (core/service.h). Privileges: its own
 * unprivileged user and database role, which owns only the accounts schema.
 * Secrets: the signing keys (files in ACCOUNTS_SIGNING_KEYS_DIR), the code
 * key, the seal key shared with the notifier, the development mint secret;
 * none is ever printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "core/service.h"
#include "util/log.h"

static const cfg_param accounts_params[ACC_NPARAMS] = {
    [ACC_SIGNING_KEYS_DIR] = {"ACCOUNTS_SIGNING_KEYS_DIR", CFG_STR, NULL, 0, 0,
                              "folder of the signing keys (*.pem: P-256 or Ed25519 private "
                              "keys)"},
    [ACC_KEY_ACTIVATION_S] = {"ACCOUNTS_KEY_ACTIVATION_S", CFG_INT, "600", 0, 86400,
                              "a new key is published this long before it signs"},
    [ACC_ACCESS_TTL_S] = {"ACCOUNTS_ACCESS_TTL_S", CFG_INT, "900", 60, 3600,
                          "lifetime of an access token in seconds"},
    [ACC_REFRESH_IDLE_S] = {"ACCOUNTS_REFRESH_IDLE_S", CFG_INT, "604800", 300, 7776000,
                            "a refresh token unused this long expires"},
    [ACC_REFRESH_MAX_S] = {"ACCOUNTS_REFRESH_MAX_S", CFG_INT, "2592000", 300, 31536000,
                           "a session ends this long after sign-in whatever its use"},
    [ACC_CODE_KEY] = {"ACCOUNTS_CODE_KEY", CFG_SECRET, NULL, 0, 0,
                      "HMAC-SHA-256 key of the stored sign-in codes, 64 hex characters"},
    [ACC_CODE_SEAL_KEY] = {"ACCOUNTS_CODE_SEAL_KEY", CFG_SECRET, NULL, 0, 0,
                           "AES-256-GCM key sealing codes for the notifier (its "
                           "NOTIFIER_SEAL_KEY), 64 hex characters"},
    [ACC_CODE_TTL_S] = {"ACCOUNTS_CODE_TTL_S", CFG_INT, "300", 60, 600,
                        "a sign-in code is void after this many seconds"},
    [ACC_CODE_TRIES] = {"ACCOUNTS_CODE_TRIES", CFG_INT, "5", 1, 10,
                        "wrong tries before a code is void"},
    [ACC_CODES_PER_MINUTE] = {"ACCOUNTS_CODES_PER_MINUTE", CFG_INT, "1", 1, 60,
                              "codes per phone per minute"},
    [ACC_CODES_PER_HOUR] = {"ACCOUNTS_CODES_PER_HOUR", CFG_INT, "5", 1, 1000,
                            "codes per phone per hour"},
    [ACC_CLIENT_CODES_PER_HOUR] = {"ACCOUNTS_CLIENT_CODES_PER_HOUR", CFG_INT, "30", 1, 1000000,
                                   "codes asked from one client address per hour"},
    [ACC_CLIENT_FAILURES_PER_HOUR] = {"ACCOUNTS_CLIENT_FAILURES_PER_HOUR", CFG_INT, "50", 1,
                                      1000000,
                                      "failed code or password checks from one client address "
                                      "per hour"},
    [ACC_ARGON2_T] = {"ACCOUNTS_ARGON2_T", CFG_INT, "2", 1, 10, "argon2id passes"},
    [ACC_ARGON2_M_KIB] = {"ACCOUNTS_ARGON2_M_KIB", CFG_INT, "19456", 7168, 2097152,
                          "argon2id memory in KiB"},
    [ACC_ARGON2_P] = {"ACCOUNTS_ARGON2_P", CFG_INT, "1", 1, 8, "argon2id lanes"},
    [ACC_ARGON2_CONCURRENCY] = {"ACCOUNTS_ARGON2_CONCURRENCY", CFG_INT, "2", 1, 64,
                                "password hashes computed at once (bounds memory)"},
    [ACC_PASSWORD_MAX_FAILURES] = {"ACCOUNTS_PASSWORD_MAX_FAILURES", CFG_INT, "5", 1, 100,
                                   "wrong passwords in a row before the account locks"},
    [ACC_LOCKOUT_BASE_S] = {"ACCOUNTS_LOCKOUT_BASE_S", CFG_INT, "30", 1, 3600,
                            "first lock-out in seconds, doubling per further failure (1 h "
                            "at most)"},
    [ACC_TRUSTED_PROXIES] = {"ACCOUNTS_TRUSTED_PROXIES", CFG_STR, "", 0, 0,
                             "addresses whose X-Real-IP names the client (the console's "
                             "nginx)"},
    [ACC_CLIENT_ID] = {"ACCOUNTS_CLIENT_ID", CFG_STR, "shantang-console", 0, 0,
                       "client_id claim of the access tokens"},
    [ACC_DEV_MINT_SECRET] = {"ACCOUNTS_DEV_MINT_SECRET", CFG_SECRET, "", 0, 0,
                             "development only: enables POST /v1/dev/tokens with this "
                             "X-Dev-Secret; empty in production"},
};

#define ADMIN ROLE_ADMIN

static const http_route accounts_routes[] = {
    {"GET", "/.well-known/openid-configuration", 0, accounts_discovery, 0},
    {"GET", "/.well-known/jwks.json", 0, accounts_jwks, 0},
    {"POST", "/v1/signin/code", 0, accounts_signin_code, 0},
    {"POST", "/v1/signin/verify", 0, accounts_signin_verify, 0},
    {"POST", "/v1/signin/password", 0, accounts_signin_password, 0},
    {"POST", "/v1/token", 0, accounts_token, 0},
    {"POST", "/v1/signout", 0, accounts_signout, 0},
    {"GET", "/v1/me", ROLE_ANY, accounts_me, 0},
    {"POST", "/v1/me/password", ROLE_ANY, accounts_me_password, 0},
    {"GET", "/v1/accounts", ADMIN, accounts_list, 0},
    {"POST", "/v1/accounts", ADMIN, accounts_create, 0},
    {"GET", "/v1/accounts/{id}", ADMIN, accounts_get, 0},
    {"PATCH", "/v1/accounts/{id}", ADMIN, accounts_update, 0},
    {"POST", "/v1/accounts/{id}/disable", ADMIN, accounts_disable, 0},
    {"POST", "/v1/accounts/{id}/enable", ADMIN, accounts_enable, 0},
    {"POST", "/v1/accounts/{id}/grants", ADMIN, accounts_grants_add, 0},
    {"DELETE", "/v1/accounts/{id}/grants/{gid}", ADMIN, accounts_grants_remove, 0},
    {"GET", "/v1/accounts/{id}/audit", ADMIN, accounts_audit, 0},
    {"POST", "/v1/imports/accounts", ADMIN, accounts_import, 16u << 20},
    {"POST", "/v1/dev/tokens", 0, accounts_dev_token, 0},
};

/* accounts.v1 keeps the changes; signin.v1 holds sealed codes only as long as they live */
static const catalogue_topic *const accounts_produces[] = {&cat_topic_accounts, &cat_topic_signin,
                                                           NULL};

static const kafka_consumer_def accounts_consumers[] = {
    {"accounts", NULL, accounts_apply, NULL, NULL, NULL},
};

static acc_state accounts_st;

/* state_load - the parameters into st; 0 or -1 with err */
static int state_load(service_ctx *ctx, acc_state *st, char *err, size_t errlen)
{
    const cfg *c = ctx->own;
    st->ctx = ctx;
    if (pii_hex_key(cfg_str(c, ACC_CODE_KEY), st->code_key) < 0) {
        snprintf(err, errlen, "ACCOUNTS_CODE_KEY must be 64 hex characters");
        return -1;
    }
    if (pii_hex_key(cfg_str(c, ACC_CODE_SEAL_KEY), st->seal.enc) < 0 ||
        memcmp(st->seal.enc, st->code_key, 32) == 0) {
        snprintf(err, errlen, "ACCOUNTS_CODE_SEAL_KEY must be 64 hex characters, not the code key");
        return -1;
    }
    st->issuer = cfg_str(ctx->common, SVC_AUTH_ISSUER);
    st->audience = cfg_str(ctx->common, SVC_AUTH_AUDIENCE);
    if (*st->issuer == '\0') {
        snprintf(err, errlen, "AUTH_ISSUER must name this service's issuer");
        return -1;
    }
    st->activation_s = cfg_int(c, ACC_KEY_ACTIVATION_S);
    st->access_ttl = cfg_int(c, ACC_ACCESS_TTL_S);
    st->refresh_idle = cfg_int(c, ACC_REFRESH_IDLE_S);
    st->refresh_max = cfg_int(c, ACC_REFRESH_MAX_S);
    st->code_ttl = cfg_int(c, ACC_CODE_TTL_S);
    st->code_tries = cfg_int(c, ACC_CODE_TRIES);
    st->codes_per_minute = cfg_int(c, ACC_CODES_PER_MINUTE);
    st->codes_per_hour = cfg_int(c, ACC_CODES_PER_HOUR);
    st->client_codes_per_hour = cfg_int(c, ACC_CLIENT_CODES_PER_HOUR);
    st->client_failures_per_hour = cfg_int(c, ACC_CLIENT_FAILURES_PER_HOUR);
    st->argon_t = cfg_int(c, ACC_ARGON2_T);
    st->argon_m = cfg_int(c, ACC_ARGON2_M_KIB);
    st->argon_p = cfg_int(c, ACC_ARGON2_P);
    st->argon_max = (int)cfg_int(c, ACC_ARGON2_CONCURRENCY);
    st->max_failures = cfg_int(c, ACC_PASSWORD_MAX_FAILURES);
    st->lockout_base = cfg_int(c, ACC_LOCKOUT_BASE_S);
    st->trusted_proxies = cfg_str(c, ACC_TRUSTED_PROXIES);
    st->client_id = cfg_str(c, ACC_CLIENT_ID);
    st->dev_secret = cfg_str(c, ACC_DEV_MINT_SECRET);
    pthread_mutex_init(&st->argon_lock, NULL);
    pthread_cond_init(&st->argon_cond, NULL);
    ctx->state = st;
    return 0;
}

/* accounts_init - the keys, and the verifier reading them from memory */
static int accounts_init(service_ctx *ctx, char *err, size_t errlen)
{
    if (state_load(ctx, &accounts_st, err, errlen) < 0 ||
        acc_keys_start(&accounts_st, err, errlen) < 0)
        return -1;
    accounts_st.dummy_hash = acc_password_hash("not-a-password-of-anyone", accounts_st.argon_t,
                                               accounts_st.argon_m, accounts_st.argon_p);
    if (accounts_st.dummy_hash == NULL) {
        snprintf(err, errlen, "argon2id: cannot hash with the configured parameters");
        return -1;
    }
    auth_verifier_set_fetch(ctx->auth, 0, acc_jwks_fetch, &accounts_st);
    if (*accounts_st.dev_secret)
        log_warn("ACCOUNTS_DEV_MINT_SECRET is set: POST /v1/dev/tokens mints tokens");
    return 0;
}

/* accounts_fini - stop the key thread */
static void accounts_fini(service_ctx *ctx)
{
    if (ctx->state) {
        acc_keys_stop(ctx->state);
        free(accounts_st.dummy_hash);
        accounts_st.dummy_hash = NULL;
    }
}

/* create_admin - the one-off command, with the parameters loaded */
static int create_admin(service_ctx *ctx)
{
    char err[256];
    if (state_load(ctx, &accounts_st, err, sizeof(err)) < 0) {
        fprintf(stderr, "shantang-accounts: %s\n", err);
        return 78;
    }
    return accounts_create_admin(ctx);
}

static const service_command accounts_commands[] = {
    {"--create-admin", "PHONE NAME: create the first administrator of a new installation",
     create_admin, 2},
};

static const service_def accounts_service = {
    .name = "accounts",
    .default_port = 8086,
    .params = accounts_params,
    .nparams = ACC_NPARAMS,
    .routes = accounts_routes,
    .nroutes = sizeof(accounts_routes) / sizeof(accounts_routes[0]),
    .produces = accounts_produces,
    .consumes = accounts_consumes,
    .consumers = accounts_consumers,
    .nconsumers = 1,
    .init = accounts_init,
    .fini = accounts_fini,
    .commands = accounts_commands,
    .ncommands = 1,
};

int main(int argc, char **argv)
{
    return service_main(argc, argv, &accounts_service);
}
