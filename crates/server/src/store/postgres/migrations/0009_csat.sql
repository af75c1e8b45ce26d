-- The customer's rating of the ticket (CSAT): at most one per ticket, so on
-- the ticket's row; NULL until rated.
ALTER TABLE tickets ADD COLUMN csat_puntuacion SMALLINT
    CHECK (csat_puntuacion IS NULL OR csat_puntuacion BETWEEN 1 AND 5);
ALTER TABLE tickets ADD COLUMN csat_comentario TEXT;
ALTER TABLE tickets ADD COLUMN csat_creado BIGINT;
