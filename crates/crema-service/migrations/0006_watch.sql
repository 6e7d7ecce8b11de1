-- Watch folders (issue 5): rules, one row per file identity seen, and the
-- decision log of every rule.

CREATE TABLE watch_rules (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- `wf_` + 128 random bits in hex.
    id            TEXT    NOT NULL UNIQUE,
    -- JSON: the validated WatchRuleSpec (absolute, canonical folders; defaults filled in).
    spec_json     TEXT    NOT NULL,
    paused        INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    -- Set by remove; the running service then cancels the rule's unfinished
    -- jobs and deletes the rule with its rows.
    removed       INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
    -- 1 once the files present at the rule's first start were recorded as
    -- `baseline` (take_existing = false) or the first scan ran.
    baseline_done INTEGER NOT NULL DEFAULT 0 CHECK (baseline_done IN (0, 1)),
    -- Bumped on every change, so a running service notices changes made by
    -- another process (`crema watch pause` while `crema serve` runs).
    revision      INTEGER NOT NULL DEFAULT 1,
    -- RFC 3339 UTC.
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

-- One row per file identity: path, size, modification time, content hash.
-- A file replaced by other content gets a new row (the old one becomes
-- `superseded`); a finished file renamed inside the folder keeps its row
-- (the path is updated).
CREATE TABLE watch_files (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id     TEXT    NOT NULL REFERENCES watch_rules (id) ON DELETE CASCADE,
    -- Absolute path.
    path        TEXT    NOT NULL,
    -- Bytes, and modification time in nanoseconds since the Unix epoch.
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    -- Lower-case hex SHA-256; NULL for `baseline` rows (never hashed).
    sha256      TEXT,
    -- pending: complete, waiting for a queue slot; queued: a job runs it;
    -- placing: verified, the output is being moved into place; done; failed;
    -- duplicate: same content as another row; baseline: present when the rule
    -- started with take_existing = false; superseded: replaced by new content;
    -- gone: deleted before it was taken.
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'queued', 'placing', 'done', 'failed', 'duplicate',
                                                  'baseline', 'superseded', 'gone')),
    job_id      TEXT,
    -- Why the row is in its state, in words.
    reason      TEXT,
    -- Where the verified output was placed (absolute).
    output_path TEXT,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

CREATE UNIQUE INDEX watch_files_live_path ON watch_files (rule_id, path) WHERE state NOT IN ('superseded', 'gone');
CREATE INDEX watch_files_hash ON watch_files (rule_id, sha256);
CREATE INDEX watch_files_state ON watch_files (rule_id, state, id);
CREATE INDEX watch_files_job ON watch_files (job_id);

-- The decision log: taken, ignored (and why), done, failed (and why).
CREATE TABLE watch_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id     TEXT    NOT NULL REFERENCES watch_rules (id) ON DELETE CASCADE,
    at          TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('taken', 'ignored', 'done', 'failed')),
    path        TEXT    NOT NULL,
    reason      TEXT,
    job_id      TEXT,
    output_path TEXT
);

CREATE INDEX watch_events_rule ON watch_events (rule_id, seq);
