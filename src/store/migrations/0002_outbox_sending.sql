-- supportd schema, version 2: what the sender records per outgoing mail.
-- retry_from: start of the give-up window (NULL: created_at); an operator's
--             `outbox retry` restarts it.
-- answer:     the SMTP server's answer when it accepted the mail.
ALTER TABLE outbox ADD COLUMN retry_from INTEGER;
ALTER TABLE outbox ADD COLUMN answer TEXT;
