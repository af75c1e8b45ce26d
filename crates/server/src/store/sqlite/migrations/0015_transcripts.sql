-- Transcripts join the kinds of email owed. SQLite cannot change a CHECK:
-- the table is rebuilt with its rows and indexes.
CREATE TABLE email_outbox_new (
    id              INTEGER PRIMARY KEY,
    ticket_id       INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    usuario_id      INTEGER NOT NULL,
    para            TEXT NOT NULL,
    tipo            TEXT NOT NULL
                    CHECK (tipo IN ('respuestas_no_leidas', 'mensajes_sin_leer_equipo', 'transcripcion')),
    desde_seq       INTEGER NOT NULL,
    debido          INTEGER NOT NULL,
    estado          TEXT NOT NULL DEFAULT 'pendiente'
                    CHECK (estado IN ('pendiente', 'enviado', 'cancelado', 'fallido')),
    intentos        INTEGER NOT NULL DEFAULT 0,
    reclamado_hasta INTEGER,
    creado          INTEGER NOT NULL,
    terminado       INTEGER,
    error           TEXT
);
INSERT INTO email_outbox_new SELECT id, ticket_id, usuario_id, para, tipo, desde_seq, debido,
    estado, intentos, reclamado_hasta, creado, terminado, error FROM email_outbox;
DROP TABLE email_outbox;
ALTER TABLE email_outbox_new RENAME TO email_outbox;
CREATE UNIQUE INDEX email_outbox_pending ON email_outbox (ticket_id, usuario_id, tipo)
    WHERE estado = 'pendiente';
CREATE INDEX email_outbox_due ON email_outbox (debido) WHERE estado = 'pendiente';
-- The last transcript a person asked for, per ticket (how soon they may ask again).
CREATE INDEX email_outbox_sent_kind ON email_outbox (ticket_id, usuario_id, tipo, creado);
