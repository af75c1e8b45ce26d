-- Emails owed, written in the transaction of the change that owes them:
-- one pending per ticket, person and kind; a worker claims, sends and
-- finishes each. `desde_seq`: the first message the email is about.
CREATE TABLE email_outbox (
    id              INTEGER PRIMARY KEY,
    ticket_id       INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    usuario_id      INTEGER NOT NULL,
    para            TEXT NOT NULL,
    tipo            TEXT NOT NULL CHECK (tipo IN ('respuestas_no_leidas', 'mensajes_sin_leer_equipo')),
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
CREATE UNIQUE INDEX email_outbox_pending ON email_outbox (ticket_id, usuario_id, tipo)
    WHERE estado = 'pendiente';
CREATE INDEX email_outbox_due ON email_outbox (debido) WHERE estado = 'pendiente';
