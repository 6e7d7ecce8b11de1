-- Crema service store, version 4: API keys, browser sessions and idempotency records.
--
-- Secrets are never stored in clear: API keys and session cookie values are
-- stored as the SHA-256 (lower-case hex) of the whole presented string.
-- Text timestamps are RFC 3339 UTC (for display); the `*_unix` integer
-- columns (seconds since the epoch) are the ones compared in queries, since
-- RFC 3339 text with optional fractional seconds does not sort by time.

CREATE TABLE api_keys (
    -- `key_` + 128 random bits in hex.
    id           TEXT    NOT NULL PRIMARY KEY,
    -- Operator-given label, never empty.
    name         TEXT    NOT NULL CHECK (length(name) > 0),
    -- The visible start of the key (`crema_sk_` + 8 hex digits), shown in lists.
    prefix       TEXT    NOT NULL,
    -- SHA-256 hex of the whole key.
    key_hash     TEXT    NOT NULL UNIQUE,
    created_at   TEXT    NOT NULL,
    -- Updated at most once a minute per key.
    last_used_at TEXT,
    -- Set once; a revoked key never authenticates again.
    revoked_at   TEXT
);

CREATE INDEX api_keys_prefix ON api_keys (prefix);

CREATE TABLE sessions (
    -- SHA-256 hex of the cookie value.
    token_hash   TEXT    NOT NULL PRIMARY KEY,
    -- The key that logged in; revoking it deletes its sessions.
    key_id       TEXT    NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at   TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    expires_unix INTEGER NOT NULL
);

CREATE INDEX sessions_key_id ON sessions (key_id);
CREATE INDEX sessions_expires_unix ON sessions (expires_unix);

CREATE TABLE idempotency_records (
    -- "<key_id> <METHOD> <route pattern>", built by the HTTP layer.
    scope        TEXT    NOT NULL,
    -- The client's Idempotency-Key header (1..=255 printable ASCII characters).
    key          TEXT    NOT NULL,
    -- SHA-256 of the request body.
    request_hash BLOB    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('in_flight', 'done')),
    -- The response to replay, once done.
    status       INTEGER,
    body         BLOB,
    created_at   TEXT    NOT NULL,
    created_unix INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_records_created_unix ON idempotency_records (created_unix);
CREATE INDEX idempotency_records_state ON idempotency_records (state);
