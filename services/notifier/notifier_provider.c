/*
 * notifier_provider.c - the three providers behind one interface: build the
 * signed send request (Alibaba SendSms with RPC signature v1, Tencent
 * SendSms 2021-01-11 with TC3-HMAC-SHA256, a Standard Webhooks POST) and
 * the request that asks a provider whether it accepted a message (Alibaba
 * QuerySendDetails matched by OutId, Tencent PullSmsSendStatusByPhoneNumber
 * matched by SessionContext), and read that answer.
 *
 * No network and no clock: the caller passes the time and a nonce; the
 * requests are handed to curl by notifier_sender.c. Secrets are only read.
 */
#include "notifier.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notifier_sign.h"

/* ntf_request_clear - free a request's body and headers */
void ntf_request_clear(ntf_request *r)
{
    free(r->body);
    r->body = NULL;
    curl_slist_free_all(r->headers);
    r->headers = NULL;
}

/* add_header - append "name: value" to the request's headers */
static int add_header(ntf_request *r, const char *name, const char *value)
{
    char line[1024];
    snprintf(line, sizeof(line), "%s: %s", name, value);
    struct curl_slist *l = curl_slist_append(r->headers, line);
    if (l == NULL)
        return -1;
    r->headers = l;
    return 0;
}

/* utc_stamp - strftime of Unix ms in UTC (or Beijing time with beijing=1) */
static void stamp(int64_t ms, int beijing, const char *fmt, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000) + (beijing ? 8 * 3600 : 0);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, fmt, &tm);
}

/* aliyun_request - a signed Alibaba RPC POST of the given action parameters */
static int aliyun_request(const ntf_provider *p, const sign_param *extra, size_t nextra,
                          int64_t now_ms, const char *nonce, ntf_request *out, char *err,
                          size_t errlen)
{
    char ts[32];
    stamp(now_ms, 0, "%Y-%m-%dT%H:%M:%SZ", ts, sizeof(ts));
    sign_param ps[24] = {
        {"Version", "2017-05-25"},
        {"RegionId", "cn-hangzhou"},
        {"Format", "JSON"},
        {"AccessKeyId", p->key_id},
        {"SignatureMethod", "HMAC-SHA1"},
        {"SignatureVersion", "1.0"},
        {"SignatureNonce", nonce},
        {"Timestamp", ts},
    };
    size_t n = 8;
    for (size_t i = 0; i < nextra && n < 24; i++)
        ps[n++] = extra[i];
    char sig[64], enc[200];
    size_t cap = 8192;
    out->body = malloc(cap);
    if (out->body == NULL || sign_aliyun_rpc("POST", ps, n, p->secret, NULL, 0, sig) < 0 ||
        sign_percent_encode(sig, enc, sizeof(enc)) < 0) {
        snprintf(err, errlen, "aliyun: cannot sign the request");
        return -1;
    }
    int len = sign_aliyun_query(ps, n, out->body, cap - 300);
    if (len < 0) {
        snprintf(err, errlen, "aliyun: request too large");
        return -1;
    }
    snprintf(out->body + len, cap - (size_t)len, "&Signature=%s", enc);
    if (add_header(out, "Content-Type", "application/x-www-form-urlencoded") < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* tencent_request - a signed Tencent TC3 POST of action with body (taken) */
static int tencent_request(const ntf_provider *p, const char *action, char *body, int64_t now_ms,
                           ntf_request *out, char *err, size_t errlen)
{
    const char *ctype = "application/json; charset=utf-8";
    out->body = body;
    if (body == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char auth[512], ts[24];
    sign_tc3_req r = {.secret_id = p->key_id,
                      .secret_key = p->secret,
                      .service = "sms",
                      .host = p->host,
                      .content_type = ctype,
                      .action = action,
                      .timestamp = now_ms / 1000,
                      .body = body,
                      .body_len = strlen(body)};
    if (sign_tc3(&r, auth, sizeof(auth)) < 0) {
        snprintf(err, errlen, "tencent: cannot sign the request");
        return -1;
    }
    snprintf(ts, sizeof(ts), "%lld", (long long)(now_ms / 1000));
    if (add_header(out, "Content-Type", ctype) < 0 || add_header(out, "X-TC-Action", action) < 0 ||
        add_header(out, "X-TC-Version", "2021-01-11") < 0 ||
        add_header(out, "X-TC-Timestamp", ts) < 0 ||
        add_header(out, "X-TC-Region", p->region) < 0 ||
        add_header(out, "Authorization", auth) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ntf_request_send - the signed send request of one message */
int ntf_request_send(const ntf_provider *p, const ntf_message *m, int64_t now_ms, const char *nonce,
                     ntf_request *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int rc = -1;
    if (p->kind == NTF_ALIYUN) {
        char *tp = cJSON_PrintUnformatted(m->params);
        sign_param ps[] = {{"Action", "SendSms"},
                           {"PhoneNumbers", m->phone},
                           {"SignName", m->sign_name},
                           {"TemplateCode", m->template},
                           {"TemplateParam", tp ? tp : "{}"},
                           {"OutId", m->out_id}};
        rc = aliyun_request(p, ps, sizeof(ps) / sizeof(ps[0]), now_ms, nonce, out, err, errlen);
        free(tp);
    } else if (p->kind == NTF_TENCENT) {
        char e164[16];
        snprintf(e164, sizeof(e164), "+86%s", m->phone);
        cJSON *b = cJSON_CreateObject(), *set = cJSON_AddArrayToObject(b, "PhoneNumberSet");
        cJSON_AddItemToArray(set, cJSON_CreateString(e164));
        cJSON_AddStringToObject(b, "SmsSdkAppId", p->app_id);
        cJSON_AddStringToObject(b, "SignName", m->sign_name);
        cJSON_AddStringToObject(b, "TemplateId", m->tencent_id);
        cJSON *vals = cJSON_AddArrayToObject(b, "TemplateParamSet");
        const cJSON *v;
        cJSON_ArrayForEach(v, m->params)
            cJSON_AddItemToArray(vals, cJSON_CreateString(cJSON_IsString(v) ? v->valuestring : ""));
        cJSON_AddStringToObject(b, "SessionContext", m->out_id);
        char *body = cJSON_PrintUnformatted(b);
        cJSON_Delete(b);
        rc = tencent_request(p, "SendSms", body, now_ms, out, err, errlen);
    } else {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "phone", m->phone);
        cJSON_AddStringToObject(b, "template", m->template);
        cJSON_AddItemToObject(b, "params", cJSON_Duplicate(m->params, 1));
        cJSON_AddStringToObject(b, "sign_name", m->sign_name);
        out->body = cJSON_PrintUnformatted(b);
        cJSON_Delete(b);
        char sig[128], ts[24];
        snprintf(ts, sizeof(ts), "%lld", (long long)(now_ms / 1000));
        if (out->body == NULL || sign_webhook(p->secret, m->out_id, now_ms / 1000, out->body,
                                              strlen(out->body), sig, sizeof(sig)) < 0) {
            snprintf(err, errlen, "webhook: cannot sign the request (is the secret whsec_...?)");
        } else if (add_header(out, "Content-Type", "application/json") == 0 &&
                   add_header(out, "webhook-id", m->out_id) == 0 &&
                   add_header(out, "webhook-timestamp", ts) == 0 &&
                   add_header(out, "webhook-signature", sig) == 0) {
            rc = 0;
        } else {
            snprintf(err, errlen, "out of memory");
        }
    }
    if (rc < 0)
        ntf_request_clear(out);
    return rc;
}

/* ntf_request_check - the request asking whether the provider accepted m */
int ntf_request_check(const ntf_provider *p, const ntf_message *m, int64_t sent_ms, int64_t now_ms,
                      const char *nonce, ntf_request *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (p->kind == NTF_WEBHOOK)
        return 1;
    int rc;
    if (p->kind == NTF_ALIYUN) {
        char day[16];
        stamp(sent_ms, 1, "%Y%m%d", day, sizeof(day));
        sign_param ps[] = {{"Action", "QuerySendDetails"},
                           {"PhoneNumber", m->phone},
                           {"SendDate", day},
                           {"PageSize", "50"},
                           {"CurrentPage", "1"}};
        rc = aliyun_request(p, ps, sizeof(ps) / sizeof(ps[0]), now_ms, nonce, out, err, errlen);
    } else {
        char e164[16];
        snprintf(e164, sizeof(e164), "+86%s", m->phone);
        cJSON *b = cJSON_CreateObject();
        cJSON_AddNumberToObject(b, "BeginTime", (double)(sent_ms / 1000 - 300));
        cJSON_AddNumberToObject(b, "EndTime", (double)(now_ms / 1000 + 60));
        cJSON_AddNumberToObject(b, "Offset", 0);
        cJSON_AddNumberToObject(b, "Limit", 100);
        cJSON_AddStringToObject(b, "PhoneNumber", e164);
        cJSON_AddStringToObject(b, "SmsSdkAppId", p->app_id);
        char *body = cJSON_PrintUnformatted(b);
        cJSON_Delete(b);
        rc = tencent_request(p, "PullSmsSendStatusByPhoneNumber", body, now_ms, out, err, errlen);
    }
    if (rc < 0)
        ntf_request_clear(out);
    return rc;
}

/* ntf_check_answer - 1 accepted, 0 provably not, -1 cannot tell */
int ntf_check_answer(int kind, long http_status, const char *body, const char *out_id,
                     char *gateway_id, size_t idlen)
{
    gateway_id[0] = '\0';
    cJSON *j = body && http_status / 100 == 2 ? cJSON_Parse(body) : NULL;
    int rc = -1;
    const cJSON *it;
    if (j && kind == NTF_ALIYUN) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "Code");
        const cJSON *total = cJSON_GetObjectItemCaseSensitive(j, "TotalCount");
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "SmsSendDetailDTOs"), "SmsSendDetailDTO");
        if (cJSON_IsString(code) && strcmp(code->valuestring, "OK") == 0 && cJSON_IsNumber(total)) {
            rc = total->valuedouble <= 50 ? 0 : -1; /* only one page is read */
            cJSON_ArrayForEach(it, list)
            {
                const cJSON *o = cJSON_GetObjectItemCaseSensitive(it, "OutId");
                if (cJSON_IsString(o) && strcmp(o->valuestring, out_id) == 0)
                    rc = 1;
            }
        }
    } else if (j && kind == NTF_TENCENT) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "Response");
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(r, "PullSmsSendStatusSet"))
        {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "SessionContext");
            const cJSON *sn = cJSON_GetObjectItemCaseSensitive(it, "SerialNo");
            if (cJSON_IsString(s) && strcmp(s->valuestring, out_id) == 0) {
                rc = 1;
                if (cJSON_IsString(sn))
                    snprintf(gateway_id, idlen, "%s", sn->valuestring);
            }
        }
    }
    cJSON_Delete(j);
    return rc;
}
