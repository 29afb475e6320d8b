-- supportd schema, version 7: the same CHECK constraints on states and
-- roles, written as comparisons instead of `IN` lists.
--
-- SQLite checks `x IN (a, b, c)` (three values or more) by building a
-- temporary b-tree of the list each time a statement runs: for every message,
-- ticket and participant written. Measured with callgrind on an import of
-- 2,000 messages, that was a quarter of the writing thread's instructions.
--
-- Only the text of the constraints changes, and they accept and refuse the
-- same values: SQLite's documentation allows such a change by editing the
-- schema table, with no row rewritten ("Making Other Kinds Of Table Schema
-- Changes", https://www.sqlite.org/lang_altertable.html). A text that does
-- not match (a database made by an unreleased build) is left as it is.
PRAGMA writable_schema = ON;

-- Each list belongs to one table (the states of tickets, messages and mails
-- differ), so one statement rewrites all four.
UPDATE sqlite_schema
SET sql = replace(replace(replace(replace(sql,
    'CHECK (state IN (''new'', ''open'', ''waiting'', ''resolved'', ''closed''))',
    'CHECK (state = ''new'' OR state = ''open'' OR state = ''waiting'' OR state = ''resolved'' OR state = ''closed'')'),
    'CHECK (state IN (''stored'', ''applied'', ''quarantined'', ''dropped''))',
    'CHECK (state = ''stored'' OR state = ''applied'' OR state = ''quarantined'' OR state = ''dropped'')'),
    'CHECK (role IN (''requester'', ''colleague'', ''added''))',
    'CHECK (role = ''requester'' OR role = ''colleague'' OR role = ''added'')'),
    'CHECK (state IN (''pending'', ''sent'', ''failed'', ''held''))',
    'CHECK (state = ''pending'' OR state = ''sent'' OR state = ''failed'' OR state = ''held'')')
WHERE type = 'table' AND name IN ('tickets', 'messages', 'participants', 'outbox');

-- Schema editing off, and this connection reads the new schema.
PRAGMA writable_schema = RESET;

-- Every other connection reads it too: a schema change moves the schema
-- cookie they compare (the documentation's step of raising schema_version).
CREATE TABLE schema_7_cookie (x);
DROP TABLE schema_7_cookie;
