-- registry 003: the project's JSON, built for every registration's answer
-- and event, planned once per session (common 006).
SELECT plan_once('project_json(uuid)');
