-- supportd schema, version 4: people who reported our mail as spam or abuse
-- (RFC 5965 feedback reports). They get no more automatic mail: a queued
-- automatic mail leaves them out, and one left with nobody fails with the
-- reason. Consultants' own answers still reach them.
CREATE TABLE suppressed (
    address  TEXT PRIMARY KEY,                 -- lower-cased
    reason   TEXT NOT NULL,                    -- e.g. 'feedback report: abuse'
    at       INTEGER NOT NULL,
    message  INTEGER REFERENCES messages (id)  -- the report
);
