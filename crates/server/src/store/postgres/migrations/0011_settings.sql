-- Team-wide settings, one JSON document per key (`horario`: business hours).
CREATE TABLE ajustes (
    clave       TEXT PRIMARY KEY,
    valor       TEXT NOT NULL,
    actualizado BIGINT NOT NULL
);
