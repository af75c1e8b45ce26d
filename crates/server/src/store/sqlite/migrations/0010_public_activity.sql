-- What customers see of a ticket's activity: the time and seq of its last
-- change they can see. Internal notes move `actualizado` and `last_seq`
-- only, so their timing does not show in the customer's ticket views.
-- Same row as last_seq: a message writes no page more.
ALTER TABLE tickets ADD COLUMN publico_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN publico_actualizado INTEGER NOT NULL DEFAULT 0;
-- The newest public message of each ticket, found from the newest down.
UPDATE tickets SET publico_seq = COALESCE((
    SELECT seq FROM messages m WHERE m.ticket_id = tickets.id AND m.interno = 0
    ORDER BY seq DESC LIMIT 1), 0);
UPDATE tickets SET publico_actualizado = CASE
    WHEN publico_seq = last_seq THEN actualizado
    ELSE MAX(creado, COALESCE((SELECT creado FROM messages m
        WHERE m.ticket_id = tickets.id AND m.seq = tickets.publico_seq), 0))
END;
