-- The host helpdesk's integration: what it provisions of its users, the
-- service keys its programs call with, and its own id and data on tickets.

-- Where a user can be reached when nobody is watching (the token's `email`
-- claim, or provisioning), and whether the host counts them as active
-- (an inactive agent is left out of assignment and transfer lists).
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN activo BOOLEAN NOT NULL DEFAULT TRUE;

-- Service keys: the SHA-256 of each key, found by its prefix; a revoked key
-- keeps its row (its name stays taken).
CREATE TABLE api_keys (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL UNIQUE,
    key_hash   TEXT NOT NULL,
    created    BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used  BIGINT
);

-- The host's id of a ticket (unique when set) and its data (a JSON object,
-- shown to staff only).
ALTER TABLE tickets ADD COLUMN external_id TEXT;
ALTER TABLE tickets ADD COLUMN metadata TEXT;
CREATE UNIQUE INDEX tickets_by_external_id ON tickets (external_id) WHERE external_id IS NOT NULL;
