#!/usr/bin/env python3
"""tests/contracts/test_openapi.py - the OpenAPI documents pass a standard validator.

openapi-spec-validator (pinned in tests/contracts/requirements.txt, in
.cache/venv) checks each schemas/openapi/*.yaml against the OpenAPI 3.1
schema: no error, and no warning either (a warning fails the test). Then
the conventions every document keeps: every error answer (4xx, 5xx) is
the shared problem+json component, and the Problem schema is the same in
every document. Needs no stack.
"""
import glob
import os
import subprocess
import sys

ROOT = os.environ.get("SHANTANG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PY = os.path.join(ROOT, ".cache", "venv", "bin", "python")

CHECK = r"""
import json, sys, warnings
warnings.simplefilter("error")
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename
out = {}
for path in sys.argv[1:]:
    try:
        spec, _ = read_from_filename(path)
        validate(spec)
        errors = []
    except Exception as e:  # the validator's first error, or a warning turned error
        errors = ["%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")]
    doc = yaml.safe_load(open(path, encoding="utf-8"))
    problem = doc.get("components", {}).get("schemas", {}).get("Problem")
    bad = []
    for p, item in doc.get("paths", {}).items():
        for m, op in item.items():
            if m not in ("get", "post", "put", "patch", "delete"):
                continue
            for status, r in op.get("responses", {}).items():
                if str(status) >= "400" and not str(r.get("$ref", "")).startswith("#/components/responses/"):
                    bad.append("%s %s %s" % (m.upper(), p, status))
    out[path] = {"errors": errors, "openapi": doc.get("openapi"), "problem": problem, "inline_errors": bad}
print(json.dumps(out))
"""


def main():
    passed = failed = 0

    def check(cond, what):
        nonlocal passed, failed
        if cond:
            passed += 1
        else:
            failed += 1
            print("FAIL " + what)

    docs = sorted(glob.glob(os.path.join(ROOT, "schemas", "openapi", "*.yaml")))
    check(os.access(PY, os.X_OK), "%s exists (deploy/local/stack up installs it)" % PY)
    check(len(docs) == 6, "six OpenAPI documents (%d)" % len(docs))
    if failed:
        print("%d passed, %d failed" % (passed, failed))
        return 1
    proc = subprocess.run([PY, "-c", CHECK] + docs, capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0, "the validator ran (%s)" % proc.stderr.strip()[-2000:])
    if proc.returncode != 0:
        print("%d passed, %d failed" % (passed, failed))
        return 1
    import json
    res = json.loads(proc.stdout)
    problems = set()
    for path, r in sorted(res.items()):
        name = os.path.relpath(path, ROOT)
        check(not r["errors"], "%s validates: %s" % (name, "; ".join(r["errors"])))
        check(str(r["openapi"]).startswith("3.1."), "%s is OpenAPI 3.1 (%s)" % (name, r["openapi"]))
        check(not r["inline_errors"], "%s: error answers not through components/responses: %s" % (
            name, ", ".join(r["inline_errors"])))
        problems.add(json.dumps(r["problem"], sort_keys=True))
    check(len(problems) == 1, "one Problem schema in every document (%d variants)" % len(problems))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
