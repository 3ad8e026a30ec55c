"""What the services never write to their logs: a phone number unmasked, the
text of an SMS, a proposal's text, an ID-card number.

One household's and one notable's way through every service (registered,
enrolled, paid, a proposal submitted and accepted), each with fresh numbers
and words, until the notifier has sent their SMS; then the log of every
service (.local/<instance>/logs/<service>.log) is read, once every service
has logged a request of this test (sent with its own X-Request-Id), so the
reads come after the writes. Besides this test's own values, no log may hold
any unmasked mainland mobile number at all, from whatever test ran before.

Runs last (ctest runs the files in name order), so it reads the logs of the
whole run."""
import json
import os
import random
import re
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from stacklib import ENV, ROOT, Checks, http, psql, token, unique, wait_sql  # noqa: E402

SERVICES = ("registry", "enrollment", "income", "suggestion", "notifier")
INST = os.path.dirname(os.path.dirname(ENV["JWT_SECRET_FILE"]))  # .local/<instance>
ADMIN = token("admin")
ZJ = "330482105201"
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
# a mainland mobile number not inside a longer run of letters or digits (ids, hex)
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")
RID = "unlogged-" + uuid.uuid4().hex[:12]
F = {}


def phone():
    return "139%08d" % random.randrange(10**8)


def call(svc, method, path, body, tok=ADMIN, retry=(), seconds=60):
    """One request with this test's X-Request-Id, again while it answers a retry status."""
    deadline = time.time() + seconds
    while True:
        r = http(method, ENV[svc.upper() + "_URL"] + path, body, tok=tok,
                 headers={"X-Request-Id": RID})
        if r.status not in retry or time.time() > deadline:
            return r
        time.sleep(0.5)


def sent(ph, n):
    return wait_sql("SELECT count(*) FROM notifier.deliveries WHERE recipient = '%s' AND status "
                    "IN ('sent', 'delivered')" % ph, [[str(n)]], 90)


def sms_texts(ph):
    """The texts of the SMS the gateway took for a phone, from routes.json's templates."""
    with open(os.path.join(ROOT, "deploy", "notifier", "routes.json"), encoding="utf-8") as f:
        templates = {t["code"]: t["text"] for t in json.load(f)["templates"]}
    r = http("GET", ENV["SMS_GATEWAY_URL"] + "/_messages")
    texts = []
    for m in r.json["messages"]:
        if m["phone"].replace("+86", "") == ph:
            text = templates[m["template"]]
            params = m["params"]
            if isinstance(params, list):  # Tencent: values in the template's order
                names = re.findall(r"\$\{(\w+)\}", text)
                params = dict(zip(names, params))
            for k, v in params.items():
                text = text.replace("${%s}" % k, v)
            texts.append(text)
    return texts


def test_a_way_through_every_service(c):
    F["notable_phone"], F["household_phone"] = phone(), phone()
    F["name"] = unique("日志测试户")
    first17 = "330482" + "19%02d0101%03d" % (50 + random.randrange(40), random.randrange(1000))
    F["id_number"] = first17 + "10X98765432"[sum(int(a) * b for a, b in zip(first17, W)) % 11]
    n = call("registry", "POST", "/v1/notables", {
        "name": unique("日志测试乡贤"), "phone": F["notable_phone"], "home_village": ZJ,
        "council": "测试参事会"})
    c.eq(n.status, 201, "notable (%r)" % n)
    p = call("registry", "POST", "/v1/projects", {
        "name": unique("日志测试项目"), "type": "workshop", "village_codes": [ZJ],
        "notable_ids": [n.json["id"]], "investment_fen": 1000000, "expected_revenue_fen": 500000,
        "start_date": "2026-01-01", "status": "active"})
    c.eq(p.status, 201, "project (%r)" % p)
    h = call("enrollment", "POST", "/v1/households", {
        "head_name": F["name"], "id_number": F["id_number"], "phone": F["household_phone"],
        "village_code": ZJ, "members_count": 2, "low_income": {"certified": False}})
    c.eq(h.status, 201, "household (%r)" % h)
    e = call("enrollment", "POST", "/v1/households/%s/enrollments" % h.json["id"],
             {"project_id": p.json["id"], "kind": "employment", "monthly_wage_fen": 300000,
              "start_date": "2026-01-01"}, retry=(503,))
    c.eq(e.status, 201, "enrolled (%r)" % e)
    i = call("income", "POST", "/v1/entries", {
        "kind": "wage", "project_id": p.json["id"], "household_id": h.json["id"],
        "amount_fen": 312345, "date": "2026-02-01", "source_ref": unique("工资单")},
        retry=(404, 409, 422, 503))
    c.eq(i.status, 201, "income entry (%r)" % i)
    c.check(wait_sql("SELECT count(*) FROM suggestion.notables WHERE id = '%s'" % n.json["id"],
                     [["1"]]), "the suggestion service learned the notable")
    F["text"] = "建议%s：村口修一座候车亭，方便老人出行。" % uuid.uuid4().hex[:8]
    s = call("suggestion", "POST", "/v1/suggestions", {
        "title": unique("候车亭"), "text": F["text"], "category": "infrastructure",
        "village_codes": [ZJ]}, tok=token("notable", sub=n.json["id"]))
    c.eq(s.status, 201, "proposal (%r)" % s)
    a = call("suggestion", "POST", "/v1/suggestions/%s/transitions" % s.json["id"],
             {"action": "accept"}, tok=token("supervisor"))
    c.eq(a.status, 200, "accepted (%r)" % a)
    # registered, enrolled, paid: three SMS to the household; accepted: one to the notable
    c.check(sent(F["household_phone"], 3), "the household's three SMS were sent")
    c.check(sent(F["notable_phone"], 1), "the notable's SMS was sent")
    F["sms"] = sms_texts(F["household_phone"]) + sms_texts(F["notable_phone"])
    c.eq(len(F["sms"]), 4, "the gateway took the four SMS")
    did = psql("SELECT id FROM notifier.deliveries WHERE recipient = '%s' LIMIT 1"
               % F["household_phone"])[0][0]
    F["notifier_marker"] = "delivery %s" % did


def read_log(svc):
    with open(os.path.join(INST, "logs", svc + ".log"), encoding="utf-8", errors="replace") as f:
        return f.read()


def test_the_logs(c):
    if "sms" not in F:
        c.check(False, "the way through the services did not complete")
        return
    # every service has written a line of this test's requests (the notifier: of
    # one of its deliveries) before its log is judged
    for svc in SERVICES:
        marker = F["notifier_marker"] if svc == "notifier" else '"req":"%s"' % RID
        deadline = time.time() + 30
        while marker not in read_log(svc) and time.time() < deadline:
            time.sleep(0.3)
        c.check(marker in read_log(svc), "%s logged this test's work (%s)" % (svc, marker))
    secrets = [("the notable's phone", F["notable_phone"]),
               ("the household's phone", F["household_phone"]),
               ("the household head's name", F["name"]),
               ("the ID-card number", F["id_number"]), ("the proposal's text", F["text"])]
    secrets += [("an SMS text", t) for t in F["sms"]]
    for svc in SERVICES:
        log = read_log(svc)
        for what, value in secrets:
            c.check(value not in log, "%s: %s is not in the log (%s)" % (svc, what, value))
        found = sorted(set(MOBILE.findall(log)))
        c.eq(found, [], "%s: no unmasked mobile number in the whole log" % svc)
        c.check(F["household_phone"][:3] + "****" + F["household_phone"][-4:] in log
                or svc != "notifier", "notifier: the household's phone appears masked")


if __name__ == "__main__":
    Checks().run([test_a_way_through_every_service, test_the_logs])
