"""Integration tests of the suggestion service against the running stack: the
whole closed loop made by the roles that make each step, a cross-border
proposal resolved only when both sides have answered, reopening once, bad
input refused with the field named and nothing recorded, 403 and 409 where
the table says so, two handlers resolving at the same moment (one wins),
what each role sees, the events on suggestions.v1, and the supervisor with a
controllable clock: overdue, escalation village -> town -> county,
auto-close, two passes at once marking nothing twice.

The clock-moving part runs last: it moves the supervisor's "now" weeks
ahead, which also acts on every other open proposal in the stack."""
import csv
import datetime
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from stacklib import (ENV, ROOT, STACK, Checks, http, psql, stack, tail, token,  # noqa: E402
                      unique, wait_for_event)

SUG = ENV["SUGGESTION_URL"]
REG = ENV["REGISTRY_URL"]
ZJ = "330482105201"
SH = "310116106201"
CN = datetime.timezone(datetime.timedelta(hours=8))
TODAY = datetime.datetime.now(CN).date()
ADMIN = token("admin")
SUP = token("supervisor", sub="sup-test")
PLANNER = token("planner")
F = {}


def workdays_after(day, n):
    """n working days after day on the shipped calendar; Monday to Friday past it."""
    special, covered = {}, set()
    with open(os.path.join(ROOT, "schemas", "data", "holidays.csv"), encoding="utf-8") as f:
        for row in csv.reader(line for line in f if not line.startswith("#")):
            if row and row[0] != "date":
                special[row[0]] = row[1]
                if row[1] == "holiday":
                    covered.add(row[0][:4])
    d, counted = day, 0
    while counted < n:
        d += datetime.timedelta(days=1)
        kind = special.get(d.isoformat()) if str(d.year) in covered else None
        work = kind == "workday" or (kind is None and d.weekday() < 5)
        counted += work
    return d.isoformat()


def post(path, body, tok, key=None):
    return http("POST", SUG + path, body, tok=tok,
                headers={"Idempotency-Key": key} if key else None)


def act(sid, tok, action, **fields):
    return post("/v1/suggestions/%s/transitions" % sid, dict(action=action, **fields), tok)


def get(sid, tok):
    return http("GET", "%s/v1/suggestions/%s" % (SUG, sid), tok=tok)


def submit(c, title="修建村道冷链仓库", villages=(ZJ,), category="助农", tok=None):
    r = post("/v1/suggestions", {"title": unique(title)[:100], "text": "建议在村里建设冷链仓库,方便农产品外销。",
                                 "category": category, "village_codes": list(villages)},
             tok or F["notable_tok"])
    c.eq(r.status, 201, "submit %s" % title)
    return r.json["id"]


def assigned(c, villages=(ZJ,), units=None, due=None):
    sid = submit(c, villages=villages)
    c.eq(act(sid, SUP, "accept").status, 200, "accept")
    body = {"unit_id": units or F["unit_zj"]}
    if due:
        body["due_date"] = due
    r = act(sid, SUP, "assign", **body)
    c.eq(r.status, 200, "assign: %r" % r)
    return sid


def events(sid, etype, seconds=30, want=1):
    deadline = time.time() + seconds
    while True:
        found = [m["value"] for m in wait_for_event(
            "suggestions.v1", lambda v: v.get("subject") == sid and v.get("type") == etype,
            seconds=5)]
        if len(found) >= want or time.time() > deadline:
            return found
        time.sleep(0.5)


def setup(c):
    """Two notables (the submitter and another), three handling units (two in
    Zhejiang, one in Shanghai), tokens for every role; waits until the
    suggestion service has learned the submitter from notables.v1."""
    for name, key, phone in (("建议测试乡贤", "notable", "139057%05d" % (os.getpid() % 100000)),
                             ("另一位乡贤", "other", "139058%05d" % (os.getpid() % 100000))):
        r = http("POST", REG + "/v1/notables", {"name": name, "phone": phone, "home_village": ZJ,
                                                "council": "测试参事会"}, tok=ADMIN)
        if r.status == 409:
            F[key] = r.json["detail"].rsplit(" ", 1)[1]
        else:
            c.eq(r.status, 201, "notable %s registered" % key)
            F[key] = r.json["id"]
        F[key + "_tok"] = token("notable", sub=F[key])
        F[key + "_phone"] = phone
    for key, region, name in (("unit_zj", ZJ, "向阳村委会"), ("unit_zj2", "330482105000", "西塘镇办"),
                              ("unit_sh", SH, "新义村委会")):
        F[key] = unique(key.replace("_", "-"))
        r = post("/v1/units", {"id": F[key], "name": name, "region_code": region}, ADMIN)
        c.eq(r.status, 201, "unit %s registered: %r" % (key, r))
        F[key + "_tok"] = token("handler", unit=F[key], sub="handler-" + key)
    r = post("/v1/units", {"id": F["unit_zj"], "name": "again", "region_code": ZJ}, ADMIN)
    c.eq(r.status, 409, "a unit id is registered once")
    # a refused duplicate leaves no claim on its key: refused the same way again
    key = unique("unit-key")
    for what in ("under a key", "again under the same key"):
        r = post("/v1/units", {"id": F["unit_zj"], "name": "again", "region_code": ZJ}, ADMIN,
                 key=key)
        c.eq((r.status, r.json.get("pointer")), (409, "/id"), "a duplicate unit %s" % what)
    r = post("/v1/units", {"id": unique("nowhere"), "name": "x", "region_code": "330482999999"},
             ADMIN)
    c.eq((r.status, r.json.get("pointer")), (422, "/region_code"), "a unit in an unknown region")
    # The submitter's phone reaches the service through notables.v1.
    deadline = time.time() + 60
    sid = submit(c)
    while time.time() < deadline:
        if (get(sid, ADMIN).json["submitter"] or {}).get("phone") == F["notable_phone"]:
            break
        time.sleep(0.3)
    c.eq(get(sid, ADMIN).json["submitter"]["phone"], F["notable_phone"],
         "the submitter's phone is learned from notables.v1")


def test_whole_loop(c):
    """submitted -> accepted -> assigned -> in_progress -> resolved -> closed, by the roles
    that make each step; the default due date counts working days; history and events."""
    sid = submit(c)
    s = get(sid, F["notable_tok"]).json
    c.eq((s["state"], s["view"], s["category"]), ("submitted", "full", "助农"), "submitted")
    c.eq(act(sid, SUP, "accept").json["state"], "accepted", "a supervisor accepts")
    r = act(sid, SUP, "assign", unit_id=F["unit_zj"])
    c.eq(r.json["state"], "assigned", "a supervisor assigns")
    c.eq(r.json["parts"][0]["due_date"], workdays_after(TODAY, 15),
         "the default due date of 助农 is 15 working days on the holiday calendar")
    r = act(sid, F["unit_zj_tok"], "progress", note="已联系供销社,正在选址")
    c.eq((r.status, r.json["state"]), (200, "in_progress"), "the unit posts progress")
    r = act(sid, F["unit_zj_tok"], "resolve", answer="冷库已列入明年计划并落实资金")
    c.eq((r.status, r.json["state"]), (200, "resolved"), "the unit resolves")
    r = act(sid, F["notable_tok"], "feedback", satisfied=True, comment="满意")
    c.eq((r.status, r.json["state"], r.json["closed_by"]), (200, "closed", "feedback"),
         "the submitter's feedback closes it")
    h = http("GET", "%s/v1/suggestions/%s/history" % (SUG, sid), tok=F["notable_tok"]).json
    c.eq([(i["action"], i["to_state"], i["actor_role"]) for i in h["items"]],
         [("submit", "submitted", "notable"), ("accept", "accepted", "supervisor"),
          ("assign", "assigned", "supervisor"), ("progress", "in_progress", "handler"),
          ("resolve", "resolved", "handler"), ("feedback", "closed", "notable")],
         "the history records every step with who made it")
    c.eq(h["items"][3].get("note"), "已联系供销社,正在选址", "the history keeps the progress note")
    c.eq(h["items"][1]["actor_id"], "sup-test", "the history names the actor")
    for etype in ("suggestion.submitted", "suggestion.accepted", "suggestion.assigned",
                  "suggestion.progressed", "suggestion.resolved", "suggestion.closed"):
        ev = events(sid, etype)
        c.eq(len(ev), 1, "one %s on suggestions.v1" % etype)
    ev = events(sid, "suggestion.resolved")
    if ev:
        c.eq(ev[0]["data"].get("submitter_phone"), F["notable_phone"],
             "events carry the submitter's phone for the notifier")
        c.check("text" not in ev[0]["data"], "events never carry the proposal's text")
    r = act(sid, F["notable_tok"], "reopen")
    c.eq(r.status, 409, "a satisfied submitter cannot reopen")


def test_reject(c):
    sid = submit(c)
    r = act(sid, SUP, "reject")
    c.eq((r.status, r.json.get("pointer")), (422, "/reason"), "reject needs a reason")
    r = act(sid, ADMIN, "reject", reason="不属于本计划范围")
    c.eq((r.status, r.json["state"], r.json["reject_reason"]), (200, "rejected", "不属于本计划范围"),
         "the admin rejects with a reason")
    ev = events(sid, "suggestion.rejected")
    c.eq([e["data"].get("reason") for e in ev], ["不属于本计划范围"],
         "suggestion.rejected carries the reason")
    r = act(sid, SUP, "accept")
    c.eq(r.status, 409, "nothing after rejected")
    c.check("current state rejected" in r.json["detail"] and "allowed: none" in r.json["detail"],
            "409 names the state and the allowed actions: %r" % r.json.get("detail"))


def test_bad_input(c):
    before = psql("SELECT count(*) FROM suggestion.suggestions")
    base = {"title": "好建议", "text": "内容", "category": "助学", "village_codes": [ZJ]}
    cases = [
        ({"title": ""}, "/title"), ({"title": "长" * 101}, "/title"), ({"text": ""}, "/text"),
        ({"text": "字" * 5001}, "/text"), ({"category": "farming"}, "/category"),
        ({"village_codes": []}, "/village_codes"), ({"village_codes": ["33048210520"]},
                                                     "/village_codes/0"),
        ({"village_codes": [ZJ, "330482999999"]}, "/village_codes/1"),
        ({"village_codes": [ZJ, ZJ]}, "/village_codes/1"),
        ({"project_id": "not-a-uuid"}, "/project_id"),
        ({"project_id": "01900000-0000-7000-8000-000000000000"}, "/project_id"),
        ({"attachments": [{"url": "https://a.cn/x.pdf", "sha256": "12"}]},
         "/attachments/0/sha256"),
    ]
    for change, pointer in cases:
        body = dict(base, **change)
        r = post("/v1/suggestions", body, F["notable_tok"])
        c.eq((r.status, r.json.get("pointer") if r.json else None), (422, pointer),
             "bad %s" % pointer)
        c.eq(r.headers.get("Content-Type"), "application/problem+json", "problem+json")
    r = post("/v1/suggestions", base, SUP)
    c.eq(r.status, 403, "only notables submit")
    c.eq(psql("SELECT count(*) FROM suggestion.suggestions"), before, "nothing recorded")

    sid = submit(c)
    act(sid, SUP, "accept")
    yesterday = (TODAY - datetime.timedelta(days=1)).isoformat()
    for fields, pointer in (({"unit_id": F["unit_zj"], "due_date": yesterday}, "/due_date"),
                            ({"unit_id": F["unit_zj"], "due_date": "2026-02-30"}, "/due_date"),
                            ({"unit_id": "no-such-unit"}, "/unit_id"),
                            ({"unit_id": F["unit_sh"]}, "/unit_id"),
                            ({}, "/unit_id")):
        r = act(sid, SUP, "assign", **fields)
        c.eq((r.status, r.json.get("pointer")), (422, pointer), "assign with bad %s" % pointer)
    c.eq(get(sid, SUP).json["state"], "accepted", "a refused assignment leaves it accepted")
    c.eq(psql("SELECT count(*) FROM suggestion.parts WHERE suggestion_id = '%s'" % sid), [["0"]],
         "and writes no part")
    r = act(sid, SUP, "fly")
    c.eq((r.status, r.json.get("pointer")), (422, "/action"), "an unknown action")

    key = unique("idem")
    r1 = post("/v1/suggestions", dict(base, title=key), F["notable_tok"], key=key)
    r2 = post("/v1/suggestions", dict(base, title=key), F["notable_tok"], key=key)
    c.eq((r1.status, r2.status, r2.json["id"]), (201, 201, r1.json["id"]),
         "a replayed submission answers the first")
    c.eq(psql("SELECT count(*) FROM suggestion.suggestions WHERE title = '%s'" % key), [["1"]],
         "and is recorded once")
    first, second = submit(c), submit(c)
    key = unique("accept")
    r1 = http("POST", "%s/v1/suggestions/%s/transitions" % (SUG, first), {"action": "accept"},
              tok=SUP, headers={"Idempotency-Key": key})
    r2 = http("POST", "%s/v1/suggestions/%s/transitions" % (SUG, second), {"action": "accept"},
              tok=SUP, headers={"Idempotency-Key": key})
    c.eq((r1.status, r2.status), (200, 422),
         "a key reused on another proposal is refused, not answered with the first's result")
    c.eq(get(second, SUP).json["state"], "submitted", "and the other proposal is untouched")


def test_forbidden(c):
    sid = assigned(c)
    c.eq(act(sid, F["unit_zj2_tok"], "progress", note="x").status, 403,
         "a unit without a part may not post progress")
    c.eq(act(sid, F["other_tok"], "feedback", satisfied=True, comment="x").status, 403,
         "another notable may not give feedback")
    c.eq(act(sid, F["notable_tok"], "accept").status, 403, "a notable may not accept")
    c.eq(act(sid, ADMIN, "resolve", answer="x").status, 403,
         "the admin does not answer for a unit")
    c.eq(act(sid, PLANNER, "close").status, 403, "a planner makes no transition")
    c.eq(act(sid, SUP, "accept").status, 409, "accepting an assigned proposal is a conflict")
    r = act(sid, F["unit_zj_tok"], "resolve", answer="done")
    c.eq(r.status, 200, "the unit resolves")
    r = act(sid, F["unit_zj_tok"], "resolve", answer="again")
    c.eq(r.status, 409, "resolving twice is a conflict")


def test_reopen(c):
    sid = assigned(c)
    act(sid, F["unit_zj_tok"], "resolve", answer="第一次答复")
    c.eq(act(sid, F["notable_tok"], "reopen").status, 409, "no reopening before feedback")
    r = act(sid, F["notable_tok"], "feedback", satisfied=False, comment="没有解决")
    c.eq(r.json["state"], "closed", "unsatisfied feedback closes")
    due = workdays_after(TODAY, 20)
    r = act(sid, F["notable_tok"], "reopen", due_date=due)
    c.eq((r.status, r.json["state"], r.json["reopen_count"]), (200, "assigned", 1),
         "the submitter reopens once")
    c.eq((r.json["parts"][0]["state"], r.json["parts"][0]["due_date"],
          r.json["parts"][0]["unit_id"]), ("assigned", due, F["unit_zj"]),
         "back to assigned, to the same unit, with a new due date")
    c.eq(len(events(sid, "suggestion.reopened")), 1, "suggestion.reopened published")
    act(sid, F["unit_zj_tok"], "resolve", answer="第二次答复")
    act(sid, F["notable_tok"], "feedback", satisfied=False, comment="仍不满意")
    r = act(sid, F["notable_tok"], "reopen")
    c.eq(r.status, 409, "a second reopening is refused")
    c.check("once" in r.json.get("detail", ""), "and says why: %r" % r.json.get("detail"))


def test_cross_border(c):
    zj_due = workdays_after(TODAY, 10)
    sh_due = workdays_after(TODAY, 12)
    sid = submit(c, villages=(ZJ, SH))
    act(sid, SUP, "accept")
    r = act(sid, SUP, "assign", unit_id=[F["unit_zj"]])
    c.eq((r.status, r.json.get("pointer")), (422, "/unit_id"), "each side needs its unit")
    r = act(sid, SUP, "assign", unit_id=[F["unit_zj"], F["unit_sh"]],
            due_date={"zhejiang": zj_due, "shanghai": sh_due})
    c.eq(r.status, 200, "one unit per side")
    parts = {p["side"]: p for p in r.json["parts"]}
    c.eq((parts["zhejiang"]["due_date"], parts["shanghai"]["due_date"]), (zj_due, sh_due),
         "each side's part has its own due date")
    r = act(sid, F["unit_zj_tok"], "resolve", answer="浙江侧已办结")
    c.eq(r.json["state"], "in_progress", "one side resolved: not resolved yet")
    # the event of that transition is on the topic (keyed by the proposal, so after
    # any earlier one): only then does "no suggestion.resolved" mean something
    marker = [e for e in events(sid, "suggestion.progressed")
              if e["data"].get("side") == "zhejiang" and e["data"].get("part_state") == "resolved"]
    c.eq(len(marker), 1, "suggestion.progressed for the Zhejiang side's answer")
    c.eq([m["value"]["type"] for m in tail("suggestions.v1")
          if isinstance(m.get("value"), dict) and m["value"].get("subject") == sid
          and m["value"].get("type") == "suggestion.resolved"], [],
         "no suggestion.resolved while a side is open")
    r = act(sid, F["unit_sh_tok"], "progress", note="上海侧协调中")
    c.eq({p["side"]: p["last_note"] for p in r.json["parts"]}["shanghai"], "上海侧协调中",
         "each side keeps its own progress")
    r = act(sid, F["unit_sh_tok"], "resolve", answer="上海侧已办结")
    c.eq(r.json["state"], "resolved", "resolved when every side has resolved its part")
    c.eq(sorted(p["answer"] for p in r.json["parts"]), ["上海侧已办结", "浙江侧已办结"],
         "each side's answer")
    c.eq(len(events(sid, "suggestion.resolved")), 1, "suggestion.resolved once")


def test_concurrent(c):
    """Two handlers of the unit resolving at the same moment: one wins, one gets 409."""
    other = token("handler", unit=F["unit_zj"], sub="handler-2")
    for i in range(3):
        sid = assigned(c)
        results = []
        barrier = threading.Barrier(2)

        def go(tok):
            barrier.wait()
            results.append(act(sid, tok, "resolve", answer="并发答复").status)

        threads = [threading.Thread(target=go, args=(t,)) for t in (F["unit_zj_tok"], other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        c.eq(sorted(results), [200, 409], "round %d: one wins, the other 409" % i)
        c.eq(psql("SELECT count(*) FROM suggestion.history WHERE suggestion_id = '%s' "
                  "AND action = 'resolve'" % sid), [["1"]], "round %d: recorded once" % i)


def test_visibility(c):
    mine = assigned(c)
    theirs = submit(c, tok=F["other_tok"])
    lst = http("GET", SUG + "/v1/suggestions?limit=1000", tok=F["notable_tok"]).json["items"]
    c.check(all(i["submitter"]["id"] == F["notable"] for i in lst) and
            any(i["id"] == mine for i in lst), "a notable lists its own proposals, in full")
    p = get(theirs, F["notable_tok"]).json
    c.eq(p["view"], "public", "another's proposal: the public summary")
    c.check("submitter" not in p and "text" not in p and F["other_phone"] not in json.dumps(p),
            "the public summary has no submitter, text or phone")
    c.eq(get(theirs, PLANNER).json["view"], "public", "a planner reads the public summary")
    c.eq(get(mine, F["unit_zj_tok"]).json["view"], "full", "the assigned unit sees it in full")
    c.eq(get(mine, F["unit_sh_tok"]).json["view"], "public", "another unit: public summary")
    c.eq(get(theirs, SUP).json["submitter"]["phone"], F["other_phone"],
         "the supervisor sees it in full, phone included")
    units = http("GET", SUG + "/v1/suggestions?limit=1000", tok=F["unit_zj_tok"]).json["items"]
    c.check(any(i["id"] == mine for i in units) and all(
        any(p["unit_id"] == F["unit_zj"] for p in i["parts"]) for i in units),
        "a unit lists the proposals assigned to it")
    pub = http("GET", SUG + "/v1/suggestions?view=public&limit=1000", tok=F["notable_tok"])
    c.check(any(i["id"] == theirs and i["view"] == "public" for i in pub.json["items"]),
            "everyone may list the public summaries")
    c.eq(http("GET", "%s/v1/suggestions/%s/history" % (SUG, theirs), tok=F["notable_tok"]).status,
         403, "another's history is not public")
    c.eq(http("GET", SUG + "/v1/suggestions?state=flying", tok=SUP).json.get("pointer"),
         "/state", "a bad filter is named")
    # An answer appears in the public summary once resolved.
    act(mine, F["unit_zj_tok"], "resolve", answer="公开的答复")
    p = get(mine, F["unit_sh_tok"]).json
    c.eq([a["answer"] for a in p["answers"]], ["公开的答复"], "the answer, once resolved, is public")


def test_stats(c):
    s = http("GET", SUG + "/v1/suggestions/stats", tok=PLANNER)
    c.eq(s.status, 200, "anyone with a token reads the statistics")
    o = s.json["overall"]
    for key in ("received", "accepted", "resolved", "closed", "rejected", "overdue",
                "resolution_rate", "median_days_to_resolve", "p90_days_to_resolve",
                "satisfaction_rate"):
        c.check(key in o, "overall has %s" % key)
    got = psql("SELECT count(*), count(*) FILTER (WHERE state = 'rejected'), "
               "count(*) FILTER (WHERE resolved_at IS NOT NULL), "
               "count(*) FILTER (WHERE accepted_at IS NOT NULL) FROM suggestion.suggestions")[0]
    c.eq([o["received"], o["rejected"], o["resolved"], o["accepted"]], [int(x) for x in got],
         "overall figures match the table")
    c.check(abs(float(o["resolution_rate"]) - int(got[2]) / int(got[3])) < 0.0001,
            "resolution rate = resolved / accepted")
    late = psql("SELECT count(*) FROM suggestion.suggestions s WHERE s.resolved_at IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM suggestion.parts p WHERE p.suggestion_id = s.id "
                "AND (p.resolved_at IS NULL OR (p.resolved_at AT TIME ZONE 'Asia/Shanghai')::date "
                "> p.due_date))")[0][0]
    c.eq(o["resolved_on_time"], int(late), "resolved on time: every part by its due date")
    c.check(0 < o["resolved_on_time"] < o["resolved"],
            "the demo has proposals resolved on time and late (%d of %d)"
            % (o["resolved_on_time"], o["resolved"]))
    c.check(abs(float(o["on_time_rate"]) - o["resolved_on_time"] / o["resolved"]) < 0.0001,
            "on-time rate = on time / resolved")
    units = {u["unit_id"]: u for u in s.json["by_unit"]}
    c.check(F["unit_zj"] in units and units[F["unit_zj"]]["received"] >= 5, "by unit")
    c.check(any(v["village_code"] == SH for v in s.json["by_village"]), "by village")
    c.check(any(m["month"] == TODAY.strftime("%Y-%m") for m in s.json["by_month"]), "by month")
    c.check({x["category"] for x in s.json["by_category"]} >= {"助农", "助学"}, "by category")
    c.eq(http("GET", SUG + "/v1/suggestions/stats?year=20x5", tok=PLANNER).json.get("pointer"),
         "/year", "a bad year is named")


SANITIZER_REPORT = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
                              r"SUMMARY: \w+Sanitizer")


def supervise(now):
    out = stack("supervise", "--now", now.isoformat()).stdout.strip().splitlines()
    return json.loads(out[-1])


def supervise_env():
    return dict(os.environ, STACK_INSTANCE=ENV.get("INSTANCE", "test"))


def test_supervisor(c):
    """Overdue, escalation up the chain and auto-close with a controllable clock."""
    over = assigned(c, due=TODAY.isoformat())
    done = assigned(c)
    # late on the Zhejiang side only: the Shanghai unit is not late
    half = assigned(c, villages=(ZJ, SH), units=[F["unit_zj"], F["unit_sh"]],
                    due={"zhejiang": TODAY.isoformat(),
                         "shanghai": (TODAY + datetime.timedelta(days=300)).isoformat()})
    act(done, F["unit_zj_tok"], "resolve", answer="按期办结")
    t1 = datetime.datetime.combine(TODAY + datetime.timedelta(days=1), datetime.time(10), CN)
    # Two passes at the same moment, as two instances would run them.
    procs = [subprocess.Popen([STACK, "supervise", "--now", t1.isoformat()], env=supervise_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    ran = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    for i, (out, err, rc) in enumerate(ran):
        # the stack fails a one-off command that prints a sanitizer report (exit 86)
        c.eq(rc, 0, "concurrent pass %d exits 0 (stderr: %s)" % (i, err[-3000:]))
        c.check(not SANITIZER_REPORT.search(err), "concurrent pass %d: no sanitizer report" % i)
    outs = [json.loads((out.strip().splitlines() or ["{}"])[-1]) for out, _, _ in ran]
    c.check(sum(o["overdue"] for o in outs) >= 1, "the passes marked overdue parts: %r" % outs)
    p = get(over, SUP).json["parts"][0]
    c.eq((p["overdue"], p["escalation_level"]), (True, "village"),
         "past its due date in Asia/Shanghai: overdue at village level")
    c.eq(psql("SELECT count(*) FROM suggestion.history WHERE suggestion_id = '%s' "
              "AND action = 'overdue'" % over), [["1"]], "two passes at once mark it once")
    ev = events(over, "suggestion.overdue")
    c.eq(len(ev), 1, "one suggestion.overdue")
    if ev:
        c.eq((ev[0]["data"]["level"], ev[0]["data"]["region_codes"]), ("village", [ZJ]),
             "the overdue event names the village")
    c.eq(supervise(t1)["overdue"], 0, "a later pass at the same time marks nothing")
    parts = {p["side"]: p for p in get(half, SUP).json["parts"]}
    c.eq((parts["zhejiang"]["overdue"], parts["shanghai"]["overdue"]), (True, False),
         "a cross-border proposal is late only on the side past its own due date")
    units = {u["unit_id"]: u for u in
             http("GET", SUG + "/v1/suggestions/stats", tok=PLANNER).json["by_unit"]}
    c.check(units[F["unit_zj"]]["overdue"] >= 2 and units[F["unit_sh"]]["overdue"] == 0,
            "by unit, overdue counts the unit's own late parts: %r, %r"
            % (units[F["unit_zj"]]["overdue"], units[F["unit_sh"]]["overdue"]))
    c.eq(get(done, SUP).json["state"], "resolved", "not closed automatically after one day")
    c.check(http("GET", SUG + "/v1/suggestions/stats", tok=PLANNER).json["overall"]["overdue"]
            >= 1, "the statistics count it overdue now")

    t2 = t1 + datetime.timedelta(days=14)
    supervise(t2)
    c.eq(get(over, SUP).json["parts"][0]["escalation_level"], "town", "escalated to the town")
    ev = events(over, "suggestion.escalated")
    c.check(any(e["data"]["level"] == "town" and e["data"]["region_codes"] == ["330482105000"]
                for e in ev), "suggestion.escalated names the town")
    t3 = t2 + datetime.timedelta(days=21)
    supervise(t3)
    c.eq(get(over, SUP).json["parts"][0]["escalation_level"], "county", "then the county")
    ev = events(over, "suggestion.escalated", want=2)
    c.eq(sorted(e["data"]["level"] for e in ev), ["county", "town"],
         "one escalation event per level")
    c.eq(supervise(t3)["escalated"], 0, "the county is the top of the chain")

    d = get(done, SUP).json
    c.eq((d["state"], d["closed_by"]), ("closed", "auto"),
         "a resolved proposal without feedback closes by itself")
    c.eq(len(events(done, "suggestion.closed")), 1, "suggestion.closed once")
    c.eq(act(done, F["notable_tok"], "feedback", satisfied=True, comment="迟到").status, 409,
         "no feedback after auto-close")
    c.eq(act(done, F["notable_tok"], "reopen").status, 409, "no reopening after auto-close")


def part_level(sid):
    """(escalation level, overdue) of a proposal's only part, as the supervisor left it."""
    return tuple(psql("SELECT coalesce(escalation_level, ''), overdue_at IS NOT NULL "
                      "FROM suggestion.parts WHERE suggestion_id = '%s'" % sid)[0])


def test_thresholds_across_national_day(c):
    """The escalation thresholds (3 working days at village, 5 at town) and the
    15-day auto-close, each pinned at the day before and the day it acts, over
    the 2026 Mid-Autumn and National Day holidays (1-7 October off, Saturday
    10 October a make-up working day) of the shipped calendar. The service is
    stopped meanwhile, so that only these passes at these instants act; the
    proposal's due date and resolution are moved back into September by SQL."""
    esc = assigned(c)
    done = assigned(c)
    c.eq(act(done, F["unit_zj_tok"], "resolve", answer="节前办结").status, 200, "resolved")

    def at(day):
        return datetime.datetime.combine(datetime.date.fromisoformat(day), datetime.time(10), CN)

    stack("service-stop", "suggestion")
    try:
        psql("UPDATE suggestion.parts SET due_date = '2026-09-29' WHERE suggestion_id = '%s'"
             % esc)
        psql("UPDATE suggestion.suggestions SET resolved_at = '%s' WHERE id = '%s'"
             % (at("2026-09-30").isoformat(), done))
        want = [  # day of the pass, the part's level, the resolved proposal's state
            ("2026-09-30", "village", "resolved"),  # due the 29th: overdue on Wednesday 30th
            ("2026-10-09", "village", "resolved"),  # 8th, 9th: two working days at village
            ("2026-10-10", "town", "resolved"),  # Saturday make-up day: the third
            ("2026-10-14", "town", "resolved"),  # 14 days after the resolution
            ("2026-10-15", "town", "closed"),  # 15 days; and four working days at town
            ("2026-10-16", "county", "closed"),  # the fifth (12th-16th but the 10th counts)
        ]
        for day, level, state in want:
            supervise(at(day))
            c.eq(part_level(esc), (level, "t"), "%s: the overdue part at %s" % (day, level))
            c.eq(psql("SELECT state, coalesce(closed_by, '') FROM suggestion.suggestions "
                      "WHERE id = '%s'" % done)[0], [state, "auto" if state == "closed" else ""],
                 "%s: the proposal resolved on 30 September is %s" % (day, state))
    finally:
        stack("service-start", "suggestion")


if __name__ == "__main__":
    checks = Checks()
    checks.run([setup, test_whole_loop, test_reject, test_bad_input, test_forbidden, test_reopen,
                test_cross_border, test_concurrent, test_visibility, test_stats, test_supervisor,
                test_thresholds_across_national_day])
