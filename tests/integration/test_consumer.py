"""The common consumer loop on the real broker and the real database: a
redelivered event is applied once, unprocessable messages go to the
dead-letter topic with their reason and do not block the partition, and
offsets are committed only after the effect: a consumer stopped while an
event's effect keeps failing leaves that event uncommitted, and the same
group restarted gets exactly that event and nothing it had finished (no
duplicate, no second dead letter). And the services' own consumers
(enrollment, income, suggestion on projects.v1) dead-letter what they cannot
apply, each under its group, with its reason."""
import json
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from stacklib import ENV, ROOT, Checks, psql, unique, wait_for_event  # noqa: E402

PROBE = os.path.join(ENV["BUILD_DIR"], "tests", "probe_consumer")
TOPIC = "probe-%s.v1" % uuid.uuid4().hex[:8]  # its own: a re-run sees only its messages


def produce(key, value, topic=TOPIC):
    subprocess.run([ENV["CTL"], "produce", "--brokers", ENV["KAFKA_BROKERS"], "--topic", topic,
                    "--key", key], input=value, text=True, check=True, timeout=60)


def envelope(etype, subject):
    return json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/shantang/test",
                       "type": etype, "subject": subject,
                       "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "datacontenttype": "application/json", "data": {"n": 1}})


def probe(schema, group, event, max_seconds, retry_type=None):
    out = subprocess.run([PROBE, "--db", ENV["PG_SUPERUSER_URL"], "--schema", schema,
                          "--migrations", os.path.join(ROOT, "schemas", "sql", "common"),
                          "--brokers", ENV["KAFKA_BROKERS"], "--topic", TOPIC, "--group", group,
                          "--event", event, "--linger-ms", "3000",
                          "--max-seconds", str(max_seconds)]
                         + (["--retry-type", retry_type] if retry_type else []),
                         capture_output=True, text=True, timeout=max_seconds + 60)
    sys.stderr.write(out.stderr[-2000:])
    return out.returncode, json.loads(out.stdout.strip().splitlines()[-1])


def test_once_and_deadletter(c):
    subprocess.run([ENV["CTL"], "topics", "--brokers", ENV["KAFKA_BROKERS"], TOPIC + ":1"],
                   check=True, timeout=60)
    key = unique("agg")
    good = envelope("probe.tested", key)
    good_id = json.loads(good)["id"]
    poison = envelope("probe.poison", key)
    produce(key, poison)
    produce(key, "this is not json")
    produce(key, good)
    produce(key, good)  # the same event delivered again
    # last: an event whose effect fails transiently while the first consumer runs
    held = envelope("probe.held", key)
    held_id = json.loads(held)["id"]
    produce(key, held)
    schema, group = "probe_" + uuid.uuid4().hex[:8], unique("probe")
    rc, got = probe(schema, group, good_id, 90, retry_type="probe.held")
    c.eq(rc, 0, "probe saw the event")
    c.eq(psql("SELECT n FROM %s.probe_applied WHERE event_id = '%s'" % (schema, good_id)),
         [["1"]], "the event was applied exactly once")
    c.check(got["duplicates"] >= 1, "the second delivery was recognised as a duplicate (%r)" % got)
    c.eq(got["deadlettered"], 2, "poison and non-JSON went to the dead-letter topic")
    c.eq(psql("SELECT count(*) FROM %s.processed_events WHERE event_id = '%s'"
              % (schema, good_id))[0][0], "1", "event id recorded once")
    dead = wait_for_event("deadletter.v1", lambda v: v.get("data", {}).get("topic") == TOPIC and
                          v.get("subject") in (key, json.loads(poison)["id"]) or
                          (v.get("data", {}).get("value") == "this is not json"), seconds=60)
    reasons = [m["value"]["data"].get("reason", "") for m in dead]
    c.check(any("refused on purpose" in r for r in reasons),
            "dead letter carries the handler's reason (%r)" % reasons)
    c.check(any(m["value"]["data"].get("value") == "this is not json" for m in dead),
            "dead letter carries the original message")
    c.eq(psql("SELECT count(*) FROM %s.probe_applied WHERE event_id = '%s'"
              % (schema, held_id))[0][0], "0", "the held event was not applied by the first run")
    # The same group again. Committed after each effect: the restart resumes at
    # the held event (never finished, so never committed) and gets nothing else.
    # Committed before the effect, the held event would be lost (not seen);
    # not committed at all, everything would come again (duplicates, dead letters).
    rc2, again = probe(schema, group, held_id, 90)
    c.eq(rc2, 0, "the restarted consumer got the event whose effect had not finished")
    c.eq((again["applied"], again["duplicates"], again["deadlettered"]), (1, 0, 0),
         "and only that one: nothing finished is delivered again (%r)" % again)
    c.eq(psql("SELECT n FROM %s.probe_applied WHERE event_id = '%s'" % (schema, good_id)),
         [["1"]], "still applied once")
    c.eq(psql("SELECT n FROM %s.probe_applied WHERE event_id = '%s'" % (schema, held_id)),
         [["1"]], "the held event applied once, by the restarted consumer")
    psql("DROP SCHEMA %s CASCADE" % schema)


def test_services_dead_letter(c):
    """A project event without its fields and a message that is not JSON, on
    projects.v1: every service consuming it dead-letters both."""
    key = unique("project")
    bad = envelope("project.updated", key)
    bad_id = json.loads(bad)["id"]
    garbage = "not a project %s" % uuid.uuid4()
    produce(key, bad, topic="projects.v1")
    produce(key, garbage, topic="projects.v1")
    groups = ("enrollment", "income", "suggestion")

    def mine(v):
        d = v.get("data", {})
        return d.get("topic") == "projects.v1" and (d.get("value") == garbage
                                                     or bad_id in d.get("value", ""))

    deadline = time.time() + 60
    while True:
        found = [m["value"] for m in wait_for_event("deadletter.v1", mine, seconds=5)]
        by = {(v["data"]["group"], v["data"]["value"] == garbage): v["data"]["reason"]
              for v in found}
        if len(by) >= 2 * len(groups) or time.time() > deadline:
            break
        time.sleep(0.5)
    for g in groups:
        c.check("project event without" in by.get((g, False), ""),
                "%s dead-lettered the project event without its fields: %r"
                % (g, by.get((g, False))))
        c.eq(by.get((g, True)), "not JSON", "%s dead-lettered the message that is not JSON" % g)
    c.eq(len(found), 2 * len(groups), "one dead letter each: %r"
         % [(v["data"]["group"], v["data"]["reason"]) for v in found])


if __name__ == "__main__":
    Checks().run([test_once_and_deadletter, test_services_dead_letter])
