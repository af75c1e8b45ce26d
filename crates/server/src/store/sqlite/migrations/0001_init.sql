-- Users as the host application's tokens describe them: the chat has no
-- accounts of its own, it remembers names and avatars to show them.
CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    nombre     TEXT NOT NULL,
    rol        TEXT NOT NULL,
    avatar     TEXT,
    last_seen  INTEGER
);

CREATE TABLE tickets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    asunto      TEXT NOT NULL,
    estado      TEXT NOT NULL DEFAULT 'ABIERTO',
    cliente_id  INTEGER NOT NULL REFERENCES users(id),
    agente_id   INTEGER REFERENCES users(id),
    creado      INTEGER NOT NULL,
    actualizado INTEGER NOT NULL,
    -- seq of the newest message: the next message takes last_seq + 1 in the
    -- same transaction, which keeps seq gapless and unique per ticket.
    last_seq    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tickets_by_customer ON tickets (cliente_id, actualizado);
CREATE INDEX tickets_by_agent ON tickets (agente_id, actualizado);
CREATE INDEX tickets_by_activity ON tickets (actualizado);

-- The author is copied into each message (like an email's From): history
-- reads need no join, and a later change of name does not rewrite the past.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id    INTEGER NOT NULL REFERENCES tickets(id),
    seq          INTEGER NOT NULL,
    client_id    TEXT,
    autor_id     INTEGER,
    autor_nombre TEXT NOT NULL,
    autor_tipo   TEXT NOT NULL,
    autor_avatar TEXT,
    contenido    TEXT NOT NULL,
    tipo         TEXT NOT NULL,
    estado       TEXT NOT NULL DEFAULT 'ENTREGADO',
    leido_at     INTEGER,
    reply_to     INTEGER,
    metadata     TEXT,
    creado       INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_by_seq ON messages (ticket_id, seq);
-- A retry of the same client_id by the same author is the same message.
CREATE UNIQUE INDEX messages_dedupe ON messages (ticket_id, autor_id, client_id)
    WHERE client_id IS NOT NULL;

-- How far each user has read each ticket, for unread counts.
CREATE TABLE ticket_reads (
    ticket_id     INTEGER NOT NULL REFERENCES tickets(id),
    user_id       INTEGER NOT NULL,
    last_read_seq INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
) WITHOUT ROWID;
