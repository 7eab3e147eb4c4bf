-- data-quality: totals since the database was created, from the consumer's committed batches
-- (one row per batch; a retried batch row is dropped by its insert token). The select list is
-- made from the counter registry (src/ingest/counters.h): sum(inserted) AS events,
-- sum(duplicates) AS duplicates, sum(rejected) AS rejected, sumMap(rejected_by_reason) AS
-- rejected_by_reason, then late_events, subtotal_mismatch, total_mismatch,
-- conflicting_duplicates and naive_timestamps, each the sum of its column.
SELECT {{data_quality_counters}}
FROM ingest_batches FINAL
