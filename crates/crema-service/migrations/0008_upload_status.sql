-- Crema service store, version 8: upload statuses are the contract's four
-- (`uploading`, `assembling`, `completed`, `canceled`; the SDKs' closed enum)
-- plus `expired`, kept for sessions whose files were removed after expiry
-- (never shown: the API answers 404 for them). `initiated` (no part yet)
-- becomes `uploading`.
--
-- Columns as in 0002_uploads.sql. SQLite cannot change a CHECK constraint in
-- place, so both upload tables are rebuilt. Order matters with foreign keys
-- on: the new parts table refers to the new uploads table from the start, so
-- dropping the old tables cascades into nothing, and the renames rewrite that
-- reference to `uploads`.

CREATE TABLE uploads_new (
    seq                     INTEGER PRIMARY KEY AUTOINCREMENT,
    id                      TEXT    NOT NULL UNIQUE,
    status                  TEXT    NOT NULL CHECK (status IN ('uploading', 'assembling', 'completed',
                                                               'canceled', 'expired')),
    file_name               TEXT    NOT NULL CHECK (length(file_name) >= 1),
    file_size               INTEGER NOT NULL CHECK (file_size >= 1),
    mime_type               TEXT,
    chunk_size              INTEGER NOT NULL CHECK (chunk_size >= 1),
    total_chunks            INTEGER NOT NULL CHECK (total_chunks >= 1),
    sha256                  TEXT,
    bytes                   INTEGER,
    source_width            INTEGER,
    source_height           INTEGER,
    source_duration_seconds REAL,
    source_frame_rate       TEXT,
    created_at              TEXT    NOT NULL,
    expires_at              TEXT    NOT NULL,
    completed_at            TEXT,
    expires_ms              INTEGER NOT NULL,
    files_present           INTEGER NOT NULL DEFAULT 1
);

INSERT INTO uploads_new (seq, id, status, file_name, file_size, mime_type, chunk_size, total_chunks, sha256,
                         bytes, source_width, source_height, source_duration_seconds, source_frame_rate,
                         created_at, expires_at, completed_at, expires_ms, files_present)
SELECT seq, id, CASE status WHEN 'initiated' THEN 'uploading' ELSE status END, file_name, file_size, mime_type,
       chunk_size, total_chunks, sha256, bytes, source_width, source_height, source_duration_seconds,
       source_frame_rate, created_at, expires_at, completed_at, expires_ms, files_present
FROM uploads;

CREATE TABLE upload_parts_new (
    upload_id   TEXT    NOT NULL REFERENCES uploads_new (id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL CHECK (part_number >= 0),
    bytes       INTEGER NOT NULL,
    received_at TEXT    NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

INSERT INTO upload_parts_new (upload_id, part_number, bytes, received_at)
SELECT upload_id, part_number, bytes, received_at FROM upload_parts;

DROP TABLE upload_parts;
DROP TABLE uploads;
ALTER TABLE uploads_new RENAME TO uploads;
ALTER TABLE upload_parts_new RENAME TO upload_parts;

CREATE INDEX uploads_cleanup ON uploads (files_present, expires_ms);
