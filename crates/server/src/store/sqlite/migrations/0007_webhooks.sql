-- Webhooks: the host's subscriptions, and the outbox of what each is owed.
-- A delivery row is written in the same transaction as the change it tells
-- of, so a committed change always has its event; workers claim due rows
-- with a lease, post them, and record every attempt.

CREATE TABLE webhooks (
    id               INTEGER PRIMARY KEY,
    url              TEXT NOT NULL,
    -- JSON array of event names, or ["*"].
    eventos          TEXT NOT NULL,
    incluir_internos INTEGER NOT NULL DEFAULT 0 CHECK (incluir_internos IN (0, 1)),
    descripcion      TEXT,
    secreto          TEXT NOT NULL,
    creado           INTEGER NOT NULL,
    -- Deleted subscriptions keep their row (their log stays readable by id)
    -- and are owed nothing more.
    borrado          INTEGER,
    -- Failed attempts in a row, and until when the endpoint is paused.
    fallos_seguidos  INTEGER NOT NULL DEFAULT 0,
    pausado_hasta    INTEGER
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id),
    evento_id       TEXT NOT NULL,
    tipo            TEXT NOT NULL,
    -- Deliveries of one ticket to one endpoint go in this order.
    ticket_id       INTEGER,
    -- The exact body posted, the same on every attempt.
    cuerpo          TEXT NOT NULL,
    creado          INTEGER NOT NULL,
    estado          TEXT NOT NULL DEFAULT 'pendiente'
                    CHECK (estado IN ('pendiente', 'entregado', 'fallido')),
    intentos        INTEGER NOT NULL DEFAULT 0,
    proximo_intento INTEGER NOT NULL,
    -- A worker's lease: nobody else posts it before then.
    reclamado_hasta INTEGER,
    -- When it was delivered or given up.
    terminado       INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (proximo_intento)
    WHERE estado = 'pendiente';
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (webhook_id, ticket_id, id)
    WHERE estado = 'pendiente';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (terminado)
    WHERE estado <> 'pendiente';

CREATE TABLE webhook_attempts (
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    intento     INTEGER NOT NULL,
    en          INTEGER NOT NULL,
    estado_http INTEGER,
    error       TEXT,
    latencia_ms INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, intento)
);
