-- notifier 002: due deliveries are claimed urgent first (sign-in codes,
-- escalations), then by due time, so that a backlog of ordinary messages
-- (a burst of events applied at once by the batched consumer) does not hold
-- a sign-in code back.

CREATE INDEX deliveries_due_urgent ON deliveries (urgent DESC, next_attempt_at)
    WHERE status = 'queued';
