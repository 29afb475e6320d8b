-- supportd schema, version 8: smaller indexes where every new message lands
-- at a random place.
--
-- A commit rewrites every index page it touches, whole. An index whose keys
-- are random (a Message-ID and a content hash, an address) gets about as
-- many pages touched per commit as it has pages, so the larger it is, the
-- more each batch of messages writes. Counted from the WAL of an import of
-- 10,000 generated messages (16 KB pages): 264 MB written in all, of which
-- 48 MB for `messages_identity` (Message-ID, 32-byte hash) and 24 MB for
-- `participants_address`.

-- Messages are found by Message-ID (threading) and by Message-ID and content
-- (deduplication) through an 8-byte key of the Message-ID: the first 8 bytes
-- of its SHA-256, big-endian, as a signed integer (`store::message_key`,
-- which also fills the rows stored before). The look-ups compare the
-- Message-ID and the hash themselves, so two Message-IDs with one key only
-- cost a second row read. The writer checks for a duplicate inside its
-- write transaction before it inserts, so the uniqueness the old index
-- enforced holds by construction.
ALTER TABLE messages ADD COLUMN message_key INTEGER;
UPDATE messages SET message_key = supportd_message_key(message_id);
DROP INDEX messages_identity;
CREATE INDEX messages_key ON messages (message_key);

-- The tickets a person took part in are looked up only by the privacy
-- commands (export and erasure of one person), which read whole tables
-- anyway; the index on participants' addresses served nothing else.
DROP INDEX participants_address;
