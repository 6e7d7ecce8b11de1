-- Crema service store, version 3: an upload's probe facts, recorded when it
-- is completed, so a job can be submitted from an upload kept in the bucket
-- without downloading it again (the same column as
-- migrations/0012_upload_facts.sql).

-- JSON: {"codec", "bit_depth", "hdr", "width", "height", "rotation",
-- "audio_tracks"} (pixels; rotation in degrees clockwise), NULL when the
-- file is not media or the row is older than version 3.
ALTER TABLE uploads ADD COLUMN facts_json TEXT;
