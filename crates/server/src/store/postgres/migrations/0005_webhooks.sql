-- Webhooks: the host's subscriptions, and the outbox of what each is owed.
-- A delivery row is written in the same transaction as the change it tells
-- of, so a committed change always has its event; workers claim due rows
-- with a lease, post them, and record every attempt.

CREATE TABLE webhooks (
    id               BIGSERIAL PRIMARY KEY,
    url              TEXT NOT NULL,
    -- JSON array of event names, or ["*"].
    eventos          TEXT NOT NULL,
    incluir_internos BOOLEAN NOT NULL DEFAULT FALSE,
    descripcion      TEXT,
    secreto          TEXT NOT NULL,
    creado           BIGINT NOT NULL,
    -- Deleted subscriptions keep their row (their log stays readable by id)
    -- and are owed nothing more.
    borrado          BIGINT,
    -- Failed attempts in a row, and until when the endpoint is paused.
    fallos_seguidos  BIGINT NOT NULL DEFAULT 0,
    pausado_hasta    BIGINT
);

CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    webhook_id      BIGINT NOT NULL REFERENCES webhooks (id),
    evento_id       TEXT NOT NULL,
    tipo            TEXT NOT NULL,
    -- Deliveries of one ticket to one endpoint go in this order.
    ticket_id       BIGINT,
    -- The exact body posted, the same on every attempt. NULL for a
    -- mensaje.creado: its body is built from the message when it is posted
    -- (a small row on the path every message takes).
    cuerpo          TEXT,
    mensaje_id      BIGINT,
    creado          BIGINT NOT NULL,
    estado          TEXT NOT NULL DEFAULT 'pendiente'
                    CHECK (estado IN ('pendiente', 'entregado', 'fallido')),
    intentos        BIGINT NOT NULL DEFAULT 0,
    proximo_intento BIGINT NOT NULL,
    -- A worker's lease: nobody else posts it before then.
    reclamado_hasta BIGINT,
    -- When it was delivered or given up.
    terminado       BIGINT,
    -- The delivering attempt: the receiver's status and how long it took.
    estado_http     BIGINT,
    latencia_ms     BIGINT
);
-- Pending deliveries in order (what workers claim from), and each queue
-- (one ticket's, to one endpoint) in order. Finished rows leave both.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id)
    WHERE estado = 'pendiente';
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (webhook_id, ticket_id, id)
    WHERE estado = 'pendiente';
-- No index for the delivery log (newest first, by endpoint): it reads the
-- table backwards, and every index here is paid by every message.

-- Failed attempts (a delivered one is on its delivery's row: the common
-- case writes one row, not two).
CREATE TABLE webhook_attempts (
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    intento     BIGINT NOT NULL,
    en          BIGINT NOT NULL,
    estado_http BIGINT,
    error       TEXT,
    latencia_ms BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, intento)
);
