"""The common consumer loop on the real broker and the real database: a
redelivered event is applied once, unprocessable messages go to the
dead-letter topic with their reason and do not block the partition, and
offsets are committed only after the effect (a restarted consumer in the
same group applies nothing again)."""
import json
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from stacklib import ENV, ROOT, Checks, psql, unique, wait_for_event  # noqa: E402

PROBE = os.path.join(ENV["BUILD_DIR"], "tests", "probe_consumer")
TOPIC = "probe.v1"


def produce(key, value):
    subprocess.run([ENV["CTL"], "produce", "--brokers", ENV["KAFKA_BROKERS"], "--topic", TOPIC,
                    "--key", key], input=value, text=True, check=True, timeout=60)


def envelope(etype, subject):
    return json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/shantang/test",
                       "type": etype, "subject": subject,
                       "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "datacontenttype": "application/json", "data": {"n": 1}})


def probe(schema, group, event, max_seconds):
    out = subprocess.run([PROBE, "--db", ENV["PG_SUPERUSER_URL"], "--schema", schema,
                          "--migrations", os.path.join(ROOT, "schemas", "sql", "common"),
                          "--brokers", ENV["KAFKA_BROKERS"], "--topic", TOPIC, "--group", group,
                          "--event", event, "--linger-ms", "3000",
                          "--max-seconds", str(max_seconds)],
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
    schema, group = "probe_" + uuid.uuid4().hex[:8], unique("probe")
    rc, got = probe(schema, group, good_id, 90)
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
    # the same group again: the offsets were committed after the effects
    rc2, again = probe(schema, group, good_id, 12)
    c.eq(again["applied"], 0, "a restarted consumer applies nothing again")
    c.eq(psql("SELECT n FROM %s.probe_applied WHERE event_id = '%s'" % (schema, good_id)),
         [["1"]], "still applied once")
    psql("DROP SCHEMA %s CASCADE" % schema)


if __name__ == "__main__":
    Checks().run([test_once_and_deadletter])
