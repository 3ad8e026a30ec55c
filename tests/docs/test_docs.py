"""The documentation cannot drift from the code: every service's
configuration table (--print-config) matches its sample environment file
under deploy/env and is listed in the README, and every route of a service's
table is in its OpenAPI document, and the other way round."""
import glob
import os
import re
import subprocess
import sys

ROOT = os.environ.get("SHANTANG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SHANTANG_BUILD_DIR") or os.path.join(ROOT, "build")
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)


def names(text):
    return [m.group(1) for m in re.finditer(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M)]


readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
services = sorted(d for d in os.listdir(os.path.join(ROOT, "services"))
                  if os.path.exists(os.path.join(ROOT, "services", d, "main.c")) and d != "ctl")
check(len(services) >= 1, "at least one service")
for svc in services:
    binary = os.path.join(BUILD, "services", svc, "shantang-" + svc)
    out = subprocess.run([binary, "--print-config"], capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "%s --print-config exits 0 (%s)" % (svc, out.stderr.strip()))
    table = names(out.stdout)
    check(len(table) >= 10, "%s prints its configuration table" % svc)
    sample_path = os.path.join(ROOT, "deploy", "env", svc + ".env")
    sample = names(open(sample_path, encoding="utf-8").read()) if os.path.exists(sample_path) else []
    check(sorted(sample) == sorted(table),
          "%s: deploy/env/%s.env lists %s, the program %s" % (svc, svc, sorted(sample), sorted(table)))
    for name in table:
        check("`%s`" % name in readme, "README documents %s (%s)" % (name, svc))

    routes = set(re.findall(r'\{"(GET|POST|PATCH|PUT|DELETE)",\s*"(/[^"]*)"',
                            open(os.path.join(ROOT, "services", svc, "main.c"), encoding="utf-8").read()))
    api_path = os.path.join(ROOT, "schemas", "openapi", svc + ".yaml")
    check(os.path.exists(api_path), "schemas/openapi/%s.yaml exists" % svc)
    if not os.path.exists(api_path):
        continue
    documented, path = set(), None
    for line in open(api_path, encoding="utf-8"):
        m = re.match(r"^  (/\S*):\s*$", line)
        if m:
            path = m.group(1)
            continue
        m = re.match(r"^    (get|post|patch|put|delete):\s*$", line)
        if m and path:
            documented.add((m.group(1).upper(), path))
    builtin = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
    for r in sorted(routes):
        check(r in documented, "%s %s of %s is in the OpenAPI document" % (r[0], r[1], svc))
    for d in sorted(documented - builtin):
        check(d in routes, "%s %s documented for %s is a route" % (d[0], d[1], svc))

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
