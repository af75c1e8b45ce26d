-- Data rights: a person's data exported and erased on request.

-- An erased message keeps its row and `seq` (histories stay gapless) with
-- its content replaced by a fixed marker. No CHECK (0 or 1): on messages it
-- would cost a statement journal per insert (see 0005_enum_checks.sql).
ALTER TABLE messages ADD COLUMN eliminado INTEGER NOT NULL DEFAULT 0;
-- Export and erasure find a person's messages without reading them all
-- (erasure runs on the writer).
CREATE INDEX messages_by_author ON messages (autor_id);

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
