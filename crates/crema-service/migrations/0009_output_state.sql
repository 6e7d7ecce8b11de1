-- output.state is the SDKs' closed enum: `pending` | `available` (contract,
-- "Jobs"). Earlier rows said `ready` (now `available`), `expired` (now
-- `available` with the extension flag `expired`: retention deleted the files)
-- and `none` (now `pending`: the job's status says no output will come).
UPDATE jobs SET output_json = json_set(output_json, '$.state', 'available')
  WHERE json_extract(output_json, '$.state') = 'ready';
UPDATE jobs SET output_json = json_set(output_json, '$.state', 'available', '$.expired', json('true'))
  WHERE json_extract(output_json, '$.state') = 'expired';
UPDATE jobs SET output_json = json_set(output_json, '$.state', 'pending')
  WHERE json_extract(output_json, '$.state') = 'none';
