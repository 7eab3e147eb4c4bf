-- One row per committed consumer batch: its counters (data-quality totals) and, for files,
-- the position to resume from. A retried insert of the same row is dropped by its
-- deduplication token; run_id keeps a deliberate re-read (--no-resume) from replacing history.
CREATE TABLE IF NOT EXISTS {{local:ingest_batches}} {{on_cluster}}
(
    source_id LowCardinality(String),
    run_id String,
    start_offset UInt64,
    end_offset UInt64,
    end_line UInt64 COMMENT 'lines (blank included) of the source up to end_offset: line numbers survive a resume',
    committed_at DateTime64(3, 'UTC') DEFAULT now64(3),
    lines UInt64,
    blank UInt64,
    inserted UInt64,
    duplicates UInt64,
    conflicting_duplicates UInt64,
    rejected UInt64,
    rejected_by_reason Map(LowCardinality(String), UInt64),
    late_events UInt64,
    subtotal_mismatch UInt64,
    total_mismatch UInt64,
    min_event_ts DateTime64(3, 'UTC'),
    max_event_ts DateTime64(3, 'UTC')
)
ENGINE = {{engine:ingest_batches:ReplacingMergeTree(committed_at)}}
ORDER BY (source_id, start_offset, run_id);
-- @distributed ingest_batches BY cityHash64(source_id)
