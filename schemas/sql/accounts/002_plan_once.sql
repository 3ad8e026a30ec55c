-- accounts 002: an account's JSON, the answer of every change to an account,
-- planned once per session (common 006).
SELECT plan_once('account_json(uuid)');
