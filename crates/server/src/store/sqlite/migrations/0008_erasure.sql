-- Data rights: a person's data exported and erased on request.

-- An erased message keeps its row and `seq` (histories stay gapless) with
-- its content replaced by a fixed marker. No CHECK (0 or 1): on messages it
-- would cost a statement journal per insert (see 0005_enum_checks.sql).
ALTER TABLE messages ADD COLUMN eliminado INTEGER NOT NULL DEFAULT 0;
-- Which tickets each person has written on: export and erasure find a
-- person's messages through it without reading them all (erasure runs on
-- the writer). Not an index on messages (autor_id): that one gains an entry
-- per message, on a page of its own for every author in a write batch,
-- and cost 15-20% of message throughput; a row here is written once per
-- person and ticket, and a message by someone already here only reads it.
CREATE TABLE ticket_authors (
    usuario_id INTEGER NOT NULL,
    ticket_id  INTEGER NOT NULL,
    PRIMARY KEY (usuario_id, ticket_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO ticket_authors (usuario_id, ticket_id)
    SELECT DISTINCT autor_id, ticket_id FROM messages WHERE autor_id IS NOT NULL;

-- Who erased whose data, when, and how much.
CREATE TABLE erasures (
    id         INTEGER PRIMARY KEY,
    usuario_id INTEGER NOT NULL,
    por        TEXT NOT NULL,
    en         INTEGER NOT NULL,
    mensajes   INTEGER NOT NULL,
    archivos   INTEGER NOT NULL
);

-- Files whose rows are gone, to remove from storage: written with the
-- erasure, removed once the file is (so a crash in between loses nothing).
CREATE TABLE file_deletions (
    storage_key TEXT PRIMARY KEY,
    creado      INTEGER NOT NULL
);
