"""Integration tests of the project registry against the running stack:
HTTP in, PostgreSQL rows, CloudEvents on projects.v1, every bad-input case,
Idempotency-Key replay, and registration with the Kafka broker stopped."""
import json
import os
import random
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from stacklib import ENV, Checks, http, psql, stack, tail, token, unique, wait_for_event  # noqa: E402

BASE = ENV["REGISTRY_URL"]
ZJ_SHANTANG = "330482105201"
SH_SHANTANG = "310116106201"
ADMIN = token("admin", sub="it-admin")
NOTABLE = token("notable", sub="it-notable")
PLANNER = token("planner")


def project_body(name=None, **over):
    body = {"name": name or unique("测试项目"), "type": "homestay",
            "village_codes": [ZJ_SHANTANG, SH_SHANTANG], "investment_fen": 1234500,
            "expected_revenue_fen": 100000, "start_date": "2026-01-15"}
    body.update(over)
    return body


def count_projects():
    return int(psql("SELECT count(*) FROM registry.projects")[0][0])


def count_outbox():
    return int(psql("SELECT count(*) FROM registry.outbox")[0][0])


def test_register_reaches_db_and_kafka(c):
    r = http("POST", BASE + "/v1/projects", project_body(), tok=NOTABLE)
    if not c.eq(r.status, 201, "register status (%r)" % r):
        return
    pid = r.json["id"]
    c.eq(r.headers.get("Location"), "/v1/projects/" + pid, "Location header")
    c.eq(r.json["status"], "planned", "initial status")
    c.eq(sorted(r.json["sides"]), ["shanghai", "zhejiang"], "both sides of the border")
    rows = psql("SELECT name, type, investment_fen, created_by FROM registry.projects "
                "WHERE id = '%s'" % pid)
    c.eq(len(rows), 1, "row in registry.projects")
    c.eq(rows[0][2], "1234500", "investment stored in fen")
    c.eq(rows[0][3], "it-notable", "created_by is the token's subject")
    c.eq(psql("SELECT string_agg(village_code, ',' ORDER BY position) FROM "
              "registry.project_villages WHERE project_id = '%s'" % pid)[0][0],
         ZJ_SHANTANG + "," + SH_SHANTANG, "host villages in order")
    got = wait_for_event("projects.v1", lambda v: v.get("subject") == pid)
    if not c.check(len(got) >= 1, "project.registered arrived on projects.v1"):
        return
    m = got[0]
    ev = m["value"]
    c.eq(m["key"], pid, "Kafka key is the aggregate id")
    c.eq(ev.get("specversion"), "1.0", "specversion")
    c.eq(ev.get("type"), "project.registered", "type")
    c.eq(ev.get("source"), "/shantang/registry", "source")
    c.eq(ev.get("datacontenttype"), "application/json", "datacontenttype")
    c.check(isinstance(ev.get("id"), str) and len(ev["id"]) == 36, "id is a UUID")
    c.check(isinstance(ev.get("time"), str) and ev["time"].endswith("Z"), "time is RFC 3339 UTC")
    c.eq(ev["data"]["id"], pid, "data carries the project")
    c.eq(ev["data"]["village_codes"], [ZJ_SHANTANG, SH_SHANTANG], "data carries the villages")
    c.eq(ev["data"]["investment_fen"], 1234500, "data carries the investment")


def test_read_list_and_filters(c):
    r = http("POST", BASE + "/v1/projects",
             project_body(type="wharf", village_codes=[SH_SHANTANG]), tok=ADMIN)
    c.eq(r.status, 201, "register Shanghai-only project")
    pid = r.json["id"]
    g = http("GET", BASE + "/v1/projects/" + pid, tok=PLANNER)
    c.eq(g.status, 200, "planner reads a project")
    c.eq(g.json["name"], r.json["name"], "read back the name")
    seen, cursor, pages = [], None, 0
    while pages < 100:
        url = BASE + "/v1/projects?side=shanghai&type=wharf&limit=1"
        if cursor:
            url += "&cursor=" + cursor
        p = http("GET", url, tok=PLANNER)
        if not c.eq(p.status, 200, "list page"):
            return
        c.check(len(p.json["items"]) <= 1, "limit respected")
        seen += [i["id"] for i in p.json["items"]]
        cursor = p.json["next"]
        pages += 1
        if not cursor:
            break
    c.check(pid in seen, "filtered, paginated list finds the project")
    c.eq(len(seen), len(set(seen)), "pages do not repeat items")
    zj = http("GET", BASE + "/v1/projects?side=zhejiang&limit=1000", tok=PLANNER)
    c.check(pid not in [i["id"] for i in zj.json["items"]], "side filter excludes it")
    # coordinators: only projects hosted in their villages
    coord_sh = token("coordinator", regions=[SH_SHANTANG])  # a coordinator holds villages
    coord_zj = token("coordinator", regions=[ZJ_SHANTANG])
    c.eq(http("GET", BASE + "/v1/projects/" + pid, tok=coord_sh).status, 200,
         "coordinator of a host village reads")
    c.eq(http("GET", BASE + "/v1/projects/" + pid, tok=coord_zj).status, 403,
         "coordinator of another village is refused")
    lst = http("GET", BASE + "/v1/projects?limit=1000", tok=coord_zj)
    c.check(pid not in [i["id"] for i in lst.json["items"]], "coordinator's list is scoped")
    c.eq(http("GET", BASE + "/v1/projects?limit=1001", tok=PLANNER).status, 422, "limit bound")
    c.eq(http("GET", BASE + "/v1/projects?cursor=%%%", tok=PLANNER).status, 422, "bad cursor")


def problem(c, r, status, pointer, what):
    c.eq(r.status, status, what + " status (%r)" % r)
    c.eq((r.headers.get("Content-Type") or "").split(";")[0], "application/problem+json",
         what + " content type")
    if pointer is not None and r.json is not None:
        c.eq(r.json.get("pointer"), pointer, what + " names the field")


def test_bad_input(c):
    before_p, before_o = count_projects(), count_outbox()
    url = BASE + "/v1/projects"
    problem(c, http("POST", url, raw=b'{"name": ', tok=NOTABLE,
                    headers={"Content-Type": "application/json"}), 400, None, "malformed JSON")
    b = project_body()
    del b["name"]
    problem(c, http("POST", url, b, tok=NOTABLE), 422, "/name", "missing name")
    problem(c, http("POST", url, project_body(investment_fen="lots"), tok=NOTABLE), 422,
            "/investment_fen", "wrongly typed amount")
    problem(c, http("POST", url, project_body(investment_fen=-5), tok=NOTABLE), 422,
            "/investment_fen", "negative amount")
    problem(c, http("POST", url, project_body(type="casino"), tok=NOTABLE), 422, "/type",
            "unknown type")
    problem(c, http("POST", url, project_body(start_date="2026-02-30"), tok=NOTABLE), 422,
            "/start_date", "impossible date")
    problem(c, http("POST", url, project_body(village_codes=[ZJ_SHANTANG, "330482199999"]),
                    tok=NOTABLE), 422, "/village_codes/1", "unknown region code")
    problem(c, http("POST", url, project_body(village_codes=["330482105000"]), tok=NOTABLE), 422,
            "/village_codes/0", "a town is not a village")
    problem(c, http("POST", url, project_body(village_codes=[]), tok=NOTABLE), 422,
            "/village_codes", "no village")
    problem(c, http("POST", url, project_body(notable_ids=["0190c0de-0000-7000-8000-000000000000"]),
                    tok=NOTABLE), 422, "/notable_ids/0", "unknown notable")
    problem(c, http("POST", url, raw=json.dumps(project_body(description="x" * 70000)).encode(),
                    tok=NOTABLE, headers={"Content-Type": "application/json"}), 413, None,
            "body over the limit")
    problem(c, http("POST", url, raw=b'{"name": "\xff\xfe"}', tok=NOTABLE,
                    headers={"Content-Type": "application/json"}), 400, None, "not UTF-8")
    problem(c, http("POST", url, project_body()), 401, None, "no token")
    problem(c, http("POST", url, project_body(), tok=token("notable", ttl=-60)), 401, None,
            "expired token")
    problem(c, http("POST", url, project_body(), tok=NOTABLE[:-4] + "AAAA"), 401, None,
            "token with a bad signature")
    problem(c, http("POST", url, project_body(), tok=PLANNER), 403, None, "planner may not write")
    problem(c, http("POST", url, project_body(), tok=token("coordinator", regions=[ZJ_SHANTANG])),
            403, None, "coordinator may not register")
    c.eq(count_projects(), before_p, "no project row written by any bad request")
    c.eq(count_outbox(), before_o, "no event written by any bad request")


def test_status_lifecycle(c):
    r = http("POST", BASE + "/v1/projects", project_body(), tok=NOTABLE)
    pid = r.json["id"]
    st = BASE + "/v1/projects/%s/status" % pid
    problem(c, http("POST", st, {"status": "suspended"}, tok=NOTABLE), 409, "/status",
            "planned -> suspended is illegal")
    c.eq((http("POST", st, {"status": "suspended"}, tok=NOTABLE).json or {}).get("detail"),
         "the project is planned; allowed next: active,closed",
         "409 names the state and the allowed transitions")
    c.eq(http("POST", st, {"status": "active"}, tok=NOTABLE,
              headers={"If-Match": '"7"'}).status, 412, "a stale If-Match changes no status")
    c.eq(http("POST", st, {"status": "active"}, tok=NOTABLE).status, 200, "planned -> active")
    c.eq(http("POST", st, {"status": "suspended", "reason": "汛期"}, tok=NOTABLE).status, 200,
         "active -> suspended")
    other = token("notable", sub="someone-else")
    c.eq(http("POST", st, {"status": "active"}, tok=other).status, 403,
         "a notable who neither registered nor sponsors it may not change it")
    key = unique("status")
    first = http("POST", st, {"status": "closed"}, tok=ADMIN, headers={"Idempotency-Key": key})
    c.eq(first.status, 200, "suspended -> closed")
    again = http("POST", st, {"status": "closed"}, tok=ADMIN, headers={"Idempotency-Key": key})
    c.eq((again.status, again.json), (200, first.json),
         "the change replayed under its key answers the first answer")
    c.eq(first.json.get("previous_status"), "suspended", "the answer names the previous status")
    problem(c, http("POST", st, {"status": "active"}, tok=ADMIN), 409, "/status",
            "closed is final")
    c.eq((http("POST", st, {"status": "active"}, tok=ADMIN).json or {}).get("detail"),
         "the project is closed; allowed next: none", "closed has no next status")
    hist = psql("SELECT from_status || '>' || to_status FROM registry.project_status_history "
                "WHERE project_id = '%s' ORDER BY id" % pid)
    c.eq([h[0] for h in hist], ["planned>active", "active>suspended", "suspended>closed"],
         "status history")
    got = wait_for_event("projects.v1", lambda v: v.get("subject") == pid and
                         v.get("type") == "project.status_changed" and
                         v["data"].get("status") == "closed")
    c.check(len(got) == 1 and got[0]["value"]["data"]["previous_status"] == "suspended",
            "project.status_changed carries the new state and the previous status")
    u = http("PATCH", BASE + "/v1/projects/" + pid, {"name": "x"}, tok=ADMIN)
    c.eq(u.status, 409, "a closed project is not updated")


def test_update(c):
    r = http("POST", BASE + "/v1/projects", project_body(), tok=NOTABLE)
    pid = r.json["id"]
    u = http("PATCH", BASE + "/v1/projects/" + pid,
             {"expected_revenue_fen": 555, "village_codes": [SH_SHANTANG]}, tok=NOTABLE)
    c.eq(u.status, 200, "update")
    c.eq(u.json["expected_revenue_fen"], 555, "new revenue")
    c.eq(u.json["village_codes"], [SH_SHANTANG], "new villages")
    c.eq(u.json["version"], 2, "version bumped")
    c.eq(http("PATCH", BASE + "/v1/projects/" + pid, {"name": "y"}, tok=NOTABLE,
              headers={"If-Match": '"1"'}).status, 412, "stale If-Match")
    problem(c, http("PATCH", BASE + "/v1/projects/" + pid, {"status": "closed"}, tok=NOTABLE),
            422, "/status", "status is not patched")
    events = count_outbox()
    problem(c, http("PATCH", BASE + "/v1/projects/" + pid,
                    {"name": "z", "village_codes": [ZJ_SHANTANG, "330482199999"]}, tok=NOTABLE),
            422, "/village_codes/1", "an unknown village in a patch")
    problem(c, http("PATCH", BASE + "/v1/projects/" + pid, {"name": "z"},
                    tok=token("notable", sub="someone-else")), 403, None,
            "a notable who neither registered nor sponsors it may not patch it")
    problem(c, http("PATCH", BASE + "/v1/projects/0190c0de-0000-7000-8000-000000000000",
                    {"name": "z"}, tok=ADMIN), 404, None, "no such project")
    now = http("GET", BASE + "/v1/projects/" + pid, tok=NOTABLE).json
    c.eq((now["name"], now["version"], now["village_codes"]),
         (u.json["name"], 2, [SH_SHANTANG]), "a refused patch changed nothing")
    c.eq(count_outbox(), events, "and wrote no event")
    links = http("PATCH", BASE + "/v1/projects/" + pid, {"partner_ids": []}, tok=NOTABLE,
                 headers={"If-Match": '"2"'})
    c.eq((links.status, links.json.get("village_codes"), links.json.get("version")),
         (200, [SH_SHANTANG], 3), "a patch of one array keeps the others, at the version matched")
    got = wait_for_event("projects.v1", lambda v: v.get("subject") == pid and
                         v.get("type") == "project.updated" and v["data"]["version"] == 2)
    c.check(len(got) == 1 and got[0]["value"]["data"]["expected_revenue_fen"] == 555,
            "project.updated carries the full new state")


def test_idempotency_key(c):
    key = unique("idem")
    body = project_body()
    before = count_projects()
    first = http("POST", BASE + "/v1/projects", body, tok=NOTABLE, headers={"Idempotency-Key": key})
    again = http("POST", BASE + "/v1/projects", body, tok=NOTABLE, headers={"Idempotency-Key": key})
    c.eq(first.status, 201, "first answer")
    c.eq(again.status, 201, "replayed answer status")
    c.eq(again.json, first.json, "replayed answer body")
    c.eq(count_projects(), before + 1, "one row for two requests")
    other = http("POST", BASE + "/v1/projects", project_body(), tok=NOTABLE,
                 headers={"Idempotency-Key": key})
    c.eq(other.status, 422, "same key, different body is refused")
    c.eq(count_projects(), before + 1, "still one row")


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015, no I, O, S, V, Z


def fresh_uscc():
    """A valid unified social credit code (GB 32100-2015 check character, computed
    here) that no partner has: enterprise (91), Pinghu's division code, 9 random
    characters of the organisation code."""
    while True:
        first17 = "91330482" + "".join(random.choice(USCC_ALPHABET) for _ in range(9))
        total = sum(USCC_ALPHABET.index(ch) * pow(3, i, 31) for i, ch in enumerate(first17))
        code = first17 + USCC_ALPHABET[(31 - total % 31) % 31]
        if psql("SELECT count(*) FROM registry.partners WHERE uscc = '%s'" % code) == [["0"]]:
            return code


def test_notables_and_partners(c):
    phone = "139%08d" % (int(unique("x").split("-")[1], 16) % 10**8)
    r = http("POST", BASE + "/v1/notables", {"name": "测试乡贤", "phone": "+86 " + phone,
                                             "home_village": SH_SHANTANG, "lead_role": "medical"},
             tok=ADMIN)
    c.eq(r.status, 201, "register notable (%r)" % r)
    nid = r.json["id"]
    c.eq(r.json["phone"], phone, "phone normalised")
    c.eq(http("GET", BASE + "/v1/notables/" + nid, tok=PLANNER).json["phone"],
         phone[:3] + "****" + phone[-4:], "phone masked for a planner")
    c.eq(http("GET", BASE + "/v1/notables/" + nid, tok=ADMIN).json["phone"], phone,
         "phone whole for the admin")
    problem(c, http("POST", BASE + "/v1/notables", {"name": "b", "phone": phone,
                                                    "home_village": SH_SHANTANG}, tok=ADMIN),
            409, "/phone", "duplicate phone")
    # A refused duplicate leaves no claim on its key: the same request again
    # is refused the same way, and the key then serves another request.
    key = unique("dup-key")
    for what in ("duplicate phone under a key", "and again under the same key"):
        problem(c, http("POST", BASE + "/v1/notables", {"name": "b", "phone": phone,
                                                        "home_village": SH_SHANTANG}, tok=ADMIN,
                        headers={"Idempotency-Key": key}),
                409, "/phone", what)
    problem(c, http("POST", BASE + "/v1/notables", {"name": "b", "phone": "139" + phone[3:],
                                                    "home_village": "310116000000"}, tok=ADMIN),
            422, "/home_village", "a home village that is not a village")
    problem(c, http("POST", BASE + "/v1/notables", {"name": "b", "phone": "12345",
                                                    "home_village": SH_SHANTANG}, tok=ADMIN),
            422, "/phone", "not a mobile")
    got = wait_for_event("notables.v1", lambda v: v.get("subject") == nid)
    c.check(len(got) == 1 and got[0]["value"]["type"] == "notable.registered",
            "notable.registered on notables.v1")
    problem(c, http("POST", BASE + "/v1/partners", {"name": "p", "kind": "enterprise",
                                                    "uscc": "91350100M000100Y44"}, tok=ADMIN),
            422, "/uscc", "wrong USCC check character")
    uscc = fresh_uscc()
    ok = http("POST", BASE + "/v1/partners", {"name": "p", "kind": "enterprise", "uscc": uscc},
              tok=ADMIN)
    c.eq((ok.status, ok.json and ok.json.get("uscc")), (201, uscc),
         "a valid USCC no partner has is accepted (%r)" % ok)
    wrong = uscc[:17] + USCC_ALPHABET[(USCC_ALPHABET.index(uscc[17]) + 1) % 31]
    problem(c, http("POST", BASE + "/v1/partners", {"name": "p", "kind": "enterprise",
                                                    "uscc": wrong}, tok=ADMIN),
            422, "/uscc", "the same code with another check character")
    problem(c, http("POST", BASE + "/v1/partners", {"name": "p", "kind": "enterprise",
                                                    "uscc": uscc}, tok=ADMIN),
            409, "/uscc", "duplicate USCC")
    again = http("POST", BASE + "/v1/partners", {"name": "p", "kind": "enterprise", "uscc": uscc},
                 tok=ADMIN)
    c.check(again.json and ok.json["id"] in again.json.get("detail", ""),
            "the duplicate's answer names the partner registered (%r)" % again)


def test_regions(c):
    r = http("GET", BASE + "/v1/regions?level=village&limit=1000", tok=PLANNER)
    c.eq(r.status, 200, "list villages")
    codes = {i["code"]: i for i in r.json["items"]}
    c.check(ZJ_SHANTANG in codes and SH_SHANTANG in codes, "both Shantang villages listed")
    c.eq(codes[ZJ_SHANTANG]["side"], "zhejiang", "side of 广陈镇山塘村")
    c.eq(codes[SH_SHANTANG]["side"], "shanghai", "side of 廊下镇山塘村")
    c.eq(codes[SH_SHANTANG]["parent"], "310116106000", "parent of 廊下镇山塘村")
    c.check(all(i["level"] == "village" for i in r.json["items"]), "level filter")
    bad = http("POST", BASE + "/v1/regions/import", tok=ADMIN,
               raw="330482105299,新村,village,330482105000\n1234,坏,village,330482105000\n"
               .encode(), headers={"Content-Type": "text/csv"})
    c.eq(bad.status, 422, "import with a bad line")
    c.check("line 2" in (bad.json or {}).get("detail", ""), "import names the bad line")
    c.eq(psql("SELECT count(*) FROM registry.regions WHERE code = '330482105299'")[0][0], "0",
         "nothing of a bad import is written")
    got = wait_for_event("regions.v1", lambda v: v.get("subject") == SH_SHANTANG)
    c.check(len(got) == 1 and got[0]["value"]["data"]["side"] == "shanghai",
            "region.upserted published once for an imported village (%d)" % len(got))
    c.eq(http("GET", BASE + "/v1/regions/330000000000", tok=PLANNER).json["level"], "province",
         "read one region")


def test_demo_data(c):
    r = http("GET", BASE + "/v1/projects?limit=1000", tok=PLANNER)
    demo = [p for p in r.json["items"] if p["created_by"] == "demo-loader"]
    c.eq(len(demo), 18, "the seed's 18 projects")
    c.check(sum(1 for p in demo if len(p["sides"]) == 2) >= 5, "projects on both sides")
    n = http("GET", BASE + "/v1/notables?limit=1000", tok=ADMIN).json["items"]
    c.eq(len({x["lead_role"] for x in n if x["lead_role"]} & {
        "agriculture", "education", "medical", "hardship"}), 4, "the four named lead fields")
    leads = [x for x in n if x["lead_role"] and x["phone"].startswith(("139057300", "138165500"))]
    c.eq(len(leads), 8, "the alliance of 8 prosperity leads")


def _kafka_up_gauge():
    """The shantang_kafka_up value /metrics shows, or None."""
    for line in http("GET", BASE + "/metrics").raw.splitlines():
        if line.startswith("shantang_kafka_up "):
            return float(line.split()[1])
    return None


def _wait(pred, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.5)
    return pred()


def test_ready_during_kafka_outage(c):
    # Ready means "can take requests": writes go to the outbox while the broker
    # is away, so /readyz stays 200; the outage shows in /healthz and /metrics.
    c.eq(_kafka_up_gauge(), 1.0, "shantang_kafka_up is 1 with the broker running")
    stack("kafka-stop")
    try:
        c.check(_wait(lambda: _kafka_up_gauge() == 0.0, 20), "shantang_kafka_up drops to 0")
        c.eq(http("GET", BASE + "/readyz").status, 200, "/readyz answers 200 during the outage")
        h = http("GET", BASE + "/healthz")
        c.eq((h.status, h.json and h.json.get("status"), h.json and h.json.get("kafka")),
             (200, "degraded", "down"), "/healthz says degraded, kafka down")
        r = http("POST", BASE + "/v1/projects", project_body(), tok=NOTABLE)
        c.eq(r.status, 201, "a write is taken meanwhile")
    finally:
        stack("kafka-start")
    c.check(_wait(lambda: _kafka_up_gauge() == 1.0, 30), "shantang_kafka_up back to 1")
    h = http("GET", BASE + "/healthz")
    c.eq(h.json and h.json.get("status"), "ok", "/healthz ok again")


def test_documented_limits(c):
    # Each documented limit at limit-1, limit and limit+1 answers its documented
    # status, never a 500.
    url = BASE + "/v1/projects"
    for n, want in ((99, 201), (100, 201), (101, 422)):
        r = http("POST", url, project_body(name="名" * (n - 8) + unique("")[:8]), tok=NOTABLE)
        c.eq((r.status, r.json and r.json.get("pointer") if r.status != 201 else None),
             (want, "/name" if want == 422 else None), "name of %d characters" % n)
    top = 10000000000000
    for v, want in ((top - 1, 201), (top, 201), (top + 1, 422)):
        c.eq(http("POST", url, project_body(investment_fen=v), tok=NOTABLE).status, want,
             "investment_fen %d" % v)
    for n, want in ((0, 422), (1, 200), (999, 200), (1000, 200), (1001, 422), (10000, 422)):
        r = http("GET", url + "?limit=%d" % n, tok=PLANNER)
        c.eq((r.status, r.json and r.json.get("pointer") if want == 422 else None),
             (want, "/limit" if want == 422 else None), "?limit=%d" % n)
    for n, want in ((199, 201), (200, 201), (201, 422)):
        key = (uuid.uuid4().hex * 7)[:n]
        r = http("POST", url, project_body(), tok=NOTABLE, headers={"Idempotency-Key": key})
        c.eq(r.status, want, "Idempotency-Key of %d characters" % n)
    limit = 65536
    for n, want in ((limit - 1, 422), (limit, 422), (limit + 1, 413)):
        body = json.dumps(project_body(description="")).encode()
        pad = n - len(body)
        raw = json.dumps(project_body(description="x" * pad)).encode()
        c.eq(len(raw), n, "a body of %d bytes built" % n)
        r = http("POST", url, raw=raw, tok=NOTABLE, headers={"Content-Type": "application/json"})
        c.eq(r.status, want, "a body of %d bytes (description over 2000: 422; over the limit: 413)"
             % n)


def test_kafka_down(c):
    stack("kafka-stop")
    try:
        r = http("POST", BASE + "/v1/projects", project_body(), tok=NOTABLE)
        c.eq(r.status, 201, "registration answers 201 with Kafka stopped")
        pid = r.json["id"] if r.json else None
        pending = psql("SELECT count(*) FROM registry.outbox WHERE published_at IS NULL "
                       "AND key = '%s'" % pid)[0][0]
        c.eq(pending, "1", "the event waits in the outbox")
    finally:
        stack("kafka-start")
    got = wait_for_event("projects.v1", lambda v: v.get("subject") == pid, seconds=90)
    c.check(len(got) >= 1, "the event arrives once the broker is back")
    c.eq(len({m["value"]["id"] for m in got}), 1, "one event, not two")


def test_service_killed_mid_way(c):
    # Events acknowledged while Kafka is down sit in the outbox; the service
    # is then killed with SIGKILL (no shutdown at all) before it could relay
    # them. After a restart, every acknowledged registration reaches Kafka.
    stack("kafka-stop")
    ids = []
    try:
        for _ in range(3):
            r = http("POST", BASE + "/v1/projects", project_body(), tok=NOTABLE)
            c.eq(r.status, 201, "registration acknowledged")
            if r.json:
                ids.append(r.json["id"])
        stack("service-kill", "registry")
    finally:
        stack("kafka-start")
        stack("service-start", "registry")
    for pid in ids:
        got = wait_for_event("projects.v1", lambda v, pid=pid: v.get("subject") == pid, seconds=90)
        c.eq(len({m["value"]["id"] for m in got}), 1, "event of %s arrived after the crash" % pid)
    c.eq(len(psql("SELECT 1 FROM registry.projects WHERE id IN (%s)"
                  % ",".join("'%s'" % i for i in ids))), 3, "the rows survived too")


if __name__ == "__main__":
    Checks().run([test_register_reaches_db_and_kafka, test_read_list_and_filters, test_bad_input,
                  test_status_lifecycle, test_update, test_idempotency_key,
                  test_notables_and_partners, test_regions, test_demo_data, test_documented_limits,
                  test_ready_during_kafka_outage, test_kafka_down,
                  test_service_killed_mid_way])
