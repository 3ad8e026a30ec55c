"""Accounts and sign-in on the real stack: sign-in by SMS (the code read from
the test gateway) as each demo role and every service used with the token;
codes that do not tell whether a phone exists, their limits and tries;
password sign-in, rehash and lock-out; refresh rotation and reuse detection;
disabling an account refused by every service within 5 s; key rotation while
requests flow; a second, independent issuer (a key pair and JWKS this test
makes and serves) accepted with its claim mapping and refused once removed;
the admin API's checks and audit; the CSV import; and no code, password or
hash in any log line, table or topic."""
import base64
import csv
import io
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from stacklib import ENV, Checks, http, psql, stack, tail, token, unique

ACC = ENV["ACCOUNTS_URL"]
GW = ENV["SMS_GATEWAY_URL"]
INST = os.path.join(ENV["SHANTANG_ROOT"], ".local", ENV["INSTANCE"])
SERVICES = ["registry", "enrollment", "income", "suggestion", "notifier", "accounts"]
URL = {s: ENV[s.upper() + "_URL"] for s in SERVICES}
# One GET per service that any signed-in role reaches (200) or is refused by role (403):
# either way the token itself was accepted; 401 means it was not.
PROBE = {"registry": "/v1/projects?limit=1", "enrollment": "/v1/stats",
         "income": "/v1/views/summary", "suggestion": "/v1/units",
         "notifier": "/v1/deliveries?limit=1", "accounts": "/v1/me"}

SENT_CODES = []        # every code this test saw, checked against logs, tables, topics
PASSWORDS = []         # every password it used
DELIVERY_SECONDS = []  # from POST /v1/signin/code to the code at the gateway


def messages():
    return http("GET", GW + "/_messages").json["messages"]


def code_for(phone, after, seconds=10):
    """The first code sent to phone among the gateway's messages past index after."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        for m in messages()[after:]:
            if str(m.get("phone", "")).endswith(phone) and "code" in (m.get("params") or {}):
                return m["params"]["code"]
        time.sleep(0.05)
    return None


def ask_code(phone, headers=None):
    return http("POST", ACC + "/v1/signin/code", {"phone": phone}, headers=headers)


def signin(c, phone, grant_id=None):
    """Sign in by SMS: ask, read the code at the gateway, verify. The session or None."""
    before = len(messages())
    t0 = time.time()
    r = ask_code(phone)
    if not c.eq(r.status, 202, "code asked for %s" % phone):
        print(r)
        return None
    code = code_for(phone, before)
    if not c.check(code is not None, "the code for %s reached the gateway" % phone):
        return None
    DELIVERY_SECONDS.append(time.time() - t0)
    SENT_CODES.append(code)
    body = {"phone": phone, "code": code}
    if grant_id:
        body["grant_id"] = grant_id
    r = http("POST", ACC + "/v1/signin/verify", body)
    if not c.eq(r.status, 200, "signed in as %s" % phone):
        print(r)
        return None
    return r.json


def accepted_everywhere(tok):
    """{service: status} of the probe of every service with tok."""
    return {s: http("GET", URL[s] + PROBE[s], tok=tok).status for s in SERVICES}


def refused_within(tok, svc, seconds):
    """True once svc answers its probe with 401 for tok, within seconds."""
    deadline = time.time() + seconds
    while http("GET", URL[svc] + PROBE[svc], tok=tok).status != 401:
        if time.time() > deadline:
            return False
        time.sleep(0.1)
    return True


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(tok):
    part = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def header_of(tok):
    part = tok.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


ADMIN = token("admin", sub="accounts-test-admin")


def admin(method, path, body=None, **kw):
    return http(method, ACC + path, body, tok=ADMIN, **kw)


def new_account(c, name, grants, password=None):
    phone = "1995%07d" % (int(time.time() * 1000) % 10000000)
    time.sleep(0.002)
    body = {"name": name, "phone": phone, "grants": grants}
    if password:
        body["password"] = password
        PASSWORDS.append(password)
    r = admin("POST", "/v1/accounts", body, headers={"Idempotency-Key": unique("acct")})
    c.eq(r.status, 201, "account %s created (%s)" % (name, r.raw[:200]))
    return phone, r.json


def test_discovery_and_keys(c):
    d = http("GET", ACC + "/.well-known/openid-configuration").json
    c.eq(d["issuer"], ACC, "discovery names the issuer")
    c.eq(d["jwks_uri"], ACC + "/.well-known/jwks.json", "and its JWKS")
    keys = http("GET", ACC + "/.well-known/jwks.json").json["keys"]
    c.check(len(keys) >= 1 and all(k["use"] == "sig" and k["kid"] for k in keys),
            "JWKS: signing keys with kids")
    c.check(all("d" not in k for k in keys), "no private member in the JWKS")


def test_signin_as_each_role(c):
    roles = {"coordinator": "13905731201", "notable": "13905730001", "handler": "13905732201",
             "supervisor": "13905739001", "planner": "13905738001"}
    for role, phone in roles.items():
        s = signin(c, phone)
        if not s:
            continue
        cl = claims_of(s["access_token"])
        c.eq(cl["role"], role, "%s: the token's role" % role)
        c.eq(header_of(s["access_token"])["typ"], "at+jwt", "%s: typ at+jwt" % role)
        c.check(cl["exp"] - cl["iat"] == 900 and cl["iss"] == ACC and cl["aud"] == "shantang",
                "%s: 15 minutes, our iss and aud" % role)
        st = accepted_everywhere(s["access_token"])
        c.check(all(v in (200, 403) for v in st.values()), "%s accepted by every service: %s"
                % (role, st))
        c.eq([st["registry"], st["suggestion"], st["accounts"]], [200, 200, 200],
             "%s reads projects, units and itself" % role)
    # what each role then does with it
    co = signin(c, "13905731202")  # 龙萌村's coordinator
    if co:
        hs = http("GET", URL["enrollment"] + "/v1/households?limit=1000", tok=co["access_token"])
        c.check(hs.status == 200 and hs.json["items"] and
                all(h["village_code"] == "330482105202" for h in hs.json["items"]),
                "the coordinator sees only the households of its village")
    nb = signin(c, "13905730002")  # 陆美华
    if nb:
        me = http("GET", ACC + "/v1/me", tok=nb["access_token"]).json
        c.check(me["grant"]["role"] == "notable" and me["grant"]["notable_id"],
                "the notable's grant names its registry record")
        n = http("GET", URL["registry"] + "/v1/notables/" + me["grant"]["notable_id"],
                 tok=nb["access_token"])
        c.eq(n.json.get("phone"), "13905730002", "the notable sees its own phone whole")
        # (read, not write: test_demo counts the demo's proposals exactly)
        r = http("GET", URL["suggestion"] + "/v1/suggestions?limit=1000", tok=nb["access_token"])
        mine = [i for i in r.json["items"] if i.get("view") == "full"]
        c.check(r.status == 200 and mine and
                all((i.get("submitter") or {}).get("id") == me["grant"]["notable_id"]
                    for i in mine),
                "the signed-in notable sees its own proposals in full, and only its own "
                "(%d)" % len(mine))
    pl = signin(c, "13905738002")  # the Zhejiang side's planner
    if pl:
        r = http("POST", URL["registry"] + "/v1/notables",
                 {"name": "x", "phone": "13900000000", "home_village": "330482105201"},
                 tok=pl["access_token"], headers={"Idempotency-Key": unique("n")})
        c.eq(r.status, 403, "a planner writes nothing")
        c.eq(http("GET", URL["income"] + "/v1/views/summary", tok=pl["access_token"]).status, 200,
             "a planner reads the views")
    # two grants: the first by default, the other by switching
    ad = signin(c, "13905730100")
    if ad:
        c.eq(len(ad["grants"]), 2, "the administrator holds two grants")
        c.eq(ad["grant"]["role"], "admin", "the first grant is active by default")
        other = [g for g in ad["grants"] if g["role"] == "planner"][0]
        sw = http("POST", ACC + "/v1/token", {"refresh_token": ad["refresh_token"],
                                              "grant_id": other["id"]})
        c.eq(sw.status, 200, "switching the grant")
        c.eq(claims_of(sw.json["access_token"])["role"], "planner",
             "the new token carries only the chosen grant")
        c.eq(http("GET", URL["notifier"] + "/v1/deliveries?limit=1",
                  tok=sw.json["access_token"]).status, 403, "as planner, not admin")
        bad = http("POST", ACC + "/v1/token", {"refresh_token": sw.json["refresh_token"],
                                               "grant_id": "01a23169-0000-7000-8000-000000000000"})
        c.eq((bad.status, bad.json.get("pointer")), (422, "/grant_id"), "a grant not held: 422")
    slowest = max(DELIVERY_SECONDS) if DELIVERY_SECONDS else 99
    print("sign-in code delivery: %d codes, median %.2f s, slowest %.2f s"
          % (len(DELIVERY_SECONDS), sorted(DELIVERY_SECONDS)[len(DELIVERY_SECONDS) // 2]
             if DELIVERY_SECONDS else 0, slowest))
    c.check(slowest < 5, "every code reached the gateway within 5 s (slowest %.2f s)" % slowest)


def shanghai_hms(t):
    return time.strftime("%H:%M:%S", time.gmtime(t + 8 * 3600))


def test_codes_not_held_by_quiet_hours(c):
    """A sign-in code is urgent: quiet hours and per-phone limits do not hold it."""
    override = os.path.join(INST, "notifier.override.env")
    now = time.time()
    with open(override, "w") as f:
        f.write("NOTIFIER_QUIET_START=%s\nNOTIFIER_QUIET_END=%s\nNOTIFIER_LIMIT_PER_MINUTE=1\n"
                % (shanghai_hms(now - 60), shanghai_hms(now + 600)))
    try:
        stack("service-stop", "notifier")
        stack("service-start", "notifier")
        warm, _ = new_account(c, "静默预热", [{"role": "planner"}])
        before = len(messages())
        ask_code(warm)  # the restarted consumer rejoins its group first
        c.check(code_for(warm, before, seconds=90) is not None, "a code after the restart")
        phone, _ = new_account(c, "静默时段", [{"role": "planner"}])
        s = signin(c, phone)
        c.check(s is not None and DELIVERY_SECONDS[-1] < 5,
                "inside quiet hours the code still arrives within 5 s (%.2f s)"
                % DELIVERY_SECONDS[-1])
    finally:
        os.remove(override)
        stack("service-stop", "notifier")
        stack("service-start", "notifier")


def test_codes_tell_nothing(c):
    unknown = "1990%07d" % (int(time.time()) % 10000000)
    before = len(messages())
    a = ask_code(unknown)
    c.eq((a.status, a.json), (202, {"sent": True, "expires_in": 300, "retry_after": 60}),
         "a phone without an account gets the same 202")
    w = http("POST", ACC + "/v1/signin/verify", {"phone": unknown, "code": "123456"})
    # a positive marker: a code to a real phone arrives after the unknown one was asked
    s = signin(c, "13905731203")
    c.check(s is not None, "a real phone's code arrived after")
    c.check(not any(str(m.get("phone", "")).endswith(unknown) for m in messages()[before:]),
            "no SMS went to the phone without an account")
    wrong = http("POST", ACC + "/v1/signin/verify", {"phone": "13905731203", "code": "000000"})
    c.eq(wrong.status, 401, "a wrong code: 401")
    c.eq(w.json["detail"], wrong.json["detail"], "the same 401 for an unknown phone and a wrong code")
    again = ask_code("13905731203")
    c.eq(again.status, 429, "a second code within the minute: 429")
    c.check(int(again.headers.get("Retry-After", "0")) > 0, "with Retry-After")
    c.eq(ask_code("12345").json.get("pointer"), "/phone", "a malformed phone names /phone")
    # five wrong tries void the code: then even the right one is refused
    phone, _ = new_account(c, "试码员", [{"role": "planner"}])
    before = len(messages())
    ask_code(phone)
    code = code_for(phone, before)
    SENT_CODES.append(code)
    wrong_code = "%06d" % ((int(code) + 1) % 1000000)
    st = [http("POST", ACC + "/v1/signin/verify", {"phone": phone, "code": wrong_code}).status
          for _ in range(5)]
    c.eq(st, [401] * 5, "five wrong tries")
    r = http("POST", ACC + "/v1/signin/verify", {"phone": phone, "code": code})
    c.eq(r.status, 429, "the right code after five wrong tries: 429")
    rows = psql("SELECT count(*) FROM accounts.signin_codes WHERE code_hash = '%s' OR "
                "code_hash LIKE '%%%s%%'" % (code, code))
    c.eq(rows, [["0"]], "the code is not stored in clear")
    # per client address (from a trusted proxy's X-Real-IP; the header only)
    ip = {"X-Real-IP": "192.0.2.%d" % (int(time.time()) % 200 + 1)}
    codes = [ask_code("1991%07d" % i, headers=ip).status for i in range(101)]
    c.eq((codes[:100].count(202), codes[100]), (100, 429),
         "one client address: 100 codes an hour (the test instance's limit), then 429")


def test_password_signin_and_lockout(c):
    pw = "Zhejiang-Shanghai-%d" % int(time.time())
    phone, acct = new_account(c, "密码员", [{"role": "planner"}], password=pw)
    r = http("POST", ACC + "/v1/signin/password", {"phone": phone, "password": pw})
    c.eq(r.status, 200, "password sign-in")
    c.eq(http("GET", URL["income"] + "/v1/views/summary", tok=r.json["access_token"]).status, 200,
         "its token reads the views")
    h = psql("SELECT password_hash FROM accounts.accounts WHERE id = '%s'" % acct["id"])[0][0]
    c.check(h.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), "stored as argon2id (OWASP m=19456)")
    # rehash: the service restarted with other parameters renews the hash at sign-in
    with open(os.path.join(INST, "accounts.override.env"), "w") as f:
        f.write("ACCOUNTS_ARGON2_T=3\n")
    stack("service-start", "accounts")
    r = http("POST", ACC + "/v1/signin/password", {"phone": phone, "password": pw})
    c.eq(r.status, 200, "sign-in after the parameters changed")
    h2 = psql("SELECT password_hash FROM accounts.accounts WHERE id = '%s'" % acct["id"])[0][0]
    c.check(h2.startswith("$argon2id$v=19$m=19456,t=3,p=1$"), "rehashed with t=3: %s" % h2[:32])
    os.remove(os.path.join(INST, "accounts.override.env"))
    stack("service-start", "accounts")
    # lock-out
    st = [http("POST", ACC + "/v1/signin/password", {"phone": phone, "password": "wrong-one-%d" % i})
          for i in range(5)]
    c.eq([x.status for x in st], [401] * 5, "five wrong passwords: 401 each")
    locked = http("POST", ACC + "/v1/signin/password", {"phone": phone, "password": pw})
    c.eq(locked.status, 429, "locked: even the right password gets 429")
    wait = int(locked.headers.get("Retry-After", "0"))
    c.check(0 < wait <= 30, "Retry-After %d s (30 s after five failures)" % wait)
    time.sleep(wait + 0.5)
    r = http("POST", ACC + "/v1/signin/password", {"phone": phone, "password": pw})
    c.eq(r.status, 200, "after the lock-out the right password works")
    one_more = http("POST", ACC + "/v1/signin/password", {"phone": phone, "password": "nope-nope"})
    c.eq(one_more.status, 401, "and the count started again (one failure is no lock)")
    # changing the password signs out every session
    s1 = http("POST", ACC + "/v1/signin/password", {"phone": phone, "password": pw}).json
    new_pw = pw + "-new"
    PASSWORDS.append(new_pw)
    ch = http("POST", ACC + "/v1/me/password", {"current_password": "wrong", "new_password": new_pw},
              tok=s1["access_token"])
    c.eq((ch.status, ch.json.get("pointer")), (422, "/current_password"), "the current one is checked")
    ch = http("POST", ACC + "/v1/me/password", {"current_password": pw, "new_password": "12345678"},
              tok=s1["access_token"])
    c.eq((ch.status, ch.json.get("pointer")), (422, "/new_password"), "a common password refused")
    ch = http("POST", ACC + "/v1/me/password", {"current_password": pw, "new_password": new_pw},
              tok=s1["access_token"])
    c.eq(ch.status, 200, "password changed")
    c.eq(http("POST", ACC + "/v1/token", {"refresh_token": s1["refresh_token"]}).status, 401,
         "the old session's refresh token is refused")
    c.check(refused_within(s1["access_token"], "registry", 5),
            "the old access token is refused within 5 s")
    fresh = http("POST", ACC + "/v1/signin/password", {"phone": phone, "password": new_pw})
    c.eq(fresh.status, 200, "the new password signs in at once")
    c.eq(http("GET", URL["registry"] + PROBE["registry"], tok=fresh.json["access_token"]).status,
         200, "and its token is accepted at once")


def test_refresh_rotation_and_reuse(c):
    s = signin(c, "13905731204")
    if not s:
        return
    r1 = http("POST", ACC + "/v1/token", {"refresh_token": s["refresh_token"]})
    c.eq(r1.status, 200, "refresh")
    c.check(r1.json["refresh_token"] != s["refresh_token"], "a new refresh token each time")
    r2 = http("POST", ACC + "/v1/token", {"refresh_token": r1.json["refresh_token"]})
    c.eq(r2.status, 200, "refresh again with the new one")
    reuse = http("POST", ACC + "/v1/token", {"refresh_token": s["refresh_token"]})
    c.eq(reuse.status, 401, "the first refresh token reused: 401")
    c.check("already used" in reuse.json["detail"], "it says so: %s" % reuse.json["detail"])
    c.eq(http("POST", ACC + "/v1/token", {"refresh_token": r2.json["refresh_token"]}).status, 401,
         "reuse revoked the whole family: the latest one is refused too")
    c.eq(http("POST", ACC + "/v1/token", {"refresh_token": "not-a-token"}).status, 401,
         "an unknown refresh token: 401")
    so = http("POST", ACC + "/v1/signin/password", {"phone": "13905738002",
                                                    "password": "Shantang-demo-2026"}).json
    ended = ("SELECT count(*) FROM accounts.audit WHERE action = 'session.ended' AND account_id = "
             "(SELECT id FROM accounts.accounts WHERE phone = '13905738002')")
    before = int(psql(ended)[0][0])
    c.eq(http("POST", ACC + "/v1/signout", {"refresh_token": so["refresh_token"]}).status, 204,
         "sign-out")
    c.eq(http("POST", ACC + "/v1/signout", {"refresh_token": so["refresh_token"]}).status, 204,
         "a second sign-out of the same session answers the same")
    c.eq(http("POST", ACC + "/v1/signout", {"refresh_token": "not-a-token"}).status, 204,
         "a sign-out with an unknown token tells nothing")
    c.eq(int(psql(ended)[0][0]), before + 1, "one session.ended audited, for the session ended")
    c.eq(http("POST", ACC + "/v1/token", {"refresh_token": so["refresh_token"]}).status, 401,
         "a signed-out session does not refresh")
    fam = psql("SELECT count(*) FILTER (WHERE revoked_at IS NOT NULL), count(*) FROM "
               "accounts.refresh_tokens WHERE family = (SELECT family FROM accounts.refresh_tokens "
               "WHERE token_hash = encode(sha256('%s'), 'hex'))" % s["refresh_token"])
    c.eq(fam, [["3", "3"]], "the family's three tokens are all revoked")


def test_disable_refused_everywhere(c):
    phone, acct = new_account(c, "停用员", [{"role": "supervisor", "regions": ["330482000000"]}])
    s = signin(c, phone)
    if not s:
        return
    st = accepted_everywhere(s["access_token"])
    c.check(all(v in (200, 403) for v in st.values()), "accepted everywhere before: %s" % st)
    t0 = time.time()
    d = admin("POST", "/v1/accounts/%s/disable" % acct["id"], {"reason": "调离"})
    c.eq((d.status, d.json["state"]), (200, "disabled"), "disabled")
    refused = {}
    while time.time() - t0 < 10 and len(refused) < len(SERVICES):
        for svc in SERVICES:
            if svc not in refused and http("GET", URL[svc] + PROBE[svc],
                                           tok=s["access_token"]).status == 401:
                refused[svc] = time.time() - t0
        time.sleep(0.05)
    print("disabled account refused after: %s" % {k: round(v, 2) for k, v in refused.items()})
    c.eq(sorted(refused), sorted(SERVICES), "every service refuses the disabled account's token")
    c.check(refused and max(refused.values()) < 5, "all within 5 s")
    c.eq(http("POST", ACC + "/v1/token", {"refresh_token": s["refresh_token"]}).status, 401,
         "its refresh token is revoked")
    g = admin("POST", "/v1/accounts/%s/grants" % acct["id"], {"role": "planner"})
    c.eq(g.status, 409, "a grant for a disabled account: 409")
    e = admin("POST", "/v1/accounts/%s/enable" % acct["id"])
    c.eq(e.json["state"], "active", "enabled again")
    ev = [m["value"] for m in tail("accounts.v1", timeout_ms=2000)
          if isinstance(m.get("value"), dict) and m["value"].get("subject") == acct["id"]]
    types = [v["type"] for v in ev]
    for t in ("account.created", "grant.added", "account.disabled", "account.revoked",
              "account.enabled"):
        c.check(t in types, "%s published on accounts.v1" % t)
    rev = [v for v in ev if v["type"] == "account.revoked"][0]["data"]
    c.check(rev["account_id"] == acct["id"] and rev["revoked_before"] >= int(t0),
            "account.revoked names the account and the time")
    c.check(all("****" in v["data"].get("phone", "****") for v in ev), "phones masked in events")
    # removing a grant revokes too
    phone2, acct2 = new_account(c, "撤权员", [{"role": "planner"}, {"role": "supervisor",
                                                                     "regions": ["310116000000"]}])
    s2 = signin(c, phone2)
    if s2:
        gid = s2["grant"]["id"]
        c.eq(admin("DELETE", "/v1/accounts/%s/grants/%s" % (acct2["id"], gid)).status, 204,
             "grant removed")
        c.check(refused_within(s2["access_token"], "income", 5),
                "the token of the removed grant is refused within 5 s")


def test_key_rotation_under_load(c):
    keydir = ENV["SIGNING_KEYS_DIR"]
    old_kid = header_of(token("planner"))["kid"]
    failures, verified = [], {}
    stop = threading.Event()

    def load():
        while not stop.is_set():
            t = token("planner")
            kid = header_of(t)["kid"]
            for svc in ("registry", "income"):
                st = http("GET", URL[svc] + PROBE[svc], tok=t).status
                if st != 200:
                    failures.append((svc, kid, st))
                verified[kid] = verified.get(kid, 0) + 1
    th = threading.Thread(target=load)
    th.start()
    time.sleep(1)
    path = os.path.join(keydir, "key-rotated-%d.pem" % int(time.time()))
    subprocess.run(["openssl", "genpkey", "-algorithm", "ED25519", "-out", path], check=True,
                   capture_output=True)
    subprocess.run(["chgrp", "shantang", path], check=False)
    os.chmod(path, 0o640)
    deadline = time.time() + 40
    new_kid = None
    while time.time() < deadline:
        kid = header_of(token("planner"))["kid"]
        if kid != old_kid:
            new_kid = kid
            break
        time.sleep(0.5)
    time.sleep(3)  # requests flow on the new key for a while
    stop.set()
    th.join()
    c.check(new_kid is not None, "tokens are signed with the new key after its activation")
    if new_kid:
        c.eq(header_of(token("planner"))["alg"], "EdDSA", "the new key is Ed25519: EdDSA")
    c.eq(failures[:5], [], "no refused request while the key rotated (%d requests, by kid %s)"
         % (sum(verified.values()), verified))
    c.check(len(verified) == 2, "requests were verified under both keys")
    kids = [k["kid"] for k in http("GET", ACC + "/.well-known/jwks.json").json["keys"]]
    c.check(old_kid in kids and new_kid in kids, "the old key stays published beside the new")


class Idp:
    """A second, independent issuer: an RSA key pair made with openssl, its JWKS
    served on 127.0.0.1, RS256 tokens signed with openssl dgst."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="shantang-idp-")
        self.key = os.path.join(self.dir, "idp.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", self.key], check=True, capture_output=True)
        mod = subprocess.run(["openssl", "rsa", "-in", self.key, "-noout", "-modulus"],
                             check=True, capture_output=True, text=True).stdout
        n = bytes.fromhex(mod.strip().split("=", 1)[1])
        jwks = json.dumps({"keys": [{"kty": "RSA", "kid": "idp-1", "use": "sig", "alg": "RS256",
                                     "n": b64url(n), "e": "AQAB"}]}).encode()

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, *a):
                pass
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.issuer = "https://idp.zj.example/realms/shantang"
        self.jwks_uri = "http://127.0.0.1:%d/certs" % self.srv.server_address[1]

    def sign(self, claims):
        h = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "idp-1"}).encode())
        p = b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                             input=("%s.%s" % (h, p)).encode(), check=True,
                             capture_output=True).stdout
        return "%s.%s.%s" % (h, p, b64url(sig))

    def close(self):
        self.srv.shutdown()


def restart_all():
    for svc in SERVICES:
        stack("service-start", svc)


def test_second_issuer(c):
    idp = Idp()
    path = os.path.join(INST, "auth-issuers.json")
    with open(path, "w") as f:
        json.dump({"issuers": [{
            "issuer": idp.issuer, "jwks_uri": idp.jwks_uri, "audience": "shantang",
            "algorithms": ["RS256"], "typ": ["JWT"],
            "claims": {"role": "realm_access.roles", "regions": "shantang_regions",
                       "unit": "shantang_unit"},
            "roles": {"zj-planner": "planner", "zj-coordinator": "coordinator"}}]}, f)
    os.chmod(path, 0o644)
    try:
        restart_all()
        now = int(time.time())
        base = {"iss": idp.issuer, "aud": ["account", "shantang"], "iat": now, "exp": now + 300,
                "azp": "shantang-console"}
        planner = idp.sign(dict(base, sub="kc-planner",
                                realm_access={"roles": ["offline_access", "zj-planner"]}))
        st = accepted_everywhere(planner)
        c.check(all(v in (200, 403) for k, v in st.items() if k != "accounts") and
                st["accounts"] == 404,
                "the outside issuer's token is accepted by every service (it has no account "
                "here: /v1/me 404): %s" % st)
        c.eq(http("GET", URL["income"] + "/v1/views/summary", tok=planner).status, 200,
             "mapped to planner: reads the views")
        coord = idp.sign(dict(base, sub="kc-coord", realm_access={"roles": ["zj-coordinator"]},
                              shantang_regions=["330482105201"]))
        hs = http("GET", URL["enrollment"] + "/v1/households?limit=1000", tok=coord)
        c.check(hs.status == 200 and hs.json["items"] and
                all(h["village_code"] == "330482105201" for h in hs.json["items"]),
                "mapped to a coordinator of its village: sees only that village")
        forged = idp.sign(dict(base, sub="kc-x", iss=ACC, role="admin", jti="x"))
        c.eq(http("GET", URL["registry"] + PROBE["registry"], tok=forged).status, 401,
             "the outside key cannot sign for our issuer")
        os.remove(path)
        restart_all()
        c.eq(http("GET", URL["income"] + "/v1/views/summary", tok=planner).status, 401,
             "refused once the issuer is removed from the configuration")
    finally:
        if os.path.exists(path):
            os.remove(path)
            restart_all()
        idp.close()


def test_admin_api(c):
    bad = [({"name": "x", "phone": "12345"}, "/phone"),
           ({"name": "x", "phone": "13911112222", "grants": [{"role": "coordinator",
                                                              "regions": ["330482105000"]}]},
            "/grants/0/regions/0"),
           ({"name": "x", "phone": "13911112222", "grants": [{"role": "coordinator",
                                                              "regions": ["330482999201"]}]},
            "/grants/0/regions/0"),
           ({"name": "x", "phone": "13911112222", "grants": [{"role": "handler"}]},
            "/grants/0/unit"),
           ({"name": "x", "phone": "13911112222", "grants": [{"role": "notable",
                                                              "notable_id": "nope"}]},
            "/grants/0/notable_id"),
           ({"name": "x", "phone": "13911112222", "grants": [{"role": "boss"}]},
            "/grants/0/role"),
           ({"name": "", "phone": "13911112222"}, "/name"),
           ({"name": "x", "phone": "13911112222", "password": "short"}, "/password")]
    for body, ptr in bad:
        r = admin("POST", "/v1/accounts", body, headers={"Idempotency-Key": unique("bad")})
        c.eq((r.status, r.json.get("pointer")), (422, ptr), "refused naming %s" % ptr)
    c.eq(psql("SELECT count(*) FROM accounts.accounts WHERE phone = '13911112222'"), [["0"]],
         "nothing of a refused account was written")
    dup = admin("POST", "/v1/accounts", {"name": "重号", "phone": "13905731201"},
                headers={"Idempotency-Key": unique("dup")})
    c.eq((dup.status, dup.json.get("pointer")), (409, "/phone"), "a phone with an account: 409")
    c.eq(http("GET", ACC + "/v1/accounts", tok=token("planner")).status, 403,
         "only the admin manages accounts")
    lst = admin("GET", "/v1/accounts?role=coordinator&limit=5")
    c.check(lst.status == 200 and len(lst.json["items"]) == 5 and lst.json["next"],
            "accounts listed by role, a page at a time")
    nxt = admin("GET", "/v1/accounts?role=coordinator&limit=5&cursor=" + lst.json["next"])
    c.check(not {a["id"] for a in nxt.json["items"]} & {a["id"] for a in lst.json["items"]},
            "the next page continues")
    phone, acct = new_account(c, "审计员", [{"role": "planner"}])
    upd = admin("PATCH", "/v1/accounts/" + acct["id"], {"name": "审计员甲"})
    c.eq(upd.json["name"], "审计员甲", "renamed")
    au = admin("GET", "/v1/accounts/%s/audit" % acct["id"]).json["items"]
    c.eq([a["action"] for a in au][::-1], ["account.created", "grant.added", "account.updated"],
         "the audit trail, newest first")
    c.check(all(a["actor"] == "accounts-test-admin" for a in au), "naming the actor")
    c.check(psql("SELECT count(*) FROM accounts.audit")[0][0] != "0", "audit rows exist")
    try:
        psql("UPDATE accounts.audit SET actor = 'x' WHERE account_id = '%s'" % acct["id"])
        c.check(False, "the audit is append-only")
    except subprocess.CalledProcessError:
        c.check(True, "the audit is append-only (an UPDATE is refused)")


def account_rows(aid):
    """An account's audit rows, outbox rows, version and grants, counted."""
    return psql("SELECT (SELECT count(*) FROM accounts.audit WHERE account_id = '%s'), "
                "(SELECT count(*) FROM accounts.outbox WHERE key = '%s'), "
                "(SELECT version FROM accounts.accounts WHERE id = '%s'), "
                "(SELECT count(*) FROM accounts.grants WHERE account_id = '%s')"
                % (aid, aid, aid, aid))[0]


def problem_of(r):
    """A problem answer's status, type slug, title, pointer and detail."""
    j = r.json if isinstance(r.json, dict) else {}
    return (r.status, j.get("type", "").rsplit("/", 1)[-1], j.get("title"), j.get("pointer"),
            j.get("detail"))


def test_admin_commands(c):
    """Each change of an account is one command: a refused one writes nothing
    and answers its exact problem; a rename keeps the account's sessions; a
    grant's removal refuses its tokens at once; the events and audit rows."""
    phone, acct = new_account(c, "命令员", [{"role": "planner"}])
    phone2, other = new_account(c, "另一员", [{"role": "planner"}])
    aid, none = acct["id"], "01900000-0000-7000-8000-000000000000"
    grants = "/v1/accounts/%s/grants" % aid
    before = account_rows(aid)
    refused = [
        ("a phone another account has", "PATCH", "/v1/accounts/" + aid, {"phone": phone2},
         (409, "duplicate", "Phone already has an account", "/phone",
          "another account has this phone")),
        ("an unknown region", "POST", grants,
         {"role": "supervisor", "regions": ["330482000000", "330482999201"]},
         (422, "validation", "Unknown region", "/regions/1",
          "region 330482999201 is not a known region")),
        ("a supervisor's village", "POST", grants,
         {"role": "supervisor", "regions": ["330482105204"]},
         (422, "validation", "A village", "/regions/0",
          "a supervisor's regions are towns, counties or a side; 330482105204 is a village")),
        ("a coordinator's county", "POST", grants,
         {"role": "coordinator", "regions": ["330482000000"]},
         (422, "validation", "Not a village", "/regions/0",
          "a coordinator's regions are villages; 330482000000 is a county")),
        ("an unknown unit", "POST", grants, {"role": "handler", "unit": "nope"},
         (422, "validation", "Unknown unit", "/unit", "nope is not a known handling unit")),
        ("an unknown notable", "POST", grants, {"role": "notable", "notable_id": "nope"},
         (422, "validation", "Unknown notable", "/notable_id", "nope is not a known notable")),
        ("a grant held", "POST", grants, {"role": "planner"},
         (409, "duplicate", "Grant already held", "", "the account already holds this grant")),
        ("a grant not held", "DELETE", "%s/%s" % (grants, none), None,
         (404, "not-found", "No such grant", None, "the account holds no grant " + none)),
        ("no such account", "PATCH", "/v1/accounts/" + none, {"name": "x"},
         (404, "not-found", "No such account", None, "no account " + none)),
        ("no such account's grant", "POST", "/v1/accounts/%s/grants" % none, {"role": "planner"},
         (404, "not-found", "No such account", None, "no account " + none)),
    ]
    for what, method, path, body, want in refused:
        c.eq(problem_of(admin(method, path, body)), want, "refused: " + what)
    c.eq(account_rows(aid), before,
         "the refused changes wrote no audit row, no event, no grant, and left the version")
    oid = other["id"]
    c.eq(admin("POST", "/v1/accounts/%s/disable" % oid).json["state"], "disabled", "disabled")
    ob = account_rows(oid)
    c.eq(problem_of(admin("POST", "/v1/accounts/%s/grants" % oid, {"role": "admin"})),
         (409, "conflict", "Account disabled", None,
          "a disabled account takes no grant; enable it first"), "refused: a disabled account's grant")
    c.eq(admin("POST", "/v1/accounts/%s/disable" % oid).json["version"], other["version"] + 1,
         "disabling a disabled account changes nothing")
    c.eq(account_rows(oid), ob, "nor did the grant refused to a disabled account write anything")
    s = signin(c, phone)
    if not s:
        return
    upd = admin("PATCH", "/v1/accounts/" + aid, {"name": "命令员甲"})
    c.eq((upd.status, upd.json["name"], upd.json["version"]), (200, "命令员甲", acct["version"] + 1),
         "renamed, its version one more")
    c.eq(http("GET", ACC + "/v1/me", tok=s["access_token"]).status, 200,
         "a rename revokes nothing: the session's token is still accepted")
    add = admin("POST", grants, {"role": "coordinator", "regions": ["330482105204"]})
    c.eq((add.status, add.headers.get("Location")),
         (201, "/v1/accounts/%s/grants/%s" % (aid, (add.json or {}).get("id"))),
         "a grant added, with its Location")
    rm = admin("DELETE", "%s/%s" % (grants, s["grant"]["id"]))
    c.eq((rm.status, rm.raw), (204, ""), "the session's grant removed: 204, no body")
    c.eq(http("GET", ACC + "/v1/me", tok=s["access_token"]).status, 401,
         "its token is refused by the accounts service at once")
    c.check(refused_within(s["access_token"], "registry", 5),
            "and by another service within 5 s")
    c.eq(http("POST", ACC + "/v1/token", {"refresh_token": s["refresh_token"]}).status, 401,
         "its refresh token is revoked")
    audit = [r[0] for r in psql("SELECT action FROM accounts.audit WHERE account_id = '%s' AND "
                                "action NOT LIKE 'session.%%' ORDER BY id" % aid)]
    c.eq(audit, ["account.created", "grant.added", "account.updated", "grant.added",
                 "grant.removed", "account.revoked"], "the audit rows, in order")
    ev = [json.loads(r[0]) for r in psql("SELECT payload FROM accounts.outbox WHERE key = '%s' "
                                         "ORDER BY id" % aid)]
    c.eq([e["type"] for e in ev], ["account.created", "grant.added", "account.updated",
                                   "grant.added", "grant.removed", "account.revoked"],
         "the events, in order (no session's)")
    if len(ev) == 6:
        u, added, removed, rev = ev[2]["data"], ev[3]["data"], ev[4]["data"], ev[5]["data"]
        c.eq((u["change"], u["actor"], u["phone"], u["version"]),
             ({"name": "命令员甲", "phone_changed": False}, "accounts-test-admin",
              phone[:3] + "****" + phone[-4:], acct["version"] + 1),
             "account.updated: the change, the actor, the phone masked, the new version")
        c.eq(added["change"]["grant"]["id"], add.json["id"], "grant.added names the grant")
        c.eq(removed["change"]["grant"]["id"], s["grant"]["id"], "grant.removed names the grant")
        c.eq((rev["account_id"], rev["reason"]), (aid, "grant_removed"),
             "account.revoked names the account and why")
        c.eq(psql("SELECT revoked_before FROM accounts.accounts WHERE id = '%s'" % aid),
             [[str(rev["revoked_before"])]], "at the time the account's row holds")


def test_account_create_command(c):
    """An account's creation is one command: a refused one writes nothing and
    leaves its key unclaimed; a replay answers the first answer; the events
    come in order."""
    phone = "1993%07d" % (int(time.time() * 1000) % 10000000)
    key = unique("create")
    rows = ("SELECT (SELECT count(*) FROM accounts.accounts WHERE phone = '%s'), "
            "(SELECT count(*) FROM accounts.idempotency_keys WHERE key = '%s')" % (phone, key))
    grants = [{"role": "planner"}, {"role": "supervisor", "regions": ["330482999201"]}]
    r = admin("POST", "/v1/accounts", {"name": "建号员", "phone": phone, "grants": grants},
              headers={"Idempotency-Key": key})
    c.eq(problem_of(r), (422, "validation", "Unknown region", "/grants/1/regions/0",
                         "region 330482999201 is not a known region"),
         "refused: the second grant's unknown region")
    r = admin("POST", "/v1/accounts", {"name": "建号员", "phone": phone,
                                       "grants": [{"role": "planner"}, {"role": "planner"}]},
              headers={"Idempotency-Key": key})
    c.eq(problem_of(r), (409, "duplicate", "Grant already held", "/grants/1",
                         "the account already holds this grant"), "refused: a grant given twice")
    c.eq(psql(rows), [["0", "0"]], "the refused creations wrote no account and claimed no key")
    body = {"name": "建号员", "phone": phone,
            "grants": [{"role": "planner"}, {"role": "coordinator", "regions": ["330482105204"]}]}
    first = admin("POST", "/v1/accounts", body, headers={"Idempotency-Key": key})
    aid = (first.json or {}).get("id")
    c.eq((first.status, first.headers.get("Location")), (201, "/v1/accounts/%s" % aid),
         "created with the key once its first requests were refused")
    if first.status != 201:
        return
    again = admin("POST", "/v1/accounts", body, headers={"Idempotency-Key": key})
    c.eq((again.status, again.raw), (201, first.raw), "a replay answers the first answer")
    other = admin("POST", "/v1/accounts", dict(body, name="别人"), headers={"Idempotency-Key": key})
    c.eq(problem_of(other)[:3], (422, "idempotency-key-reused", "Idempotency-Key reused"),
         "the key with another body is refused")
    dup = admin("POST", "/v1/accounts", dict(body, name="重号"),
                headers={"Idempotency-Key": unique("dup")})
    c.eq(problem_of(dup), (409, "duplicate", "Phone already has an account", "/phone",
                           "the phone belongs to account %s" % aid), "a phone with an account")
    c.eq(psql(rows), [["1", "1"]], "one account, one key")
    ev = [json.loads(r[0]) for r in psql("SELECT payload FROM accounts.outbox WHERE key = '%s' "
                                         "ORDER BY id" % aid)]
    c.eq([(e["type"], len(e["data"]["grants"]), "change" in e["data"]) for e in ev],
         [("account.created", 0, False), ("grant.added", 1, True), ("grant.added", 2, True)],
         "account.created without grants, then each grant.added with the grants so far")
    c.eq([r[0] for r in psql("SELECT action || ' ' || detail::text FROM accounts.audit WHERE "
                             "account_id = '%s' ORDER BY id LIMIT 1" % aid)],
         ["account.created {}"], "the creation's audit row")


def test_create_admin(c):
    phone = "1997%07d" % (int(time.time()) % 10000000)
    out = stack("create-admin", phone, "新管理员")
    c.check("administrator 新管理员 created" in out.stdout, "create-admin says so: %s" % out.stdout)
    again = subprocess.run([os.path.join(ENV["SHANTANG_ROOT"], "deploy", "local", "stack"),
                            "create-admin", phone, "新管理员"], capture_output=True, text=True,
                           env=dict(os.environ, STACK_INSTANCE=ENV["INSTANCE"]))
    c.eq(again.returncode, 3, "a second run for the same phone exits 3 (it exists)")
    s = signin(c, phone)
    c.check(s is not None and s["grant"]["role"] == "admin", "the new administrator signs in")


def test_import(c):
    base = int(time.time()) % 100000
    rows = [["姓名", "手机号", "角色", "区划代码"],
            ["导入甲", "1992%07d" % base, "村协调员", "330482105201"],
            ["导入乙", "1992%07d" % (base + 1), "村协调员", "330482999999"],
            ["导入丙", "13905731201", "督查", "330482000000"],
            ["导入丁", "1992%07d" % (base + 2), "规划", ""]]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    data = buf.getvalue().encode("gbk")
    r = admin("POST", "/v1/imports/accounts", raw=data, headers={"Content-Type": "text/csv"})
    c.eq(r.status, 200, "import answered")
    c.eq((r.json["encoding"], r.json["imported"], r.json["invalid"]), ("gbk", 2, 2),
         "GBK with Chinese headers: two imported, two refused")
    lines = {e["line"]: e for e in r.json["errors"]}
    c.check(3 in lines and lines[3]["pointer"] == "/grants/0/regions/0",
            "the unknown village's row names it")
    c.check(4 in lines and lines[4]["pointer"] == "/phone", "the duplicate phone's row names it")
    again = admin("POST", "/v1/imports/accounts", raw=data, headers={"Content-Type": "text/csv"})
    c.eq((again.json["imported"], again.json["already_present"]), (0, 2), "a replay adds nothing")


def test_no_secret_anywhere(c):
    """Run last: every code this test saw, and every password it used."""
    c.check(len(SENT_CODES) >= 8, "codes to look for (%d)" % len(SENT_CODES))
    secrets = [p for p in PASSWORDS] + ["Shantang-demo-2026"]
    # a code stands alone: not inside a longer number, a hex id, or the fraction of a time
    code_re = re.compile(r"(?<![0-9A-Za-z.])(%s)(?![0-9A-Za-z])" % "|".join(map(re.escape,
                                                                               SENT_CODES)))
    logs = os.path.join(INST, "logs")
    leaks = []
    for name in sorted(os.listdir(logs)):
        if name in ("sms_gateway.log", "build.log", "maven.log"):
            continue  # the gateway is the phone; build logs hold no run
        text = open(os.path.join(logs, name), encoding="utf-8", errors="replace").read()
        for s in secrets:
            if s in text:
                leaks.append((name, "a password"))
        if "$argon2id$" in text:
            leaks.append((name, "a hash"))
        m = code_re.search(text)
        if m:
            leaks.append((name, "code " + m.group(1), text[max(0, m.start() - 80):m.end() + 40]))
    c.eq(leaks, [], "no code, password or hash in any log")
    dump = subprocess.run(["pg_dump", "--data-only", "--exclude-table=accounts.accounts",
                           "--schema=accounts", "--schema=notifier", "--schema=registry",
                           "--schema=suggestion", ENV["PG_SUPERUSER_URL"]],
                          check=True, capture_output=True, text=True).stdout
    c.check(not any(s in dump for s in secrets), "no password in the tables")
    c.check("$argon2id$" not in dump, "no hash outside accounts.password_hash")
    m = code_re.search(dump)
    c.check(m is None, "no code in clear in the tables%s"
            % ("" if m is None else ": " + dump[max(0, m.start() - 80):m.end() + 20]))
    for topic in ("signin.v1", "accounts.v1", "deadletter.v1"):
        text = json.dumps(tail(topic, timeout_ms=2000), ensure_ascii=False)
        c.check(code_re.search(text) is None and not any(s in text for s in secrets)
                and "$argon2id$" not in text, "nothing secret on %s" % topic)
    sealed = [m["value"]["data"] for m in tail("signin.v1", timeout_ms=2000)
              if isinstance(m.get("value"), dict)]
    c.check(sealed and all("code_sealed" in d and "code" not in d for d in sealed),
            "signin.v1 carries only sealed codes (%d events)" % len(sealed))


if __name__ == "__main__":
    Checks().run([test_discovery_and_keys, test_signin_as_each_role,
                  test_codes_not_held_by_quiet_hours, test_codes_tell_nothing,
                  test_password_signin_and_lockout, test_refresh_rotation_and_reuse,
                  test_disable_refused_everywhere, test_key_rotation_under_load,
                  test_second_issuer, test_admin_api, test_admin_commands,
                  test_account_create_command, test_create_admin,
                  test_import, test_no_secret_anywhere])
