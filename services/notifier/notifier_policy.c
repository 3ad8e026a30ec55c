/*
 * notifier_policy.c - the notifier's arithmetic and judgement, pure so the
 * unit tests can drive it: exponential back-off with jitter, quiet hours in
 * Asia/Shanghai time, per-phone limits over sliding windows, and the
 * classification of a gateway's answer into accepted, throttled, try the
 * next provider, may-have-been-accepted, or permanent.
 *
 * The codes come from the providers' documents (../shared/SMS.md): Alibaba
 * isv.BUSINESS_LIMIT_CONTROL / isv.DAY_LIMIT_CONTROL / Throttling* wait,
 * isp.SYSTEM_ERROR retries, the isv.* input errors are permanent; Tencent
 * LimitExceeded.* wait, InternalError.* retries, FailedOperation.* and
 * InvalidParameterValue.* are permanent; a webhook's 429 waits, 5xx
 * retries, other 4xx are permanent. No I/O, no clock, no logging.
 */
#include "notifier.h"

#include <stdio.h>
#include <string.h>

static const char *const provider_names[NTF_NPROVIDERS] = {"aliyun", "tencent", "webhook"};

/* ntf_provider_parse - a provider's kind from its name, or -1 */
int ntf_provider_parse(const char *s)
{
    for (int i = 0; i < NTF_NPROVIDERS; i++)
        if (strcmp(s, provider_names[i]) == 0)
            return i;
    return -1;
}

/* ntf_provider_name - a provider's name */
const char *ntf_provider_name(int kind)
{
    return kind >= 0 && kind < NTF_NPROVIDERS ? provider_names[kind] : "unknown";
}

/* ntf_backoff_ms - capped exponential back-off, half fixed, half jitter */
int64_t ntf_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint32_t rnd)
{
    if (attempt < 1)
        attempt = 1;
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    if (d < 2)
        return d;
    int64_t half = d / 2;
    return half + (int64_t)(rnd % (uint64_t)(d - half + 1));
}

/* ntf_quiet_parse - HH:MM[:SS] as seconds after midnight, or -1 */
int ntf_quiet_parse(const char *s)
{
    int h, m, sec = 0, n = 0;
    size_t len = strlen(s);
    if (len == 5 && sscanf(s, "%2d:%2d%n", &h, &m, &n) == 2 && n == 5) {
    } else if (len == 8 && sscanf(s, "%2d:%2d:%2d%n", &h, &m, &sec, &n) == 3 && n == 8) {
    } else {
        return -1;
    }
    if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59)
        return -1;
    return h * 3600 + m * 60 + sec;
}

/* ntf_quiet_until - the end of the current quiet window, or 0 outside it */
int64_t ntf_quiet_until(int64_t now_ms, int start_s, int end_s)
{
    if (start_s == end_s)
        return 0;
    const int64_t day = 86400000;
    int64_t local = now_ms + 8 * 3600000LL; /* Asia/Shanghai: UTC+8, no DST */
    int64_t midnight = local - ((local % day) + day) % day;
    int64_t tod = local - midnight, start = start_s * 1000LL, end = end_s * 1000LL;
    int64_t until_local;
    if (start < end) {
        if (tod < start || tod >= end)
            return 0;
        until_local = midnight + end;
    } else if (tod >= start) {
        until_local = midnight + day + end;
    } else if (tod < end) {
        until_local = midnight + end;
    } else {
        return 0;
    }
    return until_local - 8 * 3600000LL;
}

/* window_until - the earliest time one window admits one more send */
static int64_t window_until(const int64_t *sent, int n, int64_t now, int64_t width, int limit)
{
    if (limit <= 0)
        return now;
    /* the sends inside (now - width, now], newest first */
    int64_t in[512];
    int k = 0;
    for (int i = 0; i < n && k < 512; i++)
        if (sent[i] > now - width && sent[i] <= now)
            in[k++] = sent[i];
    if (k < limit)
        return now;
    /* sort descending (k is small) */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && in[j] > in[j - 1]; j--) {
            int64_t t = in[j];
            in[j] = in[j - 1];
            in[j - 1] = t;
        }
    /* one more send is allowed once only limit-1 of them remain in the window */
    return in[limit - 1] + width;
}

/* ntf_limit_until - the earliest Unix ms a send keeps every window within its limit */
int64_t ntf_limit_until(const int64_t *sent_ms, int n, int64_t now_ms, const ntf_limits *l)
{
    int64_t t = now_ms, u;
    if ((u = window_until(sent_ms, n, now_ms, 60000, l->per_minute)) > t)
        t = u;
    if ((u = window_until(sent_ms, n, now_ms, 3600000, l->per_hour)) > t)
        t = u;
    if ((u = window_until(sent_ms, n, now_ms, 86400000, l->per_day)) > t)
        t = u;
    return t;
}

/* starts - 1 if s begins with prefix */
static int starts(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* in_list - 1 if s is one of the NULL-terminated list */
static int in_list(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static const char *const aliyun_permanent[] = {"isv.MOBILE_NUMBER_ILLEGAL",
                                               "isv.SMS_SIGNATURE_ILLEGAL",
                                               "isv.SMS_TEMPLATE_ILLEGAL",
                                               "isv.TEMPLATE_MISSING_PARAMETERS",
                                               "isv.INVALID_PARAMETERS",
                                               "isv.INVALID_JSON_PARAM",
                                               "isv.PARAM_LENGTH_LIMIT",
                                               "isv.PARAM_NOT_SUPPORT_URL",
                                               "isv.AMOUNT_NOT_ENOUGH",
                                               "isv.OUT_OF_SERVICE",
                                               "isv.BLACK_KEY_CONTROL_LIMIT",
                                               "isv.MOBILE_COUNT_OVER_LIMIT",
                                               NULL};

/* str_of - a string member or NULL */
static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* classify_aliyun - an Alibaba SendSms answer */
static ntf_outcome classify_aliyun(long status, const cJSON *j, char *id, size_t idlen, char *det,
                                   size_t detlen)
{
    const char *code = str_of(j, "Code"), *msg = str_of(j, "Message");
    snprintf(det, detlen, "aliyun %ld %s: %s", status, code ? code : "(no code)", msg ? msg : "");
    if (code && strcmp(code, "OK") == 0 && status / 100 == 2) {
        snprintf(id, idlen, "%s", str_of(j, "BizId") ? str_of(j, "BizId") : "");
        return NTF_OK;
    }
    if (in_list(code, (const char *const[]){"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL",
                                            NULL}) ||
        starts(code, "Throttling"))
        return NTF_THROTTLED;
    if (in_list(code, aliyun_permanent))
        return NTF_PERMANENT;
    if (code == NULL && status / 100 == 2)
        return NTF_AMBIGUOUS;
    return NTF_NEXT; /* isp.SYSTEM_ERROR, 5xx, authentication and other provider trouble */
}

/* classify_tencent_code - one Tencent error or status code */
static ntf_outcome classify_tencent_code(const char *code)
{
    if (starts(code, "LimitExceeded.") ||
        (code && strcmp(code, "FailedOperation.MarketingSendTimeConstraint") == 0))
        return NTF_THROTTLED;
    if (starts(code, "InvalidParameterValue.") || starts(code, "FailedOperation.") ||
        starts(code, "UnsupportedOperation."))
        return NTF_PERMANENT;
    return NTF_NEXT; /* InternalError.*, AuthFailure.*, and anything unknown */
}

/* classify_tencent - a Tencent SendSms answer (HTTP 200 even on errors) */
static ntf_outcome classify_tencent(long status, const cJSON *j, char *id, size_t idlen, char *det,
                                    size_t detlen)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "Response");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "Error");
    if (e) {
        const char *code = str_of(e, "Code");
        snprintf(det, detlen, "tencent %s: %s", code ? code : "(no code)",
                 str_of(e, "Message") ? str_of(e, "Message") : "");
        return classify_tencent_code(code);
    }
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(r, "SendStatusSet");
    const cJSON *s = cJSON_GetArrayItem(set, 0);
    const char *code = str_of(s, "Code");
    if (code == NULL) {
        snprintf(det, detlen, "tencent %ld: answer without SendStatusSet", status);
        return status / 100 == 2 ? NTF_AMBIGUOUS : NTF_NEXT;
    }
    snprintf(det, detlen, "tencent %s: %s", code, str_of(s, "Message") ? str_of(s, "Message") : "");
    if (strcmp(code, "Ok") == 0) {
        snprintf(id, idlen, "%s", str_of(s, "SerialNo") ? str_of(s, "SerialNo") : "");
        return NTF_OK;
    }
    return classify_tencent_code(code);
}

/* classify_webhook - a Standard Webhooks gateway's answer */
static ntf_outcome classify_webhook(long status, const cJSON *j, const char *body, char *id,
                                    size_t idlen, char *det, size_t detlen)
{
    snprintf(det, detlen, "webhook %ld: %.200s", status, body ? body : "");
    if (status / 100 == 2) {
        snprintf(id, idlen, "%s", str_of(j, "id") ? str_of(j, "id") : "");
        return NTF_OK;
    }
    if (status == 429)
        return NTF_THROTTLED;
    if (status >= 500 || status == 408 || status == 401 || status == 403 || status == 404)
        return NTF_NEXT;
    return NTF_PERMANENT;
}

/* ntf_classify - the outcome of one send call */
ntf_outcome ntf_classify(int kind, int curl_code, int sent, long http_status, const char *body,
                         char *gateway_id, size_t idlen, char *detail, size_t detlen)
{
    gateway_id[0] = '\0';
    if (curl_code != 0) {
        snprintf(detail, detlen, "%s: transport error %d%s", ntf_provider_name(kind), curl_code,
                 sent ? " after the request was sent" : " before connecting");
        return sent ? NTF_AMBIGUOUS : NTF_NEXT;
    }
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    ntf_outcome o;
    if (kind == NTF_WEBHOOK) {
        o = classify_webhook(http_status, j, body, gateway_id, idlen, detail, detlen);
    } else if (j == NULL) {
        snprintf(detail, detlen, "%s %ld: answer is not JSON", ntf_provider_name(kind),
                 http_status);
        o = http_status / 100 == 2 ? NTF_AMBIGUOUS : NTF_NEXT;
    } else if (kind == NTF_ALIYUN) {
        o = classify_aliyun(http_status, j, gateway_id, idlen, detail, detlen);
    } else {
        o = classify_tencent(http_status, j, gateway_id, idlen, detail, detlen);
    }
    cJSON_Delete(j);
    return o;
}
