-- A followed file can be truncated or rotated: each content its path holds in turn is read as
-- a generation of its own (source_id "file:<path>#N" after the first). A checkpoint records
-- which file it was read from and the bytes just before its end, so a resumed run continues
-- only where the file still holds what was read (docs/DESIGN.md §4).
ALTER TABLE {{local:ingest_batches}} {{on_cluster}}
    ADD COLUMN IF NOT EXISTS file_identity String DEFAULT '' COMMENT 'device:inode of the file read' AFTER end_line,
    ADD COLUMN IF NOT EXISTS end_tail String DEFAULT '' COMMENT 'hex of the last 32 bytes before end_offset' AFTER file_identity;

-- On a cluster the Distributed table has its own column list: it needs them (and 0006's
-- naive_timestamps) too. On one node this is the table above again, and a no-op.
ALTER TABLE ingest_batches {{on_cluster}}
    ADD COLUMN IF NOT EXISTS naive_timestamps UInt64 DEFAULT 0 AFTER total_mismatch,
    ADD COLUMN IF NOT EXISTS file_identity String DEFAULT '' AFTER end_line,
    ADD COLUMN IF NOT EXISTS end_tail String DEFAULT '' AFTER file_identity;
