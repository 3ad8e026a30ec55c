"""The batched consumer loop and the relay woken by the commit, on the real
broker and the real database.

- A poisoned message inside a batch (a handler that refuses it, and a
  message that is not JSON) is dead-lettered with its reason while every
  other event of the batch is applied, once each and in the order of the
  partition, in fewer transactions than there are messages.
- A consumer killed (SIGKILL) between a batch's commit and its offsets:
  restarted, it gets that batch again and applies none of it twice, and
  applies everything else: nothing applied twice, nothing lost. The kill
  comes from the test-only failpoint SHANTANG_FAILPOINT_CONSUMER_CRASH.
- An outbox row committed by a process without a relay (psql here) wakes the
  service's relay through NOTIFY: it is published well within a second,
  where the fallback poll (OUTBOX_POLL_MS) would take up to five.
- A consumer started on a backlog of 60,000 household-sized events (an
  import's) on six partitions does not hold a large part of it at once: its
  heap stays under 16 MiB (about 10 MiB; librdkafka's fetch limits count
  lz4-compressed bytes, and with 4 MiB fetches it was 29 MiB here, and the
  income service peaked at 68-79 MiB).

The events are put on their topics through registry's outbox (rows inserted
by psql, relayed by the running registry), and by shantang-ctl for what the
outbox cannot hold (a message that is not JSON, a second delivery of an id).
"""
import json
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from stacklib import ENV, ROOT, Checks, psql, unique, wait_for_event, wait_sql  # noqa: E402

PROBE = os.path.join(ENV["BUILD_DIR"], "tests", "probe_consumer")


def new_topic(partitions=1):
    topic = "batch-%s.v1" % uuid.uuid4().hex[:8]
    subprocess.run([ENV["CTL"], "topics", "--brokers", ENV["KAFKA_BROKERS"],
                    "%s:%d" % (topic, partitions)], check=True, timeout=60)
    return topic


def envelope(etype, subject):
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/shantang/test",
            "type": etype, "subject": subject,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "datacontenttype": "application/json", "data": {"n": 1}}


def through_outbox(topic, events):
    """Insert the events into registry's outbox in one statement (ids in list
    order) and wait until the relay has published them all."""
    rows = ",".join("('%s'::uuid, '%s', '%s', $j$%s$j$::jsonb)"
                    % (e["id"], topic, e["subject"], json.dumps(e)) for e in events)
    psql("INSERT INTO registry.outbox (event_id, topic, key, payload) VALUES " + rows)
    ids = ",".join("'%s'" % e["id"] for e in events)
    assert wait_sql("SELECT count(*) FROM registry.outbox WHERE event_id IN (%s) AND "
                    "published_at IS NOT NULL" % ids, [[str(len(events))]], 60), "published"


def produce(topic, key, value):
    subprocess.run([ENV["CTL"], "produce", "--brokers", ENV["KAFKA_BROKERS"], "--topic", topic,
                    "--key", key], input=value, text=True, check=True, timeout=60)


def probe(topic, schema, group, event, batch_max=None, env=None, max_seconds=90, applied=None):
    """Run probe_consumer until it saw event (or applied that many); (exit code, its
    counters or None when it printed none)."""
    cmd = [PROBE, "--db", ENV["PG_SUPERUSER_URL"], "--schema", schema,
           "--migrations", os.path.join(ROOT, "schemas", "sql", "common"),
           "--brokers", ENV["KAFKA_BROKERS"], "--topic", topic, "--group", group,
           "--linger-ms", "2000", "--max-seconds", str(max_seconds)]
    cmd += ["--applied", str(applied)] if applied else ["--event", event]
    if batch_max:
        cmd += ["--batch-max", str(batch_max)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=max_seconds + 60,
                         env=dict(os.environ, **(env or {})))
    sys.stderr.write(out.stderr[-1500:])
    lines = out.stdout.strip().splitlines()
    return out.returncode, json.loads(lines[-1]) if lines else None


def test_poisoned_message_in_a_batch(c):
    topic, key = new_topic(), unique("agg")
    first = [envelope("probe.tested", key) for _ in range(10)]
    poison = envelope("probe.poison", key)
    second = [envelope("probe.tested", key) for _ in range(10)]
    last = envelope("probe.tested", key)
    through_outbox(topic, first + [poison])
    produce(topic, key, "this is not json either")
    produce(topic, key, json.dumps(first[4]))  # a second delivery of an applied id
    through_outbox(topic, second + [last])
    good = first + second + [last]
    schema, group = "probe_" + uuid.uuid4().hex[:8], unique("probe")
    rc, got = probe(topic, schema, group, last["id"])
    c.eq(rc, 0, "probe saw the last event")
    rows = psql("SELECT event_id, n FROM %s.probe_applied ORDER BY seq" % schema)
    c.eq([r[0] for r in rows], [e["id"] for e in good],
         "every good event of the batch applied, in the partition's order")
    c.eq(set(r[1] for r in rows), {"1"}, "each exactly once")
    c.eq((got["applied"], got["deadlettered"], got["duplicates"]), (21, 2, 1),
         "21 applied, the poisoned and the non-JSON message dead-lettered, the "
         "redelivery skipped (%r)" % got)
    c.check(got["batches"] < 24 / 2, "24 messages in %d transactions" % got["batches"])
    c.eq(psql("SELECT count(*) FROM %s.processed_events" % schema), [["23"]],
         "every id recorded once, the dead-lettered ones included")
    dead = wait_for_event("deadletter.v1", lambda v: v.get("data", {}).get("topic") == topic,
                          seconds=60)
    reasons = sorted(m["value"]["data"]["reason"] for m in dead)
    c.eq(len(dead), 2, "two dead letters: %r" % reasons)
    c.check(any("refused on purpose" in r for r in reasons) and "not JSON" in reasons,
            "each with its reason: %r" % reasons)
    c.check(any(m["value"]["subject"] == key and poison["id"] in m["value"]["data"]["value"]
                for m in dead), "the poisoned event's dead letter carries it")
    psql("DROP SCHEMA %s CASCADE" % schema)


def test_crash_between_commit_and_offsets(c):
    topic = new_topic()
    events = [envelope("probe.tested", unique("agg")) for _ in range(40)]
    through_outbox(topic, events)
    schema, group = "probe_" + uuid.uuid4().hex[:8], unique("probe")
    rc, _ = probe(topic, schema, group, events[-1]["id"], batch_max=10,
                  env={"SHANTANG_FAILPOINT_CONSUMER_CRASH": group}, max_seconds=60)
    c.eq(rc, -9, "the failpoint killed the consumer (SIGKILL) after its first batch")
    done = psql("SELECT count(*), coalesce(max(n), 0) FROM %s.probe_applied" % schema)[0]
    k = int(done[0])
    c.check(1 <= k <= 10, "the first batch was committed before the kill (%d events)" % k)
    rc2, again = probe(topic, schema, group, events[-1]["id"], batch_max=10)
    c.eq(rc2, 0, "the restarted consumer got to the last event")
    c.eq((again["applied"], again["duplicates"]), (40 - k, k),
         "the batch whose offsets were never committed came again and was absorbed: %r" % again)
    c.eq(psql("SELECT count(*), min(n), max(n) FROM %s.probe_applied" % schema),
         [["40", "1", "1"]], "all 40 applied, none twice")
    psql("DROP SCHEMA %s CASCADE" % schema)


def test_backlog_not_held_at_once(c):
    topic, n = new_topic(6), 60000
    # household.registered-like: about 700 bytes of JSON that lz4 shrinks about 6 times
    psql("WITH e AS (SELECT i, gen_random_uuid() AS id, gen_random_uuid()::text AS k FROM "
         "generate_series(1, %d) AS i) "
         "INSERT INTO registry.outbox (event_id, topic, key, payload) SELECT e.id, '%s', e.k, "
         "jsonb_build_object('specversion', '1.0', 'id', e.id, 'source', '/shantang/test', "
         "'type', 'probe.tested', 'subject', e.k, 'time', to_char(now() AT TIME ZONE 'UTC', "
         "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'datacontenttype', 'application/json', 'data', "
         "jsonb_build_object('id', e.k, 'head_name', 'household ' || i, 'phone', "
         "'137' || lpad(i::text, 8, '0'), 'village_code', '330482105201', 'members_count', 3, "
         "'low_income', jsonb_build_object('certified', i %% 10 = 0, 'year', 2024, "
         "'baseline_per_capita_fen', 1200000), 'id_masked', '330482********' || "
         "lpad((i %% 10000)::text, 4, '0'), 'created_by', 'backlog test', 'version', 1, "
         "'note', md5(i::text) || md5(e.k))) FROM e ORDER BY i" % (n, topic))
    assert wait_sql("SELECT count(*) FROM registry.outbox WHERE topic = '%s' AND published_at "
                    "IS NULL" % topic, [["0"]], 300), "published"
    schema, group = "probe_" + uuid.uuid4().hex[:8], unique("probe")
    rc, got = probe(topic, schema, group, None, max_seconds=300, applied=n)
    c.eq(rc, 0, "probe applied the whole backlog")
    c.eq(got["applied"], n, "every event of the backlog applied")
    c.check(got["heap_peak_kb"] < 16 * 1024,
            "heap at most %.1f MiB while applying the backlog (under 16 MiB)"
            % (got["heap_peak_kb"] / 1024))
    psql("DROP SCHEMA %s CASCADE" % schema)


def test_relay_woken_by_notify(c):
    topic = new_topic()
    ids = []
    for i in range(5):
        e = envelope("probe.tested", unique("agg"))
        ids.append(e["id"])
        psql("INSERT INTO registry.outbox (event_id, topic, key, payload) VALUES "
             "('%s', '%s', '%s', $j$%s$j$::jsonb)" % (e["id"], topic, e["subject"], json.dumps(e)))
        time.sleep(0.4)
    idlist = ",".join("'%s'" % i for i in ids)
    c.check(wait_sql("SELECT count(*) FROM registry.outbox WHERE event_id IN (%s) AND "
                     "published_at IS NOT NULL" % idlist, [["5"]], 30), "all five published")
    lag = psql("SELECT round(extract(epoch FROM max(published_at - created_at)) * 1000) "
               "FROM registry.outbox WHERE event_id IN (%s)" % idlist)[0][0]
    c.check(float(lag) < 1000, "each row published within a second of its commit "
            "(the slowest after %s ms; the fallback poll is 5 s)" % lag)


if __name__ == "__main__":
    Checks().run([test_poisoned_message_in_a_batch, test_crash_between_commit_and_offsets,
                  test_backlog_not_held_at_once, test_relay_woken_by_notify])
