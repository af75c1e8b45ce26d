-- Facts about the database itself. `epoch` names this history: clients resume
-- with it, and a different epoch (a database recreated, or renewed by
-- `soporte migrate --new-epoch` after restoring a backup) tells them to
-- resync instead of trusting their `since`.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('epoch', substr(md5(random()::text || clock_timestamp()::text), 1, 16));
