#!/usr/bin/env python3
"""tests/contracts/test_conformance.py - every service against its OpenAPI document.

Schemathesis (pinned in tests/contracts/requirements.txt, installed by
deploy/local/stack into .cache/venv) generates requests from
schemas/openapi/<service>.yaml and sends them to the running stack: every
operation, with a development token of each role that may call it, through
all four phases (explicit examples, coverage, fuzzing, and the stateful
phase that follows the documents' links, e.g. POST /v1/projects then GET,
PATCH and /status of the project it made). The checks: not_a_server_error,
status_code_conformance, content_type_conformance and
response_schema_conformance. Any failure fails the test, with Schemathesis's
report and a curl line that reproduces it.

Reads: SHANTANG_STACK_ENV (the stack's URLs and secrets, as the integration
tests), SHANTANG_SOURCE_DIR; CONFORMANCE_EXAMPLES (test cases per operation,
default 12), CONFORMANCE_SEED (default 1: the ctest run is reproducible;
`stack conformance` passes a random one), CONFORMANCE_SERVICES (a comma list,
default all six). It writes what it creates (projects, households, accounts,
proposals with random content) into the stack, so it runs after the other
tests of a stack.
"""
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import stacklib  # noqa: E402

ROOT = os.environ.get("SHANTANG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ST = os.path.join(ROOT, ".cache", "venv", "bin", "st")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
VILLAGE = "330482105201"  # 山塘村 of 广陈镇, a demo village

# (service, role, token arguments, Schemathesis filter arguments): each
# operation is called with the tokens of the roles the route table lets in.
RUNS = [
    ("registry", "admin", {}, []),
    ("registry", "notable", {}, ["--include-method-regex", "^(POST|PATCH)$"]),
    ("enrollment", "admin", {}, []),
    ("enrollment", "coordinator", {"regions": [VILLAGE]}, []),
    ("income", "admin", {}, []),
    ("income", "coordinator", {"regions": [VILLAGE]}, ["--include-path-regex", "^/v1/entries"]),
    ("income", "planner", {}, ["--include-path-regex", "^/v1/views/(summary|months|projects|regions)"]),
    ("suggestion", "admin", {}, []),
    ("suggestion", "notable", {}, ["--include-method", "POST"]),
    ("notifier", "admin", {}, []),
    ("accounts", "admin", {}, []),
]


# Operations whose path names a resource get the identifiers of real ones
# (from the demo data) most of the time, so that their cases reach past the
# 404: (service, operation, path parameter, the list that holds them,
# the field of its items).
KNOWN = [
    ("registry", "GET /v1/regions/{code}", "code", "registry", "/v1/regions?limit=200", "code"),
    ("registry", "GET /v1/notables/{id}", "id", "registry", "/v1/notables?limit=100", "id"),
    ("registry", "GET /v1/partners/{id}", "id", "registry", "/v1/partners?limit=100", "id"),
    ("registry", "GET /v1/projects/{id}", "id", "registry", "/v1/projects?limit=100", "id"),
    ("enrollment", "GET /v1/households/{id}", "id", "enrollment", "/v1/households?limit=100", "id"),
    ("enrollment", "GET /v1/households/{id}/enrollments", "id", "enrollment",
     "/v1/households?limit=100", "id"),
    ("income", "GET /v1/entries/{id}", "id", "income", "/v1/entries?limit=100", "id"),
    ("income", "GET /v1/views/projects/{id}", "id", "registry", "/v1/projects?limit=100", "id"),
    ("income", "GET /v1/views/regions/{code}", "code", "registry", "/v1/regions?limit=200", "code"),
    ("income", "GET /v1/views/households/{id}", "id", "enrollment", "/v1/households?limit=100", "id"),
    ("suggestion", "GET /v1/suggestions/{id}", "id", "suggestion", "/v1/suggestions?limit=100", "id"),
    ("suggestion", "GET /v1/suggestions/{id}/history", "id", "suggestion",
     "/v1/suggestions?limit=100", "id"),
    ("notifier", "GET /v1/deliveries/{id}", "id", "notifier", "/v1/deliveries?limit=100", "id"),
    ("accounts", "GET /v1/accounts/{id}", "id", "accounts", "/v1/accounts?limit=100", "id"),
    ("accounts", "GET /v1/accounts/{id}/audit", "id", "accounts", "/v1/accounts?limit=100", "id"),
]


def config_file(svc, admin, folder):
    """a schemathesis.toml in folder binding KNOWN's parameters of svc; its path"""
    lines, n = [], 0
    for s, op, param, src, url, field in KNOWN:
        if s != svc:
            continue
        r = stacklib.http("GET", stacklib.ENV[src.upper() + "_URL"] + url, tok=admin)
        values = [str(it[field]) for it in (r.json or {}).get("items", [])] if r.status == 200 else []
        if not values:
            continue
        n += 1
        lines += ["[dictionaries.known%d]" % n,
                  "values = [%s]" % ", ".join('"%s"' % v for v in values), "",
                  "[[operations]]", 'include-name = "%s"' % op,
                  'parameters = { "path.%s" = { dictionary = "known%d", probability = 0.8 } }' % (param, n),
                  ""]
    path = os.path.join(folder, "schemathesis.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return path


def summary_numbers(out):
    """(operations tested, test cases generated, failures) from Schemathesis's summary"""
    tested = re.search(r"Tested:\s*(\d+)", out)
    cases = re.search(r"(\d+) generated", out)
    fails = re.search(r"found (\d+) unique failures?", out)
    return (int(tested.group(1)) if tested else 0, int(cases.group(1)) if cases else 0,
            int(fails.group(1)) if fails else 0)


def main():
    if not os.access(ST, os.X_OK):
        print("no %s: deploy/local/stack up installs the contract tests' packages" % ST)
        print("0 passed, 1 failed")
        return 1
    examples = int(os.environ.get("CONFORMANCE_EXAMPLES", "12"))
    seed = os.environ.get("CONFORMANCE_SEED", "1")
    if seed == "random":
        seed = str(random.randrange(1, 2**31))
    only = [s for s in os.environ.get("CONFORMANCE_SERVICES", "").split(",") if s]
    passed = failed = 0
    total_ops = total_cases = 0
    started = time.monotonic()
    admin = stacklib.token("admin")
    work = tempfile.mkdtemp(prefix="conformance-")
    for svc, role, targs, filters in RUNS:
        if only and svc not in only:
            continue
        url = stacklib.ENV[svc.upper() + "_URL"]
        tok = stacklib.token(role, **targs)
        folder = os.path.join(work, "%s-%s" % (svc, role))
        os.makedirs(folder, exist_ok=True)
        cfg = config_file(svc, admin, folder)
        # a run limited to some operations leaves the links out: no stateful phase
        phases = "examples,coverage,fuzzing" + ("" if filters else ",stateful")
        cmd = [ST, "--config-file", cfg, "run", os.path.join(ROOT, "schemas", "openapi", svc + ".yaml"), "--url", url,
               "-H", "Authorization: Bearer " + tok, "--checks", CHECKS,
               "--max-examples", str(examples), "--seed", seed, "--no-color",
               "--generation-database", "none", "--request-timeout", "30",
               "--suppress-health-check", "all", "--phases", phases] + filters
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=folder,
                              env=dict(os.environ, SCHEMATHESIS_HOOKS=""))
        out = proc.stdout + proc.stderr
        ops, cases, fails = summary_numbers(out)
        total_ops += ops
        total_cases += cases
        what = "%s as %s%s: %d operations, %d test cases, %d failures (%.0f s, seed %s)" % (
            svc, role, " " + " ".join(filters) if filters else "", ops, cases, fails,
            time.monotonic() - t0, seed)
        if proc.returncode == 0 and ops > 0:
            passed += 1
            print("ok   " + what)
        else:
            failed += 1
            print("FAIL " + what + " (exit %d)" % proc.returncode)
            print(out)
    print("conformance: %d operation runs, %d test cases in %.0f s" % (
        total_ops, total_cases, time.monotonic() - started))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
