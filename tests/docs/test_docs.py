"""The documentation cannot drift from the code: every service's
configuration table (--print-config) matches its sample environment file
under deploy/env and is listed in the README, and every route of a service's
table is in its OpenAPI document, and the other way round. The event
catalogue (shantang-ctl catalogue --json, and each service's --print-events)
matches deploy/kafka/topics, the README's table of topics and
schemas/events/asyncapi.yaml: its channels, messages and operations.
Runs under the contract tools' venv (PyYAML), see tests/contracts."""
import glob
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contracts"))
import eventschema  # noqa: E402  (re-executes under the venv)
from eventschema import check  # noqa: E402
import yaml  # noqa: E402

ROOT = os.environ.get("SHANTANG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SHANTANG_BUILD_DIR") or os.path.join(ROOT, "build")




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


# --- the event catalogue
cat = eventschema.catalogue()
ctl = os.path.join(BUILD, "services", "ctl", "shantang-ctl")
listed = subprocess.run([ctl, "catalogue", "--topics"], capture_output=True, text=True,
                        timeout=30).stdout.split("\n")
sample = [" ".join(line.split()) for line in
          open(os.path.join(ROOT, "deploy", "kafka", "topics"), encoding="utf-8")
          if line.strip() and not line.lstrip().startswith("#")]
check(sample == [x for x in listed if x], "deploy/kafka/topics is `shantang-ctl catalogue "
      "--topics`: file %s, catalogue %s" % (sample, [x for x in listed if x]))

rows = {}
for m in re.finditer(r"^\| `([a-z]+\.v[0-9]+)` \| ([0-9]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$",
                     readme, re.M):
    rows[m.group(1)] = (int(m.group(2)), m.group(3).strip(), m.group(4).strip(),
                        re.findall(r"`([^`]+)`", m.group(5)))
topic_types = {t["name"]: [e["type"] for e in t["events"]] for t in cat["topics"]}
check(sorted(rows) == sorted(topic_types),
      "the README's table of topics lists %s, the catalogue %s" % (sorted(rows), sorted(topic_types)))
for t in cat["topics"]:
    if t["name"] not in rows:
        continue
    parts, producer, key, types = rows[t["name"]]
    check(parts == t["partitions"], "README: %s has %d partitions" % (t["name"], t["partitions"]))
    check(producer == t["producer"] or (t["producer"] == "*" and producer.startswith("every")),
          "README: %s is produced by %s" % (t["name"], t["producer"]))
    check(key == t["key"], "README: %s's key is %r, not %r" % (t["name"], t["key"], key))
    check(types == topic_types[t["name"]], "README: %s carries %s" % (t["name"], topic_types[t["name"]]))

doc = yaml.safe_load(open(os.path.join(ROOT, "schemas", "events", "asyncapi.yaml"), encoding="utf-8"))
check(doc.get("asyncapi") == "3.0.0", "asyncapi.yaml is AsyncAPI 3.0.0")
channels = doc.get("channels", {})
messages = doc.get("components", {}).get("messages", {})
check(sorted(channels) == sorted(topic_types),
      "AsyncAPI channels %s, catalogue topics %s" % (sorted(channels), sorted(topic_types)))
all_types = [e for es in topic_types.values() for e in es]
check(sorted(messages) == sorted(all_types), "AsyncAPI messages %s, catalogue types %s"
      % (sorted(set(messages) ^ set(all_types)), "(the difference)"))
schema_of = {e["type"]: e["schema"] for t in cat["topics"] for e in t["events"]}
for t in cat["topics"]:
    ch = channels.get(t["name"], {})
    kb = ch.get("bindings", {}).get("kafka", {})
    check(ch.get("address") == t["name"], "channel %s has the topic as its address" % t["name"])
    check(kb.get("partitions") == t["partitions"], "channel %s: %s partitions"
          % (t["name"], t["partitions"]))
    want_conf = dict(kv.split("=") for kv in t["config"].split(",")) if t["config"] else {}
    got_conf = {k: str(v) for k, v in kb.get("topicConfiguration", {}).items()}
    check(got_conf == want_conf, "channel %s: topic configuration %s" % (t["name"], want_conf))
    check(list(ch.get("messages", {})) == topic_types[t["name"]],
          "channel %s carries %s" % (t["name"], topic_types[t["name"]]))
    check(t["key"] in ch.get("description", ""), "channel %s says its key rule" % t["name"])
    for e in t["events"]:
        msg = messages.get(e["type"], {})
        text = json.dumps(msg)
        check("./" + e["schema"] in text, "message %s refers to %s" % (e["type"], e["schema"]))
        check(msg.get("bindings", {}).get("kafka", {}).get("key", {}).get("description")
              == t["key"], "message %s: its key binding says the key rule" % e["type"])
        check("./examples/%s.json" % e["type"] in text,
              "message %s has its golden example" % e["type"])

# operations: exactly one send per (service, produced topic), one receive per
# (consumer group, consumed topic), each with the messages the code names
want_ops = {}
for svc in services:
    binary = os.path.join(BUILD, "services", svc, "shantang-" + svc)
    out = subprocess.run([binary, "--print-events"], capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "%s --print-events exits 0 (%s)" % (svc, out.stderr.strip()))
    if out.returncode != 0:
        continue
    ev = json.loads(out.stdout)
    for topic in ev["produces"]:
        want_ops["%s.send.%s" % (svc, topic)] = ("send", topic, topic_types.get(topic))
        check(topic in topic_types, "%s produces %s, a catalogued topic" % (svc, topic))
        producer = next((t["producer"] for t in cat["topics"] if t["name"] == topic), None)
        check(producer in (svc, "*"), "the catalogue names %s as the producer of %s, not %s"
              % (producer, topic, svc))
    for c in ev["consumers"]:
        by_topic = {}
        for etype in c["events"]:
            topic = next((n for n, es in topic_types.items() if etype in es), None)
            by_topic.setdefault(topic, []).append(etype)
        for topic, es in by_topic.items():
            want_ops["%s.receive.%s" % (c["group"], topic)] = ("receive", topic, es)
for t in cat["topics"]:
    check(t["producer"] == "*" or "%s.send.%s" % (t["producer"], t["name"]) in want_ops,
          "%s's producer %s declares it in its service definition" % (t["name"], t["producer"]))
ops = doc.get("operations", {})
check(sorted(ops) == sorted(want_ops), "AsyncAPI operations: missing %s, extra %s"
      % (sorted(set(want_ops) - set(ops)), sorted(set(ops) - set(want_ops))))
for name, (action, topic, es) in sorted(want_ops.items()):
    op = ops.get(name, {})
    got = [m.get("$ref", "").rsplit("/", 1)[-1] for m in op.get("messages", [])]
    check(op.get("action") == action and op.get("channel", {}).get("$ref") == "#/channels/" + topic,
          "operation %s: %s on channel %s" % (name, action, topic))
    check(got == es, "operation %s: messages %s, the code says %s" % (name, got, es))

eventschema.done()
