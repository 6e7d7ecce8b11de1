-- Output retention: when a completed job's output is deleted (unix seconds,
-- UTC), mirrored from output_json.retention_expires_at so the cleanup task
-- finds due jobs through an index instead of parsing every row's JSON.
ALTER TABLE jobs ADD COLUMN output_expires_unix INTEGER;
CREATE INDEX jobs_output_expires ON jobs (output_expires_unix) WHERE output_expires_unix IS NOT NULL;
