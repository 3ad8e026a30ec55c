"""Integration test of the notifier's batched consumer step against the running
stack: events that wait on households.v1 while the notifier is stopped reach
it in one poll, and their deliveries are inserted by one statement
(notifier_apply_batch). A batch holding a payload refused for good is applied
again one event at a time, so that the bad one alone is dead-lettered and
every other one still gets exactly one delivery and one SMS; an event
delivered twice in the same batch makes one delivery.

The helpers (events produced with shantang-ctl, the test gateway's log, the
stack's service-stop/-start) are those of test_notifier.py."""
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_notifier as tn  # noqa: E402
from stacklib import Checks, psql, wait  # noqa: E402


def test_poisoned_batch_applies_the_others(c):
    tn.reset_gateway()
    phones = [tn.phone() for _ in range(6)]
    tn.stack("service-stop", "notifier")
    try:
        eids = [tn.produce("household.registered", tn.registered(ph)) for ph in phones[:3]]
        bad = tn.produce("household.registered", {"id": str(uuid.uuid4()), "head_name": "无电话"})
        eids += [tn.produce("household.registered", tn.registered(ph)) for ph in phones[3:]]
        # the first event again, with the same id: redelivered within the same batch
        tn.produce("household.registered", tn.registered(phones[0]), eid=eids[0])
    finally:
        tn.stack("service-start", "notifier")
    inlist = "recipient IN (%s)" % ",".join("'%s'" % p for p in phones)
    ok = wait(lambda: psql("SELECT count(*) FROM notifier.deliveries WHERE %s AND status IN "
                           "('sent', 'delivered')" % inlist)[0][0] == "6", 60)
    c.check(ok, "the six good events of the batch sent: %r" % psql(
        "SELECT recipient, status FROM notifier.deliveries WHERE %s" % inlist))
    c.eq(psql("SELECT count(*) FROM notifier.deliveries WHERE %s" % inlist), [["6"]],
         "one delivery per event, the redelivered one included")
    dl = tn.tail_deadletters(lambda v: bad in v.get("data", {}).get("value", ""))
    c.eq(len(dl), 1, "the payload without a phone dead-lettered, alone")
    if dl:
        c.check("no phone" in dl[0]["data"]["reason"], "reason: %r" % dl[0]["data"]["reason"])
    for eid in eids:
        c.eq(psql("SELECT count(*) FROM notifier.outbox WHERE topic = 'deadletter.v1' AND "
                  "payload->'data'->>'value' LIKE '%%%s%%'" % eid), [["0"]],
             "good event %s not dead-lettered" % eid)
    c.check(wait(lambda: all(len(tn.messages(ph)) >= 1 for ph in phones), 30),
            "the gateway received every message")
    c.eq(sorted({len(tn.messages(ph)) for ph in phones}), [1], "each phone exactly one SMS")


if __name__ == "__main__":
    if not tn.GW or not tn._notifier_ready():
        print("no notifier or test gateway on this stack: not testing it")
        sys.exit(1)
    Checks().run([test_poisoned_batch_applies_the_others])
