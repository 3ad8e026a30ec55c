/*
 * fuzz_route_notifier.c - what reaches the notifier over HTTP: the
 * gateways' delivery receipts (Standard Webhooks receipts, signed here so
 * that the body gets past the signature; Alibaba SmsReport and Tencent
 * status callbacks with the shared ?token=), the admin's resolve body and
 * the deliveries listing's query arguments, through the real handlers up
 * to their first database call (fuzz_route_run). The gateways' answers to
 * our own calls are fuzz_notifier_answers'.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "notifier.h"
#include "notifier_sign.h"
#include "util/timeutil.h"

#define ID "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

/* webhook_signed - the webhook receipt with a valid signature of the body it carries */
static void webhook_signed(http_req *req, http_resp *resp, void *ctx)
{
    static char ts[24], sig[128];
    snprintf(ts, sizeof(ts), "%lld", (long long)(time_now_ms() / 1000));
    if (sign_webhook(SECRET, "msg_fuzz", atoll(ts), req->body, req->body_len, sig, sizeof(sig)) < 0)
        abort();
    static fuzz_kv h[4];
    h[0] = (fuzz_kv){"Content-Type", "application/json"};
    h[1] = (fuzz_kv){"webhook-id", "msg_fuzz"};
    h[2] = (fuzz_kv){"webhook-timestamp", ts};
    h[3] = (fuzz_kv){"webhook-signature", sig};
    fuzz_set_headers(h, 4);
    ntf_receipt_webhook(req, resp, ctx);
}

static const fuzz_route routes[] = {
    {"POST", "/v1/receipts/webhook", webhook_signed, 0, {NULL}},
    {"POST", "/v1/receipts/aliyun", ntf_receipt_aliyun, 0, {NULL}},
    {"POST", "/v1/receipts/tencent", ntf_receipt_tencent, 0, {NULL}},
    {"POST", "/v1/deliveries/{id}/resolve", ntf_deliveries_resolve, ROLE_ADMIN, {ID, NULL}},
    {"GET", "/v1/deliveries", ntf_deliveries_list, ROLE_ADMIN, {NULL}},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ntf_state st;
    static service_ctx ctx = {.name = "notifier", .state = &st};
    static const fuzz_kv token[] = {{"token", "fuzz-receipt-token"}};
    st.webhook_secret = SECRET;
    st.receipt_token = "fuzz-receipt-token";
    fuzz_quiet();
    fuzz_route_query(token, 1);
    fuzz_route_run(routes, sizeof(routes) / sizeof(routes[0]), &ctx, data, size);
    return 0;
}
