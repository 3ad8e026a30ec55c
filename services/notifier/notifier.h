/*
 * notifier.h - SMS to households and notables from the programme's events.
 *
 * The consumer (notifier_consume.c) reads households.v1, income.v1 and
 * suggestions.v1 as group "notifier" and, inside the loop's transaction,
 * turns each event into delivery rows by the routing table
 * (notifier_routes.c, a JSON file validated at start-up). The sender
 * (notifier_sender.c) claims due rows, marks them 'sending' and commits
 * before it calls a gateway through libcurl's multi interface
 * (notifier_provider.c builds and reads the Alibaba, Tencent and webhook
 * requests), then records the outcome: sent, retry later with back-off and
 * jitter, the next provider in the failover order, or failed with a dead
 * letter. Per-phone limits and quiet hours defer, never drop
 * (notifier_policy.c holds that arithmetic and the answer classification).
 * notifier_api.c answers the admin listing and the delivery receipts.
 */
#ifndef SHANTANG_NOTIFIER_H
#define SHANTANG_NOTIFIER_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include "core/catalogue.h"
#include "core/http.h"
#include "core/kafka.h"
#include "core/pii.h"
#include "core/service.h"

/* The notifier's own parameters, in table order (main.c). */
enum {
    NTF_ROUTES_FILE,
    NTF_SIGN_NAME,
    NTF_PROVIDERS,
    NTF_ALIYUN_URL,
    NTF_ALIYUN_KEY_ID,
    NTF_ALIYUN_SECRET,
    NTF_TENCENT_URL,
    NTF_TENCENT_SECRET_ID,
    NTF_TENCENT_SECRET_KEY,
    NTF_TENCENT_APP_ID,
    NTF_TENCENT_REGION,
    NTF_WEBHOOK_URL,
    NTF_WEBHOOK_SECRET,
    NTF_RECEIPT_TOKEN,
    NTF_LIMIT_PER_MINUTE,
    NTF_LIMIT_PER_HOUR,
    NTF_LIMIT_PER_DAY,
    NTF_QUIET_START,
    NTF_QUIET_END,
    NTF_MAX_ATTEMPTS,
    NTF_BACKOFF_BASE_MS,
    NTF_BACKOFF_CAP_MS,
    NTF_TIMEOUT_MS,
    NTF_CONCURRENCY,
    NTF_SEAL_KEY,
    NTF_NPARAMS
};

/* --- notifier_routes.c: the routing table --- */

#define NTF_MAX_PARAMS 8
#define NTF_MAX_PHONES 32

/* One template: its code at the gateways and its parameter names, in order. */
typedef struct ntf_template {
    char *code;                   /* Alibaba TemplateCode, also the webhook's template */
    char *tencent_id;             /* Tencent TemplateId (defaults to code) */
    char *params[NTF_MAX_PARAMS]; /* parameter names, in the template's order */
    int nparams;                  /* used entries of params */
} ntf_template;

/* One route: an event type, whom it tells, with which template and values. */
typedef struct ntf_route {
    char *name;                         /* for logs and the delivery rows */
    char *event_type;                   /* "enrollment.started" */
    char *recipient_field;              /* data path of the phone, or NULL with a list */
    char *phones[NTF_MAX_PHONES];       /* a configured phone list (normalised), else none */
    int nphones;                        /* used entries of phones */
    int optional;                       /* 1: a missing phone field skips the route */
    const ntf_template *tpl;            /* the template (owned by the table) */
    char *param_fields[NTF_MAX_PARAMS]; /* per template parameter: "field" or "field|yuan" */
    int urgent;                         /* 1: not held back by quiet hours */
} ntf_route;

typedef struct ntf_routes {
    ntf_template *templates; /* owned */
    int ntemplates;
    ntf_route *routes; /* owned */
    int nroutes;
    cJSON *contacts; /* owned: region code (or "default") -> contact text, or NULL */
} ntf_routes;

/*
 * ntf_contact - the contact for a region code: the code's own entry, else
 * its town's (first 9 digits), else its county's (first 6), else
 * "default"; NULL when none (the table guarantees "default" whenever a
 * route uses the |contact format).
 */
const char *ntf_contact(const ntf_routes *t, const char *code);

/*
 * ntf_routes_parse - build the table from JSON text. Every route must name a
 * declared template, give a value for each of its parameters and none
 * other, and have a phone field or a declared phone list. Returns the table
 * (free with ntf_routes_free) or NULL with err naming the route or template.
 */
ntf_routes *ntf_routes_parse(const char *json, char *err, size_t errlen);

/* ntf_routes_load - ntf_routes_parse of a file's content; NULL with err */
ntf_routes *ntf_routes_load(const char *path, char *err, size_t errlen);

/* ntf_routes_free - release t; returns NULL */
ntf_routes *ntf_routes_free(ntf_routes *t);

/*
 * ntf_phone_normalise - a mainland mobile number (optionally +86/0086/86
 * prefixed, spaces and dashes ignored) as its 11 digits in out (12 bytes).
 * Returns 0, or -1 when it is not one.
 */
int ntf_phone_normalise(const char *in, char out[12]);

/*
 * ntf_data_value - the value at a dotted path of data, as text in out:
 * strings as they are, integral numbers without decimals, booleans as
 * true/false; with the "|yuan" suffix an integer of fen as yuan ("1234.50").
 * A number is integral only below 2^53 in magnitude.
 * Returns 0, or -1 when absent, null, or of another type.
 */
int ntf_data_value(const cJSON *data, const char *spec, char *out, size_t outlen);

/* One delivery a route asks for. */
typedef struct ntf_wanted {
    const ntf_route *route;
    char phone[12];
    cJSON *params; /* {name: value} in template order; owned */
} ntf_wanted;

/*
 * ntf_routes_match - every delivery the event (type, data) asks for, into
 * out (at most max). Returns how many, 0 when no route names the type
 * (*routed = 0) or the routes named it but an optional phone was absent, or
 * -1 with err when the payload lacks a required phone or value, or a phone
 * is malformed. The caller frees each out[i].params.
 */
int ntf_routes_match(const ntf_routes *t, const char *type, const cJSON *data, ntf_wanted *out,
                     int max, int *routed, char *err, size_t errlen);

/* --- notifier_policy.c: pure arithmetic and classification --- */

/*
 * ntf_backoff_ms - the wait before attempt+1 after attempt failures:
 * min(cap, base * 2^(attempt-1)), half of it fixed and half jitter drawn
 * from rnd. This function can't fail.
 */
int64_t ntf_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint32_t rnd);

/*
 * ntf_quiet_parse - "HH:MM" or "HH:MM:SS" as seconds after midnight; -1 if
 * malformed.
 */
int ntf_quiet_parse(const char *s);

/*
 * ntf_quiet_until - if now_ms (Unix ms) falls inside the quiet window
 * [start_s, end_s) of Asia/Shanghai time (UTC+8; it may wrap midnight;
 * start == end means no quiet hours), the Unix ms at which it ends; else 0.
 */
int64_t ntf_quiet_until(int64_t now_ms, int start_s, int end_s);

/* Per-phone limits: 0 means no limit for that window. */
typedef struct ntf_limits {
    int per_minute, per_hour, per_day;
} ntf_limits;

/*
 * ntf_limit_until - given the Unix ms of earlier sends to one phone within
 * the last day (any order), the earliest Unix ms at which one more send
 * keeps every window within its limit: now_ms when allowed now.
 */
int64_t ntf_limit_until(const int64_t *sent_ms, int n, int64_t now_ms, const ntf_limits *l);

typedef enum {
    NTF_OK,        /* accepted by the gateway */
    NTF_THROTTLED, /* the gateway asks us to wait: back off, same provider */
    NTF_NEXT,      /* not accepted, provider trouble: try the next provider */
    NTF_AMBIGUOUS, /* may have been accepted (timeout after sending): check first */
    NTF_PERMANENT  /* never will be accepted: failed, dead letter */
} ntf_outcome;

typedef enum { NTF_ALIYUN, NTF_TENCENT, NTF_WEBHOOK, NTF_NPROVIDERS } ntf_provider_kind;

/* ntf_provider_parse - "aliyun", "tencent", "webhook" to its kind, or -1 */
int ntf_provider_parse(const char *s);

/* ntf_provider_name - the name of a provider kind */
const char *ntf_provider_name(int kind);

/*
 * ntf_classify - the outcome of one send call: curl_code (0 = an answer
 * arrived), sent (1 when the request may have reached the gateway, 0 when
 * no connection was made), the HTTP status and body. gateway_id receives
 * BizId / SerialNo / the webhook's id on NTF_OK; detail a short text
 * (the gateway's code and message) for last_error and the dead letter.
 */
ntf_outcome ntf_classify(int kind, int curl_code, int sent, long http_status, const char *body,
                         char *gateway_id, size_t idlen, char *detail, size_t detlen);

/* --- notifier_provider.c: requests --- */

/* A provider's configuration (borrowed strings from the service's cfg). */
typedef struct ntf_provider {
    int kind;           /* NTF_ALIYUN, ... */
    const char *url;    /* endpoint */
    const char *key_id; /* AccessKeyId / SecretId */
    const char *secret; /* AccessKeySecret / SecretKey / whsec_ secret */
    const char *app_id; /* Tencent SmsSdkAppId */
    const char *region; /* Tencent X-TC-Region */
    char host[256];     /* the URL's host[:port], for signing */
} ntf_provider;

/* A request ready for curl. */
typedef struct ntf_request {
    char *body;                 /* malloc'd */
    struct curl_slist *headers; /* owned */
} ntf_request;

/* What one delivery needs to be sent or checked. */
typedef struct ntf_message {
    const char *phone;      /* 11 digits */
    const char *template;   /* code */
    const char *tencent_id; /* Tencent template id */
    const cJSON *params;    /* {name: value}, in template order */
    const char *sign_name;  /* the programme's sign */
    const char *out_id;     /* our id for the gateway */
} ntf_message;

/*
 * ntf_request_send - the send request of m for provider p at now_ms, with
 * nonce (unique per request). Returns 0, or -1 with err.
 */
int ntf_request_send(const ntf_provider *p, const ntf_message *m, int64_t now_ms, const char *nonce,
                     ntf_request *out, char *err, size_t errlen);

/*
 * ntf_request_check - the request asking p whether it accepted m (sent at
 * sent_ms): Alibaba QuerySendDetails, Tencent PullSmsSendStatusByPhoneNumber.
 * Returns 0, 1 when the provider needs no check (the webhook: a resend is
 * idempotent), or -1 with err.
 */
int ntf_request_check(const ntf_provider *p, const ntf_message *m, int64_t sent_ms, int64_t now_ms,
                      const char *nonce, ntf_request *out, char *err, size_t errlen);

/*
 * ntf_check_answer - read a check's answer: 1 accepted (gateway_id filled
 * when known), 0 provably not accepted (Alibaba lists every accepted
 * message of the day), -1 cannot tell (an error, or Tencent without a
 * receipt: a missing receipt proves nothing).
 */
int ntf_check_answer(int kind, long http_status, const char *body, const char *out_id,
                     char *gateway_id, size_t idlen);

/* ntf_request_clear - free the body and headers */
void ntf_request_clear(ntf_request *r);

/* --- the service --- */

typedef struct ntf_sender ntf_sender;

typedef struct ntf_state {
    ntf_routes *routes;                     /* the routing table */
    ntf_provider providers[NTF_NPROVIDERS]; /* in failover order */
    int nproviders;
    const char *sign_name;
    const char *webhook_secret; /* verifies webhook receipts */
    const char *receipt_token;  /* verifies Alibaba and Tencent receipts */
    ntf_limits limits;
    int quiet_start_s, quiet_end_s;
    int max_attempts;
    int64_t backoff_base_ms, backoff_cap_ms;
    int timeout_ms;
    int concurrency;
    pii_keys seal; /* seal.enc opens "|sealed" parameters */
    int has_seal;  /* 1 when NOTIFIER_SEAL_KEY is set */
    ntf_sender *sender;
} ntf_state;

/* The mark of a sealed parameter value in a delivery row. */
#define NTF_SEALED_PREFIX "sealed:"

/* notifier_consumes - NULL-terminated: what the consumer applies, from the catalogue */
extern const catalogue_event *const notifier_consumes[];

/* notifier_apply - the consumer: events to delivery rows */
kafka_apply_result notifier_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                  size_t errlen);

/* notifier_apply_batch - the consumer's batch handler: a batch's events in one statement */
kafka_apply_result notifier_apply_batch(PGconn *conn, const cJSON *const *evs, int n, void *ctx,
                                        char *err, size_t errlen);

/* ntf_sender_start - start the sender thread; NULL with err */
ntf_sender *ntf_sender_start(service_ctx *ctx, char *err, size_t errlen);

/* ntf_sender_stop - finish in-flight calls (bounded by the timeout), join; returns NULL */
ntf_sender *ntf_sender_stop(ntf_sender *s);

/* handlers (notifier_api.c) */
void ntf_deliveries_list(http_req *req, http_resp *resp, void *ctx);
void ntf_deliveries_get(http_req *req, http_resp *resp, void *ctx);
void ntf_deliveries_resolve(http_req *req, http_resp *resp, void *ctx);
void ntf_receipt_webhook(http_req *req, http_resp *resp, void *ctx);
void ntf_receipt_aliyun(http_req *req, http_resp *resp, void *ctx);
void ntf_receipt_tencent(http_req *req, http_resp *resp, void *ctx);

#endif
