-- supportd schema, version 5: automatic mails to a consultant held back by
-- the hourly limit since the last one that went out; the next one says how
-- many, and the count starts again.
CREATE TABLE consultant_held (
    address  TEXT PRIMARY KEY,                 -- lower-cased
    mails    INTEGER NOT NULL
) WITHOUT ROWID;
