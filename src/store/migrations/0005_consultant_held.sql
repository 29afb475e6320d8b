-- supportd schema, version 5: automatic mails to a consultant held back by
-- the hourly limit since the last one that went out; the next one says how
-- many, and the count starts again.
CREATE TABLE consultant_held (
    address  TEXT PRIMARY KEY,                 -- lower-cased
    mails    INTEGER NOT NULL
) WITHOUT ROWID;

-- The per-domain limit counts loop-like mails (beyond the second to each
-- address) in the hour: a covering index for that count.
CREATE INDEX outbox_automatic_repeats ON outbox_automatic (domain, created_at, address);

-- Held mail goes out when its hour allows (next_attempt_at): the outbox
-- worker finds it by this index.
CREATE INDEX outbox_held ON outbox (next_attempt_at) WHERE state = 'held';

-- When a mail failed for good (for `outbox retry --failed --since`).
ALTER TABLE outbox ADD COLUMN failed_at INTEGER;
