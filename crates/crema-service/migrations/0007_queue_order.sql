-- Queue order, separate from the insertion sequence: `seq` stays the stable
-- key of pagination cursors ("newest first"), while `queue_order` lets a user
-- move queued jobs up or down. NULL means "at its insertion position" (seq);
-- workers claim by COALESCE(queue_order, seq), then seq.
ALTER TABLE jobs ADD COLUMN queue_order REAL;
CREATE INDEX jobs_queue_order ON jobs (status, queue_order);
