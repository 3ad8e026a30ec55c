#!/usr/bin/env python3
"""
sms_gateway.py - a stand-in for the SMS providers the notifier speaks to,
for tests: Alibaba Cloud SMS (Dysmsapi 2017-05-25, RPC signature v1),
Tencent Cloud SMS (2021-01-11, TC3-HMAC-SHA256) and a generic Standard
Webhooks gateway, on one HTTP port bound to 127.0.0.1.

It trusts nothing a client sends: every request's signature is recomputed
here, independently of the C code in services/notifier/notifier_sign.c, the
way the provider documents it (the algorithms and vectors are in
the providers' documentation and SDK tests), so a test through this gateway cross-checks the C
signing. It reads only its command line (keys, port); it keeps everything in
memory. It reports on stdout one line, the port it listens on (useful with
--port 0), and logs one line per request on stderr unless --quiet.

Python 3 standard library only.

Endpoints
  POST|GET /aliyun/   Action=SendSms | QuerySendDetails, form body or query
  POST /tencent/      X-TC-Action: SendSms | PullSmsSendStatusByPhoneNumber
  POST /webhook       Standard Webhooks headers, JSON body
                      {"phone","template","params","sign_name"}
  POST /_control      faults, JSON: {"delay_ms", "fail_5xx", "throttle",
                      "reject_phones", "provider", "for_phones", "receipts",
                      "receipt_delay_ms"};
                      answers the fault state
  GET  /_messages     {"messages": [...], "calls": [...], "rejected_signatures": n}
  POST /_reset        forget messages, webhook ids, faults and the count
  GET  /_health       {"ok": true}

Faults apply to send calls only (Alibaba SendSms, Tencent SendSms, webhook),
of the provider named by "provider" (null = all). "fail_5xx": n and
"throttle": n answer the next n such calls with the provider's server error
or throttling answer; "reject_phones" is permanent until /_reset;
"delay_ms" delays every answer, after the message was accepted - like a
provider whose answer arrives after the client gave up. "for_phones" (a
list; empty = every call) narrows "fail_5xx" and "throttle" to send calls
for those numbers, so that a test's faults hit its own messages while other
traffic flows.

Delivery receipts (opt-in): with --receipt-url-aliyun, --receipt-url-tencent
or --receipt-url-webhook, every accepted message is reported delivered to
that URL receipt_delay_ms (--receipt-delay-ms, default 500) after it was
accepted, in the provider's own format: Alibaba's SmsReport array and
Tencent's status callback array with "?token=" + the content of
--receipt-token-file appended (those providers sign nothing), the webhook's
{"reference", "id", "status"} signed the Standard Webhooks way with the
webhook secret. A push that is not answered 2xx (an error status, a refused
connection, a timeout) is pushed again the way the providers re-push: after
each delay of --receipt-retry-s (seconds, comma-separated; default
"60,300,600", Alibaba's SmsReport schedule of 1, 5 and 10 minutes), each
attempt signed anew; "receipts_retried" in /_messages counts those second
and later pushes, "receipts_failed" the receipts given up after the last.
"receipts": false in /_control holds them back (until true or /_reset);
"receipt_delay_ms" there overrides --receipt-delay-ms.

"calls" lists every authenticated send call in arrival order, answered or
not: {"provider", "phones", "outcome" ("accepted", "5xx", "throttle",
"rejected", or "repeated" for a webhook-id answered from memory, phones
then empty), "received_at", "t" (Unix seconds)}, so that a test can count a
client's attempts and time its back-off from the gateway's own clock.

"rejected_signatures" counts the requests refused at authentication: a
signature that does not match, a missing or malformed signature, an unknown
key id, a timestamp out of its window, a reused Alibaba SignatureNonce.
Alibaba nonces are remembered for the gateway's lifetime (also across
/_reset). Error codes not listed in SMS.md are close approximations of the
providers' own.

Usage: sms_gateway.py [--port N] [--bind ADDR] [key options] [--quiet]
       sms_gateway.py --self-test
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import re
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20
ALIYUN_SKEW = 15 * 60  # seconds either way
TENCENT_SKEW = 5 * 60
WEBHOOK_SKEW = 5 * 60
BEIJING = datetime.timezone(datetime.timedelta(hours=8))
URL_RE = re.compile(r"(?i)(https?://|www\.)")

# ---------------------------------------------------------------------------
# The three signature algorithms, written from the providers' documents.
# ---------------------------------------------------------------------------


def percent_encode(s):
    """RFC 3986 as Alibaba signs: A-Z a-z 0-9 - _ . ~ kept, the rest %XX per UTF-8 byte."""
    return urllib.parse.quote(s.encode("utf-8"), safe="-_.~")


def aliyun_canonical_query(pairs):
    """Sorted (by encoded name, then value), encoded k=v&k=v of (name, value) pairs."""
    enc = sorted((percent_encode(k), percent_encode(v)) for k, v in pairs)
    return "&".join(k + "=" + v for k, v in enc)


def aliyun_string_to_sign(method, pairs):
    """METHOD&%2F& + encode(canonical query)."""
    return method + "&%2F&" + percent_encode(aliyun_canonical_query(pairs))


def aliyun_signature(method, pairs, secret):
    """Base64(HMAC-SHA1(secret + '&', string-to-sign))."""
    sts = aliyun_string_to_sign(method, pairs)
    mac = hmac.new((secret + "&").encode("utf-8"), sts.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def tc3_date(ts):
    """The UTC date yyyy-mm-dd of Unix seconds ts."""
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d")


def tc3_canonical_request(headers, signed, body, method="POST", query=""):
    """The canonical request; headers maps lowercase names to values (trimmed, lowercased here)."""
    lines = "".join("%s:%s\n" % (h, headers[h].strip().lower()) for h in signed)
    return "%s\n/\n%s\n%s\n%s\n%s" % (
        method,
        query,
        lines,
        ";".join(signed),
        hashlib.sha256(body).hexdigest(),
    )


def tc3_signature(secret_key, service, ts, canonical_request):
    """(hex sha256 of the canonical request, hex signature)."""
    date = tc3_date(ts)
    canon_hash = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    sts = "TC3-HMAC-SHA256\n%d\n%s/%s/tc3_request\n%s" % (ts, date, service, canon_hash)

    def h(key, msg):
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    k = h(("TC3" + secret_key).encode("utf-8"), date)
    k = h(k, service)
    k = h(k, "tc3_request")
    return canon_hash, hmac.new(k, sts.encode("utf-8"), hashlib.sha256).hexdigest()


def tc3_authorization(secret_id, secret_key, service, host, content_type, action, ts, body):
    """(canonical hash, Authorization value); action None = x-tc-action not signed."""
    headers = {"content-type": content_type, "host": host}
    signed = ["content-type", "host"]
    if action is not None:
        headers["x-tc-action"] = action
        signed.append("x-tc-action")
    canon_hash, sig = tc3_signature(
        secret_key, service, ts, tc3_canonical_request(headers, signed, body)
    )
    auth = "TC3-HMAC-SHA256 Credential=%s/%s/%s/tc3_request, SignedHeaders=%s, Signature=%s" % (
        secret_id,
        tc3_date(ts),
        service,
        ";".join(signed),
        sig,
    )
    return canon_hash, auth


def webhook_key(secret):
    """The HMAC key: Base64 decoding of the secret after its optional whsec_ prefix."""
    if secret.startswith("whsec_"):
        secret = secret[len("whsec_") :]
    return base64.b64decode(secret, validate=True)


def webhook_signature(secret, msg_id, ts, body):
    """'v1,' + Base64(HMAC-SHA256(key, id.ts.body))."""
    msg = msg_id.encode("utf-8") + b"." + str(int(ts)).encode("ascii") + b"." + body
    mac = hmac.new(webhook_key(secret), msg, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def webhook_verify(secret, msg_id, ts, body, header):
    """True if any space-separated v1 entry of header matches (constant-time compare)."""
    want = webhook_signature(secret, msg_id, ts, body).encode("ascii")
    ok = False
    for entry in header.split(" "):
        if entry.startswith("v1,") and hmac.compare_digest(entry.encode("ascii", "replace"), want):
            ok = True
    return ok


# ---------------------------------------------------------------------------
# The gateway's state.
# ---------------------------------------------------------------------------


def now_iso(t):
    """RFC 3339 UTC with milliseconds."""
    dt = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def phone_key(phone):
    """A phone number reduced for comparison: +86/0086/86 prefix of an 11-digit number dropped."""
    p = phone.strip()
    if p.startswith("+"):
        p = p[1:]
    elif p.startswith("00"):
        p = p[2:]
    if len(p) == 13 and p.startswith("86"):
        p = p[2:]
    return p


class State:
    """Everything the gateway remembers; one lock guards it all."""

    def __init__(self, keys):
        self.keys = keys
        self.lock = threading.Lock()
        self.nonces = {}  # Alibaba SignatureNonce -> first use (Unix seconds)
        self.receipts_failed = 0
        self.receipts_retried = 0
        self.reset()

    def reset(self):
        """Forget messages, webhook ids, faults and the rejection count (not nonces)."""
        self.messages = []
        self.calls = []  # every authenticated send call: provider, phones, outcome, time
        self.webhook_ids = {}  # webhook-id -> our message id
        self.rejected = 0
        self.faults = {
            "delay_ms": 0,
            "fail_5xx": 0,
            "throttle": 0,
            "reject_phones": [],
            "provider": None,
            "for_phones": [],
            "receipts": True,
            "receipt_delay_ms": None,
        }

    def applies(self, provider):
        """True if the faults are scoped to this provider (or to all)."""
        return self.faults["provider"] in (None, provider)

    def take_fault(self, provider, phones=()):
        """'5xx', 'throttle' or None for the next send call of provider (to phones); consumes one."""
        if not self.applies(provider):
            return None
        only = {phone_key(p) for p in self.faults["for_phones"]}
        if only and not any(phone_key(p) in only for p in phones):
            return None
        if self.faults["fail_5xx"] > 0:
            self.faults["fail_5xx"] -= 1
            return "5xx"
        if self.faults["throttle"] > 0:
            self.faults["throttle"] -= 1
            return "throttle"
        return None

    def rejected_phone(self, provider, phone):
        """True if phone is in reject_phones and the faults apply to provider."""
        if not self.applies(provider):
            return False
        return phone_key(phone) in {phone_key(p) for p in self.faults["reject_phones"]}

    def record_call(self, provider, phones, outcome):
        """One send call in the call log, under the lock; returns outcome."""
        t = time.time()
        self.calls.append({"provider": provider, "phones": list(phones), "outcome": outcome,
                           "received_at": now_iso(t), "t": round(t, 3)})
        return outcome

    def delay(self, provider):
        """Seconds to hold the answer of a send call of provider."""
        return self.faults["delay_ms"] / 1000.0 if self.applies(provider) else 0.0


class Reply(Exception):
    """An answer decided early: status, JSON object, extra headers."""

    def __init__(self, status, obj, headers=None):
        super().__init__(status)
        self.status, self.obj, self.headers = status, obj, headers or {}


def request_id():
    return str(uuid.uuid4()).upper()


# ---------------------------------------------------------------------------
# Alibaba Cloud: Dysmsapi over RPC signature v1.
# ---------------------------------------------------------------------------


def aliyun_error(status, code, message, rid):
    return Reply(status, {"Code": code, "Message": message, "RequestId": rid})


def aliyun_handle(state, method, query, body, ctype):
    """One Alibaba call; returns (status, obj, delay) or raises Reply."""
    rid = request_id()
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, errors="strict")
        if method == "POST" and ctype.split(";")[0].strip().lower() == (
            "application/x-www-form-urlencoded"
        ):
            pairs += urllib.parse.parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, errors="strict"
            )
    except (UnicodeDecodeError, ValueError):
        raise aliyun_error(400, "InvalidParameter", "parameters are not UTF-8 form encoding", rid)
    params = dict(pairs)
    signed = [(k, v) for k, v in pairs if k != "Signature"]

    with state.lock:
        try:
            for name in ("AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce",
                         "SignatureVersion", "Timestamp"):
                if not params.get(name):
                    raise aliyun_error(400, "Missing" + name, name + " is mandatory", rid)
            if params["AccessKeyId"] != state.keys.aliyun_key_id:
                raise aliyun_error(404, "InvalidAccessKeyId.NotFound",
                                   "Specified access key is not found.", rid)
            if params["SignatureMethod"] != "HMAC-SHA1":
                raise aliyun_error(400, "InvalidSignatureMethod",
                                   "Specified signature method is not supported.", rid)
            if params["SignatureVersion"] != "1.0":
                raise aliyun_error(400, "InvalidSignatureVersion",
                                   "Specified signature version is not supported.", rid)
            try:
                ts = datetime.datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
            except ValueError:
                raise aliyun_error(400, "InvalidTimeStamp.Format",
                                   "Specified time stamp or date value is not well formatted.",
                                   rid)
            skew = abs(ts.replace(tzinfo=datetime.timezone.utc).timestamp() - time.time())
            if skew > ALIYUN_SKEW:
                raise aliyun_error(400, "InvalidTimeStamp.Expired",
                                   "Specified time stamp or date value is expired.", rid)
            want = aliyun_signature(method, signed, state.keys.aliyun_secret)
            if not hmac.compare_digest(want.encode(), params["Signature"].encode("utf-8")):
                raise aliyun_error(
                    400, "SignatureDoesNotMatch",
                    "Specified signature is not matched with our calculation. "
                    "server string to sign is:" + aliyun_string_to_sign(method, signed), rid)
            nonce = params["SignatureNonce"]
            if nonce in state.nonces:
                raise aliyun_error(400, "SignatureNonceUsed",
                                   "Specified signature nonce was used already.", rid)
            state.nonces[nonce] = time.time()
        except Reply:
            state.rejected += 1
            raise

        if params.get("Version") != "2017-05-25":
            raise aliyun_error(400, "InvalidVersion", "Specified parameter Version is not valid.",
                               rid)
        action = params.get("Action")
        if action == "SendSms":
            return aliyun_send(state, params, rid)
        if action == "QuerySendDetails":
            return aliyun_query(state, params, rid)
        raise aliyun_error(404, "InvalidAction.NotFound",
                           "Specified api is not found, please check your url and method.", rid)


def aliyun_send(state, params, rid):
    """SendSms, under state.lock."""
    for name in ("PhoneNumbers", "SignName", "TemplateCode"):
        if not params.get(name):
            raise aliyun_error(400, "Missing" + name, name + " is mandatory", rid)
    delay = state.delay("aliyun")
    fault = state.take_fault("aliyun", params["PhoneNumbers"].split(","))
    if fault:
        state.record_call("aliyun", params["PhoneNumbers"].split(","), fault)
    if fault == "5xx":
        return 500, {"Code": "isp.SYSTEM_ERROR", "Message": "isp.SYSTEM_ERROR",
                     "RequestId": rid}, delay
    if fault == "throttle":
        return 200, {"Code": "isv.BUSINESS_LIMIT_CONTROL",
                     "Message": "触发分钟级流控Permits:1", "RequestId": rid}, delay
    phones = params["PhoneNumbers"].split(",")
    for p in phones:
        if not re.fullmatch(r"(\+|00)?\d{5,20}", p) or state.rejected_phone("aliyun", p):
            state.record_call("aliyun", phones, "rejected")
            return 200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号",
                         "RequestId": rid}, delay
    tparams = {}
    if params.get("TemplateParam"):
        try:
            tparams = json.loads(params["TemplateParam"])
        except ValueError:
            tparams = None
        if not isinstance(tparams, dict) or not all(isinstance(v, str) for v in tparams.values()):
            return 200, {"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法，只接受字符串值",
                         "RequestId": rid}, delay
        if any(URL_RE.search(v) for v in tparams.values()):
            return 200, {"Code": "isv.PARAM_NOT_SUPPORT_URL", "Message": "不支持URL",
                         "RequestId": rid}, delay
    biz_id = "%d^0" % secrets.randbelow(10**18)
    state.record_call("aliyun", phones, "accepted")
    t = time.time()
    for p in phones:
        state.messages.append({
            "provider": "aliyun", "id": biz_id, "phone": p,
            "template": params["TemplateCode"], "params": tparams,
            "sign_name": params["SignName"], "out_id": params.get("OutId"),
            "received_at": now_iso(t), "_t": t,
        })
        schedule_receipt(state, state.messages[-1])
    return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": rid}, delay


def aliyun_query(state, params, rid):
    """QuerySendDetails, under state.lock: what this gateway accepted for one phone and day."""
    for name in ("PhoneNumber", "SendDate", "PageSize", "CurrentPage"):
        if not params.get(name):
            raise aliyun_error(400, "Missing" + name, name + " is mandatory", rid)
    try:
        size, page = int(params["PageSize"]), int(params["CurrentPage"])
        day = datetime.datetime.strptime(params["SendDate"], "%Y%m%d").date()
    except ValueError:
        return 200, {"Code": "isv.INVALID_PARAMETERS", "Message": "参数异常",
                     "RequestId": rid}, 0.0
    if not 1 <= size <= 50 or page < 1:
        return 200, {"Code": "isv.INVALID_PARAMETERS", "Message": "参数异常",
                     "RequestId": rid}, 0.0
    biz = params.get("BizId")
    found = [m for m in state.messages
             if m["provider"] == "aliyun"
             and phone_key(m["phone"]) == phone_key(params["PhoneNumber"])
             and datetime.datetime.fromtimestamp(m["_t"], BEIJING).date() == day
             and (not biz or m["id"] == biz)]
    dtos = []
    for m in found[(page - 1) * size: page * size]:
        sent = datetime.datetime.fromtimestamp(m["_t"], BEIJING)
        dtos.append({
            "PhoneNum": m["phone"], "SendStatus": 3, "ErrCode": "DELIVERED",
            "Content": "【%s】%s %s" % (m["sign_name"], m["template"],
                                      json.dumps(m["params"], ensure_ascii=False)),
            "OutId": m["out_id"] or "", "TemplateCode": m["template"],
            "SendDate": sent.strftime("%Y-%m-%d %H:%M:%S"),
            "ReceiveDate": (sent + datetime.timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S"),
        })
    return 200, {"Code": "OK", "Message": "OK", "RequestId": rid, "TotalCount": len(found),
                 "SmsSendDetailDTOs": {"SmsSendDetailDTO": dtos}}, 0.0


# ---------------------------------------------------------------------------
# Tencent Cloud: SMS 2021-01-11 over TC3-HMAC-SHA256.
# ---------------------------------------------------------------------------

AUTH_RE = re.compile(
    r"TC3-HMAC-SHA256 Credential=([^/\s]+)/(\d{4}-\d{2}-\d{2})/([a-z0-9]+)/tc3_request,\s*"
    r"SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})"
)


def tencent_error(code, message, rid):
    return Reply(200, {"Response": {"Error": {"Code": code, "Message": message},
                                    "RequestId": rid}})


def tencent_handle(state, headers, body):
    """One Tencent call; returns (status, obj, delay) or raises Reply."""
    rid = str(uuid.uuid4())
    hdr = {k.lower(): v for k, v in headers.items()}
    with state.lock:
        try:
            m = AUTH_RE.fullmatch(hdr.get("authorization", "").strip())
            if not m:
                raise tencent_error("AuthFailure.InvalidAuthorization",
                                    "Authorization header is missing or malformed.", rid)
            sid, date, service, signed_list, sig = m.groups()
            signed = signed_list.split(";")
            if sid != state.keys.tencent_secret_id:
                raise tencent_error("AuthFailure.SecretIdNotFound", "The SecretId is not found.",
                                    rid)
            try:
                ts = int(hdr.get("x-tc-timestamp", ""))
            except ValueError:
                raise tencent_error("AuthFailure.InvalidAuthorization",
                                    "X-TC-Timestamp is missing or not an integer.", rid)
            if abs(ts - time.time()) > TENCENT_SKEW:
                raise tencent_error("AuthFailure.SignatureExpire",
                                    "Signature expired. Timestamp and server time differ "
                                    "by more than 5 minutes.", rid)
            if ("content-type" not in signed or "host" not in signed
                    or signed != sorted(set(signed))
                    or any(h not in hdr for h in signed)):
                raise tencent_error("AuthFailure.SignatureFailure",
                                    "SignedHeaders must list content-type and host, sorted, "
                                    "each present in the request.", rid)
            if date != tc3_date(ts) or service != "sms":
                raise tencent_error("AuthFailure.SignatureFailure",
                                    "The credential scope's date or service is wrong.", rid)
            canon = tc3_canonical_request(hdr, signed, body)
            _, want = tc3_signature(state.keys.tencent_secret_key, service, ts, canon)
            if not hmac.compare_digest(want, sig):
                raise tencent_error("AuthFailure.SignatureFailure",
                                    "The provided credentials could not be validated. "
                                    "Please check your signature is correct.", rid)
        except Reply:
            state.rejected += 1
            raise

        action = hdr.get("x-tc-action", "")
        if hdr.get("x-tc-version") != "2021-01-11":
            raise tencent_error("NoSuchVersion", "The API version does not exist.", rid)
        if not hdr.get("x-tc-region"):
            raise tencent_error("MissingParameter", "X-TC-Region is missing.", rid)
        if not hdr.get("content-type", "").lower().startswith("application/json"):
            raise tencent_error("InvalidParameter", "Content-Type must be application/json.",
                                rid)
        try:
            req = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            req = None
        if not isinstance(req, dict):
            raise tencent_error("FailedOperation.JsonParseFail", "The body is not a JSON object.",
                                rid)
        if req.get("SmsSdkAppId") != state.keys.tencent_app_id:
            raise tencent_error("UnauthorizedOperation.SmsSdkAppIdVerifyFail",
                                "SmsSdkAppId verification failed.", rid)
        if action == "SendSms":
            return tencent_send(state, req, rid)
        if action == "PullSmsSendStatusByPhoneNumber":
            return tencent_pull(state, req, rid)
        raise tencent_error("InvalidAction", "The action does not exist.", rid)


def tencent_send(state, req, rid):
    """SendSms, under state.lock."""
    phones = req.get("PhoneNumberSet")
    tparams = req.get("TemplateParamSet", [])
    for name in ("TemplateId", "SignName"):
        if not isinstance(req.get(name), str) or not req[name]:
            raise tencent_error("MissingParameter", name + " is missing.", rid)
    if not isinstance(phones, list) or not phones or not all(isinstance(p, str) for p in phones):
        raise tencent_error("MissingParameter", "PhoneNumberSet is missing.", rid)
    if len(phones) > 200:
        raise tencent_error("LimitExceeded.PhoneNumberCountLimit",
                            "More than 200 phone numbers.", rid)
    if not isinstance(tparams, list) or not all(isinstance(p, str) for p in tparams):
        raise tencent_error("InvalidParameterValue.TemplateParameterFormatError",
                            "TemplateParamSet must be an array of strings.", rid)
    if any(URL_RE.search(p) for p in tparams):
        raise tencent_error("InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
                            "URLs are not allowed in template parameters.", rid)
    session = req.get("SessionContext", "")
    delay = state.delay("tencent")
    fault = state.take_fault("tencent", phones)
    state.record_call("tencent", phones, fault or (
        "rejected" if any(not re.fullmatch(r"\+\d{6,15}", p) or state.rejected_phone("tencent", p)
                          for p in phones) else "accepted"))
    if fault == "5xx":
        return 200, {"Response": {"Error": {"Code": "InternalError.Timeout",
                                            "Message": "Request timed out."},
                                  "RequestId": rid}}, delay
    t = time.time()
    out = []
    for p in phones:
        entry = {"SerialNo": "", "PhoneNumber": p, "Fee": 0, "SessionContext": session,
                 "IsoCode": "CN" if p.startswith("+86") else ""}
        if fault == "throttle":
            entry.update(Code="LimitExceeded.PhoneNumberThirtySecondLimit",
                         Message="the number of sms messages sent from a single mobile number "
                                 "within 30 seconds exceeds the upper limit")
        elif not re.fullmatch(r"\+\d{6,15}", p) or state.rejected_phone("tencent", p):
            entry.update(Code="InvalidParameterValue.IncorrectPhoneNumber",
                         Message="incorrect phone number", IsoCode="")
        else:
            serial = "2640:%d" % secrets.randbelow(10**19)
            entry.update(SerialNo=serial, Fee=1, Code="Ok", Message="send success")
            state.messages.append({
                "provider": "tencent", "id": serial, "phone": p,
                "template": req["TemplateId"], "params": tparams, "sign_name": req["SignName"],
                "session_context": session, "received_at": now_iso(t), "_t": t,
            })
            schedule_receipt(state, state.messages[-1])
        out.append(entry)
    return 200, {"Response": {"SendStatusSet": out, "RequestId": rid}}, delay


def tencent_pull(state, req, rid):
    """PullSmsSendStatusByPhoneNumber, under state.lock."""
    for name in ("BeginTime", "Offset", "Limit", "PhoneNumber"):
        if name not in req:
            raise tencent_error("MissingParameter", name + " is missing.", rid)
    try:
        begin, offset, limit = int(req["BeginTime"]), int(req["Offset"]), int(req["Limit"])
        end = int(req["EndTime"]) if "EndTime" in req else None
    except (TypeError, ValueError):
        raise tencent_error("InvalidParameterValue", "BeginTime, Offset, Limit are integers.",
                            rid)
    if not 0 < limit <= 100 or offset < 0:
        raise tencent_error("InvalidParameterValue", "Limit is 1..100, Offset at least 0.", rid)
    found = [m for m in state.messages
             if m["provider"] == "tencent"
             and phone_key(m["phone"]) == phone_key(str(req["PhoneNumber"]))
             and m["_t"] >= begin and (end is None or m["_t"] <= end)]
    out = []
    for m in found[offset: offset + limit]:
        number = m["phone"]
        out.append({
            "UserReceiveTime": int(m["_t"]) + 1,
            "CountryCode": "86" if number.startswith("+86") else "",
            "SubscriberNumber": number[3:] if number.startswith("+86") else number.lstrip("+"),
            "PhoneNumber": number, "SerialNo": m["id"], "ReportStatus": "SUCCESS",
            "Description": "用户接收成功", "SessionContext": m["session_context"],
        })
    return 200, {"Response": {"PullSmsSendStatusSet": out, "RequestId": rid}}, 0.0


# ---------------------------------------------------------------------------
# Generic webhook: Standard Webhooks.
# ---------------------------------------------------------------------------


def webhook_handle(state, headers, body):
    """One webhook delivery; returns (status, obj, delay) or raises Reply."""
    hdr = {k.lower(): v for k, v in headers.items()}
    msg_id, ts_s, sig = (hdr.get("webhook-id"), hdr.get("webhook-timestamp"),
                         hdr.get("webhook-signature"))
    with state.lock:
        try:
            if not msg_id or not ts_s or not sig:
                raise Reply(400, {"error": "webhook-id, webhook-timestamp and webhook-signature "
                                           "are required"})
            try:
                ts = int(ts_s)
            except ValueError:
                raise Reply(400, {"error": "webhook-timestamp is not an integer"})
            if abs(ts - time.time()) > WEBHOOK_SKEW:
                raise Reply(401, {"error": "webhook-timestamp outside the 5-minute window"})
            if not webhook_verify(state.keys.webhook_secret, msg_id, ts, body, sig):
                raise Reply(401, {"error": "no matching signature"})
        except Reply:
            state.rejected += 1
            raise

        if msg_id in state.webhook_ids:
            state.record_call("webhook", [], "repeated")
            return 200, {"id": state.webhook_ids[msg_id]}, state.delay("webhook")
        try:
            req = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            req = None
        if (not isinstance(req, dict) or not isinstance(req.get("phone"), str)
                or not isinstance(req.get("template"), str)
                or not isinstance(req.get("params", {}), dict)
                or not isinstance(req.get("sign_name", ""), str)):
            raise Reply(400, {"error": "body must be {phone, template, params, sign_name}"})
        params = req.get("params", {})
        delay = state.delay("webhook")
        fault = state.take_fault("webhook", [req["phone"]])
        bad = not re.fullmatch(r"\+?\d{5,20}", req["phone"]) or state.rejected_phone(
            "webhook", req["phone"]) or any(isinstance(v, str) and URL_RE.search(v)
                                            for v in params.values())
        state.record_call("webhook", [req["phone"]], fault or ("rejected" if bad else "accepted"))
        if fault == "5xx":
            return 503, {"error": "gateway unavailable"}, delay
        if fault == "throttle":
            return 429, {"error": "too many requests"}, delay
        if not re.fullmatch(r"\+?\d{5,20}", req["phone"]) or state.rejected_phone(
                "webhook", req["phone"]):
            return 422, {"error": "phone number rejected"}, delay
        if any(isinstance(v, str) and URL_RE.search(v) for v in params.values()):
            return 422, {"error": "URLs are not allowed in template parameters"}, delay
        t = time.time()
        our_id = "gw_" + secrets.token_hex(12)
        state.webhook_ids[msg_id] = our_id
        state.messages.append({
            "provider": "webhook", "id": our_id, "phone": req["phone"],
            "template": req["template"], "params": params, "sign_name": req.get("sign_name"),
            "webhook_id": msg_id, "received_at": now_iso(t), "_t": t,
        })
        schedule_receipt(state, state.messages[-1])
        return 200, {"id": our_id}, delay


# ---------------------------------------------------------------------------
# Delivery receipts pushed to the client (opt-in).
# ---------------------------------------------------------------------------


def receipt_request(keys, m):
    """(url, body bytes, headers) of the delivery receipt of message m, or None."""
    url = getattr(keys, "receipt_url_" + m["provider"], None)
    if not url:
        return None
    t = time.time()
    beijing = datetime.datetime.fromtimestamp(t, BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    sent = datetime.datetime.fromtimestamp(m["_t"], BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    token = getattr(keys, "receipt_token", "") or ""
    if m["provider"] == "aliyun":
        body = [{"phone_number": m["phone"], "send_time": sent, "report_time": beijing,
                 "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功",
                 "sms_size": "1", "biz_id": m["id"], "out_id": m["out_id"] or ""}]
    elif m["provider"] == "tencent":
        body = [{"user_receive_time": beijing, "nationcode": "86",
                 "mobile": m["phone"][3:] if m["phone"].startswith("+86") else m["phone"],
                 "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功",
                 "sid": m["id"]}]
    else:
        body = {"reference": m["webhook_id"], "id": m["id"], "status": "delivered"}
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if m["provider"] == "webhook":
        # the same webhook-id on every attempt, as Standard Webhooks re-sends do
        msg_id = m.setdefault("_receipt_id", "rcpt_" + secrets.token_hex(12))
        headers.update({"webhook-id": msg_id, "webhook-timestamp": str(int(t)),
                        "webhook-signature": webhook_signature(keys.webhook_secret, msg_id,
                                                               int(t), raw)})
    else:
        url += ("&" if "?" in url else "?") + "token=" + urllib.parse.quote(token)
    return url, raw, headers


def push_receipt(state, m, attempt=0):
    """POST one receipt; one that is not answered 2xx is pushed again after the
    next delay of the retry schedule, and counted as failed after the last."""
    r = receipt_request(state.keys, m)
    if r is None:
        return
    url, raw, headers = r
    try:
        req = urllib.request.Request(url, data=raw, method="POST", headers=headers)
        with urllib.request.urlopen(req, timeout=5) as resp:
            ok = 200 <= resp.status < 300
    except (OSError, ValueError):
        ok = False
    if ok:
        return
    schedule = getattr(state.keys, "receipt_retry_s", None)
    if schedule is None:
        schedule = [60.0, 300.0, 600.0]
    with state.lock:
        if attempt >= len(schedule):
            state.receipts_failed += 1
            return
        state.receipts_retried += 1
    timer = threading.Timer(schedule[attempt], push_receipt, (state, m, attempt + 1))
    timer.daemon = True
    timer.start()


def schedule_receipt(state, m):
    """Push m's receipt receipt_delay_ms from now, if a receipt URL is configured for it."""
    if state.faults["receipts"] and getattr(state.keys, "receipt_url_" + m["provider"], None):
        delay_ms = state.faults["receipt_delay_ms"]
        if delay_ms is None:
            delay_ms = getattr(state.keys, "receipt_delay_ms", None) or 500
        timer = threading.Timer(delay_ms / 1000.0, push_receipt, (state, dict(m)))
        timer.daemon = True
        timer.start()


# ---------------------------------------------------------------------------
# The control API.
# ---------------------------------------------------------------------------


def control_handle(state, body):
    try:
        req = json.loads(body.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        req = None
    if not isinstance(req, dict):
        raise Reply(400, {"error": "body must be a JSON object"})
    new = {}
    for name in ("delay_ms", "fail_5xx", "throttle", "receipt_delay_ms"):
        if name in req:
            v = req[name]
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise Reply(400, {"error": name + " must be a non-negative integer"})
            new[name] = v
    for name in ("reject_phones", "for_phones"):
        if name in req:
            v = req[name]
            if not isinstance(v, list) or not all(isinstance(p, str) for p in v):
                raise Reply(400, {"error": name + " must be an array of strings"})
            new[name] = list(v)
    if "receipts" in req:
        if not isinstance(req["receipts"], bool):
            raise Reply(400, {"error": "receipts must be true or false"})
        new["receipts"] = req["receipts"]
    if "provider" in req:
        if req["provider"] not in (None, "aliyun", "tencent", "webhook"):
            raise Reply(400, {"error": "provider is aliyun, tencent, webhook or null"})
        new["provider"] = req["provider"]
    unknown = set(req) - {"delay_ms", "fail_5xx", "throttle", "reject_phones", "provider",
                          "for_phones", "receipts", "receipt_delay_ms"}
    if unknown:
        raise Reply(400, {"error": "unknown keys: " + ", ".join(sorted(unknown))})
    with state.lock:
        state.faults.update(new)
        return 200, {"faults": dict(state.faults)}, 0.0


def messages_handle(state):
    with state.lock:
        msgs = [{k: v for k, v in m.items() if not k.startswith("_")} for m in state.messages]
        return 200, {"messages": msgs, "calls": list(state.calls),
                     "rejected_signatures": state.rejected,
                     "receipts_failed": state.receipts_failed,
                     "receipts_retried": state.receipts_retried}, 0.0


# ---------------------------------------------------------------------------
# HTTP.
# ---------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sms_gateway/1"

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("sms_gateway: %s %s\n" % (self.address_string(), fmt % args))

    def read_body(self):
        """The request body (Content-Length or chunked), at most MAX_BODY bytes."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > MAX_BODY:
                    raise Reply(413, {"error": "body too large"}, {"Connection": "close"})
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise Reply(413, {"error": "body too large"}, {"Connection": "close"})
        return self.rfile.read(n)

    def answer(self, status, obj, headers=None):
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def route(self, method):
        state = self.server.state
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        delay = 0.0
        extra = {}
        try:
            body = self.read_body() if method == "POST" else b""
            if path in ("/aliyun/", "/aliyun") and method in ("GET", "POST"):
                status, obj, delay = aliyun_handle(state, method, url.query, body,
                                                   self.headers.get("Content-Type", ""))
            elif path in ("/tencent/", "/tencent") and method == "POST":
                status, obj, delay = tencent_handle(state, self.headers, body)
            elif path == "/webhook" and method == "POST":
                status, obj, delay = webhook_handle(state, self.headers, body)
                if status == 429:
                    extra["Retry-After"] = "1"
            elif path == "/_control" and method == "POST":
                status, obj, delay = control_handle(state, body)
            elif path == "/_messages" and method == "GET":
                status, obj, delay = messages_handle(state)
            elif path == "/_reset" and method == "POST":
                with state.lock:
                    state.reset()
                status, obj = 200, {"ok": True}
            elif path == "/_health" and method == "GET":
                status, obj = 200, {"ok": True}
            else:
                status, obj = 404, {"error": "no such endpoint: %s %s" % (method, path)}
        except Reply as r:
            status, obj, extra = r.status, r.obj, r.headers
        except (ValueError, OSError) as e:
            status, obj, extra = 400, {"error": "bad request: %s" % e}, {"Connection": "close"}
        if delay > 0:
            time.sleep(delay)
        try:
            self.answer(status, obj, extra)
        except OSError:
            pass  # the client gave up (e.g. its timeout fired during the delay)
        if extra.get("Connection") == "close":
            self.close_connection = True

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")


def make_server(keys, bind="127.0.0.1", port=0, quiet=False):
    """A ThreadingHTTPServer on bind:port (0 = a free port) holding a fresh State."""
    srv = ThreadingHTTPServer((bind, port), Handler)
    srv.daemon_threads = True
    srv.state = State(keys)
    srv.quiet = quiet
    return srv


# ---------------------------------------------------------------------------
# Client functions: how a correct client signs. Used by --self-test and by
# Python tests that want to talk to the gateway directly.
# ---------------------------------------------------------------------------


def http(method, url, body=None, headers=None, timeout=10):
    """(status, parsed JSON) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def aliyun_call(base, key_id, secret, params, method="POST", nonce=None, timestamp=None):
    """Sign and send one Alibaba RPC call; params are the action's own (Action included)."""
    common = {
        "Version": "2017-05-25", "RegionId": "cn-hangzhou", "Format": "JSON",
        "AccessKeyId": key_id, "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
        "SignatureNonce": nonce or str(uuid.uuid4()),
        "Timestamp": timestamp or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    pairs = list({**common, **params}.items())
    sig = aliyun_signature(method, pairs, secret)
    q = aliyun_canonical_query(pairs) + "&Signature=" + percent_encode(sig)
    if method == "GET":
        return http("GET", base + "?" + q)
    return http("POST", base, q.encode(), {"Content-Type": "application/x-www-form-urlencoded"})


def tencent_call(base, secret_id, secret_key, action, payload, sign_action=True, ts=None):
    """Sign (TC3) and send one Tencent SMS call."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    host = urllib.parse.urlsplit(base).netloc
    ts = int(time.time()) if ts is None else ts
    ctype = "application/json; charset=utf-8"
    _, auth = tc3_authorization(secret_id, secret_key, "sms", host, ctype,
                                action if sign_action else None, ts, body)
    return http("POST", base, body, {
        "Content-Type": ctype, "Authorization": auth, "X-TC-Action": action,
        "X-TC-Version": "2021-01-11", "X-TC-Timestamp": str(ts), "X-TC-Region": "ap-guangzhou",
    })


def webhook_call(base, secret, payload, msg_id=None, ts=None, body=None):
    """Sign (Standard Webhooks) and send one delivery; body overrides the signed bytes."""
    signed = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    msg_id = msg_id or "msg_" + secrets.token_hex(12)
    ts = int(time.time()) if ts is None else ts
    return msg_id, http("POST", base, body if body is not None else signed, {
        "Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(ts),
        "webhook-signature": webhook_signature(secret, msg_id, ts, signed),
    })


# ---------------------------------------------------------------------------
# --self-test: the published vectors, then a round trip through a live gateway.
# ---------------------------------------------------------------------------


def self_test_receipts(keys, check, eq):
    """Receipts pushed to a capturing server: Alibaba's with the token, the webhook's signed;
    the webhook's first push answered 503 and pushed again, with the same webhook-id."""
    got = []
    refused = []

    class Capture(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            entry = (self.path, {k.lower(): v for k, v in self.headers.items()},
                     self.rfile.read(n))
            if self.path.startswith("/wh") and not refused:
                refused.append(entry)
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            got.append(entry)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    cap = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=cap.serve_forever, daemon=True).start()
    rk = argparse.Namespace(**vars(keys))
    cbase = "http://127.0.0.1:%d" % cap.server_address[1]
    rk.receipt_url_aliyun, rk.receipt_url_webhook = cbase + "/ali", cbase + "/wh"
    rk.receipt_token, rk.receipt_delay_ms, rk.receipt_retry_s = "tok en", 10, [0.2]
    srv = make_server(rk, quiet=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        s, r = aliyun_call(base + "/aliyun/", rk.aliyun_key_id, rk.aliyun_secret, {
            "Action": "SendSms", "PhoneNumbers": "13800000007", "SignName": "善堂",
            "TemplateCode": "SMS_1", "OutId": "out-7"})
        eq(r.get("Code"), "OK", "receipts: aliyun send")
        mid, (s, r) = webhook_call(base + "/webhook", rk.webhook_secret,
                                   {"phone": "13800000008", "template": "t", "params": {}})
        eq(s, 200, "receipts: webhook send")
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        by = {path.split("?")[0]: (path, h, b) for path, h, b in got}
        ali = by.get("/ali")
        check(ali is not None and ali[0].endswith("?token=tok%20en")
              and json.loads(ali[2])[0]["out_id"] == "out-7"
              and json.loads(ali[2])[0]["success"] is True, "receipts: aliyun SmsReport with token")
        wh = by.get("/wh")
        check(wh is not None and json.loads(wh[2]) == {"reference": mid, "id": json.loads(
            wh[2])["id"], "status": "delivered"} and webhook_verify(
            rk.webhook_secret, wh[1]["webhook-id"], int(wh[1]["webhook-timestamp"]), wh[2],
            wh[1]["webhook-signature"]), "receipts: webhook receipt signed")
        check(len(refused) == 1 and wh is not None
              and refused[0][1]["webhook-id"] == wh[1]["webhook-id"],
              "receipts: a refused push is pushed again with the same webhook-id")
        s, r = http("GET", base + "/_messages")
        eq((r["receipts_retried"], r["receipts_failed"]), (1, 0), "receipts: one re-push counted")
    finally:
        srv.shutdown()
        srv.server_close()
        cap.shutdown()
        cap.server_close()


def self_test():
    failures = []
    passed = [0]

    def check(cond, what):
        if cond:
            passed[0] += 1
        else:
            failures.append(what)
            sys.stderr.write("FAIL: %s\n" % what)

    def eq(got, want, what):
        check(got == want, "%s: got %r, want %r" % (what, got, want))

    # Alibaba Cloud, "Signature mechanism" page of the RPC API docs (SMS.md vector A).
    a = [("AccessKeyId", "testid"), ("Action", "DescribeRegions"), ("Format", "XML"),
         ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
         ("Timestamp", "2016-02-23T12:46:24Z"), ("Version", "2014-05-26"),
         ("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0")]
    eq(aliyun_string_to_sign("GET", a),
       "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod"
       "%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion"
       "%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26",
       "aliyun A string-to-sign")
    eq(aliyun_signature("GET", a, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=", "aliyun A GET")
    eq(aliyun_signature("POST", a, "testsecret"), "MxbnVAM4w6sft9xjVpe/GCKueuk=",
       "aliyun A POST (derived)")
    # Alibaba Cloud SMS document's SendSms example (SMS.md vector B).
    b = [("AccessKeyId", "testId"), ("Action", "SendSms"), ("Format", "XML"), ("OutId", "123"),
         ("PhoneNumbers", "15300000001"), ("RegionId", "cn-hangzhou"),
         ("SignName", "阿里云短信测试专用"),
         ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
         ("TemplateCode", "SMS_71390007"), ("TemplateParam", '{"customer":"test"}'),
         ("Timestamp", "2017-07-12T02:42:19Z"), ("Version", "2017-05-25"),
         ("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0")]
    eq(aliyun_signature("GET", b, "testSecret"), "zJDF+Lrzhj/ThnlvIToysFRq6t4=", "aliyun B GET")
    eq(aliyun_signature("POST", b, "testSecret"), "Xvhv7fPXrPkLVSnlt0jIr08o8NQ=",
       "aliyun B POST (derived)")
    eq(percent_encode("a b*~"), "a%20b%2A~", "percent_encode")

    # Tencent Cloud signature v3 document / TencentCloud/signature-process-demo.
    sid, skey = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "Gu5t9xGARNpq86cd98joQYCN3*******"
    body = (b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], '
            b'"Name": "instance-name"}]}')
    ct = "application/json; charset=utf-8"
    eq(hashlib.sha256(body).hexdigest(),
       "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064", "tc3 payload hash")
    h, auth = tc3_authorization(sid, skey, "cvm", "cvm.tencentcloudapi.com", ct, None,
                                1551113065, body)
    eq(h, "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031",
       "tc3 canonical hash, content-type;host")
    eq(auth, "TC3-HMAC-SHA256 Credential=%s/2019-02-25/cvm/tc3_request, "
       "SignedHeaders=content-type;host, "
       "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c" % sid,
       "tc3 authorization, content-type;host")
    h, auth = tc3_authorization(sid, skey, "cvm", "cvm.tencentcloudapi.com", ct,
                                "DescribeInstances", 1551113065, body)
    eq(h, "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84",
       "tc3 canonical hash, with x-tc-action")
    check(auth.endswith("SignedHeaders=content-type;host;x-tc-action, Signature="
                        "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3"),
          "tc3 authorization with x-tc-action: " + auth)
    sms = ('{"PhoneNumberSet":["+8618511122266"],"SmsSdkAppId":"1400006666","SignName":"腾讯云",'
           '"TemplateId":"1234","TemplateParamSet":["12345"]}').encode("utf-8")
    _, auth = tc3_authorization(sid, skey, "sms", "sms.tencentcloudapi.com", ct, "SendSms",
                                1551113065, sms)
    check(auth.endswith("Signature=4cff91227b1ccd9f3652efa1b7777bb4068727c1e9daed1b5fd1402c7dfadd92"),
          "tc3 SMS-shaped (derived): " + auth)

    # Standard Webhooks / Svix documentation.
    wsec, wid, wts = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
    wbody = b'{"test": 2432232314}'
    want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    eq(webhook_signature(wsec, wid, wts, wbody), want, "webhook vector")
    check(webhook_verify(wsec, wid, wts, wbody, "v1,bm90 " + want), "webhook verify")
    check(not webhook_verify(wsec, wid, wts, b'{"test": 2432232315}', want),
          "webhook verify refuses a tampered body")
    check(not webhook_verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx", wid, wts, wbody, want),
          "webhook verify refuses a wrong secret")

    # A live gateway, driven by the client functions above.
    keys = argparse.Namespace(
        aliyun_key_id="selftest-id", aliyun_secret="selftest-secret",
        tencent_secret_id="AKIDselftest", tencent_secret_key="selftest-key",
        tencent_app_id="1400000001",
        webhook_secret="whsec_" + base64.b64encode(b"selftest-webhook-key-32-bytes!!!").decode())
    srv = make_server(keys, quiet=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        al, tc, wh = base + "/aliyun/", base + "/tencent/", base + "/webhook"
        send = {"Action": "SendSms", "PhoneNumbers": "13800000001", "SignName": "善堂",
                "TemplateCode": "SMS_1", "TemplateParam": '{"code":"1234"}', "OutId": "o-1"}
        s, r = aliyun_call(al, keys.aliyun_key_id, keys.aliyun_secret, send)
        eq((s, r.get("Code")), (200, "OK"), "aliyun POST SendSms")
        s, r = aliyun_call(al, keys.aliyun_key_id, keys.aliyun_secret, send, method="GET",
                           nonce="fixed-nonce")
        eq((s, r.get("Code")), (200, "OK"), "aliyun GET SendSms")
        s, r = aliyun_call(al, keys.aliyun_key_id, keys.aliyun_secret, send, nonce="fixed-nonce")
        eq((s, r.get("Code")), (400, "SignatureNonceUsed"), "aliyun reused nonce")
        s, r = aliyun_call(al, keys.aliyun_key_id, "wrong", send)
        eq((s, r.get("Code")), (400, "SignatureDoesNotMatch"), "aliyun wrong secret")
        s, r = aliyun_call(al, keys.aliyun_key_id, keys.aliyun_secret, send,
                           timestamp="2016-02-23T12:46:24Z")
        eq((s, r.get("Code")), (400, "InvalidTimeStamp.Expired"), "aliyun old timestamp")
        s, r = aliyun_call(al, keys.aliyun_key_id, keys.aliyun_secret, {
            "Action": "QuerySendDetails", "PhoneNumber": "13800000001",
            "SendDate": datetime.datetime.now(BEIJING).strftime("%Y%m%d"),
            "PageSize": "10", "CurrentPage": "1"})
        eq((s, r.get("Code"), r.get("TotalCount")), (200, "OK", 2), "aliyun QuerySendDetails")
        dto = r.get("SmsSendDetailDTOs", {}).get("SmsSendDetailDTO", [{}])[0]
        eq((dto.get("SendStatus"), dto.get("OutId")), (3, "o-1"), "aliyun detail")

        tsend = {"PhoneNumberSet": ["+8613800000002"], "SmsSdkAppId": keys.tencent_app_id,
                 "SignName": "善堂", "TemplateId": "1001", "TemplateParamSet": ["1234"],
                 "SessionContext": "ctx-1"}
        for sign_action in (True, False):
            s, r = tencent_call(tc, keys.tencent_secret_id, keys.tencent_secret_key, "SendSms",
                                tsend, sign_action=sign_action)
            st = r.get("Response", {}).get("SendStatusSet", [{}])[0]
            eq((s, st.get("Code")), (200, "Ok"), "tencent SendSms, x-tc-action signed=%s"
               % sign_action)
        s, r = tencent_call(tc, keys.tencent_secret_id, "wrong", "SendSms", tsend)
        eq(r.get("Response", {}).get("Error", {}).get("Code"), "AuthFailure.SignatureFailure",
           "tencent wrong key")
        s, r = tencent_call(tc, keys.tencent_secret_id, keys.tencent_secret_key, "SendSms", tsend,
                            ts=int(time.time()) - 600)
        eq(r.get("Response", {}).get("Error", {}).get("Code"), "AuthFailure.SignatureExpire",
           "tencent old timestamp")
        s, r = tencent_call(tc, keys.tencent_secret_id, keys.tencent_secret_key,
                            "PullSmsSendStatusByPhoneNumber",
                            {"BeginTime": int(time.time()) - 60, "Offset": 0, "Limit": 10,
                             "PhoneNumber": "+8613800000002",
                             "SmsSdkAppId": keys.tencent_app_id})
        pulled = r.get("Response", {}).get("PullSmsSendStatusSet", [])
        eq([p.get("SessionContext") for p in pulled], ["ctx-1", "ctx-1"], "tencent pull status")

        wsend = {"phone": "+8613800000003", "template": "code", "params": {"code": "1"},
                 "sign_name": "善堂"}
        mid, (s, r) = webhook_call(wh, keys.webhook_secret, wsend)
        eq(s, 200, "webhook send")
        _, (s2, r2) = webhook_call(wh, keys.webhook_secret, wsend, msg_id=mid)
        eq((s2, r2.get("id")), (200, r.get("id")), "webhook repeated id answers the same id")
        _, (s, r) = webhook_call(wh, keys.webhook_secret, wsend,
                                 body=b'{"phone":"+8613800000009","template":"code"}')
        eq(s, 401, "webhook tampered body")
        _, (s, r) = webhook_call(wh, "whsec_" + base64.b64encode(b"x" * 32).decode(), wsend)
        eq(s, 401, "webhook wrong secret")

        s, r = http("GET", base + "/_messages")
        eq([m["provider"] for m in r["messages"]],
           ["aliyun", "aliyun", "tencent", "tencent", "webhook"], "messages recorded once each")
        eq(r["rejected_signatures"], 7, "rejected signatures counted")
        eq([(x["provider"], x["outcome"]) for x in r["calls"]],
           [("aliyun", "accepted"), ("aliyun", "accepted"), ("tencent", "accepted"),
            ("tencent", "accepted"), ("webhook", "accepted"), ("webhook", "repeated")],
           "every authenticated send call in the call log")

        ctl = lambda obj: http("POST", base + "/_control", json.dumps(obj).encode(),  # noqa
                               {"Content-Type": "application/json"})
        ctl({"fail_5xx": 1, "provider": "aliyun"})
        s, r = aliyun_call(al, keys.aliyun_key_id, keys.aliyun_secret, send)
        eq((s, r.get("Code")), (500, "isp.SYSTEM_ERROR"), "aliyun fail_5xx")
        s, r = aliyun_call(al, keys.aliyun_key_id, keys.aliyun_secret, send)
        eq((s, r.get("Code")), (200, "OK"), "aliyun after the fault")
        ctl({"throttle": 1, "provider": "tencent"})
        s, r = tencent_call(tc, keys.tencent_secret_id, keys.tencent_secret_key, "SendSms", tsend)
        eq(r["Response"]["SendStatusSet"][0]["Code"], "LimitExceeded.PhoneNumberThirtySecondLimit",
           "tencent throttle")
        ctl({"fail_5xx": 1})
        s, r = tencent_call(tc, keys.tencent_secret_id, keys.tencent_secret_key, "SendSms", tsend)
        eq(r["Response"].get("Error", {}).get("Code"), "InternalError.Timeout", "tencent 5xx")
        ctl({"reject_phones": ["13800000003"], "provider": None})
        _, (s, r) = webhook_call(wh, keys.webhook_secret, wsend)
        eq(s, 422, "webhook rejected phone (+86 prefix normalised)")
        ctl({"reject_phones": [], "throttle": 1, "provider": "webhook"})
        _, (s, r) = webhook_call(wh, keys.webhook_secret, wsend)
        eq(s, 429, "webhook throttle")
        ctl({"throttle": 1, "provider": "webhook", "for_phones": ["13800000009"]})
        _, (s, r) = webhook_call(wh, keys.webhook_secret, wsend)
        eq(s, 200, "for_phones: another number is not throttled")
        _, (s, r) = webhook_call(wh, keys.webhook_secret, dict(wsend, phone="+8613800000009"))
        eq(s, 429, "for_phones: the named number is throttled")
        s, r = http("GET", base + "/_messages")
        eq([x["outcome"] for x in r["calls"][6:]],
           ["5xx", "accepted", "throttle", "5xx", "rejected", "throttle", "accepted", "throttle"],
           "faulted and refused calls are in the call log too")
        check(all(a["t"] <= b["t"] for a, b in zip(r["calls"], r["calls"][1:])),
              "the call log is in arrival order")
        ctl({"for_phones": []})
        ctl({"delay_ms": 300})
        t0 = time.monotonic()
        _, (s, r) = webhook_call(wh, keys.webhook_secret, wsend)
        check(s == 200 and time.monotonic() - t0 >= 0.3, "webhook delay_ms")
        http("POST", base + "/_reset", b"{}")
        s, r = http("GET", base + "/_messages")
        eq((len(r["messages"]), len(r["calls"]), r["rejected_signatures"]), (0, 0, 0), "reset")
        self_test_receipts(keys, check, eq)
    finally:
        srv.shutdown()
        srv.server_close()

    print("sms_gateway self-test: %d passed, %d failed" % (passed[0], len(failures)))
    return 1 if failures else 0


def retry_schedule(text):
    """--receipt-retry-s: positive seconds, comma-separated (an empty text: no re-push)."""
    try:
        out = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("seconds, comma-separated")
    if any(not 0 < x <= 86400 for x in out):
        raise argparse.ArgumentTypeError("each delay between 0 and 86400 seconds")
    return out


def main():
    ap = argparse.ArgumentParser(description="Test SMS gateway (Alibaba, Tencent, webhook).")
    ap.add_argument("--port", type=int, default=0, help="port, 0 = a free one (printed)")
    ap.add_argument("--bind", default="127.0.0.1", help="address (default 127.0.0.1)")
    ap.add_argument("--aliyun-key-id", default="test-aliyun-key-id")
    ap.add_argument("--aliyun-secret", default="test-aliyun-secret")
    ap.add_argument("--tencent-secret-id", default="AKIDtesttencentsecretid")
    ap.add_argument("--tencent-secret-key", default="test-tencent-secret-key")
    ap.add_argument("--tencent-app-id", default="1400000000")
    ap.add_argument("--webhook-secret",
                    default="whsec_" + base64.b64encode(b"shantang-test-webhook-secret-32b")
                    .decode(), help="whsec_<base64 key>")
    for provider in ("aliyun", "tencent", "webhook"):
        ap.add_argument("--receipt-url-" + provider, default=None,
                        help="push a delivery receipt of each accepted %s message here" % provider)
    ap.add_argument("--receipt-token-file", default=None,
                    help="file holding the token appended as ?token= to Alibaba/Tencent receipts")
    ap.add_argument("--receipt-delay-ms", type=int, default=500,
                    help="how long after accepting a message its receipt is pushed")
    ap.add_argument("--receipt-retry-s", type=retry_schedule, default=[60.0, 300.0, 600.0],
                    help="seconds before each re-push of a receipt not answered 2xx, "
                    "comma-separated (default 60,300,600)")
    ap.add_argument("--quiet", action="store_true", help="no request log on stderr")
    ap.add_argument("--self-test", action="store_true",
                    help="check the published vectors and a live round trip, then exit")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    try:
        webhook_key(args.webhook_secret)
    except ValueError:
        ap.error("--webhook-secret must be whsec_ followed by Base64")
    args.receipt_token = ""
    if args.receipt_token_file:
        with open(args.receipt_token_file, encoding="utf-8") as f:
            args.receipt_token = f.read().strip()
    srv = make_server(args, args.bind, args.port, args.quiet)
    print(srv.server_address[1], flush=True)
    sys.stderr.write("sms_gateway: listening on http://%s:%d\n" % (args.bind,
                                                                 srv.server_address[1]))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
