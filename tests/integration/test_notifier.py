"""Integration tests of the SMS notifier against the running stack, whose SMS
provider is the test gateway (tests/tools/sms_gateway.py, three protocols,
signatures checked): a household registered and enrolled through the real
services gets exactly one SMS per event; a redelivered event sends nothing
more; the notifier killed mid-batch and restarted sends none twice and loses
none (rows caught in 'sending' are checked with Alibaba's QuerySendDetails
before any resend); the first provider failing hands over to the second; a
throttling gateway is backed off, then delivers; quiet hours defer (and the
urgent route does not wait); per-phone limits defer; a permanent refusal
fails the delivery and dead-letters it with the gateway's answer; a payload
without a phone is dead-lettered; receipts are verified and mark deliveries
delivered, also those whose receipt met a notifier that was down (the gateway
pushes again); /v1/deliveries filters.

Quiet hours and tight limits are switched on by writing
.local/<instance>/notifier.override.env and restarting the notifier (the
stack appends those lines to the notifier's environment); the file is
removed and the notifier restarted at the end. Events the services would
publish are also produced straight onto the topics with shantang-ctl, each
with a fresh phone number, so the checks are exact whatever else runs."""
import base64
import datetime
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from stacklib import ENV, ROOT, STACK, Checks, http, psql, token, unique, wait  # noqa: E402

NTF = ENV["NOTIFIER_URL"]
GW = ENV.get("SMS_GATEWAY_URL", "")
REG = ENV["REGISTRY_URL"]
ENR = ENV["ENROLLMENT_URL"]
INST = os.path.dirname(os.path.dirname(ENV["JWT_SECRET_FILE"]))  # .local/<instance>
OVERRIDE = os.path.join(INST, "notifier.override.env")
ADMIN = token("admin")
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"shantang-test-webhook-secret-32b").decode()
ZJ = "330482105201"
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def stack(*args):
    """A stack subcommand on this instance and build directory."""
    env = dict(os.environ, STACK_INSTANCE=ENV.get("INSTANCE", "test"),
               STACK_BUILD_DIR=ENV["BUILD_DIR"], STACK_NO_BUILD="1")
    return subprocess.run([STACK] + list(args), env=env, check=True, capture_output=True,
                          text=True, timeout=300)


def phone():
    """A fresh mainland mobile number nobody else in the tests uses."""
    return "139%08d" % random.randrange(10**8)


def gw(method, path, body=None):
    r = http(method, GW + path, body)
    assert r.status == 200, "%s %s: %r" % (method, path, r)
    return r.json


def calls(ph):
    """The gateway's log of send calls for one phone: (provider, outcome, Unix seconds)."""
    return [(x["provider"], x["outcome"], x["t"]) for x in gw("GET", "/_messages")["calls"]
            if any(p.replace("+86", "") == ph for p in x["phones"])]


def messages(ph=None):
    """Messages the gateway accepted, for one phone (any provider's spelling)."""
    msgs = gw("GET", "/_messages")["messages"]
    return [m for m in msgs if ph is None or m["phone"].replace("+86", "") == ph]


def produce(etype, data, eid=None, topic="households.v1", key=None):
    """One CloudEvents envelope onto a topic; returns its id."""
    eid = eid or str(uuid.uuid4())
    ev = {"specversion": "1.0", "id": eid, "source": "/shantang/test", "type": etype,
          "subject": key or eid, "time": datetime.datetime.now(datetime.timezone.utc)
          .strftime("%Y-%m-%dT%H:%M:%SZ"), "datacontenttype": "application/json", "data": data}
    subprocess.run([ENV["CTL"], "produce", "--brokers", ENV["KAFKA_BROKERS"], "--topic", topic,
                    "--key", key or eid], input=json.dumps(ev, ensure_ascii=False), text=True,
                   check=True, capture_output=True, timeout=60)
    return eid


def registered(ph, name="测试户"):
    return {"id": str(uuid.uuid4()), "head_name": name, "phone": ph, "village_code": ZJ}


def rows(where):
    """(status, provider, attempts, template) of the deliveries matching a SQL condition."""
    return psql("SELECT status, coalesce(provider, ''), attempts, template FROM "
                "notifier.deliveries WHERE %s ORDER BY id" % where)


def outcome(ph):
    """rows() of a phone with 'delivered' shown as 'sent' (the gateway's receipt may
    already have arrived: it pushes one half a second after accepting)."""
    return [["sent" if r[0] == "delivered" else r[0]] + r[1:]
            for r in rows("recipient = '%s'" % ph)]


def sent_for(ph, n=1):
    return wait(lambda: len([r for r in rows("recipient = '%s'" % ph)
                             if r[0] in ("sent", "delivered")]) >= n)


def tail_deadletters(pred, seconds=60):
    """Dead letters written by the notifier (other consumers of the topics write their own)."""
    deadline = time.time() + seconds
    while True:
        out = subprocess.run([ENV["CTL"], "tail", "--brokers", ENV["KAFKA_BROKERS"], "--topic",
                              "deadletter.v1", "--timeout-ms", "1500"], check=True,
                             capture_output=True, text=True, timeout=120).stdout
        found = [json.loads(line)["value"] for line in out.splitlines() if line.strip()]
        found = [v for v in found if isinstance(v, dict)
                 and v.get("data", {}).get("group") == "notifier" and pred(v)]
        if found or time.time() > deadline:
            return found
        time.sleep(0.5)


def restart_notifier(override_lines=None):
    """Rewrite the override file (or remove it) and restart the notifier."""
    if override_lines:
        with open(OVERRIDE, "w", encoding="utf-8") as f:
            f.write("\n".join(override_lines) + "\n")
    elif os.path.exists(OVERRIDE):
        os.remove(OVERRIDE)
    stack("service-stop", "notifier")
    stack("service-start", "notifier")


def shanghai_hms(t):
    return (datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
            + datetime.timedelta(hours=8)).strftime("%H:%M:%S")


def reset_gateway():
    gw("POST", "/_control", {"delay_ms": 0, "fail_5xx": 0, "throttle": 0, "reject_phones": [],
                             "provider": None, "for_phones": [], "receipts": True,
                             "receipt_delay_ms": 500})


def _notifier_ready():
    """True when the stack's notifier answers /readyz."""
    try:
        return http("GET", NTF + "/readyz", timeout=5).status == 200
    except OSError:
        return False


# ---------------------------------------------------------------- the tests


def test_enrolled_household_gets_one_sms_per_event(c):
    reset_gateway()
    n = http("POST", REG + "/v1/notables", {"name": "通知测试乡贤", "phone": phone(),
                                            "home_village": ZJ, "council": "测试参事会"}, tok=ADMIN)
    c.eq(n.status, 201, "notable (%r)" % n)
    p = http("POST", REG + "/v1/projects", {
        "name": unique("通知测试项目"), "type": "workshop", "village_codes": [ZJ],
        "notable_ids": [n.json["id"]], "investment_fen": 1000000, "expected_revenue_fen": 500000,
        "start_date": "2026-01-01", "status": "active"}, tok=ADMIN)
    c.eq(p.status, 201, "project (%r)" % p)
    ph = phone()
    first17 = "330482" + "19%02d0101%03d" % (50 + random.randrange(40), random.randrange(1000))
    idn = first17 + "10X98765432"[sum(int(a) * b for a, b in zip(first17, W)) % 11]
    h = http("POST", ENR + "/v1/households", {
        "head_name": "通知测试户", "id_number": idn, "phone": ph, "village_code": ZJ,
        "members_count": 3, "low_income": {"certified": True, "year": 2025,
                                           "baseline_per_capita_fen": 1000000}}, tok=ADMIN)
    c.eq(h.status, 201, "household (%r)" % h)
    deadline = time.time() + 60
    while True:
        e = http("POST", ENR + "/v1/households/%s/enrollments" % h.json["id"],
                 {"project_id": p.json["id"], "kind": "employment", "monthly_wage_fen": 300000,
                  "start_date": "2026-01-01"}, tok=ADMIN)
        if e.status != 503 or time.time() > deadline:
            break
        time.sleep(0.5)
    c.eq(e.status, 201, "enrollment (%r)" % e)
    c.check(sent_for(ph, 2), "both deliveries sent (%r)" % rows("recipient = '%s'" % ph))
    time.sleep(2)  # anything doubled would have arrived by now
    got = sorted(m["template"] for m in messages(ph))
    c.eq(got, ["SMS_480001", "SMS_480002"], "exactly one SMS for each event at the gateway")
    registered = [m for m in messages(ph) if m["template"] == "SMS_480001"]
    if registered:
        c.eq(registered[0]["params"].get("contact"), "山塘村协调员 陈丽 13905731201",
             "the registration SMS names the village coordinator's contact (routes.json)")
    enrolled = [m for m in messages(ph) if m["template"] == "SMS_480002"]
    if enrolled:
        c.eq(enrolled[0]["params"].get("name"), "通知测试户", "template parameter from the event")
        c.eq(enrolled[0]["sign_name"], "山塘共富", "the programme's sign name")
    c.eq(gw("GET", "/_messages")["rejected_signatures"], 0, "every signature was accepted")

    # the admin listing and its filters
    r = http("GET", NTF + "/v1/deliveries?phone=%s" % ph, tok=ADMIN)
    c.eq((r.status, r.json and r.json["total"], len(r.json["items"]) if r.json else None),
         (200, 2, 2), "filter by phone (%r)" % r)
    r2 = http("GET", NTF + "/v1/deliveries?phone=%%2B86%s&limit=1" % ph, tok=ADMIN)
    c.eq((r2.status, r2.json["total"], len(r2.json["items"]), r2.json["next"] is not None),
         (200, 2, 1, True), "+86 phone, limit 1: a next cursor")
    r3 = http("GET", NTF + "/v1/deliveries?phone=%s&limit=1&cursor=%s" % (ph, r2.json["next"]),
              tok=ADMIN)
    c.eq((r3.status, len(r3.json["items"]), r3.json["next"]), (200, 1, None), "second page")
    c.check(r2.json["items"][0]["id"] != r3.json["items"][0]["id"], "pages differ")
    eid = r.json["items"][0]["event_id"]
    r = http("GET", NTF + "/v1/deliveries?event_id=%s" % eid, tok=ADMIN)
    c.eq((r.status, r.json["total"]), (200, 1), "filter by event")
    r = http("GET", NTF + "/v1/deliveries?phone=%s&status=queued" % ph, tok=ADMIN)
    c.eq((r.status, r.json["total"]), (200, 0), "filter by status")
    did = r2.json["items"][0]["id"]
    r = http("GET", NTF + "/v1/deliveries/%s" % did, tok=ADMIN)
    c.eq((r.status, r.json and r.json["phone"], r.json and r.json["status"] in ("sent", "delivered")),
         (200, ph, True),
         "one delivery")
    c.eq(http("GET", NTF + "/v1/deliveries/%s" % uuid.uuid4(), tok=ADMIN).status, 404,
         "unknown delivery")
    c.eq(http("GET", NTF + "/v1/deliveries?status=lost", tok=ADMIN).json.get("pointer"),
         "/status", "bad status names the parameter")
    c.eq(http("GET", NTF + "/v1/deliveries?phone=123", tok=ADMIN).status, 422, "bad phone")
    c.eq(http("GET", NTF + "/v1/deliveries").status, 401, "no token")
    c.eq(http("GET", NTF + "/v1/deliveries", tok=token("planner")).status, 403, "not admin")


def test_redelivered_event_sends_nothing_more(c):
    reset_gateway()
    ph = phone()
    eid = str(uuid.uuid4())
    produce("household.registered", registered(ph), eid=eid)
    produce("household.registered", registered(ph), eid=eid)
    c.check(sent_for(ph), "sent")
    time.sleep(2)
    c.eq(len(messages(ph)), 1, "one SMS for a redelivered event")
    c.eq(len(rows("event_id = '%s'" % eid)), 1, "one delivery row")


def test_first_provider_failing_second_delivers(c):
    reset_gateway()
    ph = phone()  # faults only for this number: other traffic (the demo) flows past them
    gw("POST", "/_control", {"fail_5xx": 1, "provider": "aliyun", "for_phones": [ph]})
    produce("household.registered", registered(ph))
    c.check(sent_for(ph), "sent")
    c.eq(outcome(ph), [["sent", "tencent", "2", "SMS_480001"]],
         "failed over to tencent on the second attempt")
    c.eq([m["provider"] for m in messages(ph)], ["tencent"], "one SMS, through tencent")
    reset_gateway()
    ph = phone()
    gw("POST", "/_control", {"fail_5xx": 2, "provider": None, "for_phones": [ph]})
    produce("household.registered", registered(ph))
    c.check(sent_for(ph), "sent")
    c.eq(outcome(ph), [["sent", "webhook", "3", "SMS_480001"]],
         "both clouds failing: the webhook delivers")
    reset_gateway()


def test_throttling_backs_off_then_delivers(c):
    reset_gateway()
    ph = phone()
    gw("POST", "/_control", {"throttle": 2, "provider": "aliyun", "for_phones": [ph]})
    produce("household.registered", registered(ph))
    c.check(sent_for(ph, 1), "sent after the throttling")
    c.eq(outcome(ph), [["sent", "aliyun", "3", "SMS_480001"]],
         "backed off on the same provider (throttling is not failed over), third attempt")
    # timed on the gateway's clock, between the calls it received: back-off base
    # 500 ms in the stack, half of it jitter, doubling: 250-500 ms, then 500-1000 ms
    got = calls(ph)
    c.eq([(p, o) for p, o, _ in got], [("aliyun", "throttle"), ("aliyun", "throttle"),
                                       ("aliyun", "accepted")], "the gateway saw three calls")
    if len(got) == 3:
        gaps = [round(b[2] - a[2], 3) for a, b in zip(got, got[1:])]
        c.check(gaps[0] >= 0.245 and gaps[1] >= 0.495,
                "backed off at least 250 ms, then 500 ms between the calls: %r s" % gaps)
    c.eq(len(messages(ph)), 1, "one SMS")
    reset_gateway()


def test_permanent_failure_is_dead_lettered(c):
    reset_gateway()
    ph = phone()
    gw("POST", "/_control", {"reject_phones": [ph], "provider": None})
    produce("household.registered", registered(ph))
    c.check(wait(lambda: rows("recipient = '%s' AND status = 'failed'" % ph)),
            "delivery failed (%r)" % rows("recipient = '%s'" % ph))
    c.eq(rows("recipient = '%s'" % ph)[0][2], "1", "no retry of a permanent refusal")
    did = psql("SELECT id FROM notifier.deliveries WHERE recipient = '%s'" % ph)[0][0]
    dl = tail_deadletters(lambda v: v.get("data", {}).get("delivery_id") == did)
    c.eq(len(dl), 1, "one dead letter for the delivery")
    if dl:
        c.check("MOBILE_NUMBER_ILLEGAL" in dl[0]["data"]["gateway_answer"],
                "the gateway's answer is in the dead letter: %r" % dl[0]["data"])
        c.check(ph not in json.dumps(dl[0], ensure_ascii=False), "the phone is masked")
    reset_gateway()


def test_bad_payloads(c):
    eid = produce("household.registered", {"id": str(uuid.uuid4()), "head_name": "无电话"})
    dl = tail_deadletters(lambda v: eid in v.get("data", {}).get("value", ""))
    c.eq(len(dl), 1, "a missing phone is dead-lettered")
    if dl:
        c.check("no phone" in dl[0]["data"]["reason"], "reason: %r" % dl[0]["data"]["reason"])
    eid = produce("household.registered", {"head_name": "x", "phone": "12345"})
    dl = tail_deadletters(lambda v: eid in v.get("data", {}).get("value", ""))
    c.eq(len(dl), 1, "a malformed phone is dead-lettered")
    before = metric("notifier_events_unrouted_total")
    eid = produce("income.reversed", {"id": str(uuid.uuid4()), "phone": phone()},
                  topic="income.v1")
    c.check(wait(lambda: metric("notifier_events_unrouted_total") > before, 30),
            "an event no route names is counted")
    c.eq(rows("event_id = '%s'" % eid), [], "and makes no delivery")
    # an optional phone absent (income of a project): nothing, no dead letter. The
    # event's id in processed_events (recorded in the transaction of its effects,
    # dead letter included) shows it was processed before "nothing" is checked.
    eid = produce("income.recorded", {"id": str(uuid.uuid4()), "kind": "project_revenue",
                                      "amount_fen": 100}, topic="income.v1")
    c.check(wait(lambda: psql("SELECT count(*) FROM notifier.processed_events WHERE event_id = "
                              "'%s'" % eid) == [["1"]], 60), "project income: processed")
    c.eq(rows("event_id = '%s'" % eid), [], "project income: no delivery")
    c.eq(psql("SELECT count(*) FROM notifier.outbox WHERE topic = 'deadletter.v1' AND "
              "payload->'data'->>'value' LIKE '%%%s%%'" % eid), [["0"]],
         "project income: no dead letter")


def metric(name):
    r = http("GET", NTF + "/metrics")
    total = 0.0
    for line in r.raw.splitlines():
        if line.startswith(name):
            total += float(line.split()[-1])
    return total


def test_recovery_resends_only_when_provably_not_accepted(c):
    """Rows left in 'sending' whose request never reached the gateway (a crash
    between the claim's commit and the call): Alibaba's QuerySendDetails shows
    no such OutId, so it is sent, once; Tencent's status pull cannot prove a
    negative, so that row is left 'uncertain' for a person, not resent."""
    reset_gateway()
    ph_a, ph_t = phone(), phone()
    for ph, provider in ((ph_a, "aliyun"), (ph_t, "tencent")):
        did = str(uuid.uuid4())
        psql("INSERT INTO notifier.deliveries (id, event_id, event_type, route, recipient, "
             "template, params, param_order, status, provider, provider_index, attempts, out_id, "
             "lease_until, claimed_at) VALUES ('%s', '%s', 'household.registered', "
             "'household-registered', '%s', 'SMS_480001', '{\"name\": \"恢复\", \"village\": "
             "\"%s\"}', '{name,village}', 'sending', '%s', %d, 1, '%s', now() - interval '1 "
             "second', now() - interval '20 seconds')"
             % (did, did, ph, ZJ, provider, 0 if provider == "aliyun" else 1, did))
    c.check(sent_for(ph_a), "aliyun: not accepted before, so sent now (%r)"
            % rows("recipient = '%s'" % ph_a))
    c.eq(len(messages(ph_a)), 1, "aliyun: exactly one SMS")
    c.check(wait(lambda: rows("recipient = '%s' AND status = 'uncertain'" % ph_t), 30),
            "tencent: uncertain (%r)" % rows("recipient = '%s'" % ph_t))
    c.eq(messages(ph_t), [], "tencent: nothing resent")
    # a person checks the provider's console and decides
    did = psql("SELECT id FROM notifier.deliveries WHERE recipient = '%s'" % ph_t)[0][0]
    url = NTF + "/v1/deliveries/%s/resolve" % did
    c.eq(http("POST", url, {"status": "lost"}, tok=ADMIN).status, 422, "unknown verdict")
    c.eq(http("POST", url, {"status": "queued"}, tok=token("supervisor")).status, 403, "admin only")
    r = http("POST", url, {"status": "queued", "note": "not in the console"}, tok=ADMIN)
    c.eq((r.status, r.json and r.json["status"]), (200, "queued"), "resolved: send again")
    c.check(sent_for(ph_t), "sent after the verdict")
    c.eq(len(messages(ph_t)), 1, "one SMS after the verdict")
    again = http("POST", url, {"status": "failed"}, tok=ADMIN)
    c.eq((again.status, (again.json or {}).get("pointer"), (again.json or {}).get("detail")),
         (409, "/status", "only an uncertain delivery is resolved by hand (this one is sent)"),
         "only uncertain ones, naming the delivery's status")
    c.eq(psql("SELECT status FROM notifier.deliveries WHERE id = '%s'" % did), [["sent"]],
         "a refused verdict changes nothing")
    c.eq(http("POST", NTF + "/v1/deliveries/%s/resolve" % uuid.uuid4(), {"status": "failed"},
              tok=ADMIN).status, 404, "no such delivery")


def test_kill_mid_batch_none_twice_none_lost(c):
    reset_gateway()
    # no receipts: a receipt would prove acceptance by itself; here the check must
    gw("POST", "/_control", {"delay_ms": 2000, "provider": "aliyun", "receipts": False})
    phones = [phone() for _ in range(20)]
    for ph in phones:
        produce("household.registered", registered(ph))
    inlist = "recipient IN (%s)" % ",".join("'%s'" % p for p in phones)
    c.check(wait(lambda: psql("SELECT count(*) FROM notifier.deliveries WHERE %s AND status = "
                              "'sending'" % inlist)[0][0] != "0", 30), "calls in flight")
    time.sleep(0.5)
    stack("service-kill", "notifier")
    state = psql("SELECT status, count(*) FROM notifier.deliveries WHERE %s GROUP BY 1 ORDER BY 1"
                 % inlist)
    c.check(any(s == "sending" for s, _ in state), "killed with deliveries in 'sending': %r"
            % state)
    accepted_before = len([m for m in messages() if m["phone"] in phones])
    gw("POST", "/_control", {"delay_ms": 0})
    stack("service-start", "notifier")
    ok = wait(lambda: psql("SELECT count(*) FROM notifier.deliveries WHERE %s AND status = 'sent'"
                           % inlist)[0][0] == "20", 90)
    c.check(ok, "all 20 sent after the restart: %r" % psql(
        "SELECT status, count(*) FROM notifier.deliveries WHERE %s GROUP BY 1" % inlist))
    time.sleep(2)
    counts = {ph: len(messages(ph)) for ph in phones}
    c.eq(sorted(set(counts.values())), [1], "every phone exactly one SMS (none twice, none lost)")
    c.check(accepted_before > 0, "some were accepted by the gateway before the kill (%d), and "
            "were found by the check, not resent" % accepted_before)
    reset_gateway()


def test_quiet_hours_defer_then_send(c):
    reset_gateway()
    # the window must outlast the consumer group's rejoin after the restart
    # (seconds; longer when an earlier test killed a member)
    now = time.time()
    end = now + 60
    restart_notifier(["NOTIFIER_QUIET_START=%s" % shanghai_hms(now - 60),
                      "NOTIFIER_QUIET_END=%s" % shanghai_hms(end)])
    try:
        ph = phone()
        produce("household.registered", registered(ph))
        # the urgent route (escalation to the supervisors) does not wait
        title = unique("督办")
        esc = produce("suggestion.escalated", {"id": str(uuid.uuid4()), "title": title,
                                               "level": "town"}, topic="suggestions.v1")
        c.check(wait(lambda: rows("recipient = '%s'" % ph), 50), "delivery queued")
        c.check(time.time() < end - 5, "the event arrived inside the quiet window")
        time.sleep(3)
        c.eq([r[0] for r in rows("recipient = '%s'" % ph)], ["queued"], "held during quiet hours")
        c.eq(messages(ph), [], "nothing sent during quiet hours")
        nxt = psql("SELECT extract(epoch FROM next_attempt_at) FROM notifier.deliveries WHERE "
                   "recipient = '%s'" % ph)[0][0]
        c.check(abs(float(nxt) - int(end)) <= 1.5, "deferred to the end of the quiet window "
                "(%s vs %s)" % (nxt, end))
        # the urgent route is never held by quiet hours (per-phone limits still apply: the
        # supervisors' phones may be busy with the demo's proposals)
        urgent = psql("SELECT status, coalesce(last_error, '') FROM notifier.deliveries WHERE "
                      "event_id = '%s'" % esc)
        c.eq(len(urgent), 2, "the urgent route: one delivery per supervisor")
        c.check(all(st in ("sent", "delivered") or err == "per-phone limit" for st, err in urgent),
                "urgent deliveries not held by quiet hours: %r" % urgent)
        c.check(sent_for(ph, 1) if wait(lambda: time.time() > end, 70, 1) else False,
                "sent after the quiet window")
        sent_at = psql("SELECT extract(epoch FROM sent_at) FROM notifier.deliveries WHERE "
                       "recipient = '%s'" % ph)[0][0]
        c.check(float(sent_at) >= int(end) - 0.5, "not sent before the window ended (%s vs %s)"
                % (sent_at, end))
        c.eq(len(messages(ph)), 1, "one SMS")
    finally:
        restart_notifier(None)


def test_rate_limits(c):
    reset_gateway()
    restart_notifier(["NOTIFIER_LIMIT_PER_MINUTE=1", "NOTIFIER_LIMIT_PER_HOUR=2"])
    try:
        ph = phone()
        produce("household.registered", registered(ph))
        c.check(sent_for(ph), "the first goes out")
        t1 = time.time()
        produce("household.registered", registered(ph, "第二条"))
        c.check(wait(lambda: len(rows("recipient = '%s'" % ph)) == 2, 30), "second queued")
        time.sleep(3)
        c.eq(len(messages(ph)), 1, "the second waits for the minute (1/min)")
        q = psql("SELECT extract(epoch FROM next_attempt_at) - extract(epoch FROM (SELECT "
                 "claimed_at FROM notifier.deliveries WHERE recipient = '%s' AND status IN "
                 "('sent', 'delivered'))) FROM notifier.deliveries WHERE recipient = '%s' AND "
                 "status = 'queued'"
                 % (ph, ph))
        c.check(q and abs(float(q[0][0]) - 60) <= 1.5, "deferred to a minute after the first "
                "(%r)" % q)
        # the hour: with a claim 50 minutes ago and one 10 s ago, 2/hour allows the next
        # one only 60 minutes after the older
        ph2 = phone()
        for ago in ("50 minutes", "10 seconds"):
            did = str(uuid.uuid4())
            psql("INSERT INTO notifier.deliveries (id, event_id, event_type, route, recipient, "
                 "template, params, param_order, status, out_id, claimed_at, sent_at) VALUES "
                 "('%s', '%s', 'household.registered', 'history', '%s', 'SMS_H', '{}', '{}', "
                 "'sent', '%s', now() - interval '%s', now() - interval '%s')"
                 % (did, did, ph2, did, ago, ago))
        produce("household.registered", registered(ph2))
        c.check(wait(lambda: rows("recipient = '%s' AND status = 'queued' AND route <> "
                                  "'history' AND next_attempt_at > now() + interval '5 minutes'"
                                  % ph2), 30), "deferred by the hourly limit")
        q = psql("SELECT extract(epoch FROM next_attempt_at - (now() - interval '50 minutes')) "
                 "FROM notifier.deliveries WHERE recipient = '%s' AND route <> 'history'" % ph2)
        c.check(q and abs(float(q[0][0]) - 3600) <= 5, "an hour after the older claim (%r)" % q)
        c.eq(messages(ph2), [], "nothing sent over the limit")
        _ = t1
    finally:
        restart_notifier(None)


def test_configured_order_and_attempt_cap(c):
    """NOTIFIER_PROVIDERS in an order other than the default (webhook first) is
    the order failover follows; NOTIFIER_MAX_ATTEMPTS=3 is the number of gateway
    calls a message gets before it fails, counted in the gateway's call log."""
    reset_gateway()
    restart_notifier(["NOTIFIER_PROVIDERS=webhook,tencent,aliyun", "NOTIFIER_MAX_ATTEMPTS=3"])
    try:
        ph = phone()
        gw("POST", "/_control", {"fail_5xx": 1, "provider": "webhook", "for_phones": [ph]})
        produce("household.registered", registered(ph))
        c.check(sent_for(ph), "sent (%r)" % rows("recipient = '%s'" % ph))
        c.eq([(p, o) for p, o, _ in calls(ph)], [("webhook", "5xx"), ("tencent", "accepted")],
             "the configured first provider first, then the second")
        c.eq(outcome(ph), [["sent", "tencent", "2", "SMS_480001"]], "delivered by the second")
        reset_gateway()
        ph = phone()
        gw("POST", "/_control", {"fail_5xx": 2, "provider": None, "for_phones": [ph]})
        produce("household.registered", registered(ph))
        c.check(sent_for(ph), "sent (%r)" % rows("recipient = '%s'" % ph))
        c.eq([(p, o) for p, o, _ in calls(ph)],
             [("webhook", "5xx"), ("tencent", "5xx"), ("aliyun", "accepted")],
             "the default's first provider is the configured last")
        reset_gateway()
        # throttled for ever on the first provider: backed off there, three calls, failed
        ph = phone()
        gw("POST", "/_control", {"throttle": 1000, "provider": "webhook", "for_phones": [ph]})
        produce("household.registered", registered(ph))
        c.check(wait(lambda: rows("recipient = '%s' AND status = 'failed'" % ph), 60),
                "failed after the last attempt (%r)" % rows("recipient = '%s'" % ph))
        c.eq([(p, o) for p, o, _ in calls(ph)], [("webhook", "throttle")] * 3,
             "exactly NOTIFIER_MAX_ATTEMPTS calls reached the gateway")
        c.eq([r[2] for r in rows("recipient = '%s'" % ph)], ["3"], "attempts recorded: 3")
        c.eq(messages(ph), [], "nothing sent")
    finally:
        reset_gateway()
        restart_notifier(None)


def test_check_with_a_removed_provider_ends_the_row(c):
    """A delivery waiting for a gateway check (needs_check) with a provider since
    removed from NOTIFIER_PROVIDERS dereferenced a NULL provider and ended the
    notifier. The row now fails with the reason (resending through another
    provider could send the SMS twice); the daemon keeps running."""
    reset_gateway()
    restart_notifier(["NOTIFIER_PROVIDERS=webhook,tencent"])
    try:
        ph = phone()
        did = str(uuid.uuid4())
        psql("INSERT INTO notifier.deliveries (id, event_id, event_type, route, recipient, "
             "template, params, param_order, status, provider, provider_index, attempts, out_id, "
             "needs_check, claimed_at) VALUES ('%s', '%s', 'household.registered', "
             "'household-registered', '%s', 'SMS_480001', '{\"name\": \"旧网关\", \"village\": "
             "\"%s\"}', '{name,village}', 'queued', 'aliyun', 0, 1, '%s', true, "
             "now() - interval '20 seconds')" % (did, did, ph, ZJ, did))
        c.check(wait(lambda: rows("recipient = '%s' AND status = 'failed'" % ph), 30),
                "the stale row failed (%r)" % rows("recipient = '%s'" % ph))
        err = psql("SELECT last_error FROM notifier.deliveries WHERE id = '%s'" % did)
        c.check(err and "aliyun" in err[0][0], "the reason names the removed provider (%r)" % err)
        c.check(_notifier_ready(), "the notifier is still running")
        c.eq(messages(ph), [], "nothing sent")
    finally:
        reset_gateway()
        restart_notifier(None)


def test_one_callback_many_receipts(c):
    """An aliyun callback carrying several receipts applies each, in one statement: a
    success marks its delivery delivered, a failure marks its own failed with the
    gateway's reason, an unknown id changes nothing."""
    reset_gateway()
    phones = [phone(), phone()]
    gw("POST", "/_control", {"receipts": False, "for_phones": phones})
    for ph in phones:
        produce("household.registered", registered(ph))
    inlist = "recipient IN ('%s', '%s')" % tuple(phones)
    c.check(wait(lambda: psql("SELECT count(*) FROM notifier.deliveries WHERE %s AND status = "
                              "'sent'" % inlist)[0][0] == "2", 30),
            "two deliveries sent, their receipts held back (%r)" % rows(inlist))
    ids = dict(psql("SELECT recipient, out_id FROM notifier.deliveries WHERE %s" % inlist))
    tok = open(os.path.join(INST, "secrets", "notifier_receipt")).read().strip()
    report = json.dumps([
        {"phone_number": phones[0], "success": True, "out_id": ids[phones[0]]},
        {"phone_number": phones[1], "success": False, "err_code": "MK:0001",
         "err_msg": "用户关机", "out_id": ids[phones[1]]},
        {"phone_number": phone(), "success": True, "out_id": "no-such-" + uuid.uuid4().hex}]).encode()
    r = http("POST", NTF + "/v1/receipts/aliyun?token=" + tok, raw=report,
             headers={"Content-Type": "application/json"})
    c.eq((r.status, r.json), (200, {"code": 0, "msg": "成功"}), "the callback is acknowledged")
    reset_gateway()
    got = psql("SELECT recipient, status, coalesce(last_error, '') FROM notifier.deliveries "
               "WHERE %s ORDER BY recipient = '%s' DESC" % (inlist, phones[0]))
    c.eq([g[:2] for g in got], [[phones[0], "delivered"], [phones[1], "failed"]],
         "one delivered, one failed, by one callback")
    c.check(len(got) == 2 and "MK:0001" in got[1][2],
            "the failure keeps the gateway's reason (%r)" % got)


def test_receipt_while_the_notifier_is_down(c):
    """A receipt pushed while the notifier is down is pushed again by the gateway (as the
    providers re-push), and the delivery still reaches 'delivered' once it is back."""
    reset_gateway()
    gw("POST", "/_control", {"receipt_delay_ms": 2500})
    try:
        retried_before = gw("GET", "/_messages")["receipts_retried"]
        ph = phone()
        produce("household.registered", registered(ph))
        c.check(wait(lambda: rows("recipient = '%s' AND status = 'sent'" % ph), 30),
                "sent, its receipt still to come (%r)" % rows("recipient = '%s'" % ph))
        stack("service-kill", "notifier")
        c.check(wait(lambda: gw("GET", "/_messages")["receipts_retried"] > retried_before, 20),
                "the receipt met a notifier that was down, and is to be pushed again")
        c.eq(rows("recipient = '%s'" % ph)[0][0], "sent", "not delivered while down")
        stack("service-start", "notifier")
        c.check(wait(lambda: rows("recipient = '%s' AND status = 'delivered'" % ph), 60),
                "delivered by the receipt pushed again after the restart (%r)"
                % rows("recipient = '%s'" % ph))
    finally:
        gw("POST", "/_control", {"receipt_delay_ms": 500})
        stack("service-start", "notifier")


def test_receipts(c):
    """The gateway pushes a receipt for each accepted message (the stack starts it with
    the notifier's receipt URLs): the delivery becomes 'delivered' end to end. Receipts
    that are not verified are refused."""
    reset_gateway()
    failed_before = gw("GET", "/_messages")["receipts_failed"]
    ph = phone()
    gw("POST", "/_control", {"fail_5xx": 2, "provider": None, "for_phones": [ph]})
    produce("household.registered", registered(ph))
    c.check(wait(lambda: rows("recipient = '%s' AND status = 'delivered'" % ph), 30),
            "webhook: delivered by the gateway's signed receipt (%r)" % rows("recipient = '%s'"
                                                                            % ph))
    reset_gateway()
    d = http("GET", NTF + "/v1/deliveries?phone=%s" % ph, tok=ADMIN).json["items"][0]
    c.check(d["delivered_at"] is not None and d["provider"] == "webhook", "delivered_at set")
    body = json.dumps({"reference": d["out_id"], "status": "delivered"}).encode()
    msg_id, ts = "rcpt_" + uuid.uuid4().hex, str(int(time.time()))
    key = base64.b64decode(WEBHOOK_SECRET[len("whsec_"):])
    sig = base64.b64encode(hmac.new(key, ("%s.%s." % (msg_id, ts)).encode() + body,
                                    hashlib.sha256).digest()).decode()
    hdr = {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": "v1," + sig,
           "Content-Type": "application/json"}
    bad = dict(hdr, **{"webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()})
    c.eq(http("POST", NTF + "/v1/receipts/webhook", raw=body, headers=bad).status, 401,
         "a wrong signature is refused")
    old = dict(hdr, **{"webhook-timestamp": str(int(time.time()) - 600)})
    c.eq(http("POST", NTF + "/v1/receipts/webhook", raw=body, headers=old).status, 401,
         "a stale timestamp is refused")
    r = http("POST", NTF + "/v1/receipts/webhook", raw=body, headers=hdr)
    c.eq((r.status, r.json), (200, {"updated": 0}), "a repeated receipt changes nothing")

    ph = phone()
    produce("household.registered", registered(ph))
    c.check(wait(lambda: rows("recipient = '%s' AND status = 'delivered'" % ph), 30),
            "aliyun: delivered by the gateway's SmsReport (%r)" % rows("recipient = '%s'" % ph))
    d = http("GET", NTF + "/v1/deliveries?phone=%s" % ph, tok=ADMIN).json["items"][0]
    tok = open(os.path.join(INST, "secrets", "notifier_receipt")).read().strip()
    report = json.dumps([{"phone_number": ph, "success": False, "err_code": "MK:0001",
                          "err_msg": "用户关机", "biz_id": d["gateway_id"],
                          "out_id": d["out_id"]}]).encode()
    c.eq(http("POST", NTF + "/v1/receipts/aliyun?token=wrong", raw=report,
              headers={"Content-Type": "application/json"}).status, 401, "wrong token refused")
    c.eq(http("POST", NTF + "/v1/receipts/aliyun", raw=report,
              headers={"Content-Type": "application/json"}).status, 401, "no token refused")
    r = http("POST", NTF + "/v1/receipts/aliyun?token=" + tok, raw=b"{}",
             headers={"Content-Type": "application/json"})
    c.eq(r.status, 400, "not an array")
    # Tencent's status callback, matched by SerialNo
    ph = phone()
    gw("POST", "/_control", {"fail_5xx": 1, "provider": "aliyun", "for_phones": [ph]})
    produce("household.registered", registered(ph))
    c.check(wait(lambda: rows("recipient = '%s' AND status = 'delivered'" % ph), 30),
            "tencent: delivered by the gateway's status callback (%r)"
            % rows("recipient = '%s'" % ph))
    reset_gateway()
    c.eq(gw("GET", "/_messages")["receipts_failed"], failed_before,
         "every receipt pushed meanwhile was accepted")


if __name__ == "__main__":
    if not GW:
        print("no SMS_GATEWAY_URL in the stack's environment: the stack does not run the "
              "test gateway")
        sys.exit(1)
    if not _notifier_ready():
        # touch nothing (no events, no gateway faults) on a stack without a notifier
        print("the notifier does not answer at %s: not testing this stack" % NTF)
        sys.exit(1)
    _ = ROOT
    Checks().run([
        test_enrolled_household_gets_one_sms_per_event,
        test_redelivered_event_sends_nothing_more,
        test_first_provider_failing_second_delivers,
        test_throttling_backs_off_then_delivers,
        test_permanent_failure_is_dead_lettered,
        test_bad_payloads,
        test_quiet_hours_defer_then_send,
        test_rate_limits,
        test_configured_order_and_attempt_cap,
        test_check_with_a_removed_provider_ends_the_row,
        test_receipts,
        test_one_callback_many_receipts,
        test_receipt_while_the_notifier_is_down,
        test_recovery_resends_only_when_provably_not_accepted,
        test_kill_mid_batch_none_twice_none_lost,  # last: the killed member slows rejoins
    ])
