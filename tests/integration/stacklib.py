"""Shared helpers for the integration tests: they talk to the running stack
started by `deploy/local/stack test` over its real interfaces — HTTP, the
PostgreSQL server (psql as the superuser, to check what was written) and the
Kafka broker (shantang-ctl tail/produce).

Each test file is a plain script: it runs its checks, prints
"N passed, M failed" and exits non-zero on any failure.
"""
import json
import os
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid

ROOT = os.environ.get("SHANTANG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
STACK = os.path.join(ROOT, "deploy", "local", "stack")


def _read_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v.strip().strip('"').strip("'")
    return env


ENV_FILE = os.environ.get("SHANTANG_STACK_ENV") or os.path.join(ROOT, ".local", "test", "stack.env")
if not os.path.exists(ENV_FILE):
    print("no running stack: %s is missing (run deploy/local/stack test)" % ENV_FILE)
    sys.exit(1)
ENV = _read_env(ENV_FILE)


def token(role, regions=(), unit=None, sub=None, ttl=None):
    """A development access token minted by the stack's accounts service (an
    ES256 at+jwt signed with its real key, verified by every service through
    the published JWKS like any signed-in person's)."""
    body = {"role": role, "regions": list(regions)}
    if unit:
        body["unit"] = unit
    if sub:
        body["sub"] = sub
    if ttl is not None:
        body["ttl"] = ttl
    with open(ENV["DEV_MINT_SECRET_FILE"], encoding="utf-8") as f:
        secret = f.read().strip()
    r = http("POST", ENV["ACCOUNTS_URL"] + "/v1/dev/tokens", body,
             headers={"X-Dev-Secret": secret})
    if r.status != 200:
        raise RuntimeError("token for %s not minted: %r" % (role, r))
    return r.json["access_token"]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.raw[:300])


def http(method, url, body=None, tok=None, headers=None, raw=None, timeout=30):
    """One HTTP request; never raises for an HTTP status."""
    h = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    if tok:
        h["Authorization"] = "Bearer " + tok
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, dict(r.headers), r.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as e:
        return Response(e.code, dict(e.headers), e.read().decode("utf-8", "replace"))


def psql(sql):
    """Rows of a query run as the superuser, as lists of strings."""
    out = subprocess.run(["psql", ENV["PG_SUPERUSER_URL"], "-X", "-A", "-t", "-F", "\t",
                          "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line != ""]


def wait(pred, seconds=60, step=0.3):
    """Poll pred until it returns something true; that value, or pred's last answer."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def wait_sql(sql, want, seconds=60):
    """Poll a query until it returns want; True when it did within seconds."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if psql(sql) == want:
            return True
        time.sleep(0.3)
    return False


def tail(topic, timeout_ms=3000, max_messages=None):
    """Every message of a topic from the beginning, as dicts."""
    cmd = [ENV["CTL"], "tail", "--brokers", ENV["KAFKA_BROKERS"], "--topic", topic,
           "--timeout-ms", str(timeout_ms)]
    if max_messages:
        cmd += ["--max", str(max_messages)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_for_event(topic, pred, seconds=60):
    """Poll a topic until a message's value satisfies pred; returns the matches."""
    deadline = time.time() + seconds
    while True:
        found = [m for m in tail(topic, timeout_ms=1500)
                 if isinstance(m.get("value"), dict) and pred(m["value"])]
        if found or time.time() > deadline:
            return found
        time.sleep(0.5)


def stack(*args):
    """Run a stack subcommand (kafka-stop, kafka-start, service-kill, ...) on the
    instance of the env file: its name, and its ports and build when it runs on
    others than its defaults."""
    env = dict(os.environ, STACK_INSTANCE=ENV.get("INSTANCE", "test"))
    env.update({k: v for k, v in ENV.items() if k.startswith("STACK_")})
    return subprocess.run([STACK] + list(args), env=env, check=True, capture_output=True,
                          text=True, timeout=300)


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


class Checks:
    """got/want assertions that keep going and count."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: %s" % what)
        return cond

    def eq(self, got, want, what):
        return self.check(got == want, "%s: got %r, want %r" % (what, got, want))

    def run(self, tests):
        for t in tests:
            print("-- %s" % t.__name__)
            try:
                t(self)
            except Exception:
                self.failed += 1
                print("FAIL: %s raised" % t.__name__)
                traceback.print_exc()
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)
