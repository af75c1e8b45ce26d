-- What customers see of a ticket's activity: the time and seq of its last
-- change they can see. Internal notes move `actualizado` and `last_seq`
-- only, so their timing does not show in the customer's ticket views.
ALTER TABLE tickets ADD COLUMN publico_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN publico_actualizado BIGINT NOT NULL DEFAULT 0;
UPDATE tickets t SET publico_seq = COALESCE((
    SELECT seq FROM messages m WHERE m.ticket_id = t.id AND NOT m.interno
    ORDER BY seq DESC LIMIT 1), 0);
UPDATE tickets t SET publico_actualizado = CASE
    WHEN publico_seq = last_seq THEN actualizado
    ELSE GREATEST(creado, COALESCE((SELECT creado FROM messages m
        WHERE m.ticket_id = t.id AND m.seq = t.publico_seq), 0))
END;
