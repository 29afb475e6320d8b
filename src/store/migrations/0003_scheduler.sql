-- supportd schema, version 3: what the scheduler, systemd's STATUS= line and
-- the metrics look up, by index instead of a scan.
-- A ticket's outgoing mail (held-mail counts in notifications, `tickets
-- show`).
CREATE INDEX outbox_ticket ON outbox (ticket);
-- Outgoing mail by state (queue depth, failures, held mail).
CREATE INDEX outbox_state ON outbox (state);
-- The last mail our server accepted.
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;
-- Mails that needed more than one attempt.
CREATE INDEX outbox_retried ON outbox (attempts) WHERE attempts > 1;
-- Messages by kind (ingested by kind, auto-replies by rule).
CREATE INDEX messages_kind ON messages (kind);
-- Customers who could not be reached.
CREATE INDEX tickets_unreachable ON tickets (requester) WHERE unreachable = 1;
-- The recipients a delivery report named as failed (JSON array), so a
-- follow-up that reached the requester still counts when only a copied
-- colleague's address bounced.
ALTER TABLE outbox ADD COLUMN bounced_to TEXT;
