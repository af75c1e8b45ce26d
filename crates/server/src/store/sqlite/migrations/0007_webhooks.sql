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
    -- The exact body posted, the same on every attempt. NULL for a
    -- mensaje.creado: its body is built from the message when it is posted
    -- (a small row on the path every message takes).
    cuerpo          TEXT,
    mensaje_id      INTEGER,
    creado          INTEGER NOT NULL,
    -- pendiente, entregado or fallido. No CHECK: it would cost a statement
    -- journal on every insert, on the path every message takes (see
    -- 0005_enum_checks.sql); a value we never write fails the read.
    estado          TEXT NOT NULL DEFAULT 'pendiente',
    intentos        INTEGER NOT NULL DEFAULT 0,
    proximo_intento INTEGER NOT NULL,
    -- A worker's lease: nobody else posts it before then.
    reclamado_hasta INTEGER,
    -- When it was delivered or given up.
    terminado       INTEGER,
    -- The delivering attempt: the receiver's status and how long it took.
    estado_http     INTEGER,
    latencia_ms     INTEGER
);
-- Pending deliveries in order: what workers claim from. Finished rows leave.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id)
    WHERE estado = 'pendiente';
-- Held deliveries (leased, or tried and waiting for their retry) by queue
-- (one ticket's, to one endpoint): what a later delivery of the queue must
-- not overtake. Only rows a worker has touched enter it: a queue index of
-- every pending row cost the path every message takes a page per ticket per
-- commit (a third more WAL frames with one subscription). PostgreSQL keeps
-- that index: its claims skip rows another node is claiming, and need each
-- candidate's predecessor (see tx::due_candidates_sql).
CREATE INDEX webhook_deliveries_held ON webhook_deliveries (webhook_id, ticket_id, id)
    WHERE estado = 'pendiente' AND (reclamado_hasta IS NOT NULL OR intentos > 0);
-- No index for the delivery log (newest first, by endpoint): it reads the
-- table backwards, and every index here is paid by every message.

-- Failed attempts (a delivered one is on its delivery's row: the common
-- case writes one row, not two).
CREATE TABLE webhook_attempts (
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    intento     INTEGER NOT NULL,
    en          INTEGER NOT NULL,
    estado_http INTEGER,
    error       TEXT,
    latencia_ms INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, intento)
);
