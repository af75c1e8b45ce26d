-- Attachments: single-use upload grants and the files messages carry.

-- Permission to upload one file, given over the WebSocket. The credential
-- itself is never stored, only its SHA-256.
CREATE TABLE upload_grants (
    id              TEXT PRIMARY KEY,
    credential_hash TEXT NOT NULL,
    user_id         INTEGER NOT NULL,
    ticket_id       INTEGER NOT NULL REFERENCES tickets(id),
    nombre          TEXT NOT NULL,
    tamano          INTEGER NOT NULL,
    extension       TEXT NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
);

CREATE TABLE attachments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id   INTEGER NOT NULL REFERENCES tickets(id),
    mensaje_id  INTEGER NOT NULL REFERENCES messages(id),
    -- Generated; never derived from the user's file name.
    storage_key TEXT NOT NULL UNIQUE,
    nombre      TEXT NOT NULL,
    tamano      INTEGER NOT NULL,
    tipo_mime   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    -- A small PNG preview beside the original (images only).
    thumbnail_key TEXT,
    creado      INTEGER NOT NULL
);
CREATE INDEX attachments_by_message ON attachments (mensaje_id);
