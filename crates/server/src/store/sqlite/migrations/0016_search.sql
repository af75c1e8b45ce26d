-- Search (domain::search): full-text indexes of message texts, ticket
-- subjects and user names, folded as the domain folds (case and accents).
-- External-content FTS5 tables kept by triggers, so each write updates
-- them in its own transaction.
-- Messages are the hot path: `detail = none` (no positions: search only
-- asks whether a word, or a prefix, is in a message) and no column sizes
-- keep each insert's index work small.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    contenido, content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2', detail = none, columnsize = 0
);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, contenido) VALUES (new.id, new.contenido);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, contenido) VALUES ('delete', old.id, old.contenido);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF contenido ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, contenido) VALUES ('delete', old.id, old.contenido);
    INSERT INTO messages_fts (rowid, contenido) VALUES (new.id, new.contenido);
END;

CREATE VIRTUAL TABLE tickets_fts USING fts5(
    asunto, content = 'tickets', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO tickets_fts (tickets_fts) VALUES ('rebuild');
CREATE TRIGGER tickets_fts_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO tickets_fts (rowid, asunto) VALUES (new.id, new.asunto);
END;
CREATE TRIGGER tickets_fts_delete AFTER DELETE ON tickets BEGIN
    INSERT INTO tickets_fts (tickets_fts, rowid, asunto) VALUES ('delete', old.id, old.asunto);
END;
CREATE TRIGGER tickets_fts_update AFTER UPDATE OF asunto ON tickets BEGIN
    INSERT INTO tickets_fts (tickets_fts, rowid, asunto) VALUES ('delete', old.id, old.asunto);
    INSERT INTO tickets_fts (rowid, asunto) VALUES (new.id, new.asunto);
END;

CREATE VIRTUAL TABLE users_fts USING fts5(
    nombre, content = 'users', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO users_fts (users_fts) VALUES ('rebuild');
CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_fts (rowid, nombre) VALUES (new.id, new.nombre);
END;
CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_fts (users_fts, rowid, nombre) VALUES ('delete', old.id, old.nombre);
END;
CREATE TRIGGER users_fts_update AFTER UPDATE OF nombre ON users BEGIN
    INSERT INTO users_fts (users_fts, rowid, nombre) VALUES ('delete', old.id, old.nombre);
    INSERT INTO users_fts (rowid, nombre) VALUES (new.id, new.nombre);
END;
