-- Transcripts join the kinds of email owed.
ALTER TABLE email_outbox DROP CONSTRAINT email_outbox_tipo_check;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_tipo_check
    CHECK (tipo IN ('respuestas_no_leidas', 'mensajes_sin_leer_equipo', 'transcripcion'));
-- The last transcript a person asked for, per ticket (how soon they may ask again).
CREATE INDEX email_outbox_sent_kind ON email_outbox (ticket_id, usuario_id, tipo, creado);
