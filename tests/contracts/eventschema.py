"""eventschema - the event contracts as the tests read them: the catalogue
(as `shantang-ctl catalogue --json` prints it), the CloudEvents envelope and
every type's data schema under schemas/events/ (JSON Schema draft 2020-12,
checked with the jsonschema package of tests/contracts/requirements.txt), and
one function that says what is wrong with a message as it travels.

Shared by tests/contracts/test_event_examples.py (the golden files) and
tests/contracts/events_on_topics.py (what the integration run put on the
topics)."""
import json
import os
import subprocess
import sys

ROOT = os.environ.get("SHANTANG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
VENV_PYTHON = os.path.join(ROOT, ".cache", "venv", "bin", "python3")


def in_venv():
    """Run the calling script under the contract tools' venv (deploy/local/stack makes it)."""
    if os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(ROOT, ".cache", "venv")):
        return
    if not os.access(VENV_PYTHON, os.X_OK):
        print("FAIL: %s is missing: deploy/local/stack up (or test) installs "
              "tests/contracts/requirements.txt there" % VENV_PYTHON)
        sys.exit(1)
    os.execv(VENV_PYTHON, [VENV_PYTHON] + sys.argv)


in_venv()

import jsonschema  # noqa: E402  (after the venv is in place)
import referencing  # noqa: E402
import referencing.jsonschema  # noqa: E402

BUILD = os.environ.get("SHANTANG_BUILD_DIR") or os.path.join(ROOT, "build")
EVENTS = os.path.join(ROOT, "schemas", "events")
BASE = "file://" + EVENTS + "/"


_counts = {"passed": 0, "failed": 0}


def check(cond, what):
    """One assertion of a test script: counted, and printed with FAIL when false."""
    _counts["passed" if cond else "failed"] += 1
    if not cond:
        print("FAIL: " + what)


def done():
    """Print the summary line and exit 1 when a check failed."""
    print("%(passed)d passed, %(failed)d failed" % _counts)
    sys.exit(1 if _counts["failed"] else 0)


def catalogue():
    """The catalogue from the program that holds it: {"topics": [...]}."""
    ctl = os.path.join(BUILD, "services", "ctl", "shantang-ctl")
    out = subprocess.run([ctl, "catalogue", "--json"], capture_output=True, text=True,
                         timeout=30, check=True)
    return json.loads(out.stdout)


def _load(uri):
    """A schema file by its file:// URI under schemas/events (nothing else is read)."""
    path = os.path.realpath(uri[len("file://"):])
    if not path.startswith(os.path.realpath(EVENTS) + os.sep):
        raise referencing.exceptions.NoSuchResource(ref=uri)
    with open(path, encoding="utf-8") as f:
        return referencing.Resource.from_contents(
            json.load(f), default_specification=referencing.jsonschema.DRAFT202012)


class Contracts:
    """Validators for the envelope and every catalogued type's data."""

    def __init__(self, cat=None):
        self.catalogue = cat or catalogue()
        self.registry = referencing.Registry(retrieve=_load)
        self.topic_of, self.schema_of = {}, {}
        for t in self.catalogue["topics"]:
            for e in t["events"]:
                self.topic_of[e["type"]] = t["name"]
                self.schema_of[e["type"]] = e["schema"]
        self._validators = {}

    def validator(self, rel):
        """The validator of schemas/events/<rel> (format checks on)."""
        if rel not in self._validators:
            uri = BASE + rel
            schema = self.registry.get_or_retrieve(uri).value.contents
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            self._validators[rel] = cls(
                {"$ref": uri}, registry=self.registry,
                format_checker=cls.FORMAT_CHECKER)
        return self._validators[rel]

    def problems(self, topic, value):
        """What is wrong with one message's value on topic, as a list of lines ([] = fine)."""
        if not isinstance(value, dict):
            return ["not a JSON object"]
        out = ["envelope: %s at /%s" % (e.message, "/".join(map(str, e.absolute_path)))
               for e in self.validator("envelope.json").iter_errors(value)]
        etype = value.get("type")
        if etype not in self.schema_of:
            return out + ["type %r is not in the catalogue" % etype]
        if self.topic_of[etype] != topic:
            out.append("%s travels on %s, not %s" % (etype, self.topic_of[etype], topic))
        data = value.get("data")
        out += ["data: %s at /%s" % (e.message, "/".join(map(str, e.absolute_path)))
                for e in self.validator(self.schema_of[etype]).iter_errors(data)]
        return out


def _data(value, name):
    data = value.get("data")
    return data.get(name) if isinstance(data, dict) else None


# The key rule of each topic (the catalogue's "key" text, as code): the Kafka
# key a message must carry, from its value. deadletter.v1 keeps the key of
# the message it sets aside, which the value does not tell.
KEY_RULES = {
    "regions.v1": lambda v: v.get("subject"),
    "projects.v1": lambda v: v.get("subject"),
    "notables.v1": lambda v: v.get("subject"),
    "households.v1": lambda v: v.get("subject"),
    "income.v1": lambda v: _data(v, "household_id") or _data(v, "project_id"),
    "suggestions.v1": lambda v: v.get("subject"),
    "accounts.v1": lambda v: v.get("subject"),
    "signin.v1": lambda v: _data(v, "phone"),
    "deadletter.v1": None,
}


def key_problems(self, topic, key, value):
    """What is wrong with a message's key on topic ([] = it follows the key rule)."""
    if topic not in KEY_RULES:
        return ["topic %s has no key rule here (tests/contracts/eventschema.py)" % topic]
    rule = KEY_RULES[topic]
    if rule is None:
        return [] if key else ["no key"]
    want = rule(value)
    return [] if key == want and key else ["key %r, the key rule gives %r" % (key, want)]


def golden_key(self, value):
    """The key a golden example would travel with (its topic's rule, or the subject)."""
    rule = KEY_RULES.get(self.topic_of.get(value.get("type")))
    return rule(value) if rule else value.get("subject")


Contracts.key_problems = key_problems
Contracts.golden_key = golden_key
