-- Crema service store, version 10: leases, nodes and farm-wide duties
-- (farm mode, issue 11; the same tables as migrations-postgres/).

-- The node that runs (or last ran) the job, and until when its claim holds
-- (Unix milliseconds). A worker renews the lease every third of its length;
-- a job whose lease ran out is requeued (attempt + 1) by any node.
ALTER TABLE jobs ADD COLUMN node TEXT;
ALTER TABLE jobs ADD COLUMN lease_until_ms INTEGER;
CREATE INDEX jobs_lease ON jobs (status, lease_until_ms);

-- One row per node that ever ran against this database.
CREATE TABLE nodes (
    -- --node-name (default the host name).
    name          TEXT    NOT NULL PRIMARY KEY,
    -- Random per process start: tells a restarted node from the one before.
    instance      TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    -- Encode slots.
    workers       INTEGER NOT NULL,
    -- JSON array of the encoder names the node found (e.g. ["libx264", "h264_nvenc"]).
    encoders_json TEXT    NOT NULL DEFAULT '[]',
    -- RFC 3339 UTC, and the last heartbeat as Unix milliseconds.
    started_at    TEXT    NOT NULL,
    heartbeat_at  TEXT    NOT NULL,
    heartbeat_ms  INTEGER NOT NULL,
    -- 1 once the node stopped cleanly.
    stopped       INTEGER NOT NULL DEFAULT 0 CHECK (stopped IN (0, 1))
);

-- Work done once per farm, not once per node (webhook delivery, retention,
-- upload expiry, watch folders): the holder renews its claim; another node
-- takes it over when `until_ms` passed.
CREATE TABLE duties (
    name     TEXT    NOT NULL PRIMARY KEY,
    holder   TEXT    NOT NULL,
    until_ms INTEGER NOT NULL
);
