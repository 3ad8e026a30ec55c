-- enrollment 004: what every registration and enrollment builds, its JSON,
-- its event data and the village check, planned once per session (common 006).
SELECT plan_once('household_json(uuid)');
SELECT plan_once('household_event_data(jsonb)');
SELECT plan_once('household_unknown_village(text)');
SELECT plan_once('enrollment_json(uuid)');
