-- data-quality: totals since the database was created, from the consumer's committed batches
-- (one row per batch; a retried batch row is dropped by its insert token).
SELECT sum(inserted) AS events,
       sum(duplicates) AS duplicates,
       sum(rejected) AS rejected,
       sumMap(rejected_by_reason) AS rejected_by_reason,
       sum(late_events) AS late_events,
       sum(subtotal_mismatch) AS subtotal_mismatch,
       sum(total_mismatch) AS total_mismatch,
       sum(conflicting_duplicates) AS conflicting_duplicates,
       sum(naive_timestamps) AS naive_timestamps
FROM ingest_batches FINAL
