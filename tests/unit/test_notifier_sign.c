/*
 * test_notifier_sign.c - the notifier's request signatures against the
 * providers' published vectors (collected, with their sources, in
 * the providers' documentation and SDK tests) and table-driven percent-encoding cases. Values
 * marked "derived" in SMS.md were computed from the published algorithm,
 * not published by the provider.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "notifier_sign.h"

/* test_percent_encode - the RFC 3986 table, and the length bound */
static void test_percent_encode(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", ""},
        {"abcXYZ019", "abcXYZ019"},
        {"-_.~", "-_.~"},
        {"a b", "a%20b"},
        {"*", "%2A"},
        {"+", "%2B"},
        {"/", "%2F"},
        {":", "%3A"},
        {"=&", "%3D%26"},
        {"%", "%25"},
        {"{\"customer\":\"test\"}", "%7B%22customer%22%3A%22test%22%7D"},
        {"2016-02-23T12:46:24Z", "2016-02-23T12%3A46%3A24Z"},
        /* UTF-8 bytes encoded one by one, uppercase hex */
        {"阿里云", "%E9%98%BF%E9%87%8C%E4%BA%91"},
        {"短信", "%E7%9F%AD%E4%BF%A1"},
        {"\x7f\x01", "%7F%01"},
    };
    char out[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = sign_percent_encode(cases[i].in, out, sizeof(out));
        CHECK_STR(n >= 0 ? out : NULL, cases[i].want, cases[i].in);
        CHECK_INT(n, strlen(cases[i].want), "returned length");
    }
    /* "a b" encodes to 5 characters: 6 bytes fit, 5 do not */
    CHECK_INT(sign_percent_encode("a b", out, 6), 5, "exact fit");
    CHECK_INT(sign_percent_encode("a b", out, 5), -1, "one byte short");
    CHECK_INT(sign_percent_encode("a", out, 0), -1, "no room at all");
}

/* Vector A's parameters, deliberately not in sorted order. */
static const sign_param vector_a[] = {
    {"Timestamp", "2016-02-23T12:46:24Z"},
    {"SignatureVersion", "1.0"},
    {"Action", "DescribeRegions"},
    {"Format", "XML"},
    {"SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
    {"Version", "2014-05-26"},
    {"AccessKeyId", "testid"},
    {"SignatureMethod", "HMAC-SHA1"},
};

/* Vector B's parameters (the SendSms example), also unsorted. */
static const sign_param vector_b[] = {
    {"SignName", "阿里云短信测试专用"},
    {"AccessKeyId", "testId"},
    {"Action", "SendSms"},
    {"Format", "XML"},
    {"OutId", "123"},
    {"PhoneNumbers", "15300000001"},
    {"RegionId", "cn-hangzhou"},
    {"SignatureMethod", "HMAC-SHA1"},
    {"SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"},
    {"SignatureVersion", "1.0"},
    {"TemplateCode", "SMS_71390007"},
    {"TemplateParam", "{\"customer\":\"test\"}"},
    {"Timestamp", "2017-07-12T02:42:19Z"},
    {"Version", "2017-05-25"},
};

#define NPARAMS(a) (sizeof(a) / sizeof((a)[0]))

/* test_aliyun_rpc - Alibaba RPC signature v1, vectors A and B */
static void test_aliyun_rpc(void)
{
    char sts[2048], sig[64], q[2048];

    /*
     * Vector A: Alibaba Cloud, the "Signature mechanism" page of the RPC API
     * documentation (DescribeRegions example), as collected in SMS.md.
     */
    CHECK_INT(
        sign_aliyun_rpc("GET", vector_a, NPARAMS(vector_a), "testsecret", sts, sizeof(sts), sig), 0,
        "vector A GET");
    CHECK_STR(sts,
              "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%"
              "26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-"
              "4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%"
              "253A24Z%26Version%3D2014-05-26",
              "vector A string-to-sign");
    CHECK_STR(sig, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=", "vector A GET signature");
    CHECK_STR(vector_a[0].name, "Timestamp", "caller's array left in its order");

    /* Vector A with POST: derived in SMS.md from the published algorithm. */
    CHECK_INT(sign_aliyun_rpc("POST", vector_a, NPARAMS(vector_a), "testsecret", NULL, 0, sig), 0,
              "vector A POST, no string-to-sign wanted");
    CHECK_STR(sig, "MxbnVAM4w6sft9xjVpe/GCKueuk=", "vector A POST signature (derived)");

    /*
     * Vector B: Alibaba Cloud SMS documentation's SendSms signature example
     * (secret "testSecret"), as collected in SMS.md; exercises the double
     * encoding of the UTF-8 SignName.
     */
    CHECK_INT(
        sign_aliyun_rpc("GET", vector_b, NPARAMS(vector_b), "testSecret", sts, sizeof(sts), sig), 0,
        "vector B GET");
    CHECK_STR(sig, "zJDF+Lrzhj/ThnlvIToysFRq6t4=", "vector B GET signature");
    CHECK(strstr(sts, "SignName%3D%25E9%2598%25BF") != NULL, "UTF-8 encoded twice in: %s", sts);

    /* Vector B with POST: derived in SMS.md. */
    CHECK_INT(sign_aliyun_rpc("POST", vector_b, NPARAMS(vector_b), "testSecret", NULL, 0, sig), 0,
              "vector B POST");
    CHECK_STR(sig, "Xvhv7fPXrPkLVSnlt0jIr08o8NQ=", "vector B POST signature (derived)");

    /* The canonical query (request body) is what the string-to-sign encodes. */
    CHECK_INT(sign_aliyun_query(vector_a, NPARAMS(vector_a), q, sizeof(q)) > 0, 1, "query A");
    CHECK_STR(q,
              "AccessKeyId=testid&Action=DescribeRegions&Format=XML&SignatureMethod=HMAC-SHA1&"
              "SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&SignatureVersion=1.0&"
              "Timestamp=2016-02-23T12%3A46%3A24Z&Version=2014-05-26",
              "canonical query A");
    CHECK_INT(sign_aliyun_query(vector_a, NPARAMS(vector_a), q, 10), -1, "query too long");
    CHECK_INT(sign_aliyun_query(NULL, 0, q, sizeof(q)), 0, "empty query");
    CHECK_STR(q, "", "empty query text");

    /* Failures: a too-small string-to-sign buffer, missing inputs. */
    CHECK_INT(sign_aliyun_rpc("GET", vector_a, NPARAMS(vector_a), "testsecret", sts, 20, sig), -1,
              "string-to-sign buffer too small");
    CHECK_INT(sign_aliyun_rpc("GET", vector_a, NPARAMS(vector_a), NULL, NULL, 0, sig), -1,
              "no secret");
}

/* The body of Tencent's published example, with literal backslash-u escapes. */
static const char tc3_body[] =
    "{\"Limit\": 1, \"Filters\": [{\"Values\": [\"\\u672a\\u547d\\u540d\"], \"Name\": "
    "\"instance-name\"}]}";

/* test_tc3 - Tencent Cloud TC3-HMAC-SHA256 */
static void test_tc3(void)
{
    char auth[512], hash[65];
    sign_tc3_req r = {
        .secret_id = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
        .secret_key = "Gu5t9xGARNpq86cd98joQYCN3*******",
        .service = "cvm",
        .host = "cvm.tencentcloudapi.com",
        .content_type = "application/json; charset=utf-8",
        .action = NULL,
        .timestamp = 1551113065,
        .body = tc3_body,
        .body_len = strlen(tc3_body),
        .canonical_hash_hex = hash,
    };

    /*
     * Tencent Cloud, "Signature v3" document and its official demo
     * repository TencentCloud/signature-process-demo, as collected in SMS.md:
     * signed headers content-type;host.
     */
    CHECK(sign_tc3(&r, auth, sizeof(auth)) > 0, "tc3 without action");
    CHECK_STR(hash, "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031",
              "canonical hash, content-type;host");
    CHECK_STR(auth,
              "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
              "tc3_request, SignedHeaders=content-type;host, "
              "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c",
              "authorization, content-type;host");

    /*
     * Same source (the current document): x-tc-action signed, line
     * "x-tc-action:describeinstances".
     */
    r.action = "DescribeInstances";
    CHECK(sign_tc3(&r, auth, sizeof(auth)) > 0, "tc3 with action");
    CHECK_STR(hash, "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84",
              "canonical hash, content-type;host;x-tc-action");
    CHECK_STR(auth,
              "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
              "tc3_request, SignedHeaders=content-type;host;x-tc-action, "
              "Signature=be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3",
              "authorization, content-type;host;x-tc-action");

    /* SMS-shaped, derived in SMS.md: service sms, same keys and timestamp. */
    static const char sms_body[] =
        "{\"PhoneNumberSet\":[\"+8618511122266\"],\"SmsSdkAppId\":\"1400006666\",\"SignName\":"
        "\"腾讯云\",\"TemplateId\":\"1234\",\"TemplateParamSet\":[\"12345\"]}";
    r.service = "sms";
    r.host = "sms.tencentcloudapi.com";
    r.action = "SendSms";
    r.body = sms_body;
    r.body_len = strlen(sms_body);
    r.canonical_hash_hex = NULL;
    CHECK(sign_tc3(&r, auth, sizeof(auth)) > 0, "tc3 SendSms");
    CHECK(
        strstr(auth, "Signature=4cff91227b1ccd9f3652efa1b7777bb4068727c1e9daed1b5fd1402c7dfadd92"),
        "SMS-shaped signature (derived): %s", auth);
    CHECK(strstr(auth, "/2019-02-25/sms/tc3_request, SignedHeaders=content-type;host;x-tc-action"),
          "SMS-shaped credential scope: %s", auth);

    /* Failures: buffer too small, missing key. */
    CHECK_INT(sign_tc3(&r, auth, 40), -1, "authorization buffer too small");
    r.secret_key = NULL;
    CHECK_INT(sign_tc3(&r, auth, sizeof(auth)), -1, "no secret key");
}

/* test_acs3 - Alibaba Cloud ACS3-HMAC-SHA256 */
static void test_acs3(void)
{
    static const sign_param query[] = {
        {"RegionId", "cn-shanghai"},
        {"ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"},
    };
    char auth[512], hash[65], body_hash[65];
    sign_acs3_req r = {
        .access_key_id = "YourAccessKeyId",
        .access_key_secret = "YourAccessKeySecret",
        .method = "POST",
        .query = query,
        .nquery = 2,
        .host = "ecs.cn-shanghai.aliyuncs.com",
        .content_type = NULL,
        .action = "RunInstances",
        .version = "2014-05-26",
        .date = "2023-10-26T10:22:32Z",
        .nonce = "3156853299f313e23d1673dc12e1703d",
        .body = NULL,
        .body_len = 0,
        .content_sha256_hex = body_hash,
        .canonical_hash_hex = hash,
    };

    /*
     * Alibaba Cloud, the ACS3-HMAC-SHA256 signature document's fixed example
     * (RunInstances), as collected in SMS.md.
     */
    CHECK(sign_acs3(&r, auth, sizeof(auth)) > 0, "acs3");
    CHECK_STR(body_hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
              "x-acs-content-sha256 of the empty body");
    CHECK_STR(hash, "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259",
              "acs3 hashed canonical request");
    CHECK_STR(auth,
              "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;"
              "x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
              "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0",
              "acs3 authorization");
    CHECK_INT(sign_acs3(&r, auth, 30), -1, "acs3 buffer too small");
}

/* test_webhook - Standard Webhooks signing and verification */
static void test_webhook(void)
{
    static const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    static const char id[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    static const char body[] = "{\"test\": 2432232314}";
#define WEBHOOK_WANT "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    static const char want[] = WEBHOOK_WANT;
    const int64_t ts = 1614265330;
    char sig[64];

    /* Standard Webhooks specification / Svix documentation, as collected in SMS.md. */
    CHECK_INT(sign_webhook(secret, id, ts, body, strlen(body), sig, sizeof(sig)), strlen(want),
              "webhook sign");
    CHECK_STR(sig, want, "webhook signature");
    CHECK_INT(sign_webhook(secret + 6, id, ts, body, strlen(body), sig, sizeof(sig)), strlen(want),
              "secret without whsec_ prefix");
    CHECK_STR(sig, want, "same signature without prefix");
    CHECK_INT(sign_webhook(secret, id, ts, body, strlen(body), sig, 10), -1, "out too small");
    CHECK_INT(sign_webhook("whsec_!!!", id, ts, body, strlen(body), sig, sizeof(sig)), -1,
              "secret not Base64");

    static const struct {
        const char *what, *secret, *body, *header;
        int64_t ts;
        int want;
    } cases[] = {
        {"the vector", secret, body, want, ts, 0},
        {"among several entries", secret, body, "v1,bm90IGl0 " WEBHOOK_WANT " v2,abc", ts, 0},
        {"tampered body", secret, "{\"test\": 2432232315}", want, ts, -1},
        {"wrong secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx", body, want, ts, -1},
        {"wrong timestamp", secret, body, want, ts + 1, -1},
        {"wrong version tag", secret, body, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", ts,
         -1},
        {"truncated signature", secret, body, "v1,g0hM9SsE+OTPJTGt", ts, -1},
        {"empty header", secret, body, "", ts, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(sign_webhook_verify(cases[i].secret, id, cases[i].ts, cases[i].body,
                                      strlen(cases[i].body), cases[i].header),
                  cases[i].want, cases[i].what);
}

int main(void)
{
    test_percent_encode();
    test_aliyun_rpc();
    test_tc3();
    test_acs3();
    test_webhook();
    return check_done();
}
