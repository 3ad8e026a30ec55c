-- income 004: an entry's JSON, built for every recorded entry's answer and
-- event, planned once per session (common 006).
SELECT plan_once('entry_json(uuid)');
