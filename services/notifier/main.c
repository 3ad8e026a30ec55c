/*
 * main.c - shantang-notifier: SMS to households and notables from the
 * programme's events, through Alibaba Cloud, Tencent Cloud or a Standard
 * Webhooks gateway, in a configured failover order.
 *
 * Thin: declares the parameters, routes and consumer, checks the routing
 * table and the providers once at start-up (a bad table refuses to start,
 * naming the route), starts the sender thread, and hands over to the common
 * skeleton (core/service.h). Privileges: its own unprivileged user and
 * database role, which owns only the notifier schema. Secrets (gateway keys,
 * the receipt token) come from the environment or _FILE, never printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notifier.h"
#include "core/metrics.h"
#include "core/service.h"

static const cfg_param notifier_params[NTF_NPARAMS] = {
    [NTF_ROUTES_FILE] = {"NOTIFIER_ROUTES_FILE", CFG_STR, "/etc/shantang/notifier-routes.json", 0,
                         0, "routing table (JSON): templates, phone lists, routes"},
    [NTF_SIGN_NAME] = {"NOTIFIER_SIGN_NAME", CFG_STR, "山塘共富", 0, 0,
                       "the approved SMS sign name (【...】) every message carries"},
    [NTF_PROVIDERS] = {"NOTIFIER_PROVIDERS", CFG_STR, "aliyun,tencent,webhook", 0, 0,
                       "providers in failover order, comma-separated: aliyun, tencent, webhook"},
    [NTF_ALIYUN_URL] = {"NOTIFIER_ALIYUN_URL", CFG_STR, "https://dysmsapi.aliyuncs.com/", 0, 0,
                        "Alibaba Cloud SMS endpoint"},
    [NTF_ALIYUN_KEY_ID] = {"NOTIFIER_ALIYUN_KEY_ID", CFG_STR, "", 0, 0,
                           "Alibaba Cloud AccessKeyId"},
    [NTF_ALIYUN_SECRET] = {"NOTIFIER_ALIYUN_SECRET", CFG_SECRET, "", 0, 0,
                           "Alibaba Cloud AccessKeySecret"},
    [NTF_TENCENT_URL] = {"NOTIFIER_TENCENT_URL", CFG_STR, "https://sms.tencentcloudapi.com/", 0, 0,
                         "Tencent Cloud SMS endpoint"},
    [NTF_TENCENT_SECRET_ID] = {"NOTIFIER_TENCENT_SECRET_ID", CFG_STR, "", 0, 0,
                               "Tencent Cloud SecretId"},
    [NTF_TENCENT_SECRET_KEY] = {"NOTIFIER_TENCENT_SECRET_KEY", CFG_SECRET, "", 0, 0,
                                "Tencent Cloud SecretKey"},
    [NTF_TENCENT_APP_ID] = {"NOTIFIER_TENCENT_APP_ID", CFG_STR, "", 0, 0,
                            "Tencent Cloud SmsSdkAppId"},
    [NTF_TENCENT_REGION] = {"NOTIFIER_TENCENT_REGION", CFG_STR, "ap-guangzhou", 0, 0,
                            "Tencent Cloud region (X-TC-Region)"},
    [NTF_WEBHOOK_URL] = {"NOTIFIER_WEBHOOK_URL", CFG_STR, "", 0, 0,
                         "generic Standard Webhooks SMS gateway endpoint"},
    [NTF_WEBHOOK_SECRET] = {"NOTIFIER_WEBHOOK_SECRET", CFG_SECRET, "", 0, 0,
                            "webhook signing secret, whsec_ + Base64 (also verifies its receipts)"},
    [NTF_RECEIPT_TOKEN] = {"NOTIFIER_RECEIPT_TOKEN", CFG_SECRET, "", 0, 0,
                           "shared token in ?token= of the Alibaba and Tencent receipt URLs "
                           "(empty: those receipts are refused)"},
    [NTF_LIMIT_PER_MINUTE] = {"NOTIFIER_LIMIT_PER_MINUTE", CFG_INT, "1", 0, 1000,
                              "messages per phone per minute (0 = no limit; Alibaba's default 1)"},
    [NTF_LIMIT_PER_HOUR] = {"NOTIFIER_LIMIT_PER_HOUR", CFG_INT, "5", 0, 10000,
                            "messages per phone per hour (0 = no limit; Alibaba's default 5)"},
    [NTF_LIMIT_PER_DAY] = {"NOTIFIER_LIMIT_PER_DAY", CFG_INT, "10", 0, 100000,
                           "messages per phone per day (0 = no limit; Alibaba's default 10)"},
    [NTF_QUIET_START] = {"NOTIFIER_QUIET_START", CFG_STR, "22:00", 0, 0,
                         "start of quiet hours, Asia/Shanghai HH:MM[:SS] (non-urgent deferred)"},
    [NTF_QUIET_END] = {"NOTIFIER_QUIET_END", CFG_STR, "07:00", 0, 0,
                       "end of quiet hours, Asia/Shanghai HH:MM[:SS] (equal to start: none)"},
    [NTF_MAX_ATTEMPTS] = {"NOTIFIER_MAX_ATTEMPTS", CFG_INT, "8", 1, 100,
                          "gateway calls per message before it fails (or is left uncertain)"},
    [NTF_BACKOFF_BASE_MS] = {"NOTIFIER_BACKOFF_BASE_MS", CFG_INT, "2000", 10, 3600000,
                             "first retry delay in ms, doubling per attempt, half of it jitter"},
    [NTF_BACKOFF_CAP_MS] = {"NOTIFIER_BACKOFF_CAP_MS", CFG_INT, "600000", 10, 86400000,
                            "longest retry delay in ms"},
    [NTF_TIMEOUT_MS] = {"NOTIFIER_TIMEOUT_MS", CFG_INT, "10000", 100, 120000,
                        "whole-call timeout of one gateway request in ms"},
    [NTF_CONCURRENCY] = {"NOTIFIER_CONCURRENCY", CFG_INT, "32", 1, 256,
                         "gateway calls in flight at once"},
    [NTF_SEAL_KEY] = {"NOTIFIER_SEAL_KEY", CFG_SECRET, "", 0, 0,
                      "AES-256-GCM key opening sealed parameters (sign-in codes; the accounts "
                      "service's ACCOUNTS_CODE_SEAL_KEY), 64 hex; empty: none"},
};

static const http_route notifier_routes[] = {
    {"GET", "/v1/deliveries", ROLE_ADMIN, ntf_deliveries_list, 0},
    {"GET", "/v1/deliveries/{id}", ROLE_ADMIN, ntf_deliveries_get, 0},
    {"POST", "/v1/deliveries/{id}/resolve", ROLE_ADMIN, ntf_deliveries_resolve, 0},
    {"POST", "/v1/receipts/webhook", 0, ntf_receipt_webhook, 0},
    {"POST", "/v1/receipts/aliyun", 0, ntf_receipt_aliyun, 0},
    {"POST", "/v1/receipts/tencent", 0, ntf_receipt_tencent, 0},
};

/* failed deliveries go to deadletter.v1 (as every consumer's unprocessable messages do) */
static const catalogue_topic *const notifier_produces[] = {&cat_topic_deadletter, NULL};

static const kafka_consumer_def notifier_consumers[] = {
    {"notifier", NULL, notifier_apply, NULL, NULL, notifier_apply_batch},
};

static ntf_state notifier_st;

/* add_provider - one provider of the failover list, checked; -1 with err */
static int add_provider(service_ctx *ctx, const char *name, char *err, size_t errlen)
{
    ntf_state *st = &notifier_st;
    int kind = ntf_provider_parse(name);
    if (kind < 0) {
        snprintf(err, errlen, "NOTIFIER_PROVIDERS: unknown provider \"%s\"", name);
        return -1;
    }
    for (int i = 0; i < st->nproviders; i++)
        if (st->providers[i].kind == kind) {
            snprintf(err, errlen, "NOTIFIER_PROVIDERS: %s named twice", name);
            return -1;
        }
    ntf_provider *p = &st->providers[st->nproviders];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    const cfg *c = ctx->own;
    const char *need = NULL;
    if (kind == NTF_ALIYUN) {
        p->url = cfg_str(c, NTF_ALIYUN_URL);
        p->key_id = cfg_str(c, NTF_ALIYUN_KEY_ID);
        p->secret = cfg_str(c, NTF_ALIYUN_SECRET);
        need = !*p->key_id   ? "NOTIFIER_ALIYUN_KEY_ID"
               : !*p->secret ? "NOTIFIER_ALIYUN_SECRET"
                             : NULL;
    } else if (kind == NTF_TENCENT) {
        p->url = cfg_str(c, NTF_TENCENT_URL);
        p->key_id = cfg_str(c, NTF_TENCENT_SECRET_ID);
        p->secret = cfg_str(c, NTF_TENCENT_SECRET_KEY);
        p->app_id = cfg_str(c, NTF_TENCENT_APP_ID);
        p->region = cfg_str(c, NTF_TENCENT_REGION);
        need = !*p->key_id   ? "NOTIFIER_TENCENT_SECRET_ID"
               : !*p->secret ? "NOTIFIER_TENCENT_SECRET_KEY"
               : !*p->app_id ? "NOTIFIER_TENCENT_APP_ID"
                             : NULL;
    } else {
        p->url = cfg_str(c, NTF_WEBHOOK_URL);
        p->secret = cfg_str(c, NTF_WEBHOOK_SECRET);
        need = !*p->url ? "NOTIFIER_WEBHOOK_URL" : !*p->secret ? "NOTIFIER_WEBHOOK_SECRET" : NULL;
    }
    if (need) {
        snprintf(err, errlen, "provider %s is in NOTIFIER_PROVIDERS but %s is empty", name, need);
        return -1;
    }
    const char *h = strstr(p->url, "://");
    if (h == NULL || (strncmp(p->url, "http://", 7) != 0 && strncmp(p->url, "https://", 8) != 0)) {
        snprintf(err, errlen, "provider %s: the URL must be http:// or https://", name);
        return -1;
    }
    h += 3;
    size_t n = strcspn(h, "/?#");
    if (n == 0 || n >= sizeof(p->host)) {
        snprintf(err, errlen, "provider %s: the URL has no host", name);
        return -1;
    }
    memcpy(p->host, h, n);
    p->host[n] = '\0';
    st->nproviders++;
    return 0;
}

/* notifier_init - routing table, providers, policy; then the sender */
static int notifier_init(service_ctx *ctx, char *err, size_t errlen)
{
    ntf_state *st = &notifier_st;
    const cfg *c = ctx->own;
    memset(st, 0, sizeof(*st));
    st->routes = ntf_routes_load(cfg_str(c, NTF_ROUTES_FILE), err, errlen);
    if (st->routes == NULL)
        return -1;
    char list[256];
    snprintf(list, sizeof(list), "%s", cfg_str(c, NTF_PROVIDERS));
    char *save = NULL;
    for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (st->nproviders == NTF_NPROVIDERS || add_provider(ctx, t, err, errlen) < 0) {
            if (st->nproviders == NTF_NPROVIDERS)
                snprintf(err, errlen, "NOTIFIER_PROVIDERS: at most %d providers", NTF_NPROVIDERS);
            return -1;
        }
    if (st->nproviders == 0) {
        snprintf(err, errlen, "NOTIFIER_PROVIDERS names no provider");
        return -1;
    }
    st->sign_name = cfg_str(c, NTF_SIGN_NAME);
    st->webhook_secret = cfg_str(c, NTF_WEBHOOK_SECRET);
    st->receipt_token = cfg_str(c, NTF_RECEIPT_TOKEN);
    st->limits.per_minute = (int)cfg_int(c, NTF_LIMIT_PER_MINUTE);
    st->limits.per_hour = (int)cfg_int(c, NTF_LIMIT_PER_HOUR);
    st->limits.per_day = (int)cfg_int(c, NTF_LIMIT_PER_DAY);
    st->quiet_start_s = ntf_quiet_parse(cfg_str(c, NTF_QUIET_START));
    st->quiet_end_s = ntf_quiet_parse(cfg_str(c, NTF_QUIET_END));
    if (st->quiet_start_s < 0 || st->quiet_end_s < 0) {
        snprintf(err, errlen, "NOTIFIER_QUIET_START and NOTIFIER_QUIET_END are HH:MM or HH:MM:SS");
        return -1;
    }
    st->max_attempts = (int)cfg_int(c, NTF_MAX_ATTEMPTS);
    st->backoff_base_ms = cfg_int(c, NTF_BACKOFF_BASE_MS);
    st->backoff_cap_ms = cfg_int(c, NTF_BACKOFF_CAP_MS);
    st->timeout_ms = (int)cfg_int(c, NTF_TIMEOUT_MS);
    st->concurrency = (int)cfg_int(c, NTF_CONCURRENCY);
    const char *seal = cfg_str(c, NTF_SEAL_KEY);
    if (*seal) {
        if (pii_hex_key(seal, st->seal.enc) < 0) {
            snprintf(err, errlen, "NOTIFIER_SEAL_KEY must be 64 hex characters");
            return -1;
        }
        st->has_seal = 1;
    }
    ctx->state = st;
    metrics_counter("notifier_events_unrouted_total", "Events no route of the routing table names",
                    "");
    metrics_counter("notifier_sms_failed_total", "Deliveries failed for good (dead-lettered)", "");
    metrics_counter("notifier_sms_retries_total",
                    "Gateway calls that will be retried or failed over", "");
    metrics_counter("notifier_sms_uncertain_total",
                    "Deliveries a person must check (gateway could not say)", "");
    if ((st->sender = ntf_sender_start(ctx, err, errlen)) == NULL)
        return -1;
    return 0;
}

/* notifier_fini - stop the sender (before the relay stops), free the table */
static void notifier_fini(service_ctx *ctx)
{
    (void)ctx;
    notifier_st.sender = ntf_sender_stop(notifier_st.sender);
    notifier_st.routes = ntf_routes_free(notifier_st.routes);
}

static const service_def notifier_service = {
    .name = "notifier",
    .default_port = 8085,
    .params = notifier_params,
    .nparams = NTF_NPARAMS,
    .routes = notifier_routes,
    .nroutes = sizeof(notifier_routes) / sizeof(notifier_routes[0]),
    .produces = notifier_produces,
    .consumes = notifier_consumes,
    .consumers = notifier_consumers,
    .nconsumers = 1,
    .init = notifier_init,
    .fini = notifier_fini,
};

int main(int argc, char **argv)
{
    return service_main(argc, argv, &notifier_service);
}
