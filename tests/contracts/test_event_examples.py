"""The event schemas and the golden examples agree with the catalogue
(common/core/catalogue.c, read through `shantang-ctl catalogue --json`):
every catalogued type has its data schema (a valid JSON Schema draft
2020-12) and its golden example schemas/events/examples/<type>.json, the
full CloudEvents envelope as it travels, which validates against the
envelope and the type's data schema; no schema or example lies about a
type the catalogue does not know."""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eventschema  # noqa: E402  (re-executes under the venv)
from eventschema import check  # noqa: E402





c = eventschema.Contracts()
ev = eventschema.EVENTS
types = set(c.schema_of)
check(len(c.catalogue["topics"]) >= 9 and len(types) >= 32, "the catalogue holds every topic")
for rel in sorted(set(c.schema_of.values())) + ["envelope.json"]:
    try:
        c.validator(rel)
        check(True, rel)
    except Exception as e:  # a missing file or an invalid schema
        check(False, "schemas/events/%s: %s" % (rel, e))
for f in sorted(glob.glob(os.path.join(ev, "shared", "*.json"))):
    try:
        c.validator(os.path.relpath(f, ev))
        check(True, f)
    except Exception as e:
        check(False, "%s: %s" % (f, e))
on_disk = {os.path.basename(f)[:-5] for f in glob.glob(os.path.join(ev, "data", "*.json"))}
check(on_disk == {c.schema_of[t][len("data/"):-5] for t in types},
      "schemas/events/data holds exactly the catalogued types (extra %s, missing %s)"
      % (sorted(on_disk - types), sorted(types - on_disk)))
examples = {os.path.basename(f)[:-5] for f in glob.glob(os.path.join(ev, "examples", "*.json"))}
check(examples == types, "schemas/events/examples holds one golden file per type (extra %s, "
      "missing %s)" % (sorted(examples - types), sorted(types - examples)))
for t in sorted(types & examples):
    with open(os.path.join(ev, "examples", t + ".json"), encoding="utf-8") as f:
        value = json.load(f)
    check(value.get("type") == t, "examples/%s.json is of type %s" % (t, value.get("type")))
    problems = c.problems(c.topic_of[t], value)
    check(not problems, "examples/%s.json: %s" % (t, "; ".join(problems)))
    # the schema is not a formality: the example without its data is refused
    empty = dict(value, data={})
    check(c.problems(c.topic_of[t], empty), "%s: its schema refuses empty data" % t)
    check(not c.key_problems(c.topic_of[t], c.golden_key(value), value),
          "%s: the key rule gives a key" % t)

eventschema.done()
