-- supportd schema, version 3: what the scheduler looks up per ticket.
-- A ticket's outgoing mail (held-mail counts in notifications, `tickets
-- show`) is found by index instead of a scan of the whole outbox.
CREATE INDEX outbox_ticket ON outbox (ticket);
-- Failed and held mail are counted every few seconds for systemd's STATUS=
-- line: partial indexes keep that from scanning the outbox.
CREATE INDEX outbox_failed ON outbox (id) WHERE state = 'failed';
CREATE INDEX outbox_held ON outbox (id) WHERE state = 'held';
