-- Crema service store, version 2: chunked, resumable uploads (/v1 "Uploads").
-- Files live in `<data_dir>/uploads/<id>/`: `part-000042` per acknowledged
-- part, `source` once assembled. A part row exists only once its file is
-- durable (fsynced and renamed into place).

CREATE TABLE uploads (
    -- Insertion order.
    seq                     INTEGER PRIMARY KEY AUTOINCREMENT,
    -- `upl_` + 128 random bits in hex.
    id                      TEXT    NOT NULL UNIQUE,
    status                  TEXT    NOT NULL CHECK (status IN ('initiated', 'uploading', 'completed',
                                                               'canceled', 'expired')),
    -- A plain file name (no folders), at least 1 character.
    file_name               TEXT    NOT NULL CHECK (length(file_name) >= 1),
    -- Declared size in bytes.
    file_size               INTEGER NOT NULL CHECK (file_size >= 1),
    mime_type               TEXT,
    -- Bytes per part (the last part holds the remainder) and the number of parts.
    chunk_size              INTEGER NOT NULL CHECK (chunk_size >= 1),
    total_chunks            INTEGER NOT NULL CHECK (total_chunks >= 1),
    -- Once assembled: lower-case hex SHA-256 and size of the whole file.
    sha256                  TEXT,
    bytes                   INTEGER,
    -- Probe facts once assembled; NULL before or when the probe failed.
    source_width            INTEGER,
    source_height           INTEGER,
    source_duration_seconds REAL,
    source_frame_rate       TEXT,
    -- RFC 3339 UTC timestamps.
    created_at              TEXT    NOT NULL,
    expires_at              TEXT    NOT NULL,
    completed_at            TEXT,
    -- expires_at as Unix milliseconds, for the cleanup query.
    expires_ms              INTEGER NOT NULL,
    -- 1 while `<data_dir>/uploads/<id>/` may hold files; 0 once cleanup removed them.
    files_present           INTEGER NOT NULL DEFAULT 1
);

CREATE INDEX uploads_cleanup ON uploads (files_present, expires_ms);

-- Acknowledged parts. Re-sent parts replace the row (and the file).
CREATE TABLE upload_parts (
    upload_id   TEXT    NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    -- 0-based part number.
    part_number INTEGER NOT NULL CHECK (part_number >= 0),
    -- Size in bytes.
    bytes       INTEGER NOT NULL,
    received_at TEXT    NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
