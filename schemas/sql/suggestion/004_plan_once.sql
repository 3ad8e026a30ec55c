-- suggestion 004: a proposal's JSON, its parts and its event data, built for
-- every submission and transition, planned once per session (common 006).
SELECT plan_once('parts_json(uuid, boolean)');
SELECT plan_once('suggestion_json(suggestions)');
SELECT plan_once('suggestion_public_json(suggestions)');
SELECT plan_once('event_data(uuid)');
