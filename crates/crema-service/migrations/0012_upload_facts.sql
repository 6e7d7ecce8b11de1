-- Crema service store, version 12: an upload's probe facts, recorded when it
-- is completed, so a job can be submitted from an upload kept in the bucket
-- without downloading it again (the same column as
-- migrations-postgres/0003_upload_facts.sql).

-- JSON: {"codec", "bit_depth", "hdr", "width", "height", "rotation",
-- "audio_tracks"} (pixels; rotation in degrees clockwise), NULL when the
-- file is not media or the row is older than version 12.
ALTER TABLE uploads ADD COLUMN facts_json TEXT;
