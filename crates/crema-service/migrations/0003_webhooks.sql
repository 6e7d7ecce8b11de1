-- Crema service store, version 3: webhooks and their delivery outbox
-- (contract section "Webhooks").

-- The webhooks a job names (`webhook_ids` of POST /v1/jobs), as a JSON array of IDs.
ALTER TABLE jobs ADD COLUMN webhook_ids_json TEXT NOT NULL DEFAULT '[]';

CREATE TABLE webhooks (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    -- `wh_` + 128 random bits in hex.
    id         TEXT    NOT NULL UNIQUE,
    -- http(s) URL, normalized, no user info.
    url        TEXT    NOT NULL,
    name       TEXT,
    -- 64 hex chars (32 random bytes). Stored in clear: every delivery is
    -- signed with it, so it must be readable; the database file's permissions
    -- are its protection.
    secret     TEXT    NOT NULL,
    -- 0 once deleted (rows are kept so that the delivery log stays readable).
    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT    NOT NULL,
    deleted_at TEXT
);

-- The outbox: one row per (event, webhook). Rows are written by the trigger
-- below in the same transaction as the job's status change, so no code path
-- that ends a job can forget an event and a crash cannot lose one.
CREATE TABLE webhook_deliveries (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- `evt_` + 128 random bits in hex; the body's event_id and X-Turbo-Event-Id.
    event_id         TEXT    NOT NULL UNIQUE,
    webhook_id       TEXT    NOT NULL,
    job_id           TEXT    NOT NULL,
    -- 'job.completed' | 'job.failed' | 'job.canceled'.
    type             TEXT    NOT NULL,
    -- The job status the event reports.
    status           TEXT    NOT NULL,
    -- When the event happened (the job's completed_at), RFC 3339 UTC.
    event_at         TEXT    NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    -- Attempts started so far (counted when an attempt starts).
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- 1 while an attempt is under way (reset on open: the process that held it is gone).
    in_flight        INTEGER NOT NULL DEFAULT 0 CHECK (in_flight IN (0, 1)),
    -- When the next attempt is due, Unix milliseconds (pending rows only).
    due_ms           INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, in_flight, due_ms);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, state);

-- Every attempt, as it ended.
CREATE TABLE webhook_attempts (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL REFERENCES webhook_deliveries (event_id),
    webhook_id      TEXT    NOT NULL,
    job_id          TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    -- 1-based; 0 for a record of a delivery dropped before any request (webhook deleted).
    attempt         INTEGER NOT NULL,
    -- The HTTP status received, NULL when none was (connection error, timeout, policy).
    status_code     INTEGER,
    error           TEXT,
    duration_ms     INTEGER NOT NULL,
    attempted_at    TEXT    NOT NULL,
    -- The delivery's state after this attempt, and when the next one is due if pending.
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    next_attempt_at TEXT
);

CREATE INDEX webhook_attempts_webhook ON webhook_attempts (webhook_id, seq);

-- A job reaching completed, failed or canceled owes one delivery to every
-- active webhook it named. A job that fails, is retried and then completes
-- gets two events (job.failed, then job.completed).
CREATE TRIGGER jobs_webhook_outbox
AFTER UPDATE OF status ON jobs
WHEN NEW.status IN ('completed', 'failed', 'canceled') AND OLD.status IS NOT NEW.status
     AND NEW.webhook_ids_json <> '[]'
BEGIN
    INSERT INTO webhook_deliveries (event_id, webhook_id, job_id, type, status, event_at, due_ms)
    SELECT 'evt_' || lower(hex(randomblob(16))), w.id, NEW.id, 'job.' || NEW.status, NEW.status,
           COALESCE(NEW.completed_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
           CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)
    FROM json_each(NEW.webhook_ids_json) AS j
    JOIN webhooks AS w ON w.id = j.value AND w.active = 1;
END;
