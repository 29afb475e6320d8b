-- supportd schema, version 6: a file that goes along with an outgoing mail
-- (the monthly SLA report's HTML page), apart from the outbox rows so that
-- listing mail never reads it. Purged with the mail's body.
CREATE TABLE outbox_files (
    outbox        INTEGER PRIMARY KEY REFERENCES outbox (id),
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    data          BLOB NOT NULL
);

-- Once-only work of the scheduler that belongs to no ticket (the morning
-- digest of a day, the monthly reports of a month) is remembered in meta.
