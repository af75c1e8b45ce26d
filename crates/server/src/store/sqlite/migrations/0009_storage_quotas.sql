-- Storage quotas (per person, per ticket, per hour) and file retention.

-- Who uploaded each file (its message's author), so a person's stored
-- bytes are summed from their own rows. Indexes that carry the size answer
-- a quota check without reading the rows.
ALTER TABLE attachments ADD COLUMN usuario_id INTEGER;
UPDATE attachments SET usuario_id =
    (SELECT autor_id FROM messages WHERE messages.id = attachments.mensaje_id);
CREATE INDEX attachments_by_user ON attachments (usuario_id, tamano);
CREATE INDEX attachments_by_ticket ON attachments (ticket_id, tamano);

-- When each grant was made: the hourly budget counts the bytes granted.
-- Grants live minutes and are few; these indexes serve the quota check.
ALTER TABLE upload_grants ADD COLUMN creado INTEGER NOT NULL DEFAULT 0;
UPDATE upload_grants SET creado = expires_at - 300000;
CREATE INDEX upload_grants_by_user ON upload_grants (user_id, creado);
CREATE INDEX upload_grants_by_ticket ON upload_grants (ticket_id);
