"""The notifier benchmark's compiled SendSms gateway (tests/tools/fast_gateway.c)
checked against the Python test gateway's reference signer: a call signed the
way Alibaba documents is accepted after the delay, one with another secret or
an old timestamp is refused and counted, /_stats counts what it accepted, and
calls wait their delay side by side (fifty calls of 200 ms take far less than
the ten seconds one after the other would). Usage: check_fast_gateway.py BINARY"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import sms_gateway as g  # noqa: E402

failed = []
passed = [0]


def check(cond, what):
    if cond:
        passed[0] += 1
    else:
        failed.append(what)
        print("FAIL: " + what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def send(base, phone, secret="test-aliyun-secret", timestamp=None):
    return g.aliyun_call(base + "/aliyun/", "test-aliyun-key-id", secret, {
        "Action": "SendSms", "PhoneNumbers": phone, "SignName": "山塘共富",
        "TemplateCode": "SMS_480001", "TemplateParam": '{"name":"测试户","contact":"协调员 陈丽"}',
        "OutId": "check-" + phone}, timestamp=timestamp)


def stats(base):
    with urllib.request.urlopen(base + "/_stats", timeout=5) as r:
        return json.loads(r.read())


def main():
    port = free_port()
    proc = subprocess.Popen([sys.argv[1], "--port", str(port), "--delay-ms", "200"],
                            stdout=subprocess.PIPE, text=True)
    try:
        check(proc.stdout.readline().strip() == str(port), "the gateway prints its port")
        base = "http://127.0.0.1:%d" % port
        t0 = time.monotonic()
        s, r = send(base, "13800000001")
        took = time.monotonic() - t0
        check(s == 200 and r.get("Code") == "OK" and r.get("BizId"),
              "a call signed by the reference signer is accepted: %r %r" % (s, r))
        check(took >= 0.2, "answered after the delay (%.3f s)" % took)
        s, r = send(base, "13800000002", secret="another-secret")
        check(s == 403 and r.get("Code") == "SignatureDoesNotMatch", "another secret: %r" % s)
        s, r = send(base, "13800000003", timestamp="2020-01-01T00:00:00Z")
        check(s == 403, "a timestamp out of its window is refused: %r" % s)
        st = stats(base)
        check((st["accepted"], st["rejected"], st["distinct_phones"]) == (1, 2, 1),
              "stats count one accepted, two refused: %r" % st)
        answers = []
        t0 = time.monotonic()
        threads = [threading.Thread(target=lambda i=i: answers.append(
            send(base, "139%08d" % i)[0])) for i in range(50)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        took = time.monotonic() - t0
        check(answers.count(200) == 50, "fifty calls at once accepted: %r" % sorted(set(answers)))
        check(took < 5.0, "they waited their delay side by side (%.2f s, not 10)" % took)
        check(stats(base)["distinct_phones"] == 51, "51 phones in the stats")
    finally:
        proc.terminate()
        proc.wait(10)
    print("fast_gateway check: %d passed, %d failed" % (passed[0], len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
