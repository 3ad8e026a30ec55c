/*
 * notifier_api.c - the notifier's HTTP routes: the admin listing of
 * deliveries (filters event_id, phone, status; {items, total, next}) and
 * one delivery by id; and the delivery receipts the gateways post back.
 *
 * Receipts carry no bearer token; each is verified before it is read:
 * the webhook gateway's with the Standard Webhooks signature under
 * NOTIFIER_WEBHOOK_SECRET (timestamp within 5 minutes), Alibaba's
 * (SmsReport, a JSON array of {out_id, biz_id, success, err_code, ...})
 * and Tencent's (a JSON array of {sid, report_status, errmsg, ...}) with
 * the shared NOTIFIER_RECEIPT_TOKEN in ?token=, since those two sign
 * nothing themselves. Formats: Alibaba "SmsReport (HTTP batch push)",
 * help.aliyun.com/document_detail/101867 (answer {"code":0,...}; a 5xx makes
 * it push again after 1, 5 and 10 minutes); Tencent "SMS Sending Status
 * Notification", tencentcloud.com/document/product/382/43547 (sid is the
 * SerialNo of SendSms; answer {"result":0,"errmsg":"OK"}). A receipt for
 * an unknown message is acknowledged and ignored (the gateway must not
 * retry it forever).
 */
#include "notifier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/group.h"
#include "core/page.h"
#include "notifier_sign.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

/* ntf_deliveries_list - GET /v1/deliveries?event_id=&phone=&status=: newest first */
void ntf_deliveries_list(http_req *req, http_resp *resp, void *ctx)
{
    char cursor_buf[64], limit[16], phone[12];
    const char *cursor = NULL;
    int n = page_args(req, resp, 1, cursor_buf, &cursor, limit);
    if (n < 0)
        return;
    const char *event = http_query(req, "event_id"), *ph = http_query(req, "phone"),
               *status = http_query(req, "status");
    if (ph && ntf_phone_normalise(ph, phone) < 0) {
        http_problem(resp, 422, "validation", "Invalid filter", "/phone",
                     "phone is a mainland mobile number");
        return;
    }
    static const char *const statuses[] = {"queued", "sending",   "sent", "delivered",
                                           "failed", "uncertain", NULL};
    int known = status == NULL;
    for (int i = 0; !known && statuses[i]; i++)
        known = strcmp(status, statuses[i]) == 0;
    if (!known) {
        http_problem(resp, 422, "validation", "Invalid filter", "/status",
                     "status is queued, sending, sent, delivered, failed or uncertain");
        return;
    }
    const char *params[5] = {limit, event, ph ? phone : NULL, status, cursor};
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        return;
    db_err err;
#define FILTER                                                                                     \
    " FROM deliveries d WHERE ($2::text IS NULL OR d.event_id = $2) AND ($3::text IS NULL OR "     \
    "d.recipient = $3) AND ($4::text IS NULL OR d.status = $4)"
    PGresult *res = db_exec(conn,
                            "SELECT delivery_json(d.id)::text, d.id::text" FILTER
                            " AND ($5::uuid IS NULL OR d.id < $5::uuid) ORDER BY d.id DESC "
                            "LIMIT $1::int",
                            5, params, &err);
    PGresult *cnt = res ? db_exec(conn, "SELECT count(*), $1::text" FILTER, 4, params, &err) : NULL;
#undef FILTER
    if (res == NULL || cnt == NULL) {
        service_db_problem(resp, &err);
    } else {
        char total[48];
        snprintf(total, sizeof(total), "\"total\":%s", PQgetvalue(cnt, 0, 0));
        page_reply(resp, res, 0, 1, n, total);
    }
    PQclear(res);
    PQclear(cnt);
    service_tx_end(ctx, conn, 0, NULL);
}

/* ntf_deliveries_get - GET /v1/deliveries/{id} */
void ntf_deliveries_get(http_req *req, http_resp *resp, void *ctx)
{
    if (!crypto_uuid_valid(req->params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such delivery");
        return;
    }
    const char *p[1] = {req->params[0]};
    page_query_one(ctx, resp, "SELECT delivery_json(id)::text FROM deliveries WHERE id = $1::uuid",
                   1, p, "delivery");
}

/*
 * ntf_deliveries_resolve - POST /v1/deliveries/{id}/resolve {"status", "note"}:
 * a person's verdict on an 'uncertain' delivery after checking with the
 * provider: "sent" (it did go out), "failed" (it did not; no resend), or
 * "queued" (it did not; send it again, attempts counted afresh). Any other
 * current status answers 409.
 */
void ntf_deliveries_resolve(http_req *req, http_resp *resp, void *ctx)
{
    if (!crypto_uuid_valid(req->params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such delivery");
        return;
    }
    cJSON *b = http_parse_json(req, resp);
    if (b == NULL)
        return;
    const char *status = NULL, *note = NULL;
    if (http_field_string(b, "status", 1, 1, 20, &status, resp) < 0 ||
        http_field_text(b, "note", 0, 0, 500, &note, resp) < 0) {
        cJSON_Delete(b);
        return;
    }
    if (strcmp(status, "sent") != 0 && strcmp(status, "failed") != 0 &&
        strcmp(status, "queued") != 0) {
        http_problem(resp, 422, "validation", "Invalid status", "/status",
                     "status is sent, failed or queued");
        cJSON_Delete(b);
        return;
    }
    char why[600];
    snprintf(why, sizeof(why), "resolved by %s: %s", req->auth.sub, note ? note : status);
    const char *p[3] = {req->params[0], status, why};
    /* one statement: the lock, the state's check, the change, the sender woken (notifier 003) */
    if (service_command_run(ctx, resp, "SELECT * FROM delivery_resolve($1::uuid, $2, $3)", 3, p) ==
        200)
        log_warn("delivery %s resolved by hand as %s", req->params[0], status);
    cJSON_Delete(b);
}

/*
 * apply_receipts - mark the deliveries named by the receipts rs, a JSON
 * array of {out_id, gateway_id, ok, error} (either id may be missing),
 * delivered or failed: one statement in autocommit, group committed with
 * concurrent receipts (a gateway's callback carries many, and arrives once
 * per SMS). Returns the rows changed, or -1 after setting a 503.
 */
static int apply_receipts(service_ctx *ctx, http_resp *resp, const cJSON *rs)
{
    char *json = cJSON_PrintUnformatted(rs);
    if (json == NULL) {
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
        return -1;
    }
    const char *p[1] = {json};
    db_err err;
    PGresult *res = group_exec(
        ctx->commit, 5000,
        "UPDATE deliveries d SET status = CASE WHEN r.ok THEN 'delivered' ELSE 'failed' END, "
        "delivered_at = CASE WHEN r.ok THEN now() END, last_error = CASE WHEN r.ok THEN "
        "d.last_error ELSE coalesce(r.error, 'receipt: not delivered') END, needs_check = false, "
        "lease_until = NULL, sent_at = coalesce(d.sent_at, now()), updated_at = now() "
        "FROM jsonb_to_recordset($1::jsonb) AS r(out_id text, gateway_id text, ok boolean, "
        "error text) WHERE (d.out_id = r.out_id OR d.gateway_id = r.gateway_id) "
        "AND d.status IN ('sending', 'sent', 'uncertain', 'queued')",
        1, p, &err);
    free(json);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    int n = atoi(PQcmdTuples(res));
    PQclear(res);
    return n;
}

/* receipt_add - one receipt for apply_receipts: its ids (NULL or empty: none), verdict, why */
static void receipt_add(cJSON *rs, const char *out_id, const char *gateway_id, int ok,
                        const char *error)
{
    cJSON *r = cJSON_CreateObject();
    if (out_id && *out_id)
        cJSON_AddStringToObject(r, "out_id", out_id);
    if (gateway_id && *gateway_id)
        cJSON_AddStringToObject(r, "gateway_id", gateway_id);
    cJSON_AddBoolToObject(r, "ok", ok);
    if (error)
        cJSON_AddStringToObject(r, "error", error);
    cJSON_AddItemToArray(rs, r);
}

/* token_ok - the shared receipt token in ?token=, compared in constant time */
static int token_ok(const ntf_state *st, const http_req *req)
{
    const char *t = http_query(req, "token");
    size_t n = strlen(st->receipt_token);
    return n > 0 && t && strlen(t) == n && crypto_timing_equal(t, st->receipt_token, n);
}

/* ntf_receipt_webhook - POST /v1/receipts/webhook: {reference, id, status, error} */
void ntf_receipt_webhook(http_req *req, http_resp *resp, void *ctx)
{
    ntf_state *st = ((service_ctx *)ctx)->state;
    const char *id = http_header(req, "webhook-id"), *ts = http_header(req, "webhook-timestamp"),
               *sig = http_header(req, "webhook-signature");
    char *end = NULL;
    long long t = ts ? strtoll(ts, &end, 10) : 0;
    long long now = time_now_ms() / 1000;
    if (!id || !ts || !sig || !end || *end || t < now - 300 || t > now + 300 ||
        sign_webhook_verify(st->webhook_secret, id, t, req->body, req->body_len, sig) < 0) {
        http_problem(resp, 401, "unauthenticated", "Signature not verified", NULL,
                     "webhook-id, webhook-timestamp (within 5 minutes) and a matching "
                     "webhook-signature are required");
        return;
    }
    cJSON *b = http_parse_json(req, resp);
    if (b == NULL)
        return;
    const char *ref = NULL, *gid = NULL, *status = NULL, *error = NULL;
    if (http_field_string(b, "reference", 0, 1, 100, &ref, resp) < 0 ||
        http_field_string(b, "id", 0, 1, 100, &gid, resp) < 0 ||
        http_field_string(b, "status", 1, 1, 20, &status, resp) < 0 ||
        http_field_string(b, "error", 0, 0, 400, &error, resp) < 0) {
        cJSON_Delete(b);
        return;
    }
    if (!ref && !gid) {
        http_problem(resp, 422, "validation", "Missing reference", "/reference",
                     "reference (the webhook-id we sent) or id (yours) is required");
    } else if (strcmp(status, "delivered") != 0 && strcmp(status, "failed") != 0) {
        http_problem(resp, 422, "validation", "Invalid status", "/status",
                     "status is delivered or failed");
    } else {
        cJSON *rs = cJSON_CreateArray();
        receipt_add(rs, ref, gid, strcmp(status, "delivered") == 0, error);
        int n = apply_receipts(ctx, resp, rs);
        cJSON_Delete(rs);
        if (n >= 0) {
            cJSON *out = cJSON_CreateObject();
            cJSON_AddNumberToObject(out, "updated", n);
            http_reply_json(resp, 200, out);
        }
    }
    cJSON_Delete(b);
}

/* receipts_array - the verified JSON array body of an Alibaba or Tencent receipt, or NULL */
static cJSON *receipts_array(const ntf_state *st, http_req *req, http_resp *resp)
{
    if (!token_ok(st, req)) {
        http_problem(resp, 401, "unauthenticated", "Receipt token not verified", "/token",
                     "the receipt URL carries the shared token in ?token=");
        return NULL;
    }
    cJSON *a = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        http_problem(resp, 400, "bad-json", "Not a JSON array", NULL,
                     "the body is a JSON array of status reports");
        return NULL;
    }
    return a;
}

/* str_of - a string member or NULL */
static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ntf_receipt_aliyun - POST /v1/receipts/aliyun?token=: Alibaba SmsReport */
void ntf_receipt_aliyun(http_req *req, http_resp *resp, void *ctx)
{
    cJSON *a = receipts_array(((service_ctx *)ctx)->state, req, resp), *r;
    if (a == NULL)
        return;
    cJSON *rs = cJSON_CreateArray();
    cJSON_ArrayForEach(r, a)
    {
        char why[300];
        snprintf(why, sizeof(why), "receipt: %s %s",
                 str_of(r, "err_code") ? str_of(r, "err_code") : "",
                 str_of(r, "err_msg") ? str_of(r, "err_msg") : "");
        receipt_add(rs, str_of(r, "out_id"), str_of(r, "biz_id"),
                    cJSON_IsTrue(cJSON_GetObjectItem(r, "success")), why);
    }
    cJSON_Delete(a);
    int n = apply_receipts(ctx, resp, rs);
    cJSON_Delete(rs);
    if (n < 0)
        return;
    static const char ok[] = "{\"code\":0,\"msg\":\"成功\"}";
    http_reply_raw(resp, 200, "application/json", ok, sizeof(ok) - 1);
}

/* ntf_receipt_tencent - POST /v1/receipts/tencent?token=: Tencent status callback */
void ntf_receipt_tencent(http_req *req, http_resp *resp, void *ctx)
{
    cJSON *a = receipts_array(((service_ctx *)ctx)->state, req, resp), *r;
    if (a == NULL)
        return;
    cJSON *rs = cJSON_CreateArray();
    cJSON_ArrayForEach(r, a)
    {
        const char *st = str_of(r, "report_status");
        char why[300];
        snprintf(why, sizeof(why), "receipt: %s %s", str_of(r, "errmsg") ? str_of(r, "errmsg") : "",
                 str_of(r, "description") ? str_of(r, "description") : "");
        receipt_add(rs, NULL, str_of(r, "sid"), st && strcmp(st, "SUCCESS") == 0, why);
    }
    cJSON_Delete(a);
    int n = apply_receipts(ctx, resp, rs);
    cJSON_Delete(rs);
    if (n < 0)
        return;
    static const char ok[] = "{\"result\":0,\"errmsg\":\"OK\"}";
    http_reply_raw(resp, 200, "application/json", ok, sizeof(ok) - 1);
}
