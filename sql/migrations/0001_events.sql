-- Every valid event, once. ReplacingMergeTree collapses redeliveries that reach storage (same
-- event_type, ts and event_id); queries read it with FINAL, so unmerged duplicates never count.
-- keep_rank makes the FIRST delivery win a merge (earlier ingestion = higher rank).
CREATE TABLE IF NOT EXISTS {{local:events}} {{on_cluster}}
(
    event_id UUID,
    event_type Enum8('table_seated' = 1, 'order_placed' = 2, 'order_completed' = 3, 'payment' = 4),
    ts DateTime64(3, 'UTC'),
    restaurant_id LowCardinality(String),
    restaurant_name LowCardinality(String),
    table_id LowCardinality(String),
    order_id String,
    server_id LowCardinality(String),
    party_size UInt16,
    items Array(Tuple(item_id String, item_name String, category LowCardinality(String), quantity UInt32, unit_price Decimal(12, 2))),
    subtotal Decimal(12, 2),
    tax Decimal(12, 2),
    tip Decimal(12, 2),
    total_amount Decimal(12, 2),
    payment_method LowCardinality(String),
    kitchen_time_minutes Nullable(Float64),
    content_hash UInt64 COMMENT 'hash of the normalised event: tells a redelivery from a conflicting one',
    source_id LowCardinality(String) COMMENT 'where the consumer read it (file identity or stream)',
    source_offset UInt64 COMMENT 'byte offset of the line in its source: a resumed run recognises its own rows',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    keep_rank UInt64 MATERIALIZED 18446744073709551615 - toUInt64(toUnixTimestamp64Milli(ingested_at))
)
ENGINE = {{engine:events:ReplacingMergeTree(keep_rank)}}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (event_type, ts, event_id)
TTL toDateTime(ts) + INTERVAL {{ttl_days}} DAY DELETE
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;
-- @distributed events BY cityHash64(restaurant_id)
