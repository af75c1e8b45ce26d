-- Resolved tickets by when, for the sweep that closes idle ones.
CREATE INDEX tickets_resolved ON tickets (resuelto_at, id) WHERE estado = 'RESUELTO';
