-- Crema service store, version 1: the job queue.
-- Uploads, idempotency records, API keys, webhooks and deliveries come in
-- later migrations (0002+), with the HTTP transport.

CREATE TABLE jobs (
    -- Monotonic insertion order (AUTOINCREMENT: never reused, even after
    -- deletes). Pagination cursors and queue order use it, never timestamps.
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    -- `job_` + 128 random bits in hex.
    id                   TEXT    NOT NULL UNIQUE,
    -- One of the contract's JobStatus values.
    status               TEXT    NOT NULL CHECK (status IN ('queued', 'probing', 'encoding', 'muxing',
                                                            'uploading_output', 'completed', 'failed', 'canceled')),
    status_reason        TEXT,
    -- 1 for the first run; +1 for every retry or interrupted run.
    attempt              INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    max_attempts         INTEGER NOT NULL CHECK (max_attempts >= 1),
    -- Profile ID as submitted, and the concrete one that ran.
    profile              TEXT    NOT NULL,
    effective_profile_id TEXT,
    -- JSON: the job's source (what was asked for plus probed facts).
    source_json          TEXT    NOT NULL,
    -- JSON: the `output` object of the request (container, audio, target_height, hls).
    output_request_json  TEXT    NOT NULL,
    -- JSON: the last progress report (the contract's `progress`).
    progress_json        TEXT    NOT NULL,
    -- JSON: the contract's `output` object once known.
    output_json          TEXT    NOT NULL,
    -- JSON object as submitted ({} when none).
    metadata_json        TEXT    NOT NULL DEFAULT '{}',
    -- 'encoded' | 'original', once completed.
    final_artifact       TEXT,
    saved_percent        REAL,
    -- Human message of the last failure.
    error                TEXT,
    -- RFC 3339 UTC timestamps.
    created_at           TEXT    NOT NULL,
    started_at           TEXT,
    completed_at         TEXT
);

CREATE INDEX jobs_status_seq ON jobs (status, seq);
