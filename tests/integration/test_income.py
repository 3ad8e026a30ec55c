"""Integration tests of the income service against the running stack: entries
recorded over HTTP appear in every view they belong to, on both sides of the
border; reversals cancel exactly; bad input is refused and leaves nothing
half-written; a replayed request or event changes nothing; exports; the
ledger is append-only; the verification command finds no difference (and
does find one when a rollup is tampered with).

Every view is read filtered by a project made for the test, so the figures
are exact whatever else the stack holds."""
import datetime
import io
import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from stacklib import (ENV, Checks, http, psql, stack, token, unique,  # noqa: E402
                      wait_for_event, wait_sql)

INCOME = ENV["INCOME_URL"]
REG = ENV["REGISTRY_URL"]
ENR = ENV["ENROLLMENT_URL"]
ZJ = "330482105201"
SH = "310116106201"
ADMIN = token("admin")
PLANNER = token("planner")
COORD_ZJ = token("coordinator", regions=[ZJ], sub="coord-income-zj")
COORD_SH = token("coordinator", regions=[SH], sub="coord-income-sh")
TODAY = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=8)).date()
YEAR = TODAY.year
JAN = "%d-01-01" % YEAR
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
F = {}  # the fixture: ids made by setup


def id_number(county):
    first17 = "%s19%02d0101%03d" % (county, 50 + uuid.uuid4().int % 40, uuid.uuid4().int % 1000)
    return first17 + "10X98765432"[sum(int(a) * b for a, b in zip(first17, W)) % 11]


def post(body, tok=ADMIN, key=None):
    headers = {"Idempotency-Key": key} if key else None
    return http("POST", INCOME + "/v1/entries", body, tok=tok, headers=headers)


def view(path, tok=PLANNER, **query):
    q = "&".join("%s=%s" % kv for kv in sorted(query.items()))
    r = http("GET", "%s%s?%s" % (INCOME, path, q), tok=tok)
    assert r.status == 200, "%s: %r" % (path, r)
    return r.json


def setup(c):
    """A notable, an active project on both sides it sponsors, a low-income household
    in Zhejiang (2 members) employed and transferring land, and a Shanghai household
    employed; waits until the income service has learned them from the events."""
    n = http("POST", REG + "/v1/notables", {"name": "收入测试乡贤", "phone": "139%08d" % random.randrange(10**8),
                                            "home_village": ZJ, "council": "测试参事会"}, tok=ADMIN)
    F["notable"] = n.json["id"]
    F["notable_tok"] = token("notable", sub=F["notable"])
    p = http("POST", REG + "/v1/projects", {
        "name": unique("收入测试项目"), "type": "workshop", "village_codes": [ZJ, SH],
        "notable_ids": [F["notable"]], "investment_fen": 100000000,
        "expected_revenue_fen": 50000000, "start_date": JAN, "status": "active"}, tok=ADMIN)
    F["project"] = p.json["id"]
    F["project_tok"] = p.json["id"]
    households = {}
    for name, village, county, low, tok in (("zj", ZJ, "330482", True, COORD_ZJ),
                                            ("sh", SH, "310116", False, COORD_SH)):
        body = {"head_name": "收入测试户", "id_number": id_number(county), "phone": "13700009999",
                "village_code": village, "members_count": 2,
                "low_income": ({"certified": True, "year": 2024,
                                "baseline_per_capita_fen": 1200000} if low
                               else {"certified": False})}
        h = http("POST", ENR + "/v1/households", body, tok=tok)
        households[name] = h.json["id"]
        deadline = time.time() + 60
        while True:
            e = http("POST", ENR + "/v1/households/%s/enrollments" % h.json["id"],
                     {"project_id": F["project"], "kind": "employment",
                      "monthly_wage_fen": 400000, "start_date": JAN}, tok=tok)
            if e.status != 503 or time.time() > deadline:
                break
            time.sleep(0.5)
        c.eq(e.status, 201, "enroll %s (%r)" % (name, e))
    e = http("POST", ENR + "/v1/households/%s/enrollments" % households["zj"],
             {"project_id": F["project"], "kind": "land_transfer", "area_mu_x100": 80,
              "annual_rent_fen": 120000, "term_years": 5, "start_date": JAN}, tok=COORD_ZJ)
    c.eq(e.status, 201, "land transfer (%r)" % e)
    F.update(households)
    c.check(wait_sql("SELECT count(*) FROM income.enrollments WHERE project_id = '%s'"
                     % F["project"], [["3"]]), "income learned the three enrollments")
    c.check(wait_sql("SELECT count(*) FROM income.projects WHERE id = '%s'" % F["project"],
                     [["1"]]), "income learned the project")


def wage(hid, amount, date=JAN, **over):
    body = {"kind": "wage", "project_id": F["project"], "household_id": hid,
            "amount_fen": amount, "date": date, "source_ref": unique("工资单")}
    body.update(over)
    return body


def test_entries_reach_every_view(c):
    setup(c)
    pid = F["project"]
    r = post(wage(F["zj"], 500000), tok=COORD_ZJ)
    if not c.eq(r.status, 201, "a coordinator records a wage in its village (%r)" % r):
        return
    F["wage_zj"] = r.json["id"]
    c.eq(r.headers.get("Location"), "/v1/entries/" + r.json["id"], "Location of the entry")
    c.check("phone" not in r.json, "the answer carries no phone")
    c.eq(r.json["side"], "zhejiang", "side from the household's village")
    c.eq(r.json["low_income"], True, "the household's low-income flag is on the entry")
    c.eq(post(wage(F["sh"], 420000), tok=COORD_SH).status, 201, "wage in Shanghai")
    r = post({"kind": "project_revenue", "project_id": pid, "village_code": ZJ,
              "amount_fen": 10000000, "date": JAN, "source_ref": "营收月报"}, tok=F["notable_tok"])
    c.eq(r.status, 201, "the sponsoring notable records revenue (%r)" % r)
    r = post({"kind": "collective", "project_id": pid, "village_code": SH,
              "amount_fen": 3000000, "date": JAN, "source_ref": "集体分配"}, tok=ADMIN)
    c.eq(r.status, 201, "the admin records collective income")
    F["collective"] = r.json["id"]

    p = view("/v1/views/projects/" + pid, year=YEAR)
    c.eq(p["project_revenue_fen"], 10000000, "project view: revenue")
    c.eq(p["household_income_fen"], 920000, "project view: household income")
    c.eq(p["low_income_household_income_fen"], 500000, "project view: low-income income")
    c.eq(p["collective_income_gain_fen"], 3000000, "project view: collective income")
    c.eq(p["people_employed"], 2, "project view: two employed")
    c.eq(p["low_income_employed"], 1, "project view: one low-income employed")
    c.eq(p["land_transfer_households"], 1, "project view: one land-transfer household")
    c.eq(p["land_transferred_mu"], 0.8, "project view: 0.8 mu")
    c.eq(p["low_income_households_reached"], 1, "project view: one low-income household reached")
    c.eq(p["low_income_per_capita_uplift_fen"], 250000, "uplift: 5,000 yuan over 2 members")
    c.eq(p["by_month"][0]["key"], "%d-01" % YEAR, "by month starts in January")
    c.eq(p["by_month"][0]["entries"], 4, "January holds the four entries")
    c.eq(len(p["by_month"]), 12, "twelve months")
    villages = {v["key"]: v for v in p["by_village"]}
    c.eq(villages[ZJ]["project_revenue_fen"] + villages[ZJ]["household_income_fen"], 10500000,
         "Zhejiang village: revenue and the wage")
    c.eq(villages[SH]["collective_income_gain_fen"] + villages[SH]["household_income_fen"],
         3420000, "Shanghai village: collective income and the wage")
    kinds = {k["key"]: k for k in p["by_kind"]}
    c.eq(kinds["wage"]["wage_fen"], 920000, "by kind: wages")
    c.eq(kinds["wage"]["name"], "工资", "kinds are named in Chinese")

    s = view("/v1/views/summary", year=YEAR, project_id=pid)
    sides = {b["key"]: b for b in s["by_side"]}
    c.eq(sides["33"]["household_income_fen"], 500000, "summary: Zhejiang side")
    c.eq(sides["31"]["household_income_fen"], 420000, "summary: Shanghai side")
    c.eq(sides["33"]["name"], "浙江省", "the side is named")
    c.eq(s["totals"], {k: p[k] for k in s["totals"]}, "summary totals equal the project view's")
    c.eq(s["to_date"]["collective_income_gain_fen"], 3000000, "to date as well")

    for code, want in (("330000000000", 10500000), ("330482000000", 10500000),
                       ("330482105000", 10500000), (ZJ, 10500000), ("310000000000", 420000),
                       ("310116106000", 420000), (SH, 420000), ("all", 10920000)):
        g = view("/v1/views/regions/" + code, year=YEAR, project_id=pid)
        c.eq(g["project_revenue_fen"] + g["household_income_fen"], want,
             "region %s: revenue and wages" % code)
    both = view("/v1/views/regions/all", year=YEAR, project_id=pid)
    c.eq(sorted(ch["key"] for ch in both["children"]), ["31", "33"], "both sides as children")
    county = view("/v1/views/regions/330482000000", year=YEAR, project_id=pid)
    c.eq([ch["key"] for ch in county["children"]], ["330482105"], "county: its towns")
    c.eq(county["children"][0]["name"], "广陈镇", "the town is named")

    m = view("/v1/views/months", year=YEAR, project_id=pid, kind="wage")
    c.eq(m["months"][0]["wage_fen"], 920000, "months view filtered by kind")
    c.eq(m["totals"]["project_revenue_fen"], 0, "the kind filter leaves revenue out")
    c.eq(view("/v1/views/summary", year=YEAR, project_id=pid, month=2)["totals"]["entries"], 0,
         "February has nothing")
    c.eq(view("/v1/views/summary", year=YEAR - 1, project_id=pid)["totals"]["entries"], 0,
         "last year has nothing")

    h = view("/v1/views/households/" + F["zj"], tok=COORD_ZJ)
    years = {y["year"]: y for y in h["years"]}
    c.eq(years[YEAR]["income_fen"], 500000, "household view: the year's income")
    c.eq(years[YEAR]["per_capita_uplift_fen"], 250000, "household view: per-capita uplift")
    c.eq(years[YEAR]["per_capita_income_fen"], 1450000, "baseline plus uplift")
    c.eq(h["entries"][0]["id"], F["wage_zj"], "household view lists its entries")
    c.eq(http("GET", INCOME + "/v1/views/households/" + F["zj"], tok=COORD_SH).status, 403,
         "another village's coordinator may not read the household")
    c.eq(http("GET", INCOME + "/v1/views/households/" + F["zj"], tok=PLANNER).status, 403,
         "a planner may not read a household")

    ev = wait_for_event("income.v1", lambda v: v.get("subject") == F["wage_zj"])
    c.check(len(ev) == 1 and ev[0]["value"]["type"] == "income.recorded", "income.recorded event")
    if ev:
        c.eq(ev[0]["key"], F["zj"], "keyed by the household")
        c.eq(ev[0]["value"]["data"]["phone"], "13700009999", "the event tells the notifier whom")
        c.eq(ev[0]["value"]["data"]["amount_fen"], 500000, "the event carries the amount")


def test_reversal_cancels_exactly(c):
    pid = F["project"]
    before = view("/v1/views/projects/" + pid, year=YEAR)
    r = post({"kind": "collective", "project_id": pid, "village_code": ZJ, "amount_fen": 777,
              "date": JAN, "source_ref": "录入错误"})
    eid = r.json["id"]
    c.eq(view("/v1/views/projects/" + pid, year=YEAR)["collective_income_gain_fen"],
         before["collective_income_gain_fen"] + 777, "the entry counts")
    r = post({"reverses": eid, "reason": "金额录错"})
    if not c.eq(r.status, 201, "reversal (%r)" % r):
        return
    c.eq(r.json["amount_fen"], -777, "the reversal negates the amount")
    c.eq(r.json["village_code"], ZJ, "with the original's village")
    after = view("/v1/views/projects/" + pid, year=YEAR)
    c.eq({k: after[k] for k in after["totals"]}, {k: before[k] for k in after["totals"]},
         "every money figure is back where it was, entry count included")
    c.eq(http("GET", INCOME + "/v1/entries/" + eid, tok=ADMIN).json["reversed_by"], r.json["id"],
         "the original shows its reversal")
    again = post({"reverses": eid, "reason": "又一次"})
    c.eq(again.status, 409, "an entry is reversed once")
    c.eq(post({"reverses": r.json["id"], "reason": "x"}).status, 422, "a reversal is not reversed")
    c.eq(post({"reverses": str(uuid.uuid4()), "reason": "x"}).json.get("pointer"), "/reverses",
         "an unknown entry: 422 naming reverses")
    c.eq(post({"reverses": eid, "reason": "x", "amount_fen": 5}).json.get("pointer"), "/amount_fen",
         "a reversal takes no amount")
    ev = wait_for_event("income.v1", lambda v: v.get("subject") == r.json["id"])
    c.check(len(ev) == 1 and ev[0]["value"]["type"] == "income.reversed", "income.reversed event")
    # Two reversals of one entry at the same moment: one wins.
    r = post({"kind": "collective", "project_id": pid, "village_code": ZJ, "amount_fen": 5,
              "date": JAN, "source_ref": "并发"})
    import threading
    results = []

    def rev():
        results.append(post({"reverses": r.json["id"], "reason": "并发冲销"}).status)
    threads = [threading.Thread(target=rev) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c.eq(sorted(results), [201, 409, 409, 409], "concurrent reversals: one wins (%r)" % results)


def entries_count():
    return int(psql("SELECT count(*) FROM income.entries")[0][0])


def test_bad_input(c):
    pid = F["project"]
    n = entries_count()
    cases = [
        (wage(F["zj"], 0), 422, "/amount_fen", "amount zero"),
        (wage(F["zj"], 100000001), 422, "/amount_fen", "amount above the household bound"),
        (wage(F["zj"], 100, date=(TODAY + datetime.timedelta(days=1)).isoformat()), 422,
         "/date", "a date in the future"),
        (wage(F["zj"], 100, date="%d-02-30" % YEAR), 422, "/date", "no such day"),
        (wage(F["zj"], 100, project_id=str(uuid.uuid4())), 422, "/project_id",
         "an unknown project"),
        (wage(str(uuid.uuid4()), 100), 422, "/household_id", "an unknown household"),
        (wage(F["zj"], 100, kind="dividend"), 422, "/household_id",
         "a dividend without a share enrollment"),
        (wage(F["zj"], 100, date="%d-12-31" % (YEAR - 1)), 422, "/household_id",
         "a wage before the employment started"),
        ({"kind": "collective", "project_id": pid, "amount_fen": 5, "date": JAN,
          "source_ref": "x"}, 422, "/village_code", "collective income without its village"),
        ({"kind": "collective", "project_id": pid, "village_code": "330482104201",
          "amount_fen": 5, "date": JAN, "source_ref": "x"}, 422, "/village_code",
         "a village not hosting the project"),
        ({"kind": "project_revenue", "project_id": pid, "amount_fen": 5, "date": JAN,
          "source_ref": "x"}, 422, "/village_code", "revenue of a two-village project needs its village"),
        ({"kind": "bonus", "project_id": pid, "amount_fen": 5, "date": JAN, "source_ref": "x"},
         422, "/kind", "an unknown kind"),
        (wage(F["zj"], 100, source_ref=""), 422, "/source_ref", "an empty source reference"),
        ({"kind": "collective", "project_id": pid, "village_code": ZJ, "household_id": F["zj"],
          "amount_fen": 5, "date": JAN, "source_ref": "x"}, 422, "/household_id",
         "collective income belongs to no household"),
    ]
    for body, status, pointer, what in cases:
        r = post(body)
        c.eq((r.status, (r.json or {}).get("pointer")), (status, pointer), what)
        c.eq((r.headers.get("Content-Type") or "").split(";")[0], "application/problem+json",
             what + ": problem+json")
    c.eq(post(wage(F["zj"], 100), tok=COORD_SH).status, 403,
         "a coordinator may not record outside its villages")
    c.eq(post({"kind": "collective", "project_id": pid, "village_code": ZJ, "amount_fen": 5,
               "date": JAN, "source_ref": "x"}, tok=token("notable", sub=str(uuid.uuid4()))).status,
         403, "a notable may not record for a project it does not sponsor")
    c.eq(post(wage(F["zj"], 100), tok=PLANNER).status, 403, "a planner writes nothing")

    batch = [wage(F["zj"], 100 + i) for i in range(5)]
    batch[3]["amount_fen"] = -4
    r = post({"entries": batch})
    c.eq((r.status, r.json.get("pointer"), r.json.get("index")), (422, "/entries/3/amount_fen", 3),
         "a batch with one bad entry names its index")
    batch[3] = wage(F["sh"], 100, kind="land_rent")
    r = post({"entries": batch})
    c.eq((r.status, r.json.get("pointer")), (422, "/entries/3/household_id"),
         "a batch failing on the database's check names the entry too")
    c.eq(entries_count(), n, "nothing of the failed requests or batches was recorded")
    c.eq(post({"entries": []}).json.get("pointer"), "/entries", "an empty batch")
    c.eq(post({"entries": [wage(F["zj"], 1)] * 10001}).json.get("pointer"), "/entries",
         "a batch above 10,000 entries")
    c.eq(http("GET", INCOME + "/v1/views/summary?year=19x", tok=PLANNER).json.get("pointer"),
         "/year", "a bad year filter")
    c.eq(http("GET", INCOME + "/v1/views/summary?region=33", tok=PLANNER).json.get("pointer"),
         "/region", "a bad region filter")


def test_batches_and_replays(c):
    pid = F["project"]
    before = view("/v1/views/projects/" + pid, year=YEAR)
    batch = [wage(F["zj"] if i % 2 else F["sh"], 1000 + i) for i in range(500)]
    key = unique("batch")
    r = post({"entries": batch}, key=key)
    if not c.eq(r.status, 201, "a batch of 500 (%r)" % r):
        return
    c.eq(r.json["recorded"], 500, "all recorded")
    n = entries_count()
    again = post({"entries": batch}, key=key)
    c.eq((again.status, again.json), (201, r.json), "the replayed request answers the first answer")
    c.eq(entries_count(), n, "and records nothing")
    after = view("/v1/views/projects/" + pid, year=YEAR)
    c.eq(after["household_income_fen"] - before["household_income_fen"],
         sum(e["amount_fen"] for e in batch), "the batch is in the views")
    c.eq(after["entries"] - before["entries"], 500, "500 more entries")

    # A replayed event changes nothing: produce an enrollment event the service already applied.
    events = [m["value"] for m in wait_for_event(
        "households.v1", lambda v: v.get("subject") == F["zj"] and v["type"] == "enrollment.started")]
    dup_before = metric("shantang_consumer_duplicates")
    rows = psql("SELECT count(*), sum(coalesce(area_mu_x100, 0)) FROM income.enrollments")
    subprocess.run([ENV["CTL"], "produce", "--brokers", ENV["KAFKA_BROKERS"], "--topic",
                    "households.v1", "--key", F["zj"]], input=json.dumps(events[0]),
                   text=True, check=True, capture_output=True, timeout=60)
    deadline = time.time() + 60
    while metric("shantang_consumer_duplicates") == dup_before and time.time() < deadline:
        time.sleep(0.3)
    c.eq(metric("shantang_consumer_duplicates"), dup_before + 1, "the redelivery was seen")
    c.eq(psql("SELECT count(*), sum(coalesce(area_mu_x100, 0)) FROM income.enrollments"), rows,
         "and changed nothing")
    c.eq(view("/v1/views/projects/" + pid, year=YEAR)["people_employed"], 2, "the views neither")


def test_batch_checks_in_order(c):
    """A batch is checked entry by entry, each after the ones before it are
    written; the first refusal answers, whether the database found it or the
    fields; a refused request records nothing and leaves its key free."""
    n0 = entries_count()
    r = post(wage(F["zj"], 77))
    if not c.eq(r.status, 201, "an entry to reverse (%r)" % r):
        return
    eid = r.json["id"]
    n = entries_count()
    r = post({"entries": [{"reverses": eid, "reason": "一"}, {"reverses": eid, "reason": "二"}]})
    c.eq((r.status, r.json.get("type", "").rsplit("/", 1)[-1], r.json.get("pointer"),
          r.json.get("index")), (409, "already-reversed", "/entries/1/reverses", 1),
         "the second reversal of one entry in a batch finds the first")
    c.eq(http("GET", INCOME + "/v1/entries/" + eid, tok=ADMIN).json.get("reversed_by"), None,
         "and the refused batch left the entry unreversed")
    bad_field = wage(F["zj"], 100)
    bad_field["amount_fen"] = -4
    batch = [wage(F["zj"], 100), wage(F["sh"], 100, kind="land_rent"), bad_field]
    key = unique("order")
    r = post({"entries": batch}, key=key)
    c.eq((r.status, r.json.get("pointer"), r.json.get("index")), (422, "/entries/1/household_id", 1),
         "an earlier entry's refusal by the database comes before a later entry's bad field")
    c.check(r.json.get("detail", "").startswith("entry 1: "), "the detail names the entry too")
    c.eq(entries_count(), n, "nothing of the refused batches was recorded")
    r = post({"entries": batch[:1]}, key=key)
    c.eq((r.status, r.json.get("recorded")), (201, 1), "a refused request's key stays free")
    key = unique("reused")
    c.eq(post(wage(F["zj"], 5), key=key).status, 201, "an entry under a key")
    r = post(bad_field, key=key)
    c.eq((r.status, r.json.get("type", "").rsplit("/", 1)[-1]), (422, "idempotency-key-reused"),
         "the key reused for a body with a bad field answers as a reused key")
    c.eq(entries_count(), n0 + 3, "three entries in all")
    r = post(wage(F["zj"], 78))
    eid = r.json["id"]
    import threading
    results = []

    def reverse():
        a = post({"entries": [wage(F["zj"], 1), {"reverses": eid, "reason": "并发"}]})
        results.append((a.status, (a.json.get("pointer") or "").startswith("/entries/1"),
                        a.json.get("index")))
    threads = [threading.Thread(target=reverse) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c.eq(sorted(results, key=str), [(201, False, None)] + [(409, True, 1)] * 3,
         "concurrent batches reversing one entry: one wins, each loser names its entry (%r)"
         % results)


def metric(name):
    text = http("GET", INCOME + "/metrics").raw
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return -1.0


def test_exports(c):
    pid = F["project"]
    r = http("GET", INCOME + "/v1/views/months?year=%d&project_id=%s&format=csv" % (YEAR, pid),
             tok=PLANNER)
    c.eq(r.status, 200, "CSV export")
    c.check(r.raw.startswith("\ufeff月份,项目收入（元）"), "CSV: BOM and Chinese headers")
    c.check(("%d-01,100000.00," % YEAR) in r.raw, "CSV: January's revenue in yuan (%r)"
            % r.raw[:300])
    c.check("attachment" in (r.headers.get("Content-Disposition") or ""), "CSV as a download")
    r = http("GET", INCOME + "/v1/views/projects/%s?year=%d&format=csv&table=by_village"
             % (pid, YEAR), tok=PLANNER)
    c.check(r.raw.startswith("\ufeff区划代码,名称") and ZJ in r.raw, "CSV of another table")
    req = __import__("urllib.request").request.Request(
        INCOME + "/v1/views/summary?year=%d&project_id=%s&format=xlsx" % (YEAR, pid),
        headers={"Authorization": "Bearer " + PLANNER})
    with __import__("urllib.request").request.urlopen(req, timeout=30) as resp:
        data = resp.read()
        ctype = resp.headers.get("Content-Type")
    c.eq(ctype, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx type")
    z = zipfile.ZipFile(io.BytesIO(data))
    workbook = z.read("xl/workbook.xml").decode()
    strings = z.read("xl/sharedStrings.xml").decode()
    c.check(all(s in workbook for s in ("概览", "按省份", "按收入类型", "按项目")),
            "xlsx: one sheet per table")
    c.check("村集体增收（元）" in strings and "项目收入（元）" in strings, "xlsx: Chinese headers")
    sheet = z.read("xl/worksheets/sheet2.xml").decode()
    c.check("<v>100000</v>" in sheet or "<v>100000.0</v>" in sheet,
            "xlsx: the Zhejiang side's revenue as a number of yuan")
    overview = z.read("xl/worksheets/sheet1.xml").decode()
    numeric = re.findall(r'<c r="B(\d+)"(?: s="\d+")?><v>', overview)
    c.eq(len(numeric), 15, "xlsx: the overview's 15 figures are numbers, not text (%s)"
         % overview[:400])
    t = http("GET", INCOME + "/v1/views/regions/all?year=%d&project_id=%s&format=text" % (YEAR, pid),
             tok=PLANNER)
    c.check(t.status == 200 and "项目总收入（元）" in t.raw and "100,000.00" in t.raw,
            "text table with yuan and separators")
    c.eq(http("GET", INCOME + "/v1/views/summary?format=pdf", tok=PLANNER).json.get("pointer"),
         "/format", "an unknown format")


def test_ledger_is_append_only(c):
    for sql in ("UPDATE income.entries SET amount_fen = amount_fen + 1",
                "DELETE FROM income.entries", "TRUNCATE income.entries CASCADE"):
        r = subprocess.run(["psql", ENV["PG_SUPERUSER_URL"], "-X", "-c", sql],
                           capture_output=True, text=True)
        c.check(r.returncode != 0 and "append-only" in r.stderr, "%s is refused" % sql.split()[0])


def test_verify_finds_no_difference(c):
    out = stack("verify").stdout
    c.check("0 differences" in out, "verify: no difference (%s)" % out.strip())
    psql("UPDATE income.rollup_cells SET amount_fen = amount_fen + 1 "
         "WHERE project_id = '%s' AND kind = 'wage'" % F["project"])
    try:
        stack("verify")
        c.check(False, "verify must fail on a tampered rollup")
    except subprocess.CalledProcessError as e:
        c.check("DIFFERENCE rollup_cells" in e.stdout, "verify names the cell (%s)" % e.stdout)
    finally:
        psql("UPDATE income.rollup_cells SET amount_fen = amount_fen - 1 "
             "WHERE project_id = '%s' AND kind = 'wage'" % F["project"])
    c.check("0 differences" in stack("verify").stdout, "and agrees again once repaired")


if __name__ == "__main__":
    Checks().run([test_entries_reach_every_view, test_reversal_cancels_exactly, test_bad_input,
                  test_batches_and_replays, test_batch_checks_in_order, test_exports,
                  test_ledger_is_append_only, test_verify_finds_no_difference])
