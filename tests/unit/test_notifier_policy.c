/*
 * test_notifier_policy.c - the notifier's arithmetic and judgement: back-off
 * with jitter, quiet hours in Asia/Shanghai time, per-phone limits over
 * sliding windows, the classification of each provider's answers (codes
 * from ../shared/SMS.md), the requests each provider gets, and the reading
 * of the "did you accept it?" answers.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "notifier.h"
#include "notifier_sign.h"

/* 2026-11-25T00:00:00Z in Unix ms: 08:00 in Shanghai */
#define DAY0 1795564800000LL
#define H (3600000LL)
#define M (60000LL)

static void test_backoff(void)
{
    static const struct {
        int attempt;
        uint32_t rnd;
        int64_t want;
    } cases[] = {
        {1, 0, 1000},       /* base 2000: half fixed */
        {1, 1000, 2000},    /* + up to half jitter */
        {1, 1001, 1000},    /* jitter wraps modulo (half + 1) */
        {2, 0, 2000},       /* 4000 */
        {3, 4000, 8000},    /* 8000 */
        {10, 0, 30000},     /* capped at 60000 */
        {10, 30000, 60000}, /* never above the cap */
        {0, 0, 1000},       /* attempt 0 counts as 1 */
        {200, 7, 30007},    /* no overflow on many attempts */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(ntf_backoff_ms(cases[i].attempt, 2000, 60000, cases[i].rnd), cases[i].want,
                  "backoff");
}

static void test_quiet(void)
{
    int s = ntf_quiet_parse("22:00"), e = ntf_quiet_parse("07:00");
    CHECK_INT(s, 22 * 3600, "parse 22:00");
    CHECK_INT(ntf_quiet_parse("07:30:15"), 7 * 3600 + 30 * 60 + 15, "parse with seconds");
    CHECK_INT(ntf_quiet_parse("24:00"), -1, "hour 24");
    CHECK_INT(ntf_quiet_parse("7:00"), -1, "one-digit hour");
    CHECK_INT(ntf_quiet_parse("07:60"), -1, "minute 60");
    CHECK_INT(ntf_quiet_parse("07:00x"), -1, "trailing text");
    /* DAY0 is 08:00 Shanghai: outside 22:00-07:00 */
    CHECK_INT(ntf_quiet_until(DAY0, s, e), 0, "08:00 is not quiet");
    /* 23:30 Shanghai = 15:30Z: quiet until 07:00 next day = 23:00Z */
    CHECK_INT(ntf_quiet_until(DAY0 + 15 * H + 30 * M, s, e), DAY0 + 23 * H, "23:30 -> 07:00");
    /* 02:00 Shanghai = 18:00Z: quiet until 07:00 the same (Shanghai) day = 23:00Z */
    CHECK_INT(ntf_quiet_until(DAY0 + 18 * H, s, e), DAY0 + 23 * H, "02:00 -> 07:00");
    /* exactly 07:00 Shanghai: not quiet any more; exactly 22:00: quiet */
    CHECK_INT(ntf_quiet_until(DAY0 + 23 * H, s, e), 0, "07:00 is the end");
    CHECK_INT(ntf_quiet_until(DAY0 + 14 * H, s, e), DAY0 + 23 * H, "22:00 is the start");
    CHECK_INT(ntf_quiet_until(DAY0 + 13 * H + 59 * M, s, e), 0, "21:59 is not quiet");
    /* a window within one day: 12:00-14:00 Shanghai */
    int a = ntf_quiet_parse("12:00"), b = ntf_quiet_parse("14:00");
    CHECK_INT(ntf_quiet_until(DAY0 + 5 * H, a, b), DAY0 + 6 * H, "13:00 -> 14:00");
    CHECK_INT(ntf_quiet_until(DAY0 + 6 * H, a, b), 0, "14:00 not quiet");
    CHECK_INT(ntf_quiet_until(DAY0 + 3 * H, a, b), 0, "11:00 not quiet");
    CHECK_INT(ntf_quiet_until(DAY0 + 5 * H, a, a), 0, "start == end: no quiet hours");
    /* before 1970 in local time would be negative; the arithmetic stays sane near 0 */
    CHECK_INT(ntf_quiet_until(0, s, e), 0, "epoch is 08:00 in Shanghai");
}

static void test_limits(void)
{
    ntf_limits l = {1, 5, 10};
    int64_t now = DAY0 + 12 * H;
    CHECK_INT(ntf_limit_until(NULL, 0, now, &l), now, "no sends: now");
    int64_t one[] = {now - 30000};
    CHECK_INT(ntf_limit_until(one, 1, now, &l), now - 30000 + M, "1/min: wait out the minute");
    int64_t old[] = {now - 61000};
    CHECK_INT(ntf_limit_until(old, 1, now, &l), now, "a send 61 s ago does not count per minute");
    int64_t five[] = {now - 50 * M, now - 40 * M, now - 30 * M, now - 20 * M, now - 10 * M};
    CHECK_INT(ntf_limit_until(five, 5, now, &l), now - 50 * M + H,
              "5/hour: the oldest of the hour leaves it");
    int64_t ten[10];
    for (int i = 0; i < 10; i++)
        ten[i] = now - (i + 2) * H; /* every 1 h, none in the last hour */
    CHECK_INT(ntf_limit_until(ten, 10, now, &l), now - 11 * H + 24 * H,
              "10/day: the oldest of the day leaves it");
    ntf_limits none = {0, 0, 0};
    CHECK_INT(ntf_limit_until(five, 5, now, &none), now, "no limits");
    ntf_limits two = {2, 0, 0};
    int64_t unsorted[] = {now - 10000, now - 50000, now - 20000};
    CHECK_INT(ntf_limit_until(unsorted, 3, now, &two), now - 20000 + M,
              "2/min with three: the second newest must leave");
    int64_t future[] = {now + 5000};
    CHECK_INT(ntf_limit_until(future, 1, now, &l), now, "a claim in the future is ignored");
}

typedef struct {
    int kind, curl, sent;
    long status;
    const char *body;
    ntf_outcome want;
    const char *want_id;
} classify_case;

static void test_classify(void)
{
    static const classify_case cases[] = {
        {NTF_ALIYUN, 0, 1, 200, "{\"Code\":\"OK\",\"Message\":\"OK\",\"BizId\":\"9^0\"}", NTF_OK,
         "9^0"},
        {NTF_ALIYUN, 0, 1, 200, "{\"Code\":\"isv.BUSINESS_LIMIT_CONTROL\"}", NTF_THROTTLED, ""},
        {NTF_ALIYUN, 0, 1, 200, "{\"Code\":\"isv.DAY_LIMIT_CONTROL\"}", NTF_THROTTLED, ""},
        {NTF_ALIYUN, 0, 1, 400, "{\"Code\":\"Throttling.User\"}", NTF_THROTTLED, ""},
        {NTF_ALIYUN, 0, 1, 500, "{\"Code\":\"isp.SYSTEM_ERROR\"}", NTF_NEXT, ""},
        {NTF_ALIYUN, 0, 1, 200, "{\"Code\":\"isv.MOBILE_NUMBER_ILLEGAL\"}", NTF_PERMANENT, ""},
        {NTF_ALIYUN, 0, 1, 200, "{\"Code\":\"isv.SMS_TEMPLATE_ILLEGAL\"}", NTF_PERMANENT, ""},
        {NTF_ALIYUN, 0, 1, 200, "{\"Code\":\"isv.PARAM_NOT_SUPPORT_URL\"}", NTF_PERMANENT, ""},
        {NTF_ALIYUN, 0, 1, 400, "{\"Code\":\"SignatureDoesNotMatch\"}", NTF_NEXT, ""},
        {NTF_ALIYUN, 0, 1, 200, "not json", NTF_AMBIGUOUS, ""},
        {NTF_ALIYUN, 0, 1, 502, "<html>bad gateway</html>", NTF_NEXT, ""},
        {NTF_ALIYUN, CURLE_OPERATION_TIMEDOUT, 1, 0, "", NTF_AMBIGUOUS, ""},
        {NTF_ALIYUN, CURLE_COULDNT_CONNECT, 0, 0, "", NTF_NEXT, ""},
        {NTF_TENCENT, 0, 1, 200,
         "{\"Response\":{\"SendStatusSet\":[{\"SerialNo\":\"2640:1\",\"Code\":\"Ok\"}]}}", NTF_OK,
         "2640:1"},
        {NTF_TENCENT, 0, 1, 200,
         "{\"Response\":{\"SendStatusSet\":[{\"Code\":\"LimitExceeded."
         "PhoneNumberThirtySecondLimit\"}]}}",
         NTF_THROTTLED, ""},
        {NTF_TENCENT, 0, 1, 200,
         "{\"Response\":{\"SendStatusSet\":[{\"Code\":\"InvalidParameterValue."
         "IncorrectPhoneNumber\"}]}}",
         NTF_PERMANENT, ""},
        {NTF_TENCENT, 0, 1, 200, "{\"Response\":{\"Error\":{\"Code\":\"InternalError.Timeout\"}}}",
         NTF_NEXT, ""},
        {NTF_TENCENT, 0, 1, 200,
         "{\"Response\":{\"Error\":{\"Code\":\"FailedOperation.TemplateIncorrectOrUnapproved\"}}}",
         NTF_PERMANENT, ""},
        {NTF_TENCENT, 0, 1, 200,
         "{\"Response\":{\"Error\":{\"Code\":\"LimitExceeded.AppDailyLimit\"}}}", NTF_THROTTLED,
         ""},
        {NTF_TENCENT, 0, 1, 200,
         "{\"Response\":{\"Error\":{\"Code\":\"FailedOperation.MarketingSendTimeConstraint\"}}}",
         NTF_THROTTLED, ""},
        {NTF_TENCENT, 0, 1, 200,
         "{\"Response\":{\"Error\":{\"Code\":\"AuthFailure.SignatureFailure\"}}}", NTF_NEXT, ""},
        {NTF_TENCENT, 0, 1, 200, "{\"Response\":{}}", NTF_AMBIGUOUS, ""},
        {NTF_WEBHOOK, 0, 1, 200, "{\"id\":\"gw_1\"}", NTF_OK, "gw_1"},
        {NTF_WEBHOOK, 0, 1, 202, "", NTF_OK, ""},
        {NTF_WEBHOOK, 0, 1, 429, "{}", NTF_THROTTLED, ""},
        {NTF_WEBHOOK, 0, 1, 503, "{}", NTF_NEXT, ""},
        {NTF_WEBHOOK, 0, 1, 401, "{}", NTF_NEXT, ""},
        {NTF_WEBHOOK, 0, 1, 422, "{\"error\":\"phone number rejected\"}", NTF_PERMANENT, ""},
        {NTF_WEBHOOK, CURLE_OPERATION_TIMEDOUT, 1, 0, "", NTF_AMBIGUOUS, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const classify_case *c = &cases[i];
        char id[64], detail[256];
        ntf_outcome o = ntf_classify(c->kind, c->curl, c->sent, c->status, c->body, id, sizeof(id),
                                     detail, sizeof(detail));
        CHECK(o == c->want, "case %zu (%s %ld %s): got outcome %d, want %d", i,
              ntf_provider_name(c->kind), c->status, c->body, (int)o, (int)c->want);
        CHECK_STR(id, c->want_id, "gateway id");
        CHECK(detail[0] != '\0', "case %zu: a detail", i);
    }
}

/* header - the value of name in a request's headers, or NULL */
static const char *header(const ntf_request *r, const char *name)
{
    size_t n = strlen(name);
    for (const struct curl_slist *l = r->headers; l; l = l->next)
        if (strncmp(l->data, name, n) == 0 && l->data[n] == ':')
            return l->data + n + 2;
    return NULL;
}

static void test_requests(void)
{
    ntf_provider ali = {.kind = NTF_ALIYUN, .key_id = "kid", .secret = "sec", .host = "h"};
    ntf_provider tc = {.kind = NTF_TENCENT,
                       .key_id = "AKIDx",
                       .secret = "tsec",
                       .app_id = "1400000000",
                       .region = "ap-guangzhou",
                       .host = "127.0.0.1:9"};
    ntf_provider wh = {
        .kind = NTF_WEBHOOK, .secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", .host = "h"};
    cJSON *params = cJSON_Parse("{\"name\":\"张三\",\"amount\":\"1.00\"}");
    ntf_message m = {.phone = "13800138000",
                     .template = "SMS_1",
                     .tencent_id = "101",
                     .params = params,
                     .sign_name = "山塘共富",
                     .out_id = "out-1"};
    ntf_request r;
    char err[256];
    int64_t now = 1614265330000LL;
    CHECK_INT(ntf_request_send(&ali, &m, now, "nonce-1", &r, err, sizeof(err)), 0, "aliyun send");
    CHECK(strstr(r.body, "Action=SendSms") && strstr(r.body, "OutId=out-1") &&
              strstr(r.body, "PhoneNumbers=13800138000") &&
              strstr(r.body, "Timestamp=2021-02-25T15%3A02%3A10Z") && strstr(r.body, "&Signature="),
          "aliyun body: %s", r.body);
    CHECK_STR(header(&r, "Content-Type"), "application/x-www-form-urlencoded", "aliyun type");
    ntf_request_clear(&r);

    CHECK_INT(ntf_request_send(&tc, &m, now, "n", &r, err, sizeof(err)), 0, "tencent send");
    CHECK_STR(r.body,
              "{\"PhoneNumberSet\":[\"+8613800138000\"],\"SmsSdkAppId\":\"1400000000\","
              "\"SignName\":\"山塘共富\",\"TemplateId\":\"101\",\"TemplateParamSet\":[\"张三\","
              "\"1.00\"],\"SessionContext\":\"out-1\"}",
              "tencent body: values in template order");
    CHECK_STR(header(&r, "X-TC-Action"), "SendSms", "tencent action");
    CHECK_STR(header(&r, "X-TC-Timestamp"), "1614265330", "tencent timestamp");
    const char *auth = header(&r, "Authorization");
    CHECK(auth &&
              strncmp(auth, "TC3-HMAC-SHA256 Credential=AKIDx/2021-02-25/sms/tc3_request", 59) == 0,
          "tencent authorization: %s", auth ? auth : "(none)");
    ntf_request_clear(&r);

    CHECK_INT(ntf_request_send(&wh, &m, now, "n", &r, err, sizeof(err)), 0, "webhook send");
    CHECK_STR(header(&r, "webhook-id"), "out-1", "webhook-id is our out id");
    CHECK_INT(sign_webhook_verify(wh.secret, "out-1", now / 1000, r.body, strlen(r.body),
                                  header(&r, "webhook-signature")),
              0, "webhook signature verifies");
    ntf_request_clear(&r);

    ntf_provider bad = wh;
    bad.secret = "not base64 !!";
    CHECK_INT(ntf_request_send(&bad, &m, now, "n", &r, err, sizeof(err)), -1, "bad secret");

    CHECK_INT(ntf_request_check(&wh, &m, now, now, "n", &r, err, sizeof(err)), 1,
              "webhook needs no check");
    CHECK_INT(ntf_request_check(&ali, &m, now, now, "n", &r, err, sizeof(err)), 0, "aliyun check");
    CHECK(strstr(r.body, "Action=QuerySendDetails") && strstr(r.body, "SendDate=20210225") &&
              strstr(r.body, "PhoneNumber=13800138000"),
          "aliyun check body: %s", r.body);
    ntf_request_clear(&r);
    CHECK_INT(ntf_request_check(&tc, &m, now, now, "n", &r, err, sizeof(err)), 0, "tencent check");
    CHECK_STR(header(&r, "X-TC-Action"), "PullSmsSendStatusByPhoneNumber", "tencent check action");
    ntf_request_clear(&r);
    cJSON_Delete(params);
}

static void test_check_answers(void)
{
    char id[64];
    CHECK_INT(ntf_check_answer(NTF_ALIYUN, 200,
                               "{\"Code\":\"OK\",\"TotalCount\":2,\"SmsSendDetailDTOs\":{"
                               "\"SmsSendDetailDTO\":[{\"OutId\":\"a\"},{\"OutId\":\"out-1\"}]}}",
                               "out-1", id, sizeof(id)),
              1, "aliyun: found by OutId");
    CHECK_INT(ntf_check_answer(NTF_ALIYUN, 200,
                               "{\"Code\":\"OK\",\"TotalCount\":1,\"SmsSendDetailDTOs\":{"
                               "\"SmsSendDetailDTO\":[{\"OutId\":\"a\"}]}}",
                               "out-1", id, sizeof(id)),
              0, "aliyun: provably not accepted");
    CHECK_INT(ntf_check_answer(NTF_ALIYUN, 200,
                               "{\"Code\":\"OK\",\"TotalCount\":51,\"SmsSendDetailDTOs\":{"
                               "\"SmsSendDetailDTO\":[]}}",
                               "out-1", id, sizeof(id)),
              -1, "aliyun: more than one page cannot tell");
    CHECK_INT(ntf_check_answer(NTF_ALIYUN, 200, "{\"Code\":\"isp.SYSTEM_ERROR\"}", "out-1", id,
                               sizeof(id)),
              -1, "aliyun: error cannot tell");
    CHECK_INT(ntf_check_answer(NTF_ALIYUN, 500, "", "out-1", id, sizeof(id)), -1, "aliyun 500");
    CHECK_INT(ntf_check_answer(NTF_TENCENT, 200,
                               "{\"Response\":{\"PullSmsSendStatusSet\":[{\"SessionContext\":"
                               "\"out-1\",\"SerialNo\":\"2640:9\"}]}}",
                               "out-1", id, sizeof(id)),
              1, "tencent: found by SessionContext");
    CHECK_STR(id, "2640:9", "tencent serial");
    CHECK_INT(ntf_check_answer(NTF_TENCENT, 200, "{\"Response\":{\"PullSmsSendStatusSet\":[]}}",
                               "out-1", id, sizeof(id)),
              -1, "tencent: no receipt proves nothing");
}

int main(void)
{
    test_backoff();
    test_quiet();
    test_limits();
    test_classify();
    test_requests();
    test_check_answers();
    return check_done();
}
