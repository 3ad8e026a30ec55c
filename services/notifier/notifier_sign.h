/*
 * notifier_sign.h - request signing for the SMS providers the notifier
 * speaks to: Alibaba Cloud RPC signature v1 (HMAC-SHA1) and ACS3-HMAC-SHA256,
 * Tencent Cloud TC3-HMAC-SHA256, and Standard Webhooks (HMAC-SHA256).
 *
 * Pure functions: no network, no clock (the caller passes every timestamp,
 * nonce and date), no configuration. They trust nothing about their inputs
 * beyond NUL termination and report failure by return value only: -1 when a
 * caller's buffer is too small, an input is missing or malformed, or memory
 * ran out; they never print or exit. Secrets are only read, never copied
 * into an output or kept.
 *
 * Test vectors for every algorithm are in tests/unit/test_notifier_sign.c
 * (sources: the providers' documentation and SDK tests); tests/tools/sms_gateway.py verifies the
 * same algorithms independently in Python.
 */
#ifndef SHANTANG_NOTIFIER_SIGN_H
#define SHANTANG_NOTIFIER_SIGN_H

#include <stddef.h>
#include <stdint.h>

/* One request parameter, name and value as UTF-8 text (not yet encoded). */
typedef struct sign_param {
    const char *name;  /* e.g. "PhoneNumbers" */
    const char *value; /* e.g. "15300000001"; NULL is signed as "" */
} sign_param;

/*
 * sign_percent_encode - RFC 3986 percent-encoding as Alibaba Cloud signs it:
 * A-Z a-z 0-9 - _ . ~ kept, every other byte (each byte of a UTF-8 sequence
 * on its own) as %XX with uppercase hex; space is %20, '*' is %2A.
 * Returns the length written to out (NUL-terminated), or -1 if it does not
 * fit in outlen bytes. Needs at most 3*strlen(in)+1 bytes.
 */
int sign_percent_encode(const char *in, char *out, size_t outlen);

/*
 * sign_aliyun_query - the canonical query of an Alibaba RPC request: every
 * name and value percent-encoded, sorted by encoded name (then value), joined
 * as k=v&k=v. The caller's array is not reordered. Serves both as the signed
 * string's source and as the GET query or POST form body (append
 * "&Signature=" + the percent-encoded signature). Returns the length written
 * to out, or -1 (out too small, or out of memory).
 */
int sign_aliyun_query(const sign_param *params, size_t n, char *out, size_t outlen);

/*
 * sign_aliyun_rpc - Alibaba RPC signature v1. params are every request
 * parameter except Signature (Action, Version, AccessKeyId,
 * SignatureMethod=HMAC-SHA1, SignatureVersion=1.0, SignatureNonce,
 * Timestamp, ...). String-to-sign = method + "&%2F&" + encode(canonical
 * query); out_b64 = Base64(HMAC-SHA1(secret + "&", string-to-sign)), 28
 * characters + NUL. string_to_sign may be NULL; otherwise it receives the
 * string-to-sign (stslen bytes). Returns 0, or -1 (a buffer too small,
 * a NULL method or secret, out of memory).
 */
int sign_aliyun_rpc(const char *method, const sign_param *params, size_t n, const char *secret,
                    char *string_to_sign, size_t stslen, char out_b64[64]);

/* Inputs (and optional outputs) of one Tencent Cloud TC3-HMAC-SHA256 signature. */
typedef struct sign_tc3_req {
    const char *secret_id;    /* SecretId, goes into Credential= */
    const char *secret_key;   /* SecretKey, signs */
    const char *service;      /* "sms" (the host's first label) */
    const char *host;         /* "sms.tencentcloudapi.com", as sent in Host */
    const char *content_type; /* as sent, e.g. "application/json; charset=utf-8" */
    const char *action;       /* NULL: x-tc-action is not signed; else e.g. "SendSms" */
    int64_t timestamp;        /* X-TC-Timestamp, Unix seconds; the UTC date comes from it */
    const char *body;         /* the exact request body; NULL only with body_len 0 */
    size_t body_len;
    char *canonical_hash_hex; /* optional out (65 bytes): hex SHA-256 of the canonical request */
} sign_tc3_req;

/*
 * sign_tc3 - Tencent Cloud TC3-HMAC-SHA256 for a POST to "/" with an empty
 * query. Canonical headers are content-type and host, plus
 * x-tc-action when r->action is set, each as lowercase name ':' trimmed,
 * lowercased value (the document's rule; the usual values are lowercase
 * already). Writes the whole Authorization header value,
 * "TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request,
 * SignedHeaders=<list>, Signature=<hex>", into authorization (alen bytes;
 * 256 is ample for usual ids). Returns its length, or -1 (a missing field,
 * a buffer too small, a timestamp gmtime cannot convert, out of memory).
 */
int sign_tc3(const sign_tc3_req *r, char *authorization, size_t alen);

/* Inputs (and optional outputs) of one Alibaba Cloud ACS3-HMAC-SHA256 signature. */
typedef struct sign_acs3_req {
    const char *access_key_id;     /* goes into Credential= */
    const char *access_key_secret; /* signs */
    const char *method;            /* "POST" or "GET" */
    const sign_param *query;       /* query parameters (unencoded); may be NULL with nquery 0 */
    size_t nquery;
    const char *host;         /* e.g. "dysmsapi.aliyuncs.com" */
    const char *content_type; /* NULL when the request has no Content-Type */
    const char *action;       /* x-acs-action, e.g. "SendSms" */
    const char *version;      /* x-acs-version, e.g. "2017-05-25" */
    const char *date;         /* x-acs-date, UTC "yyyy-MM-ddTHH:mm:ssZ" */
    const char *nonce;        /* x-acs-signature-nonce, unique per request */
    const char *body;         /* the exact request body; NULL only with body_len 0 */
    size_t body_len;
    char *content_sha256_hex; /* optional out (65 bytes): the x-acs-content-sha256 value */
    char *canonical_hash_hex; /* optional out (65 bytes): hex SHA-256 of the canonical request */
} sign_acs3_req;

/*
 * sign_acs3 - Alibaba Cloud ACS3-HMAC-SHA256 for path "/". Signs host,
 * content-type (when set) and x-acs-action, x-acs-content-sha256,
 * x-acs-date, x-acs-signature-nonce, x-acs-version; the request must carry
 * exactly those headers with those values. Writes the Authorization header
 * value "ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<list>,Signature=<hex>"
 * into authorization (alen bytes). Returns its length, or -1 (a missing
 * field, a buffer too small, out of memory).
 */
int sign_acs3(const sign_acs3_req *r, char *authorization, size_t alen);

/*
 * sign_webhook - the Standard Webhooks signature of one delivery:
 * "v1," + Base64(HMAC-SHA256(key, msg_id "." ts "." body)), where key is
 * the Base64 decoding of secret after its optional "whsec_" prefix. Writes it
 * to out (outlen bytes; 48 suffice). Returns its length, or -1 (secret not
 * Base64 or longer than 256 bytes decoded, out too small, out of memory).
 */
int sign_webhook(const char *secret, const char *msg_id, int64_t ts, const char *body, size_t len,
                 char *out, size_t outlen);

/*
 * sign_webhook_verify - 0 if any space-separated "v1,<sig>" entry of header
 * (a webhook-signature value) matches the signature of this delivery,
 * compared in constant time; -1 otherwise, also on a bad secret. Entries of
 * other versions are ignored. It does not judge the timestamp's age: the
 * caller compares ts with its clock (Standard Webhooks allows 5 minutes).
 */
int sign_webhook_verify(const char *secret, const char *msg_id, int64_t ts, const char *body,
                        size_t len, const char *header);

#endif
