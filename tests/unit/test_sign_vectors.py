"""The signature vectors marked "derived" in tests/unit/test_notifier_sign.c
(values computed from the providers' published algorithms, not published by
the providers) recomputed here from scratch with Python's hmac and hashlib,
independently of services/notifier/notifier_sign.c and of the test gateway
(tests/tools/sms_gateway.py). The published vectors next to them are
recomputed too, which shows this implementation right before it vouches for
the derived ones. Every value must also appear in the C test, so a derived
vector edited there to match a wrong C result fails here."""
import base64
import datetime
import hashlib
import hmac
import os
import sys
import urllib.parse

ROOT = os.environ.get("SHANTANG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
C_TEST = os.path.join(ROOT, "tests", "unit", "test_notifier_sign.c")

VECTOR_A = [("Timestamp", "2016-02-23T12:46:24Z"), ("SignatureVersion", "1.0"),
            ("Action", "DescribeRegions"), ("Format", "XML"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"), ("AccessKeyId", "testid"),
            ("SignatureMethod", "HMAC-SHA1")]
VECTOR_B = [("SignName", "阿里云短信测试专用"), ("AccessKeyId", "testId"), ("Action", "SendSms"),
            ("Format", "XML"), ("OutId", "123"), ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"), ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"), ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", '{"customer":"test"}'), ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25")]
TC3_KEY_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******"
TC3_SECRET = "Gu5t9xGARNpq86cd98joQYCN3*******"
TC3_TS = 1551113065
TC3_CTYPE = "application/json; charset=utf-8"
TC3_CVM_BODY = ('{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], '
                '"Name": "instance-name"}]}')
TC3_SMS_BODY = ('{"PhoneNumberSet":["+8618511122266"],"SmsSdkAppId":"1400006666",'
                '"SignName":"腾讯云","TemplateId":"1234","TemplateParamSet":["12345"]}')


def rfc3986(s):
    return urllib.parse.quote(s.encode("utf-8"), safe="-_.~")


def aliyun_rpc_v1(method, pairs, secret):
    """Alibaba RPC signature v1: HMAC-SHA1 over METHOD&%2F&encode(sorted canonical query)."""
    query = "&".join("%s=%s" % kv for kv in sorted((rfc3986(k), rfc3986(v)) for k, v in pairs))
    sts = "%s&%s&%s" % (method, rfc3986("/"), rfc3986(query))
    mac = hmac.new((secret + "&").encode(), sts.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def tc3(service, host, action, body):
    """Tencent Cloud TC3-HMAC-SHA256: the Signature= hex of a POST with a JSON body."""
    date = datetime.datetime.fromtimestamp(TC3_TS, datetime.timezone.utc).strftime("%Y-%m-%d")
    headers = [("content-type", TC3_CTYPE), ("host", host)]
    if action:
        headers.append(("x-tc-action", action.lower()))
    signed = ";".join(k for k, _ in headers)
    canonical = "\n".join(["POST", "/", "", "".join("%s:%s\n" % kv for kv in headers), signed,
                           hashlib.sha256(body.encode()).hexdigest()])
    scope = "%s/%s/tc3_request" % (date, service)
    sts = "\n".join(["TC3-HMAC-SHA256", str(TC3_TS), scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("TC3" + TC3_SECRET).encode()
    for part in (date, service, "tc3_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


def main():
    with open(C_TEST, encoding="utf-8") as f:
        c_source = f.read()
    cases = [
        # (what, computed, want, derived)
        ("aliyun vector A GET (published)", aliyun_rpc_v1("GET", VECTOR_A, "testsecret"),
         "OLeaidS1JvxuMvnyHOwuJ+uX5qY=", False),
        ("aliyun vector B GET (published)", aliyun_rpc_v1("GET", VECTOR_B, "testSecret"),
         "zJDF+Lrzhj/ThnlvIToysFRq6t4=", False),
        ("tc3 cvm, content-type;host (published)",
         tc3("cvm", "cvm.tencentcloudapi.com", None, TC3_CVM_BODY),
         "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c", False),
        ("tc3 cvm, x-tc-action signed (published)",
         tc3("cvm", "cvm.tencentcloudapi.com", "DescribeInstances", TC3_CVM_BODY),
         "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3", False),
        ("aliyun vector A POST (derived)", aliyun_rpc_v1("POST", VECTOR_A, "testsecret"),
         "MxbnVAM4w6sft9xjVpe/GCKueuk=", True),
        ("aliyun vector B POST (derived)", aliyun_rpc_v1("POST", VECTOR_B, "testSecret"),
         "Xvhv7fPXrPkLVSnlt0jIr08o8NQ=", True),
        ("tc3 SMS-shaped (derived)", tc3("sms", "sms.tencentcloudapi.com", "SendSms",
                                         TC3_SMS_BODY),
         "4cff91227b1ccd9f3652efa1b7777bb4068727c1e9daed1b5fd1402c7dfadd92", True),
    ]
    passed = failed = 0
    for what, got, want, derived in cases:
        ok = got == want
        if not ok:
            print("FAIL: %s: computed here %r, want %r" % (what, got, want))
        in_c = want in c_source
        if not in_c:
            print("FAIL: %s: %r is not in %s" % (what, want, os.path.relpath(C_TEST, ROOT)))
        passed += ok + in_c
        failed += (not ok) + (not in_c)
    # the C test must not carry a derived vector this file does not recompute
    marked = c_source.count("(derived)")
    if marked != sum(d for *_, d in cases):
        print("FAIL: %d \"(derived)\" checks in the C test, %d recomputed here"
              % (marked, sum(d for *_, d in cases)))
        failed += 1
    else:
        passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
