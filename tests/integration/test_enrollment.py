"""Integration tests of the enrollment service against the running stack:
registration with the ID number protected (encrypted, indexed, masked, in no
event and no log line), duplicates, coordinator scope, the project read model
learned from projects.v1, enrollments started and ended with their events,
and the planners' aggregated numbers (including the demo data's figures)."""
import json
import os
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from stacklib import (ENV, Checks, http, psql, token, unique,  # noqa: E402
                      wait_for_event, wait_sql)

BASE = ENV["ENROLLMENT_URL"]
REG = ENV["REGISTRY_URL"]
ZJ = "330482105201"
SH = "310116106201"
COORD_ZJ = token("coordinator", regions=[ZJ], sub="coord-zj")
ADMIN = token("admin")
PLANNER = token("planner")
NOTABLE = token("notable", sub="it-notable-e")
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(first17):
    return first17 + "10X98765432"[sum(int(a) * b for a, b in zip(first17, W)) % 11]


def fresh_id():
    """A valid ID number not used before (random sequence digits)."""
    return id_number("330482198%d%02d15%03d" % (uuid.uuid4().int % 10, 1 + uuid.uuid4().int % 12,
                                                 uuid.uuid4().int % 1000))


def household(idn, village=ZJ, **over):
    body = {"head_name": "测试户主", "id_number": idn, "phone": "13800138000",
            "village_code": village, "members_count": 3,
            "low_income": {"certified": True, "year": 2024, "baseline_per_capita_fen": 1500000}}
    body.update(over)
    return body


def new_project(**over):
    body = {"name": unique("入组测试项目"), "type": "workshop", "village_codes": [ZJ, SH],
            "investment_fen": 100, "expected_revenue_fen": 100, "start_date": "2026-01-01"}
    body.update(over)
    r = http("POST", REG + "/v1/projects", body, tok=NOTABLE)
    pid = r.json["id"]
    wait_sql("SELECT status FROM enrollment.projects WHERE id = '%s'" % pid, [["planned"]])
    return pid


def test_register_protects_the_id_number(c):
    idn = fresh_id()
    r = http("POST", BASE + "/v1/households", household(idn), tok=COORD_ZJ)
    if not c.eq(r.status, 201, "register (%r)" % r):
        return
    hid = r.json["id"]
    c.eq(r.json["id_number"], idn[:6] + "********" + idn[-4:], "masked in the answer")
    c.eq(r.json["side"], "zhejiang", "side from the village learned on regions.v1")
    row = psql("SELECT id_enc, id_index, id_masked FROM enrollment.households WHERE id = '%s'"
               % hid)[0]
    c.check(idn not in "".join(row) and idn[6:14] not in row[0], "no plaintext in the table")
    c.eq(len(row[1]), 64, "blind index stored")
    c.eq(http("GET", BASE + "/v1/households/" + hid, tok=ADMIN).json["id_number"], idn,
         "the admin reads it whole (decrypted)")
    c.eq(http("GET", BASE + "/v1/households/" + hid, tok=COORD_ZJ).json["id_number"],
         r.json["id_number"], "the coordinator reads it masked")
    c.eq(http("GET", BASE + "/v1/households/" + hid, tok=token("coordinator", regions=[SH])).status,
         403, "another village's coordinator may not read it")
    got = wait_for_event("households.v1", lambda v: v.get("subject") == hid)
    c.check(len(got) == 1 and got[0]["value"]["type"] == "household.registered",
            "household.registered on households.v1")
    c.check(got and idn not in json.dumps(got[0]) and "id_number" not in got[0]["value"]["data"],
            "the event carries no ID number")
    c.check(got and got[0]["value"]["data"]["low_income"]["baseline_per_capita_fen"] == 1500000,
            "the event carries the baseline")
    logs = os.path.join(ENV["SHANTANG_ROOT"], ".local", ENV["INSTANCE"], "logs")
    for name in os.listdir(logs):
        with open(os.path.join(logs, name), encoding="utf-8", errors="replace") as f:
            text = f.read()
        c.check(idn not in text and idn[6:] not in text, "ID number absent from %s" % name)
    u = http("PATCH", BASE + "/v1/households/" + hid,
             {"phone": "+86 139 0000 1111", "low_income": {"certified": False}}, tok=COORD_ZJ)
    c.eq(u.status, 200, "update (%r)" % u)
    c.check(u.json and u.json["phone"] == "13900001111" and
            u.json["low_income"]["certified"] is False and u.json["version"] == 2,
            "phone and status changed, version bumped")
    c.eq(http("PATCH", BASE + "/v1/households/" + hid, {"id_number": idn}, tok=COORD_ZJ).status,
         422, "the ID number is fixed")
    c.eq(http("PATCH", BASE + "/v1/households/" + hid, {"members_count": 2},
              tok=token("coordinator", regions=[SH])).status, 403, "another village's coordinator")
    got = wait_for_event("households.v1", lambda v: v.get("subject") == hid and
                         v.get("type") == "household.updated")
    c.check(len(got) == 1 and got[0]["value"]["data"]["phone"] == "13900001111",
            "household.updated published")
    # the same number again, spaced and with a lower-case x where it applies
    spaced = " ".join([idn[:6], idn[6:14], idn[14:].lower()])
    d = http("POST", BASE + "/v1/households", household(spaced), tok=COORD_ZJ)
    c.eq(d.status, 409, "duplicate ID number")
    c.eq((d.json or {}).get("existing_id"), hid, "409 names the existing household")


def test_bad_input_and_scope(c):
    before = psql("SELECT count(*) FROM enrollment.households")[0][0]
    idn = fresh_id()
    bad = idn[:17] + ("0" if idn[17] != "0" else "1")
    r = http("POST", BASE + "/v1/households", household(bad), tok=COORD_ZJ)
    c.eq(r.status, 422, "wrong check digit")
    c.check("check digit" in (r.json or {}).get("detail", ""), "says which rule failed")
    c.eq((r.json or {}).get("pointer"), "/id_number", "names the field")
    r = http("POST", BASE + "/v1/households", household(idn[:10] + "0230" + idn[14:]),
             tok=COORD_ZJ)
    c.check("birth date" in (r.json or {}).get("detail", ""), "30 February refused (%r)" % r)
    r = http("POST", BASE + "/v1/households", household(idn, phone="02157390000"), tok=COORD_ZJ)
    c.eq((r.json or {}).get("pointer"), "/phone", "landline refused")
    r = http("POST", BASE + "/v1/households",
             household(idn, low_income={"certified": True, "year": 2024,
                                        "baseline_per_capita_fen": -5}), tok=COORD_ZJ)
    c.eq((r.json or {}).get("pointer"), "/low_income/baseline_per_capita_fen", "negative baseline")
    r = http("POST", BASE + "/v1/households", household(idn, village=SH), tok=COORD_ZJ)
    c.eq(r.status, 403, "a household of another village")
    r = http("POST", BASE + "/v1/households", household(idn, village="330482105000"), tok=ADMIN)
    c.eq(r.status, 422, "a town is not a known village")
    c.eq(http("GET", BASE + "/v1/households", tok=PLANNER).status, 403,
         "planners read no household")
    c.eq(psql("SELECT count(*) FROM enrollment.households")[0][0], before,
         "nothing written by bad requests")


def test_strict_input_and_scope_edge(c):
    # A NUL cut the string before it was checked, so "3304821052\u000001" passed as a
    # 12-digit code; now every class of such input is refused, naming the field.
    before = psql("SELECT count(*) FROM enrollment.households")[0][0]
    idn = fresh_id()
    url = BASE + "/v1/households"
    for village, what in ((ZJ + "\u0000x", "\\u0000 after a valid code"),
                          (ZJ[:6] + "\u0001" + ZJ[7:], "U+0001 inside"),
                          (ZJ + "\n", "a line feed")):
        r = http("POST", url, household(idn, village=village), tok=COORD_ZJ)
        c.eq((r.status, (r.json or {}).get("pointer")), (422, "/village_code"), what)
    raw = json.dumps(household(idn), ensure_ascii=False).replace("测试户主", "测试\\u0000户主").encode()
    r = http("POST", url, raw=raw, tok=COORD_ZJ, headers={"Content-Type": "application/json"})
    c.eq((r.status, (r.json or {}).get("pointer")), (422, "/head_name"), "NUL in a name")
    raw = json.dumps(household(idn), ensure_ascii=False).replace("测试户主", "测试\x00户主").encode()
    r = http("POST", url, raw=raw, tok=COORD_ZJ, headers={"Content-Type": "application/json"})
    c.eq((r.status, (r.json or {}).get("pointer")), (422, "/head_name"), "raw NUL in a name")
    for count, what in (("1.0", "1.0"), ("1e2", "1e2"), ("-0", "-0")):
        raw = json.dumps(household(idn, members_count=777)).replace("777", count).encode()
        r = http("POST", url, raw=raw, tok=COORD_ZJ, headers={"Content-Type": "application/json"})
        c.eq((r.status, (r.json or {}).get("pointer")), (422, "/members_count"),
             "members_count " + what)
    raw = json.dumps(household(idn, members_count=777)).replace("777", "03").encode()
    r = http("POST", url, raw=raw, tok=COORD_ZJ, headers={"Content-Type": "application/json"})
    c.eq(r.status, 400, "a leading zero is not JSON")
    for ctype in ("text/plain", "application/x-www-form-urlencoded"):
        r = http("POST", url, raw=json.dumps(household(idn)).encode(), tok=COORD_ZJ,
                 headers={"Content-Type": ctype})
        c.eq((r.status, (r.json or {}).get("type", "").rsplit("/", 1)[-1]),
             (415, "unsupported-media-type"), "a JSON body sent as " + ctype)
    c.eq(psql("SELECT count(*) FROM enrollment.households")[0][0], before,
         "nothing written by refused requests")
    r = http("POST", url, household(idn), tok=COORD_ZJ,
             headers={"Content-Type": "application/json; charset=utf-8"})
    c.eq(r.status, 201, "charset=utf-8 is fine (%r)" % r)
    # the coordinator's scope: village codes only, ?village= outside it is 403
    r = http("GET", url + "?village=" + SH, tok=COORD_ZJ)
    c.eq((r.status, (r.json or {}).get("pointer")), (403, "/village"),
         "?village= outside the coordinator's scope")
    c.eq(http("GET", url + "?village=" + ZJ, tok=COORD_ZJ).status, 200, "?village= inside it")
    c.eq(http("GET", url + "?village=3304", tok=COORD_ZJ).status, 422, "?village= malformed")
    for town in ("330482105000", "330482000000"):
        c.eq(http("GET", url, tok=token("coordinator", regions=[town])).status, 401,
             "a coordinator token holding %s (not a village) is refused" % town)


def test_enroll_and_end(c):
    pid = new_project()
    idn = fresh_id()
    hid = http("POST", BASE + "/v1/households", household(idn), tok=COORD_ZJ).json["id"]
    url = BASE + "/v1/households/%s/enrollments" % hid
    r = http("POST", url, {"project_id": pid, "kind": "land_transfer", "area_mu_x100": 67,
                           "annual_rent_fen": 100500, "start_date": "2026-02-01"}, tok=COORD_ZJ)
    if not c.eq(r.status, 201, "enroll (%r)" % r):
        return
    eid = r.json["id"]
    c.eq(r.json["area_mu_x100"], 67, "area in hundredths of a mu")
    again = http("POST", url, {"project_id": pid, "kind": "land_transfer", "area_mu_x100": 10,
                               "annual_rent_fen": 1, "start_date": "2026-02-01"}, tok=COORD_ZJ)
    c.eq(again.status, 409, "a second open enrollment of the same kind")
    c.eq(http("POST", url, {"project_id": pid, "kind": "employment", "start_date": "2026-02-01"},
              tok=COORD_ZJ).json.get("pointer"), "/monthly_wage_fen", "employment needs a wage")
    c.eq(http("POST", url, {"project_id": pid, "kind": "employment", "start_date": "2026-02-01",
                            "monthly_wage_fen": 10**12}, tok=COORD_ZJ).status, 422, "absurd wage")
    old = "01800000-0000-7000-8000-000000000000"
    c.eq(http("POST", url, {"project_id": old, "kind": "training", "start_date": "2026-02-01"},
              tok=COORD_ZJ).status, 422, "an unknown project")
    ms = int(time.time() * 1000)
    fresh = "%08x-%04x-7000-8000-%012x" % (ms >> 16, ms & 0xffff, uuid.uuid4().int & (2**48 - 1))
    r = http("POST", url, {"project_id": fresh, "kind": "training", "start_date": "2026-02-01"},
             tok=COORD_ZJ)
    c.eq(r.status, 503, "a project made moments ago: retry later")
    c.check("Retry-After" in r.headers, "with Retry-After")
    got = wait_for_event("households.v1", lambda v: v.get("subject") == hid and
                         v.get("type") == "enrollment.started")
    c.check(len(got) == 1, "enrollment.started keyed by the household")
    if got:
        d = got[0]["value"]["data"]
        c.check(d["kind"] == "land_transfer" and d["low_income"] is True and
                d["side"] == "zhejiang" and d["project_id"] == pid, "event carries what consumers need")
        c.check(idn not in json.dumps(got[0]), "no ID number in the event")
    end = BASE + "/v1/households/%s/enrollments/%s/end" % (hid, eid)
    c.eq(http("POST", end, {"end_date": "2026-01-01", "reason": "x"}, tok=COORD_ZJ).status, 422,
         "end before start")
    c.eq(http("POST", end, {"end_date": "2026-06-30", "reason": "合同到期"}, tok=COORD_ZJ).status,
         200, "end")
    c.eq(http("POST", end, {"end_date": "2026-07-30", "reason": "again"}, tok=COORD_ZJ).status,
         409, "end twice")
    hist = http("GET", url, tok=COORD_ZJ).json["items"]
    c.check(len(hist) == 1 and hist[0]["end_date"] == "2026-06-30", "history keeps the ended one")
    got = wait_for_event("households.v1", lambda v: v.get("subject") == hid and
                         v.get("type") == "enrollment.ended")
    c.check(len(got) == 1 and got[0]["value"]["data"]["end_reason"] == "合同到期",
            "enrollment.ended published")
    # a closed project takes nobody in
    http("POST", REG + "/v1/projects/%s/status" % pid, {"status": "closed"}, tok=NOTABLE)
    c.check(wait_sql("SELECT status FROM enrollment.projects WHERE id = '%s'" % pid, [["closed"]]),
            "the closure reached the read model")
    c.eq(http("POST", url, {"project_id": pid, "kind": "training", "start_date": "2026-08-01"},
              tok=COORD_ZJ).status, 422, "closed project")


def test_import(c):
    url = BASE + "/v1/imports/households"
    ids = [fresh_id() for _ in range(3)]
    bad_check = ids[0][:17] + ("0" if ids[0][17] != "0" else "1")
    rows = ["户主姓名,身份证号,手机号,村代码,家庭人口,低收入认定,认定年份,人均基线收入(分)",
            "张三,%s,13900000001,%s,3,是,2024,1300000" % (ids[0], ZJ),
            "李四,%s,13900000002,%s,2,否,," % (ids[1], ZJ),
            "王五,%s,13900000003,%s,2,否,," % (bad_check, ZJ),
            "赵六,%s,12345,%s,2,否,," % (ids[2], ZJ),
            "钱七,%s,13900000005,%s,2,否,," % (fresh_id(), SH)]
    body = ("\r\n".join(rows) + "\r\n").encode("gbk")
    before = int(psql("SELECT count(*) FROM enrollment.households")[0][0])
    r = http("POST", url, raw=body, tok=COORD_ZJ, headers={"Content-Type": "text/csv"})
    if not c.eq(r.status, 200, "GBK import (%r)" % r):
        return
    c.eq(r.json["encoding"], "gbk", "GBK detected")
    c.eq((r.json["rows"], r.json["imported"], r.json["invalid"]), (5, 2, 3), "2 good, 3 bad rows")
    lines = {e["line"]: e for e in r.json["errors"]}
    c.check(4 in lines and "check digit" in lines[4]["reason"], "line 4: the ID's check digit")
    c.check(5 in lines and lines[5]["pointer"] == "/phone", "line 5: the phone")
    c.check(6 in lines and lines[6]["pointer"] == "/village_code", "line 6: outside the scope")
    c.check(ids[0] not in r.raw, "no ID number in the report")
    c.eq(int(psql("SELECT count(*) FROM enrollment.households")[0][0]), before + 2, "2 rows added")
    again = http("POST", url, raw=body, tok=COORD_ZJ, headers={"Content-Type": "text/csv"})
    c.check(again.json and again.json["imported"] == 0 and again.json["already_registered"] == 2,
            "a second import adds nothing (%r)" % again)
    c.eq(int(psql("SELECT count(*) FROM enrollment.households")[0][0]), before + 2, "still 2")
    en = ("\ufeffhead_name,id_number,phone,village_code,low_income\n"
          "Li Si,%s,13900000009,%s,false\n" % (fresh_id(), ZJ)).encode("utf-8")
    u = http("POST", url, raw=en, tok=COORD_ZJ, headers={"Content-Type": "text/csv"})
    c.check(u.json and u.json["encoding"] == "utf-8" and u.json["imported"] == 1,
            "UTF-8 with a BOM and English names (%r)" % u)
    g = http("POST", url, raw=b"\xff\xfe\xff" * 50, tok=COORD_ZJ,
             headers={"Content-Type": "text/csv"})
    c.eq(g.status, 400, "neither UTF-8 nor GBK")
    h = http("POST", url, raw=("张三,%s,13900000001,%s\n" % (ids[0], ZJ)).encode(), tok=COORD_ZJ,
             headers={"Content-Type": "text/csv"})
    c.eq(h.status, 400, "no header row")
    c.check("missing" in (h.json or {}).get("detail", ""), "names the missing columns")


def test_import_line_endings(c):
    # A bare CR file imported nothing and reported nothing, and a row ending in a
    # bare CR swallowed the next one; every line end now reads as one, quoted
    # fields may hold line breaks, and a bad row is counted on the line it starts.
    url = BASE + "/v1/imports/households"
    head = "head_name,id_number,phone,village_code,low_income"
    for sep, what in (("\n", "LF"), ("\r\n", "CRLF"), ("\r", "bare CR"), (None, "mixed")):
        ids = [fresh_id() for _ in range(3)]
        rows = [head] + ["Row %d,%s,1390000001%d,%s,false" % (i, idn, i, ZJ)
                         for i, idn in enumerate(ids)] + ["Bad,%s,12345,%s,false" % (fresh_id(), ZJ)]
        if sep:
            text = sep.join(rows) + sep
        else:
            text = rows[0] + "\r" + rows[1] + "\r\n" + rows[2] + "\n" + rows[3] + "\r" + rows[4]
        before = int(psql("SELECT count(*) FROM enrollment.households")[0][0])
        r = http("POST", url, raw=text.encode(), tok=COORD_ZJ, headers={"Content-Type": "text/csv"})
        c.eq((r.status, r.json and (r.json["rows"], r.json["imported"], r.json["invalid"])),
             (200, (4, 3, 1)), what + ": 4 rows, 3 imported, 1 invalid (%r)" % r)
        c.eq([e["line"] for e in (r.json or {}).get("errors", [])], [5], what + ": the bad row's line")
        c.eq(int(psql("SELECT count(*) FROM enrollment.households")[0][0]), before + 3,
             what + ": 3 rows added")
    # RFC 4180: a quoted name holding a comma and a doubled quote is one field; a
    # quoted field across lines is one record (a name may not hold a line break,
    # so it is refused and counted), and the next record starts two lines later
    tag = unique("q").split("-")[1]  # the name this run's row alone has
    text = (head + '\r\n"Wang, ""Lao"" San %s",%s,13900000021,%s,false\r\n'
            '"Two\r\nlines",%s,13900000022,%s,false\r\nNext,%s,12,%s,false\r\n') % (
        tag, fresh_id(), ZJ, fresh_id(), ZJ, fresh_id(), ZJ)
    r = http("POST", url, raw=text.encode(), tok=COORD_ZJ, headers={"Content-Type": "text/csv"})
    c.eq((r.status, r.json and (r.json["rows"], r.json["imported"], r.json["invalid"])),
         (200, (3, 1, 2)), "quoted fields (%r)" % r)
    c.eq([(e["line"], e["pointer"]) for e in (r.json or {}).get("errors", [])],
         [(3, "/head_name"), (5, "/phone")], "a two-line record on line 3, the next on line 5")
    c.eq(psql("SELECT count(*) FROM enrollment.households WHERE head_name = "
              "'Wang, \"Lao\" San %s'" % tag),
         [["1"]], "the comma and the doubled quote kept")


def test_households_reached_by_project(c):
    st = http("GET", BASE + "/v1/stats", tok=token("planner")).json["by_project"]
    want = psql("SELECT p.name, count(DISTINCT e.household_id), count(DISTINCT e.household_id) "
                "FILTER (WHERE h.low_income) FROM enrollment.enrollments e JOIN "
                "enrollment.households h ON h.id = e.household_id JOIN enrollment.projects p ON "
                "p.id = e.project_id WHERE e.end_date IS NULL OR e.end_date >= current_date "
                "GROUP BY p.id, p.name ORDER BY 2 DESC, p.name")
    c.eq([[r["project_name"], r["households"], r["low_income_households"]] for r in st],
         [[n, int(a), int(b)] for n, a, b in want], "households reached per project, most first")
    c.check(len(st) >= 18, "every demo project reaches households (%d)" % len(st))


def test_search(c):
    """?q=: part of the name or the phone, the first six or last four characters of the
    ID number, or a whole ID number (by its blind index); never outside the scope."""
    name = "搜索户%s" % unique("")[-6:]
    idn = fresh_id()
    phone = "1350%07d" % (int(time.time()) % 10000000)
    r = http("POST", BASE + "/v1/households", household(idn, head_name=name, phone=phone),
             tok=COORD_ZJ, headers={"Idempotency-Key": unique("search")})
    c.eq(r.status, 201, "a household to find")
    hid = r.json["id"]
    coord_sh = token("coordinator", regions=[SH], sub="coord-sh-search")
    for q, what in ((name[1:], "part of the name"), (phone[3:9], "part of the phone"),
                    (idn[-4:], "the last four of the ID number"), (idn, "the whole ID number")):
        got = http("GET", BASE + "/v1/households?limit=1000&q=" + urllib.parse.quote(q),
                   tok=COORD_ZJ).json["items"]
        c.check(hid in [h["id"] for h in got], "found by %s" % what)
        c.check(all(h["village_code"] == ZJ for h in got), "only in scope (%s)" % what)
        other = http("GET", BASE + "/v1/households?limit=1000&q=" + urllib.parse.quote(q),
                     tok=coord_sh).json["items"]
        c.check(hid not in [h["id"] for h in other], "not found outside the scope (%s)" % what)
    nothing = http("GET", BASE + "/v1/households?q=" + urllib.parse.quote("没有这个人"),
                   tok=COORD_ZJ)
    c.eq((nothing.status, nothing.json["items"]), (200, []), "no match: an empty page")
    c.eq(http("GET", BASE + "/v1/households?q=" + "x" * 51, tok=COORD_ZJ).json.get("pointer"),
         "/q", "a search over 50 characters is named")


def test_demo_figures(c):
    """The demo's figures as the service reports them (/v1/stats, both sides
    added up), less what other tests enrolled (read by SQL: rows not made by
    the demo loader, active today as the statistics count them)."""
    r = http("GET", BASE + "/v1/stats", tok=PLANNER)
    c.eq(r.status, 200, "planner reads the numbers")
    if r.status != 200:
        return
    sides = r.json["by_side"]
    names = ("people_employed", "low_income_employed", "land_transfer_households",
             "land_transferred_mu_x100", "farmers_trained")
    got = [sum(s[n] for s in sides.values()) for n in names]
    others = [int(x) for x in psql(
        "SELECT count(*) FILTER (WHERE e.kind = 'employment'), "
        "count(*) FILTER (WHERE e.kind = 'employment' AND h.low_income), "
        "count(DISTINCT e.household_id) FILTER (WHERE e.kind = 'land_transfer'), "
        "coalesce(sum(e.area_mu_x100) FILTER (WHERE e.kind = 'land_transfer'), 0), "
        "count(*) FILTER (WHERE e.kind = 'training') "
        "FROM enrollment.enrollments e JOIN enrollment.households h ON h.id = e.household_id "
        "WHERE e.created_by <> 'demo-loader' AND (e.end_date IS NULL OR e.end_date >= "
        "current_date)")[0]]
    c.eq([g - o for g, o in zip(got, others)], [342, 43, 26, 1750, 68],
         "the service counts the demo's 342 employed, 43 of them low-income, 26 households "
         "with 17.5 mu, 68 trained (with %r from other tests)" % dict(zip(names, others)))
    c.check(set(sides) >= {"zhejiang", "shanghai"}, "both sides of the border")
    c.check("head_name" not in r.raw, "no names in the numbers")


def test_register_in_one_statement(c):
    """POST /v1/households is one command in the database (household_register):
    its members, its event without ID numbers, its Idempotency-Key replayed and
    refused for another body, and a 409 that is not remembered under the key."""
    idn, mid = fresh_id(), fresh_id()
    body = household(idn, members=[{"name": "测试配偶", "relation": "spouse", "birth_year": 1982,
                                    "id_number": mid},
                                   {"name": "测试子女", "relation": "child"}])
    key = {"Idempotency-Key": unique("reg")}
    r = http("POST", BASE + "/v1/households", body, tok=COORD_ZJ, headers=key)
    if not c.eq(r.status, 201, "registered with two members (%r)" % r):
        return
    hid = r.json["id"]
    c.eq(r.headers.get("Location"), "/v1/households/" + hid, "Location of the household")
    c.eq([(m["name"], m["birth_year"], m["id_number"]) for m in r.json["members"]],
         [("测试配偶", 1982, mid[:6] + "********" + mid[-4:]), ("测试子女", None, None)],
         "the members in order, the ID number masked")
    again = http("POST", BASE + "/v1/households", body, tok=COORD_ZJ, headers=key)
    c.eq((again.status, (again.json or {}).get("id")), (201, hid), "a replay answers the first")
    other = http("POST", BASE + "/v1/households", household(fresh_id()), tok=COORD_ZJ, headers=key)
    c.eq(other.status, 422, "the key reused for another body")
    c.eq(psql("SELECT count(*) FROM enrollment.households WHERE id_masked = '%s'"
              % (idn[:6] + "********" + idn[-4:])), [["1"]], "one household for the three requests")
    ev = psql("SELECT payload::text FROM enrollment.outbox WHERE key = '%s'" % hid)
    c.eq(len(ev), 1, "one outbox row")
    data = json.loads(ev[0][0])["data"] if ev else {}
    c.check(ev and "id_number" not in data and
            all("id_number" not in m for m in data.get("members", [])) and
            mid not in ev[0][0] and idn not in ev[0][0], "the event carries no ID number")
    c.eq([m.get("name") for m in data.get("members", [])], ["测试配偶", "测试子女"],
         "the event carries the members")
    k2 = {"Idempotency-Key": unique("dup")}
    d = http("POST", BASE + "/v1/households", household(idn), tok=COORD_ZJ, headers=k2)
    c.eq((d.status, (d.json or {}).get("existing_id")), (409, hid), "409 names the household")
    c.check(d.headers.get("Content-Type", "").startswith("application/problem+json"),
            "the 409 is a problem (%r)" % d.headers.get("Content-Type"))
    d2 = http("POST", BASE + "/v1/households", household(idn), tok=COORD_ZJ, headers=k2)
    c.eq(d2.status, 409, "the 409 asked again with its key: checked again, not stuck")


def test_import_set_wise(c):
    """The import checks the staged rows as one set: an unknown village refused
    with its line among the C checks' refusals, a repeated ID number counted
    as registered, one household.registered event per household."""
    url = BASE + "/v1/imports/households"
    tag = unique("imp")
    a, b, known = fresh_id(), fresh_id(), fresh_id()
    c.eq(http("POST", BASE + "/v1/households", household(known), tok=ADMIN).status, 201,
         "a household registered before")
    rows = ["head_name,id_number,phone,village_code,low_income",
            "%s-a,%s,13900000031,%s,false" % (tag, a, ZJ),
            "%s-x,%s,13900000032,330482105999,false" % (tag, fresh_id()),
            "%s-a2,%s,13900000033,%s,false" % (tag, a, ZJ),
            "%s-p,%s,12345,%s,false" % (tag, fresh_id(), ZJ),
            "%s-b,%s,13900000035,%s,false" % (tag, b, ZJ),
            "%s-k,%s,13900000036,%s,false" % (tag, known, ZJ)]
    raw = ("\n".join(rows) + "\n").encode()
    r = http("POST", url, raw=raw, tok=ADMIN, headers={"Content-Type": "text/csv"})
    if not c.eq(r.status, 200, "import (%r)" % r):
        return
    c.eq((r.json["rows"], r.json["imported"], r.json["already_registered"], r.json["invalid"]),
         (6, 2, 2, 2), "6 rows: 2 imported, a repeat and a registered one, 2 refused")
    c.eq([(e["line"], e["pointer"]) for e in r.json["errors"]],
         [(3, "/village_code"), (5, "/phone")], "the refusals in line order, both kinds")
    c.check("330482105999 is not known" in r.json["errors"][0]["reason"],
            "the single registration's reason (%r)" % r.json["errors"][0])
    got = psql("SELECT h.head_name, count(o.*) FROM enrollment.households h LEFT JOIN "
               "enrollment.outbox o ON o.key = h.id::text AND o.payload->>'type' = "
               "'household.registered' AND o.payload->'data'->>'id_number' IS NULL AND "
               "o.payload->>'subject' = h.id::text WHERE h.head_name LIKE '%s-%%' "
               "GROUP BY 1 ORDER BY 1" % tag)
    c.eq(got, [[tag + "-a", "1"], [tag + "-b", "1"]],
         "the first of the repeated lines kept, each household with its one event")
    again = http("POST", url, raw=raw, tok=ADMIN, headers={"Content-Type": "text/csv"})
    c.eq(again.json and (again.json["imported"], again.json["already_registered"],
                         again.json["invalid"]), (0, 4, 2), "a replay adds nothing")


def test_enroll_in_one_statement(c):
    """POST .../enrollments is one command in the database (enrollment_register):
    its Idempotency-Key replayed and refused for another body, the household's
    absence and scope answered, one enrollment.started per enrollment."""
    pid = new_project()
    hid = http("POST", BASE + "/v1/households", household(fresh_id()), tok=COORD_ZJ).json["id"]
    url = BASE + "/v1/households/%s/enrollments" % hid
    body = {"project_id": pid, "kind": "employment", "monthly_wage_fen": 350000,
            "start_date": "2026-03-01"}
    key = {"Idempotency-Key": unique("enr")}
    r = http("POST", url, body, tok=COORD_ZJ, headers=key)
    if not c.eq(r.status, 201, "enrolled (%r)" % r):
        return
    eid = r.json["id"]
    c.eq(r.headers.get("Location"), "/v1/households/%s/enrollments/%s" % (hid, eid), "Location")
    c.check("phone" not in r.json and "head_name" not in r.json and
            r.json["monthly_wage_fen"] == 350000, "the answer without the head's name and phone")
    again = http("POST", url, body, tok=COORD_ZJ, headers=key)
    c.eq((again.status, (again.json or {}).get("id")), (201, eid), "a replay answers the first")
    c.eq(http("POST", url, dict(body, monthly_wage_fen=1), tok=COORD_ZJ, headers=key).status, 422,
         "the key reused for another body")
    c.eq(http("POST", url, body, tok=token("coordinator", regions=[SH])).status, 403,
         "another village's coordinator")
    gone = BASE + "/v1/households/%s/enrollments" % uuid.uuid4()
    c.eq(http("POST", gone, body, tok=ADMIN).status, 404, "no such household")
    ev = psql("SELECT payload->>'type', payload->'data'->>'phone' IS NOT NULL FROM "
              "enrollment.outbox WHERE key = '%s' AND payload->'data'->>'id' = '%s'" % (hid, eid))
    c.eq(ev, [["enrollment.started", "t"]], "one event, with what consumers need")


def test_update_and_end_in_one_statement(c):
    """PATCH /v1/households/{id} and POST .../end are one command each in the
    database (household_update, enrollment_end): a household outside the
    caller's villages refused with nothing changed, household.updated with
    the new values, an end replayed under its Idempotency-Key and refused
    again without it, one enrollment.ended per end."""
    coord_sh = token("coordinator", regions=[SH], sub="coord-sh-update")
    hid = http("POST", BASE + "/v1/households", household(fresh_id()), tok=COORD_ZJ).json["id"]
    url = BASE + "/v1/households/" + hid
    state = "SELECT version, head_name, members_count FROM enrollment.households WHERE id = '%s'"
    updated = ("SELECT count(*) FROM enrollment.outbox WHERE key = '%s' AND "
               "payload->>'type' = 'household.updated'" % hid)
    before = psql(state % hid)
    r = http("PATCH", url, {"head_name": "越界改名", "members_count": 5}, tok=coord_sh)
    c.eq((r.status, (r.json or {}).get("title"), (r.json or {}).get("detail")),
         (403, "Outside your villages", "the household's village is not in your scope"),
         "another village's coordinator may not change it")
    c.eq(psql(state % hid), before, "the refused change wrote nothing (version %s)" % before)
    c.eq(psql(updated), [["0"]], "and published nothing")
    gone = http("PATCH", BASE + "/v1/households/%s" % uuid.uuid4(), {"head_name": "x"},
                tok=ADMIN)
    c.eq((gone.status, (gone.json or {}).get("detail")), (404, "no such household"),
         "no such household")
    change = {"head_name": "新户主", "members_count": 4,
              "low_income": {"certified": True, "year": 2025, "baseline_per_capita_fen": 1234}}
    u = http("PATCH", url, change, tok=COORD_ZJ)
    if not c.eq(u.status, 200, "changed (%r)" % u):
        return
    c.eq((u.json["head_name"], u.json["members_count"], u.json["low_income"], u.json["version"]),
         ("新户主", 4, change["low_income"], 2), "the answer holds the new values")
    ev = psql("SELECT event_id, payload::text FROM enrollment.outbox WHERE key = '%s' AND "
              "payload->>'type' = 'household.updated'" % hid)
    c.eq(len(ev), 1, "one household.updated")
    v = json.loads(ev[0][1]) if ev else {}
    d = v.get("data", {})
    c.eq((v.get("id"), v.get("subject"), v.get("source"), v.get("specversion")),
         (ev and ev[0][0], hid, "/shantang/enrollment", "1.0"), "the event's envelope")
    c.eq((d.get("head_name"), d.get("members_count"), d.get("low_income"), d.get("version")),
         ("新户主", 4, change["low_income"], 2), "the event carries the new values")
    c.check("id_number" not in d, "and no ID number")

    pid = new_project()
    enr = http("POST", url + "/enrollments", {"project_id": pid, "kind": "training",
                                              "start_date": "2026-03-01"}, tok=COORD_ZJ)
    if not c.eq(enr.status, 201, "enrolled (%r)" % enr):
        return
    eid = enr.json["id"]
    end = url + "/enrollments/%s/end" % eid
    body = {"end_date": "2026-09-30", "reason": "培训结业"}
    key = {"Idempotency-Key": unique("end")}
    r = http("POST", end, body, tok=coord_sh, headers=key)
    c.eq((r.status, (r.json or {}).get("title")), (403, "Outside your villages"),
         "another village's coordinator may not end it")
    early = http("POST", end, {"end_date": "2026-02-01", "reason": "x"}, tok=COORD_ZJ, headers=key)
    c.eq((early.status, (early.json or {}).get("pointer")), (422, "/end_date"),
         "an end before the start, under the key")
    first = http("POST", end, body, tok=COORD_ZJ, headers=key)
    if not c.eq(first.status, 200, "ended under a key the refusals did not keep (%r)" % first):
        return
    c.check(first.json["end_date"] == "2026-09-30" and first.json["end_reason"] == "培训结业" and
            "phone" not in first.json and "head_name" not in first.json,
            "the answer: the ended enrollment without the head's name and phone")
    again = http("POST", end, body, tok=COORD_ZJ, headers=key)
    c.eq((again.status, again.json), (200, first.json), "a replay answers the first 200")
    c.eq(http("POST", end, dict(body, reason="另一个"), tok=COORD_ZJ, headers=key).status, 422,
         "the key reused for another body")
    twice = http("POST", end, body, tok=COORD_ZJ)
    c.eq((twice.status, (twice.json or {}).get("type", "").rsplit("/", 1)[-1],
          (twice.json or {}).get("detail")),
         (409, "already-ended", "the enrollment has ended before"), "without the key: 409")
    other = http("POST", url + "/enrollments/%s/end" % uuid.uuid4(), body, tok=COORD_ZJ)
    c.eq((other.status, (other.json or {}).get("detail")), (404, "no such enrollment"),
         "an enrollment the household does not have")
    c.eq(psql("SELECT end_date, end_reason FROM enrollment.enrollments WHERE id = '%s'" % eid),
         [["2026-09-30", "培训结业"]], "ended once, as first asked")
    ev = psql("SELECT payload->'data'->>'end_date', payload->'data'->>'phone' IS NOT NULL FROM "
              "enrollment.outbox WHERE key = '%s' AND payload->>'type' = 'enrollment.ended'" % hid)
    c.eq(ev, [["2026-09-30", "t"]], "one enrollment.ended, with what consumers need")


if __name__ == "__main__":
    Checks().run([test_register_protects_the_id_number, test_bad_input_and_scope,
                  test_strict_input_and_scope_edge, test_enroll_and_end, test_import,
                  test_import_line_endings, test_households_reached_by_project, test_search,
                  test_demo_figures, test_register_in_one_statement, test_import_set_wise,
                  test_enroll_in_one_statement, test_update_and_end_in_one_statement])
