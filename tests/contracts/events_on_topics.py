"""What actually travelled: every message on every catalogued topic of the
running stack, read from the beginning after the other integration tests
(ctest runs this one last), is checked against the contracts: the
CloudEvents envelope, the type's data schema, the topic its type belongs on,
and the topic's key rule. Messages the tests injected on purpose (source
/shantang/test, or not JSON at all) are counted and left alone; every other
message must pass. Types of the catalogue that did not travel are listed."""
import collections
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import eventschema  # noqa: E402  (re-executes under the venv)
from stacklib import tail  # noqa: E402

c = eventschema.Contracts()
seen, injected, bad = collections.Counter(), 0, collections.Counter()
examples = {}
for t in c.catalogue["topics"]:
    for m in tail(t["name"], timeout_ms=5000):
        v = m.get("value")
        if not isinstance(v, dict) or v.get("source") == "/shantang/test":
            injected += 1
            continue
        problems = c.problems(t["name"], v) + c.key_problems(t["name"], m.get("key"), v)
        seen[v.get("type")] += 1
        for p in problems:
            k = (t["name"], v.get("type"), p)
            bad[k] += 1
            examples.setdefault(k, "%s[%s]@%s" % (t["name"], m["partition"], m["offset"]))
total = sum(seen.values())
for (topic, etype, p), n in sorted(bad.items()):
    print("FAIL: %d x %s on %s: %s (first at %s)" % (n, etype, topic, p,
                                                     examples[(topic, etype, p)]))
print("%d messages checked on %d topics (%d types), %d injected by the tests and skipped"
      % (total, len(c.catalogue["topics"]), len(seen), injected))
missing = sorted(set(c.schema_of) - set(seen))
if missing:
    print("note: not seen in this run: %s" % ", ".join(missing))
ok = total > 0 and not bad
print("%d passed, %d failed" % (1 if ok else 0, sum(bad.values()) + (0 if total else 1)))
sys.exit(0 if ok else 1)
