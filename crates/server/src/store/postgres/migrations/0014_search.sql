-- Search (domain::search): full-text indexes of message texts, ticket
-- subjects and user names, folded as the domain folds (case and accents).
-- unaccent is a trusted extension (PostgreSQL 13+): a database owner may
-- create it. Generated columns keep the vectors in each write's transaction.
CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public;
CREATE FUNCTION soporte_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$;
ALTER TABLE messages ADD COLUMN busqueda tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', soporte_fold(contenido))) STORED;
CREATE INDEX messages_busqueda ON messages USING gin (busqueda);
ALTER TABLE tickets ADD COLUMN busqueda tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', soporte_fold(asunto))) STORED;
CREATE INDEX tickets_busqueda ON tickets USING gin (busqueda);
ALTER TABLE users ADD COLUMN busqueda tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', soporte_fold(nombre))) STORED;
CREATE INDEX users_busqueda ON users USING gin (busqueda);
