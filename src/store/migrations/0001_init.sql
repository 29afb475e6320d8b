-- supportd schema, version 1: every table the daemon uses.
-- Instants are unix seconds (UTC). Enumerations are stable lower-case codes.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE tickets (
    id              INTEGER PRIMARY KEY,           -- the N of SS-N, never reused
    requester       TEXT NOT NULL,
    requester_name  TEXT,
    subject         TEXT NOT NULL,
    severity        INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 5),
    state           TEXT NOT NULL CHECK (state IN ('new', 'open', 'waiting', 'resolved', 'closed')),
    language        TEXT NOT NULL CHECK (language IN ('pl', 'en')),
    received_at     INTEGER NOT NULL,
    deadline_at     INTEGER NOT NULL,
    accepted_at     INTEGER,
    owner           TEXT,
    fields_found    TEXT NOT NULL DEFAULT '[]',    -- JSON array of report fields
    fields_missing  TEXT NOT NULL DEFAULT '[]',
    unreachable     INTEGER NOT NULL DEFAULT 0,
    spam            INTEGER NOT NULL DEFAULT 0,
    breached        INTEGER NOT NULL DEFAULT 0,
    linked_ticket   INTEGER REFERENCES tickets (id),
    silence_since   INTEGER,                       -- start of the customer-silence clock
    followups_sent  INTEGER NOT NULL DEFAULT 0,
    closed_at       INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX tickets_state ON tickets (state);

CREATE TABLE participants (
    ticket  INTEGER NOT NULL REFERENCES tickets (id),
    address TEXT NOT NULL,
    role    TEXT NOT NULL CHECK (role IN ('requester', 'colleague', 'added')),
    PRIMARY KEY (ticket, address)
) WITHOUT ROWID;
CREATE INDEX participants_address ON participants (address);

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    source_key    TEXT UNIQUE,                     -- imap:<folder>:<uidvalidity>:<uid>, maildir:<name>, file:<path>[#n]
    message_id    TEXT NOT NULL,                   -- without angle brackets; derived from the hash when missing
    content_hash  BLOB NOT NULL,                   -- sha256 without trace headers, CRLF as LF
    raw_size      INTEGER NOT NULL,                -- the bytes are in message_raw
    received_at   INTEGER NOT NULL,
    direction     TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    state         TEXT NOT NULL CHECK (state IN ('stored', 'applied', 'quarantined', 'dropped')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    kind          TEXT,
    analysis      TEXT,                            -- JSON of mail::Analysis
    ticket        INTEGER REFERENCES tickets (id),
    error         TEXT,
    stored_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_identity ON messages (message_id, content_hash);

-- Raw bytes apart from the message rows, so that step 2's updates of a
-- message (state, analysis, ticket) never rewrite its bytes. A row is
-- deleted when the bytes are purged (retention, erasure, quarantine drop).
CREATE TABLE message_raw (
    message  INTEGER PRIMARY KEY REFERENCES messages (id),
    raw      BLOB NOT NULL
);
CREATE INDEX messages_pending ON messages (id) WHERE state = 'stored';
CREATE INDEX messages_ticket ON messages (ticket);

CREATE TABLE events (
    id       INTEGER PRIMARY KEY,
    ticket   INTEGER REFERENCES tickets (id),
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,                        -- an address, or 'supportd'
    what     TEXT NOT NULL,                        -- stable code, e.g. 'opened', 'accepted'
    detail   TEXT,                                 -- JSON
    message  INTEGER REFERENCES messages (id)
);
CREATE INDEX events_ticket ON events (ticket);
-- The audit trail is append-only: rows may be pseudonymised, never removed.
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    key              TEXT NOT NULL UNIQUE,         -- one logical mail, e.g. 'ack:12'
    ticket           INTEGER REFERENCES tickets (id),
    template         TEXT NOT NULL,
    automatic        INTEGER NOT NULL,
    envelope_from    TEXT NOT NULL,
    recipients       TEXT NOT NULL,                -- JSON array
    message_id       TEXT NOT NULL,
    headers          TEXT NOT NULL,                -- JSON object
    body             TEXT,                         -- NULL once purged
    attach_message   INTEGER REFERENCES messages (id),
    state            TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'held')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';

-- Recipients of automatic mail, for the hourly rate limits (indexed by
-- address and by domain, so counting never scans the outbox).
CREATE TABLE outbox_automatic (
    outbox      INTEGER NOT NULL REFERENCES outbox (id),
    address     TEXT NOT NULL,
    domain      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX outbox_automatic_address ON outbox_automatic (address, created_at);
CREATE INDEX outbox_automatic_domain ON outbox_automatic (domain, created_at);
CREATE INDEX outbox_message_id ON outbox (message_id);

CREATE TABLE timers (
    id      INTEGER PRIMARY KEY,
    ticket  INTEGER NOT NULL REFERENCES tickets (id),
    kind    TEXT NOT NULL,
    due_at  INTEGER NOT NULL,
    UNIQUE (ticket, kind)
);
CREATE INDEX timers_due ON timers (due_at);

CREATE TABLE quarantine (
    id       INTEGER PRIMARY KEY,
    message  INTEGER NOT NULL UNIQUE REFERENCES messages (id),
    reason   TEXT NOT NULL,
    at       INTEGER NOT NULL
);
