-- Data rights: a person's data exported and erased on request.

-- An erased message keeps its row and `seq` (histories stay gapless) with
-- its content replaced by a fixed marker.
ALTER TABLE messages ADD COLUMN eliminado BOOLEAN NOT NULL DEFAULT FALSE;
-- Which tickets each person has written on: export and erasure find a
-- person's messages through it without reading them all (erasure runs on
-- the writer). Not an index on messages (autor_id): that one gains an entry
-- per message; a row here is written once per person and ticket.
CREATE TABLE ticket_authors (
    usuario_id BIGINT NOT NULL,
    ticket_id  BIGINT NOT NULL,
    PRIMARY KEY (usuario_id, ticket_id)
);
INSERT INTO ticket_authors (usuario_id, ticket_id)
    SELECT DISTINCT autor_id, ticket_id FROM messages WHERE autor_id IS NOT NULL
    ON CONFLICT DO NOTHING;

-- Who erased whose data, when, and how much.
CREATE TABLE erasures (
    id         BIGSERIAL PRIMARY KEY,
    usuario_id BIGINT NOT NULL,
    por        TEXT NOT NULL,
    en         BIGINT NOT NULL,
    mensajes   BIGINT NOT NULL,
    archivos   BIGINT NOT NULL
);

-- Files whose rows are gone, to remove from storage: written with the
-- erasure, removed once the file is (so a crash in between loses nothing).
CREATE TABLE file_deletions (
    storage_key TEXT PRIMARY KEY,
    creado      BIGINT NOT NULL
);
