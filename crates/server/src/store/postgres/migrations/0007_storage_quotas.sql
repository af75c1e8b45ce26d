-- Storage quotas (per person, per ticket, per hour) and file retention.

-- Who uploaded each file (its message's author), so a person's stored
-- bytes are summed from their own rows. Indexes that carry the size answer
-- a quota check from the index alone.
ALTER TABLE attachments ADD COLUMN usuario_id BIGINT;
UPDATE attachments a SET usuario_id = m.autor_id FROM messages m WHERE m.id = a.mensaje_id;
CREATE INDEX attachments_by_user ON attachments (usuario_id, tamano);
CREATE INDEX attachments_by_ticket ON attachments (ticket_id, tamano);

-- When each grant was made: the hourly budget counts the bytes granted.
ALTER TABLE upload_grants ADD COLUMN creado BIGINT NOT NULL DEFAULT 0;
UPDATE upload_grants SET creado = expires_at - 300000;
CREATE INDEX upload_grants_by_user ON upload_grants (user_id, creado);
CREATE INDEX upload_grants_by_ticket ON upload_grants (ticket_id);
