-- notifier 001: one row per SMS the routing table asks for, keyed by
-- (event id, recipient, template) so that a redelivered event or a second
-- matching route never makes a second message. The sender claims due rows
-- (status queued, next_attempt_at passed) with FOR UPDATE SKIP LOCKED,
-- marks them 'sending' with a lease and commits before calling a gateway;
-- a row whose lease ran out in 'sending' (a crash, a kill) is re-queued
-- with needs_check set, and the sender then asks the gateway whether it
-- accepted the message (Alibaba QuerySendDetails by OutId, Tencent
-- PullSmsSendStatusByPhoneNumber by SessionContext; the webhook is
-- idempotent by webhook-id) before it sends again.
--
-- Statuses: queued -> sending -> sent -> delivered (receipt), or failed
-- (permanent, dead-lettered), or uncertain (the gateway could not say; a
-- person checks). Phones are stored as 11-digit mainland numbers.

CREATE TABLE deliveries (
    id              uuid PRIMARY KEY,          -- UUIDv7: id order is creation order
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    route           text NOT NULL,             -- the routing table entry that made it
    recipient       text NOT NULL,             -- the phone, 11 digits
    template        text NOT NULL,             -- the template code
    params          jsonb NOT NULL,            -- {name: value}, in the template's order
    param_order     text[] NOT NULL,           -- the template's parameter names
    urgent          boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed',
                                      'uncertain')),
    provider        text,                      -- the provider of the last attempt
    provider_index  integer NOT NULL DEFAULT 0, -- position in the failover order
    attempts        integer NOT NULL DEFAULT 0, -- gateway calls made (sends and checks)
    needs_check     boolean NOT NULL DEFAULT false, -- ask the gateway before sending again
    out_id          text NOT NULL UNIQUE,      -- OutId / SessionContext / webhook-id
    gateway_id      text,                      -- BizId / SerialNo / the webhook's id
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,               -- while sending: when the claim lapses
    claimed_at      timestamptz,               -- the last send attempt (per-phone limits)
    sent_at         timestamptz,
    delivered_at    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, recipient, template)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'queued';
CREATE INDEX deliveries_sending ON deliveries (lease_until) WHERE status = 'sending';
CREATE INDEX deliveries_recipient ON deliveries (recipient, claimed_at);
CREATE INDEX deliveries_gateway ON deliveries (gateway_id) WHERE gateway_id IS NOT NULL;

-- delivery_json: a delivery as the admin API shows it.
CREATE FUNCTION delivery_json(did uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', d.id, 'event_id', d.event_id, 'event_type', d.event_type, 'route', d.route,
        'phone', d.recipient, 'template', d.template, 'params', d.params, 'urgent', d.urgent,
        'status', d.status, 'provider', d.provider, 'attempts', d.attempts,
        'out_id', d.out_id, 'gateway_id', d.gateway_id, 'next_attempt_at', d.next_attempt_at,
        'sent_at', d.sent_at, 'delivered_at', d.delivered_at, 'last_error', d.last_error,
        'created_at', d.created_at, 'updated_at', d.updated_at)
    FROM deliveries d WHERE d.id = did
$$;
