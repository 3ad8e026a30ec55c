/*
 * notifier_sign.c - the providers' request signatures (see notifier_sign.h).
 *
 * Trusts nothing but NUL termination of its string inputs; reads no
 * configuration and no clock; reports only through return values. Strings
 * are built in sbufs (util/sbuf.h) freed before return, so a failure leaks
 * nothing and leaves the caller's buffers either untouched or holding a
 * partial value the return code tells it to ignore.
 */
#include "notifier_sign.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/crypto.h"
#include "util/sbuf.h"

/* pct_unreserved - 1 for the bytes RFC 3986 leaves as they are */
static int pct_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* pct_put - append the percent-encoding of s[0..n) to b */
static void pct_put(sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (pct_unreserved(c)) {
            sbuf_put(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sbuf_put(b, e, 3);
        }
    }
}

/* sbuf_take - copy b's text into out (outlen bytes) and free b; length or -1 */
static int sbuf_take(sbuf *b, char *out, size_t outlen)
{
    int rc = -1;
    if (!b->failed && out != NULL && b->len < outlen && b->len <= (size_t)INT32_MAX) {
        if (b->len > 0)
            memcpy(out, b->p, b->len);
        out[b->len] = '\0';
        rc = (int)b->len;
    }
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    return rc;
}

/* sign_percent_encode - RFC 3986 encoding of in into out; length or -1 */
int sign_percent_encode(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    if (in == NULL || out == NULL || outlen == 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        size_t need = pct_unreserved(*p) ? 1 : 3;
        if (n + need >= outlen || n + need > (size_t)INT32_MAX)
            return -1;
        if (need == 1) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return (int)n;
}

/* One parameter after encoding, for sorting. */
typedef struct enc_param {
    sbuf name, value; /* percent-encoded; p may be NULL for "" */
} enc_param;

/* enc_text - the text of an encoded sbuf, "" when nothing was appended */
static const char *enc_text(const sbuf *b)
{
    return b->p ? b->p : "";
}

/* enc_param_cmp - qsort order: encoded name, then encoded value, bytewise */
static int enc_param_cmp(const void *a, const void *b)
{
    const enc_param *x = a, *y = b;
    int c = strcmp(enc_text(&x->name), enc_text(&y->name));
    return c ? c : strcmp(enc_text(&x->value), enc_text(&y->value));
}

/* aliyun_query_put - append the sorted, encoded k=v&k=v query to out; 0 or -1 */
static int aliyun_query_put(const sign_param *params, size_t n, sbuf *out)
{
    enc_param *e;
    int rc = 0;

    if (n == 0)
        return 0;
    if (params == NULL || (e = calloc(n, sizeof(*e))) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *k = params[i].name ? params[i].name : "";
        const char *v = params[i].value ? params[i].value : "";
        pct_put(&e[i].name, k, strlen(k));
        pct_put(&e[i].value, v, strlen(v));
        if (e[i].name.failed || e[i].value.failed)
            rc = -1;
    }
    if (rc == 0) {
        qsort(e, n, sizeof(*e), enc_param_cmp);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                sbuf_put(out, "&", 1);
            sbuf_str(out, enc_text(&e[i].name));
            sbuf_put(out, "=", 1);
            sbuf_str(out, enc_text(&e[i].value));
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(e[i].name.p);
        free(e[i].value.p);
    }
    free(e);
    return out->failed ? -1 : rc;
}

/* sign_aliyun_query - the sorted, encoded query into out; length or -1 */
int sign_aliyun_query(const sign_param *params, size_t n, char *out, size_t outlen)
{
    sbuf q = {0};

    if (aliyun_query_put(params, n, &q) < 0) {
        free(q.p);
        return -1;
    }
    return sbuf_take(&q, out, outlen);
}

/* sign_aliyun_rpc - RPC signature v1 (HMAC-SHA1) of params; 0 or -1 */
int sign_aliyun_rpc(const char *method, const sign_param *params, size_t n, const char *secret,
                    char *string_to_sign, size_t stslen, char out_b64[64])
{
    sbuf q = {0}, sts = {0}, key = {0};
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int rc = -1;

    if (method == NULL || secret == NULL || out_b64 == NULL)
        return -1;
    if (aliyun_query_put(params, n, &q) < 0)
        goto done;
    sbuf_str(&sts, method);
    sbuf_str(&sts, "&%2F&");
    pct_put(&sts, q.p ? q.p : "", q.len);
    sbuf_str(&key, secret);
    sbuf_put(&key, "&", 1);
    if (sts.failed || key.failed || key.len > (size_t)INT32_MAX)
        goto done;
    if (HMAC(EVP_sha1(), key.p, (int)key.len, (const unsigned char *)sts.p, sts.len, mac,
             &maclen) == NULL)
        goto done;
    if (crypto_b64_encode(mac, maclen, 0, out_b64, 64) < 0)
        goto done;
    if (string_to_sign != NULL && sbuf_take(&sts, string_to_sign, stslen) < 0)
        goto done;
    rc = 0;
done:
    if (key.p)
        OPENSSL_cleanse(key.p, key.cap);
    free(key.p);
    free(q.p);
    free(sts.p);
    return rc;
}

/* header_put - append "name:value\n" with value trimmed and, if lower, lowercased */
static void header_put(sbuf *b, const char *name, const char *value, int lower)
{
    const char *s = value, *e = value + strlen(value);
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    sbuf_str(b, name);
    sbuf_put(b, ":", 1);
    for (; s < e; s++) {
        char c = *s;
        if (lower && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        sbuf_put(b, &c, 1);
    }
    sbuf_put(b, "\n", 1);
}

/* sha256_hex - hex SHA-256 of data into out (65 bytes) */
static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[32];
    crypto_sha256(data ? data : "", len, d);
    crypto_hex(d, sizeof(d), out);
}

/*
 * canon_finish - end a canonical request (TC3, ACS3) with the blank line,
 * the signed header names and the body's hash, and hash it into canon_hex.
 * Returns 0, or -1 when out of memory.
 */
static int canon_finish(sbuf *canon, const char *signed_headers, const char *body_hex,
                        char canon_hex[65])
{
    sbuf_put(canon, "\n", 1);
    sbuf_str(canon, signed_headers);
    sbuf_put(canon, "\n", 1);
    sbuf_str(canon, body_hex);
    if (canon->failed)
        return -1;
    sha256_hex(canon->p, canon->len, canon_hex);
    return 0;
}

/* sign_tc3 - Tencent Cloud TC3-HMAC-SHA256 Authorization; length or -1 */
int sign_tc3(const sign_tc3_req *r, char *authorization, size_t alen)
{
    sbuf canon = {0}, sts = {0}, key = {0};
    char date[16], body_hex[65], canon_hex[65], sig_hex[65], ts[24];
    unsigned char k1[32], k2[32], k3[32], sig[32];
    const char *signed_headers;
    struct tm tm;
    time_t t;
    int rc = -1, n;

    if (r == NULL || r->secret_id == NULL || r->secret_key == NULL || r->service == NULL ||
        r->host == NULL || r->content_type == NULL || (r->body == NULL && r->body_len > 0) ||
        authorization == NULL)
        return -1;
    t = (time_t)r->timestamp;
    if ((int64_t)t != r->timestamp || gmtime_r(&t, &tm) == NULL ||
        strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 0)
        return -1;
    snprintf(ts, sizeof(ts), "%" PRId64, r->timestamp);
    signed_headers = r->action ? "content-type;host;x-tc-action" : "content-type;host";

    sha256_hex(r->body, r->body_len, body_hex);
    sbuf_str(&canon, "POST\n/\n\n");
    header_put(&canon, "content-type", r->content_type, 1);
    header_put(&canon, "host", r->host, 1);
    if (r->action)
        header_put(&canon, "x-tc-action", r->action, 1);
    if (canon_finish(&canon, signed_headers, body_hex, canon_hex) < 0)
        goto done;

    sbuf_str(&sts, "TC3-HMAC-SHA256\n");
    sbuf_str(&sts, ts);
    sbuf_put(&sts, "\n", 1);
    sbuf_str(&sts, date);
    sbuf_put(&sts, "/", 1);
    sbuf_str(&sts, r->service);
    sbuf_str(&sts, "/tc3_request\n");
    sbuf_str(&sts, canon_hex);
    sbuf_str(&key, "TC3");
    sbuf_str(&key, r->secret_key);
    if (sts.failed || key.failed)
        goto done;
    crypto_hmac_sha256(key.p, key.len, date, strlen(date), k1);
    crypto_hmac_sha256(k1, sizeof(k1), r->service, strlen(r->service), k2);
    crypto_hmac_sha256(k2, sizeof(k2), "tc3_request", strlen("tc3_request"), k3);
    crypto_hmac_sha256(k3, sizeof(k3), sts.p, sts.len, sig);
    crypto_hex(sig, sizeof(sig), sig_hex);

    n = snprintf(authorization, alen,
                 "TC3-HMAC-SHA256 Credential=%s/%s/%s/tc3_request, SignedHeaders=%s, "
                 "Signature=%s",
                 r->secret_id, date, r->service, signed_headers, sig_hex);
    if (n < 0 || (size_t)n >= alen)
        goto done;
    if (r->canonical_hash_hex)
        memcpy(r->canonical_hash_hex, canon_hex, sizeof(canon_hex));
    rc = n;
done:
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(k3, sizeof(k3));
    if (key.p)
        OPENSSL_cleanse(key.p, key.cap);
    free(key.p);
    free(canon.p);
    free(sts.p);
    return rc;
}

/* sign_acs3 - Alibaba Cloud ACS3-HMAC-SHA256 Authorization; length or -1 */
int sign_acs3(const sign_acs3_req *r, char *authorization, size_t alen)
{
    sbuf canon = {0}, sts = {0};
    char body_hex[65], canon_hex[65], sig_hex[65];
    unsigned char sig[32];
    const char *signed_headers;
    int rc = -1, n;

    if (r == NULL || r->access_key_id == NULL || r->access_key_secret == NULL ||
        r->method == NULL || r->host == NULL || r->action == NULL || r->version == NULL ||
        r->date == NULL || r->nonce == NULL || (r->body == NULL && r->body_len > 0) ||
        authorization == NULL)
        return -1;
    signed_headers = r->content_type ? "content-type;host;x-acs-action;x-acs-content-sha256;"
                                       "x-acs-date;x-acs-signature-nonce;x-acs-version"
                                     : "host;x-acs-action;x-acs-content-sha256;"
                                       "x-acs-date;x-acs-signature-nonce;x-acs-version";

    sha256_hex(r->body, r->body_len, body_hex);
    sbuf_str(&canon, r->method);
    sbuf_str(&canon, "\n/\n");
    if (aliyun_query_put(r->query, r->nquery, &canon) < 0)
        goto done;
    sbuf_put(&canon, "\n", 1);
    if (r->content_type)
        header_put(&canon, "content-type", r->content_type, 0);
    header_put(&canon, "host", r->host, 0);
    header_put(&canon, "x-acs-action", r->action, 0);
    header_put(&canon, "x-acs-content-sha256", body_hex, 0);
    header_put(&canon, "x-acs-date", r->date, 0);
    header_put(&canon, "x-acs-signature-nonce", r->nonce, 0);
    header_put(&canon, "x-acs-version", r->version, 0);
    if (canon_finish(&canon, signed_headers, body_hex, canon_hex) < 0)
        goto done;

    sbuf_str(&sts, "ACS3-HMAC-SHA256\n");
    sbuf_str(&sts, canon_hex);
    if (sts.failed)
        goto done;
    crypto_hmac_sha256(r->access_key_secret, strlen(r->access_key_secret), sts.p, sts.len, sig);
    crypto_hex(sig, sizeof(sig), sig_hex);

    n = snprintf(authorization, alen,
                 "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s", r->access_key_id,
                 signed_headers, sig_hex);
    if (n < 0 || (size_t)n >= alen)
        goto done;
    if (r->content_sha256_hex)
        memcpy(r->content_sha256_hex, body_hex, sizeof(body_hex));
    if (r->canonical_hash_hex)
        memcpy(r->canonical_hash_hex, canon_hex, sizeof(canon_hex));
    rc = n;
done:
    free(canon.p);
    free(sts.p);
    return rc;
}

/* webhook_expected - "v1,<base64>" for one delivery into out[64]; length or -1 */
static int webhook_expected(const char *secret, const char *msg_id, int64_t ts, const char *body,
                            size_t len, char out[64])
{
    unsigned char key[256], mac[32];
    char tsbuf[24], b64[48];
    sbuf m = {0};
    int keylen, rc = -1;

    if (secret == NULL || msg_id == NULL || (body == NULL && len > 0))
        return -1;
    if (strncmp(secret, "whsec_", 6) == 0)
        secret += 6;
    keylen = crypto_b64_decode(secret, strlen(secret), key, sizeof(key));
    if (keylen <= 0)
        return -1;
    snprintf(tsbuf, sizeof(tsbuf), "%" PRId64, ts);
    sbuf_str(&m, msg_id);
    sbuf_put(&m, ".", 1);
    sbuf_str(&m, tsbuf);
    sbuf_put(&m, ".", 1);
    if (len > 0)
        sbuf_put(&m, body, len);
    if (!m.failed) {
        crypto_hmac_sha256(key, (size_t)keylen, m.p, m.len, mac);
        if (crypto_b64_encode(mac, sizeof(mac), 0, b64, sizeof(b64)) > 0)
            rc = snprintf(out, 64, "v1,%s", b64);
    }
    OPENSSL_cleanse(key, sizeof(key));
    free(m.p);
    return rc;
}

/* sign_webhook - Standard Webhooks "v1,<base64>" into out; length or -1 */
int sign_webhook(const char *secret, const char *msg_id, int64_t ts, const char *body, size_t len,
                 char *out, size_t outlen)
{
    char sig[64];
    int n = webhook_expected(secret, msg_id, ts, body, len, sig);

    if (n < 0 || out == NULL || (size_t)n >= outlen)
        return -1;
    memcpy(out, sig, (size_t)n + 1);
    return n;
}

/* sign_webhook_verify - 0 if a v1 entry of header matches, -1 otherwise */
int sign_webhook_verify(const char *secret, const char *msg_id, int64_t ts, const char *body,
                        size_t len, const char *header)
{
    char want[64];
    int n = webhook_expected(secret, msg_id, ts, body, len, want), found = 0;

    if (n < 0 || header == NULL)
        return -1;
    for (const char *p = header; *p;) {
        size_t tl;
        while (*p == ' ')
            p++;
        tl = strcspn(p, " ");
        if (tl == (size_t)n && crypto_timing_equal(p, want, tl))
            found = 1;
        p += tl;
    }
    return found ? 0 : -1;
}
