-- common 003: a committed outbox row wakes the relay at once. Every insert
-- into outbox announces itself with NOTIFY on the channel "<schema>.outbox",
-- which the relays of the service LISTEN to; the notification is delivered
-- when (and only if) the transaction commits.
--
-- A process that runs a relay wakes it itself after its commits
-- (outbox_relay_wake) and marks its connections with
-- shantang.outbox_wake = 'local': their inserts skip the NOTIFY. That
-- matters for throughput: PostgreSQL serialises the commits of every
-- transaction that has notified (a database-wide lock held until the commit
-- record is flushed), which would undo group commit. The NOTIFY is for the
-- writers without a relay: one-off commands, loaders, psql.

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('shantang.outbox_wake', true), '') <> 'local' THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '.outbox', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
