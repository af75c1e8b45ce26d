-- Edits and deletions (domain::edits). A change never moves a message: the
-- ticket counts changes in `rev`, each message keeps the revision of its
-- last change, and the text it had before stays in message_versions, where
-- supervisors audit it.
ALTER TABLE tickets ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN editado_en BIGINT;
-- A resuming client asks for the messages changed after its revision.
CREATE INDEX messages_changed ON messages (ticket_id, rev) WHERE rev > 0;
CREATE TABLE message_versions (
    id         BIGSERIAL PRIMARY KEY,
    mensaje_id BIGINT NOT NULL REFERENCES messages(id),
    rev        BIGINT NOT NULL,
    contenido  TEXT NOT NULL,
    cambio     TEXT NOT NULL CHECK (cambio IN ('editado', 'eliminado')),
    por_id     BIGINT NOT NULL REFERENCES users(id),
    creado     BIGINT NOT NULL
);
CREATE INDEX message_versions_of ON message_versions (mensaje_id, rev);
