"""Every documented limit at limit-1, limit and limit+1, against the running
stack: the free-text fields of each creating route (counted in characters:
the values are Chinese, three bytes each in UTF-8, so a limit counted in
bytes fails), the arrays with a maximum count, ?limit= on every list route,
each service's body limit (by Content-Length and chunked) and both imports'
file-size limits. Below and at a limit the request is taken (2xx); above it
the answer is the documented 4xx naming the field (422 with its pointer, 413
for a body), never a 500, and nothing of a refused request is written."""
import os
import sys
import urllib.parse
import uuid
from http.client import HTTPConnection

sys.path.insert(0, os.path.dirname(__file__))
from stacklib import ENV, Checks, http, psql, token, unique, wait_sql  # noqa: E402

REG = ENV["REGISTRY_URL"]
ENR = ENV["ENROLLMENT_URL"]
INC = ENV["INCOME_URL"]
SUG = ENV["SUGGESTION_URL"]
NTF = ENV["NOTIFIER_URL"]
ACC = ENV["ACCOUNTS_URL"]
ZJ = "330482105201"
ADMIN = token("admin", ttl=3600)
COORD = token("coordinator", regions=[ZJ], sub="coord-limits", ttl=3600)
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
F = {}


def text(n, prefix=None):
    """A string of exactly n characters: a unique ASCII prefix, then 测 (3 bytes each)."""
    p = prefix if prefix is not None else unique("L")[:10]
    p = p[:n]
    return p + "测" * (n - len(p))


def fresh_id():
    """A valid ID number (a random birth year and sequence; few households are made here)."""
    r = int(unique("x")[2:], 16)
    first17 = "330482%04d0101%03d" % (1940 + r % 60, (r >> 8) % 1000)
    return first17 + "10X98765432"[sum(int(a) * b for a, b in zip(first17, W)) % 11]


def boundary(c, what, send, limit, pointer, table=None):
    """send(n) posts with the field at n characters (or items); limit-1 and limit
    are taken, limit+1 is a 422 naming pointer. table: (sql counting rows, how
    many a refused request must leave) - nothing written."""
    for n in (limit - 1, limit):
        r = send(n)
        c.check(r.status in (200, 201, 202), "%s at %d (limit %d): taken, got %r"
                % (what, n, limit, r))
    before = psql(table) if table else None
    r = send(limit + 1)
    c.eq((r.status, r.json.get("pointer") if isinstance(r.json, dict) else None),
         (422, pointer), "%s at %d (limit %d): 422 naming %s" % (what, limit + 1, limit, pointer))
    c.eq(r.headers.get("Content-Type"), "application/problem+json",
         "%s over its limit: problem+json" % what)
    if table:
        c.eq(psql(table), before, "%s over its limit: nothing written" % what)


def setup(c):
    n = http("POST", REG + "/v1/notables", {"name": "限长测试乡贤", "phone": "13905737777",
                                            "home_village": ZJ}, tok=ADMIN)
    F["notable"] = n.json["id"] if n.status == 201 else n.json["detail"].rsplit(" ", 1)[1]
    F["notable_tok"] = token("notable", sub=F["notable"], ttl=3600)
    p = http("POST", REG + "/v1/projects", {
        "name": unique("限长测试项目"), "type": "workshop", "village_codes": [ZJ],
        "investment_fen": 100, "expected_revenue_fen": 100, "start_date": "2026-01-01",
        "status": "active", "notable_ids": [F["notable"]]}, tok=ADMIN)
    F["project"] = p.json["id"]
    h = http("POST", ENR + "/v1/households", {
        "head_name": "限长测试户", "id_number": fresh_id(), "phone": "13700007777",
        "village_code": ZJ, "members_count": 2, "low_income": {"certified": False}}, tok=COORD)
    F["household"] = h.json["id"]
    c.check(wait_sql("SELECT count(*) FROM enrollment.projects WHERE id = '%s'" % F["project"],
                     [["1"]]), "enrollment learned the project")
    e = http("POST", ENR + "/v1/households/%s/enrollments" % F["household"],
             {"project_id": F["project"], "kind": "employment", "monthly_wage_fen": 300000,
              "start_date": "2026-01-01"}, tok=COORD)
    c.eq(e.status, 201, "the household is employed")
    c.check(wait_sql("SELECT count(*) FROM income.enrollments WHERE household_id = '%s'"
                     % F["household"], [["1"]]), "income learned the enrollment")
    c.check(wait_sql("SELECT count(*) FROM suggestion.notables WHERE id = '%s'" % F["notable"],
                     [["1"]]), "suggestion learned the notable")
    F["notables"] = []
    for i in range(20):  # for notable_ids at its limit of 20
        r = http("POST", REG + "/v1/notables", {
            "name": "限长乡贤%d" % i, "phone": "139%08d" % (int(unique("p")[2:], 16) % 10**8),
            "home_village": ZJ}, tok=ADMIN)
        c.eq(r.status, 201, "notable %d registered" % i)
        F["notables"].append(r.json["id"])


def test_text_fields(c):
    setup(c)

    def project(**kw):
        body = {"name": unique("限长项目"), "type": "workshop", "village_codes": [ZJ],
                "investment_fen": 100, "expected_revenue_fen": 100, "start_date": "2026-01-01"}
        body.update(kw)
        return http("POST", REG + "/v1/projects", body, tok=ADMIN)

    count_projects = "SELECT count(*) FROM registry.projects"
    boundary(c, "project name", lambda n: project(name=text(n)), 100, "/name", count_projects)
    boundary(c, "project description", lambda n: project(description=text(n)), 2000,
             "/description", count_projects)
    boundary(c, "project notable_ids",
             lambda n: project(notable_ids=(F["notables"] + [str(uuid.uuid4())])[:n]), 20,
             "/notable_ids", count_projects)
    # village_codes holds at most 20 too; the stack knows 12 villages, so only the count
    # over the limit is tried (checked before the codes are looked up)
    r = project(village_codes=["330482105%03d" % i for i in range(21)])
    c.eq((r.status, r.json.get("pointer")), (422, "/village_codes"), "21 village codes: 422")
    pid = F["project"]
    boundary(c, "project status reason", lambda n: http(
        "POST", REG + "/v1/projects/%s/status" % pid,
        {"status": "suspended" if n % 2 else "active", "reason": text(n)}, tok=ADMIN), 500, "/reason")

    def notable(**kw):
        body = {"name": "乡贤", "phone": "139%08d" % (int(unique("p")[2:], 16) % 10**8),
                "home_village": ZJ}
        body.update(kw)
        return http("POST", REG + "/v1/notables", body, tok=ADMIN)

    boundary(c, "notable name", lambda n: notable(name=text(n, "")), 50, "/name",
             "SELECT count(*) FROM registry.notables")
    boundary(c, "notable council", lambda n: notable(council=text(n)), 100, "/council")

    def household(**kw):
        body = {"head_name": "户主", "id_number": fresh_id(),
                "phone": "137%08d" % (int(unique("p")[2:], 16) % 10**8), "village_code": ZJ,
                "members_count": 2, "low_income": {"certified": False}}
        body.update(kw)
        return http("POST", ENR + "/v1/households", body, tok=COORD)

    count_households = "SELECT count(*) FROM enrollment.households"
    boundary(c, "household head_name", lambda n: household(head_name=text(n, "")), 50,
             "/head_name", count_households)
    boundary(c, "household member name", lambda n: household(
        members=[{"name": text(n, ""), "relation": "配偶"}]), 50, "/members/0/name",
        count_households)

    def entry(**kw):
        body = {"kind": "wage", "project_id": F["project"], "household_id": F["household"],
                "amount_fen": 100, "date": "2026-11-02", "source_ref": unique("限长工资单")}
        body.update(kw)
        return http("POST", INC + "/v1/entries", body, tok=COORD)

    count_entries = "SELECT count(*) FROM income.entries"
    boundary(c, "income source_ref", lambda n: entry(source_ref=text(n)), 200, "/source_ref",
             count_entries)
    boundary(c, "income note", lambda n: entry(note=text(n)), 500, "/note", count_entries)

    def suggestion(**kw):
        body = {"title": unique("限长建议"), "text": "建议内容", "category": "助农",
                "village_codes": [ZJ]}
        body.update(kw)
        return http("POST", SUG + "/v1/suggestions", body, tok=F["notable_tok"])

    count_suggestions = "SELECT count(*) FROM suggestion.suggestions"
    boundary(c, "suggestion title", lambda n: suggestion(title=text(n)), 100, "/title",
             count_suggestions)
    boundary(c, "suggestion text", lambda n: suggestion(text=text(n)), 5000, "/text",
             count_suggestions)

    def unit(**kw):
        body = {"id": unique("limits-unit"), "name": "承办单位", "region_code": ZJ}
        body.update(kw)
        return http("POST", SUG + "/v1/units", body, tok=ADMIN)

    boundary(c, "unit name", lambda n: unit(name=text(n)), 100, "/name",
             "SELECT count(*) FROM suggestion.units")
    boundary(c, "unit id", lambda n: unit(id=("u-" + unique("x").replace("-", "") * 9)[:n]), 63,
             "/id", "SELECT count(*) FROM suggestion.units")

    def account(**kw):
        body = {"name": "账户", "phone": "1996%07d" % (int(unique("p")[2:], 16) % 10**7),
                "grants": [{"role": "planner", "regions": []}]}
        body.update(kw)
        return http("POST", ACC + "/v1/accounts", body, tok=ADMIN)

    boundary(c, "account name", lambda n: account(name=text(n, "")), 50, "/name",
             "SELECT count(*) FROM accounts.accounts")


def test_list_limits(c):
    """?limit= is 1..1000 on every list route: 999 and 1000 answer 200 with at most that
    many items, 1001 and 0 a 422 naming limit."""
    routes = [(REG, "/v1/regions"), (REG, "/v1/notables"), (REG, "/v1/partners"),
              (REG, "/v1/projects"), (ENR, "/v1/households"),
              (ENR, "/v1/households/%s/enrollments" % F.get("household", "x")),
              (INC, "/v1/entries"), (SUG, "/v1/suggestions"), (SUG, "/v1/units"),
              (NTF, "/v1/deliveries"), (ACC, "/v1/accounts")]
    for base, path in routes:
        for n in (999, 1000):
            r = http("GET", "%s%s?limit=%d" % (base, path, n), tok=ADMIN)
            c.check(r.status == 200 and len(r.json["items"]) <= n,
                    "%s?limit=%d: 200 (%r)" % (path, n, r))
        for n in (1001, 0):
            r = http("GET", "%s%s?limit=%d" % (base, path, n), tok=ADMIN)
            c.eq((r.status, r.json.get("pointer") if isinstance(r.json, dict) else None),
                 (422, "/limit"), "%s?limit=%d" % (path, n))


def raw_post(url, body, chunked=False, tok=ADMIN, ctype="application/json"):
    """POST raw bytes, by Content-Length or chunked; (status, body) or (None, error)."""
    u = urllib.parse.urlsplit(url)
    conn = HTTPConnection(u.hostname, u.port, timeout=120)
    try:
        headers = {"Content-Type": ctype, "Authorization": "Bearer " + tok}
        if chunked:
            def chunks():
                for i in range(0, len(body), 65536):
                    yield body[i:i + 65536]
            conn.request("POST", u.path, body=chunks(), headers=headers, encode_chunked=True)
        else:
            conn.request("POST", u.path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    except OSError as e:
        return None, str(e).encode()
    finally:
        conn.close()


def padded_json(size):
    """A JSON object of exactly size bytes: {"x":"aaa..."} (an unknown field)."""
    return b'{"x":"' + b"a" * (size - 8) + b'"}'


def test_body_limits(c):
    """Each service's body limit (HTTP_BODY_LIMIT: 64 KiB, income 8 MiB): a body of the
    limit or one byte less is read (the answer is about its content: a 422, never a 413
    or a 500); one byte more is a 413, by Content-Length and chunked alike."""
    for base, path, limit in ((REG, "/v1/projects", 65536), (ENR, "/v1/households", 65536),
                              (INC, "/v1/entries", 8 << 20), (SUG, "/v1/units", 65536),
                              (ACC, "/v1/accounts", 65536),
                              (NTF, "/v1/deliveries/00000000-0000-0000-0000-000000000000/"
                               "resolve", 65536)):
        for size in (limit - 1, limit):
            for chunked in (False, True):
                s, _ = raw_post(base + path, padded_json(size), chunked)
                c.check(s is not None and s not in (413, 500) and s < 500,
                        "%s with %d bytes%s: read (got %s)"
                        % (path, size, " chunked" if chunked else "", s))
        for chunked in (False, True):
            s, b = raw_post(base + path, padded_json(limit + 1), chunked)
            c.eq(s, 413, "%s with %d bytes%s: 413 (%r)" % (path, limit + 1,
                                                             " chunked" if chunked else "",
                                                             b[:120]))


def test_import_size_limits(c):
    """The imports' file limits (accounts 16 MiB, households 256 MiB): limit-1 and limit
    are read and answered about their content (the household file's header names no
    column, so it is refused at its first line, after the whole body was taken); one
    byte more is a 413, chunked too, and nothing is imported."""
    for url, limit, head, table in (
            (ACC + "/v1/imports/accounts", 16 << 20, "姓名,手机号,角色,范围\n", "accounts.accounts"),
            (ENR + "/v1/imports/households", 256 << 20, "不是,表头\n", "enrollment.households")):
        head = head.encode("utf-8")
        what = url.rsplit("/", 1)[1] + " import"
        before = psql("SELECT count(*) FROM %s" % table)
        for size in (limit - 1, limit):
            s, _ = raw_post(url, head + b"#" * (size - len(head)), ctype="text/csv")
            c.check(s is not None and s != 413 and s < 500,
                    "%s of %d bytes: read (got %s)" % (what, size, s))
        for chunked in (False, True):
            s, b = raw_post(url, head + b"#" * (limit + 1 - len(head)), chunked, ctype="text/csv")
            c.eq(s, 413, "%s of %d bytes%s: 413 (%r)" % (what, limit + 1,
                                                          " chunked" if chunked else "", b[:120]))
        c.eq(psql("SELECT count(*) FROM %s" % table), before, "%s: nothing imported" % what)


if __name__ == "__main__":
    Checks().run([test_text_fields, test_list_limits, test_body_limits, test_import_size_limits])
