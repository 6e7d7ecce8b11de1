-- Crema service store, version 11: uploads kept in the bucket (farm mode with
-- --object-store, issue 11) and the node that holds a local upload's files
-- (the same columns as migrations-postgres/0002_upload_objects.sql).

-- The bucket's multipart upload that takes this upload's parts; NULL when the
-- parts are files in <data dir>/uploads/<id>/ of the node in `node`.
ALTER TABLE uploads ADD COLUMN multipart_id TEXT;
-- --node-name of the node whose disk holds the parts (NULL: the bucket, or a
-- row from before version 11). Open-time recovery and expiry of local files
-- look only at their own node's uploads.
ALTER TABLE uploads ADD COLUMN node TEXT;
-- The part's ETag from the bucket (multipart uploads only).
ALTER TABLE upload_parts ADD COLUMN etag TEXT;
