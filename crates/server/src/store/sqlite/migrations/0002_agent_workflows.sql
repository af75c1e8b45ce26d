-- Agent workflows: internal notes, lifecycle timestamps for team stats,
-- agent availability, canned responses.

-- A note only staff see. Customers' reads filter on it.
ALTER TABLE messages ADD COLUMN interno INTEGER NOT NULL DEFAULT 0;

-- Notes are few: counting those below a cursor gives a customer's page
-- counts without scanning the conversation.
CREATE INDEX messages_notes ON messages (ticket_id, seq) WHERE interno = 1;
-- Moments the team's stats are made of.
ALTER TABLE tickets ADD COLUMN asignado_at INTEGER;
ALTER TABLE tickets ADD COLUMN primera_respuesta_at INTEGER;
ALTER TABLE tickets ADD COLUMN resuelto_at INTEGER;
CREATE INDEX tickets_by_state ON tickets (estado, actualizado);
CREATE INDEX tickets_by_creation ON tickets (creado);

-- An agent's availability for new chats: 'disponible' or 'ausente'.
ALTER TABLE users ADD COLUMN disponibilidad TEXT NOT NULL DEFAULT 'disponible';

CREATE TABLE respuestas (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    atajo       TEXT NOT NULL UNIQUE,
    texto       TEXT NOT NULL,
    creado_por  INTEGER NOT NULL,
    creado      INTEGER NOT NULL,
    actualizado INTEGER NOT NULL
);
