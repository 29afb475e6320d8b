-- supportd schema, version 3: what the scheduler looks up per ticket.
-- A ticket's outgoing mail (held-mail counts in notifications, `tickets
-- show`) is found by index instead of a scan of the whole outbox.
CREATE INDEX outbox_ticket ON outbox (ticket);
