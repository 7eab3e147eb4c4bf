-- The brief's events: event_id is an opaque string (usually a UUID, any id up to 128 bytes),
-- and line items carry `price`. Every table keyed by event_id is rebuilt in place with
-- event_id String (UUIDs stored in canonical lower case, as toString(UUID) wrote them, so
-- every stored id, tie-break and match keeps its value), and items' `unit_price` is `price`.
-- The id column is ZSTD-compressed: hex text gains little from LZ4 (1M events: 94.7 bytes a
-- row of `events` with LZ4, 78.4 with ZSTD(1), 74.1 with the UUID column).
--
-- event_id is in each table's sorting key, and ClickHouse cannot change a key column's type,
-- so each table T is copied into T_0006 and swapped with it. Each step runs only while T still
-- has the old type (`-- @when`), so an interrupted migration is simply run again: a partial
-- copy is dropped and made anew; after the swap only the drop of the old copy is left.
-- The views on `events` are dropped first and made again last, against the new tables.
-- Consumers must be stopped while it runs (an embedded database is opened by one process).

DROP VIEW IF EXISTS {{local:order_items_mv}} {{on_cluster}};
DROP VIEW IF EXISTS {{local:seatings_mv}} {{on_cluster}};
DROP VIEW IF EXISTS {{local:order_stages_mv}} {{on_cluster}};
DROP VIEW IF EXISTS {{local:restaurant_names_mv}} {{on_cluster}};
DROP VIEW IF EXISTS {{local:event_matches_mv}} {{on_cluster}};

-- events ------------------------------------------------------------------------------------
-- @when {{local:events}}.event_id UUID
DROP TABLE IF EXISTS {{local:events_0006}} {{on_cluster}} SYNC;
-- @when {{local:events}}.event_id UUID
CREATE TABLE {{local:events_0006}} {{on_cluster}}
(
    event_id String CODEC(ZSTD(1)) COMMENT 'as sent, 1-128 bytes; a UUID in canonical lower case (one id whatever its case)',
    event_type Enum8('table_seated' = 1, 'order_placed' = 2, 'order_completed' = 3, 'payment' = 4),
    ts DateTime64(3, 'UTC'),
    restaurant_id LowCardinality(String),
    restaurant_name LowCardinality(String),
    table_id LowCardinality(String),
    order_id String,
    server_id LowCardinality(String),
    party_size UInt16,
    items Array(Tuple(item_id String, item_name String, category LowCardinality(String), quantity UInt32, price Decimal(12, 2))) COMMENT 'price: the unit price, as the brief names it',
    subtotal Decimal(12, 2),
    tax Decimal(12, 2),
    tip Decimal(12, 2),
    total_amount Decimal(12, 2),
    payment_method LowCardinality(String) COMMENT 'as sent: credit_card, debit_card, cash, …',
    kitchen_time_minutes Nullable(Float64),
    content_hash UInt64 COMMENT 'hash of the normalised event: tells a redelivery from a conflicting one',
    source_id LowCardinality(String) COMMENT 'where the consumer read it (file identity or stream)',
    source_offset UInt64 COMMENT 'byte offset of the line in its source: a resumed run recognises its own rows',
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    keep_rank UInt64 MATERIALIZED 18446744073709551615 - toUInt64(toUnixTimestamp64Milli(ingested_at))
)
ENGINE = {{engine:events_0006:ReplacingMergeTree(keep_rank)}}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (event_type, ts, event_id)
TTL toDateTime(ts) + INTERVAL {{ttl_days}} DAY DELETE
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1,
         min_bytes_for_wide_part = 134217728;
-- @when {{local:events}}.event_id UUID
-- @distributed events_0006 BY cityHash64(restaurant_id)
-- @when {{local:events}}.event_id UUID
INSERT INTO events_0006
    (event_id, event_type, ts, restaurant_id, restaurant_name, table_id, order_id, server_id,
     party_size, items, subtotal, tax, tip, total_amount, payment_method, kitchen_time_minutes,
     content_hash, source_id, source_offset, ingested_at)
SELECT toString(event_id), event_type, ts, restaurant_id, restaurant_name, table_id, order_id,
       server_id, party_size,
       arrayMap(i -> (i.item_id, i.item_name, i.category, i.quantity, i.unit_price), items),
       subtotal, tax, tip, total_amount, payment_method, kitchen_time_minutes, content_hash,
       source_id, source_offset, ingested_at
FROM events
SETTINGS insert_deduplicate = 0, insert_distributed_sync = 1;
-- @when {{local:events}}.event_id UUID
EXCHANGE TABLES {{local:events}} AND {{local:events_0006}} {{on_cluster}};
DROP TABLE IF EXISTS {{local:events_0006}} {{on_cluster}} SYNC;
-- @drop-distributed events_0006

-- order_items -------------------------------------------------------------------------------
-- @when {{local:order_items}}.event_id UUID
DROP TABLE IF EXISTS {{local:order_items_0006}} {{on_cluster}} SYNC;
-- @when {{local:order_items}}.event_id UUID
CREATE TABLE {{local:order_items_0006}} {{on_cluster}}
(
    ts DateTime64(3, 'UTC'),
    event_id String CODEC(ZSTD(1)),
    line_no UInt16,
    restaurant_id LowCardinality(String),
    order_id String,
    item_id String,
    item_name String,
    category LowCardinality(String),
    quantity UInt32,
    price Decimal(12, 2) COMMENT 'the unit price'
)
ENGINE = {{engine:order_items_0006:ReplacingMergeTree}}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (ts, event_id, line_no)
TTL toDateTime(ts) + INTERVAL {{ttl_days}} DAY DELETE
SETTINGS ttl_only_drop_parts = 1, min_bytes_for_wide_part = 134217728;
-- @when {{local:order_items}}.event_id UUID
-- @distributed order_items_0006 BY cityHash64(restaurant_id)
-- @when {{local:order_items}}.event_id UUID
INSERT INTO order_items_0006
    (ts, event_id, line_no, restaurant_id, order_id, item_id, item_name, category, quantity, price)
SELECT ts, toString(event_id), line_no, restaurant_id, order_id, item_id, item_name, category,
       quantity, unit_price
FROM order_items
SETTINGS insert_deduplicate = 0, insert_distributed_sync = 1;
-- @when {{local:order_items}}.event_id UUID
EXCHANGE TABLES {{local:order_items}} AND {{local:order_items_0006}} {{on_cluster}};
DROP TABLE IF EXISTS {{local:order_items_0006}} {{on_cluster}} SYNC;
-- @drop-distributed order_items_0006

-- seatings ----------------------------------------------------------------------------------
-- @when {{local:seatings}}.event_id UUID
DROP TABLE IF EXISTS {{local:seatings_0006}} {{on_cluster}} SYNC;
-- @when {{local:seatings}}.event_id UUID
CREATE TABLE {{local:seatings_0006}} {{on_cluster}}
(
    restaurant_id LowCardinality(String),
    table_id LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    event_id String CODEC(ZSTD(1))
)
ENGINE = {{engine:seatings_0006:ReplacingMergeTree}}
PARTITION BY toYYYYMM(ts)
ORDER BY (restaurant_id, table_id, ts, event_id)
TTL toDateTime(ts) + INTERVAL {{ttl_days}} DAY DELETE;
-- @when {{local:seatings}}.event_id UUID
-- @distributed seatings_0006 BY cityHash64(restaurant_id)
-- @when {{local:seatings}}.event_id UUID
INSERT INTO seatings_0006 (restaurant_id, table_id, ts, event_id)
SELECT restaurant_id, table_id, ts, toString(event_id)
FROM seatings
SETTINGS insert_deduplicate = 0, insert_distributed_sync = 1;
-- @when {{local:seatings}}.event_id UUID
EXCHANGE TABLES {{local:seatings}} AND {{local:seatings_0006}} {{on_cluster}};
DROP TABLE IF EXISTS {{local:seatings_0006}} {{on_cluster}} SYNC;
-- @drop-distributed seatings_0006

-- order_stages ------------------------------------------------------------------------------
-- @when {{local:order_stages}}.event_id UUID
DROP TABLE IF EXISTS {{local:order_stages_0006}} {{on_cluster}} SYNC;
-- @when {{local:order_stages}}.event_id UUID
CREATE TABLE {{local:order_stages_0006}} {{on_cluster}}
(
    order_id String,
    event_type Enum8('table_seated' = 1, 'order_placed' = 2, 'order_completed' = 3, 'payment' = 4),
    ts DateTime64(3, 'UTC'),
    event_id String CODEC(ZSTD(1)),
    restaurant_id LowCardinality(String),
    table_id LowCardinality(String)
)
ENGINE = {{engine:order_stages_0006:ReplacingMergeTree}}
PARTITION BY toYYYYMM(ts)
ORDER BY (order_id, event_type, ts, event_id)
TTL toDateTime(ts) + INTERVAL {{ttl_days}} DAY DELETE
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 134217728;
-- @when {{local:order_stages}}.event_id UUID
-- @distributed order_stages_0006 BY cityHash64(restaurant_id)
-- @when {{local:order_stages}}.event_id UUID
INSERT INTO order_stages_0006 (order_id, event_type, ts, event_id, restaurant_id, table_id)
SELECT order_id, event_type, ts, toString(event_id), restaurant_id, table_id
FROM order_stages
SETTINGS insert_deduplicate = 0, insert_distributed_sync = 1;
-- @when {{local:order_stages}}.event_id UUID
EXCHANGE TABLES {{local:order_stages}} AND {{local:order_stages_0006}} {{on_cluster}};
DROP TABLE IF EXISTS {{local:order_stages_0006}} {{on_cluster}} SYNC;
-- @drop-distributed order_stages_0006

-- event_matches: first_placement's id (toUInt128 of the UUID, which orders as its text does)
-- becomes the id's text, so min() over candidates keeps choosing the same placement.
-- @when {{local:event_matches}}.event_id UUID
DROP TABLE IF EXISTS {{local:event_matches_0006}} {{on_cluster}} SYNC;
-- @when {{local:event_matches}}.event_id UUID
CREATE TABLE {{local:event_matches_0006}} {{on_cluster}}
(
    event_type Enum8('table_seated' = 1, 'order_placed' = 2, 'order_completed' = 3, 'payment' = 4),
    ts DateTime64(3, 'UTC'),
    event_id String CODEC(ZSTD(1)),
    restaurant_id SimpleAggregateFunction(any, LowCardinality(String)) COMMENT 'the event''s own, on each of its rows',
    table_id SimpleAggregateFunction(any, LowCardinality(String)),
    kitchen_time_minutes SimpleAggregateFunction(max, Nullable(Float64)) COMMENT 'order_completed: as reported; candidate rows carry NULL',
    seat_ts SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
        DEFAULT toDateTime64('1900-01-01 00:00:00', 3, 'UTC')
        COMMENT 'order_placed: latest seating of its table at or before it (1900-01-01: none)',
    placed_ts SimpleAggregateFunction(min, DateTime64(3, 'UTC'))
        DEFAULT toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC')
        COMMENT 'order_completed: earliest placement of its order (2299-12-31: none)',
    completed_ts SimpleAggregateFunction(min, DateTime64(3, 'UTC'))
        DEFAULT toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC')
        COMMENT 'payment: earliest completion of its order (2299-12-31: none)',
    first_placement SimpleAggregateFunction(min, Tuple(placed_ts DateTime64(3, 'UTC'), placed_id String, minus_seat_ms Int64))
        DEFAULT (toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC'), '', 0)
        COMMENT 'payment: its order''s earliest placement (ties: smaller id) and minus that placement''s seating in ms; min keeps the latest seating found'
)
ENGINE = {{engine:event_matches_0006:AggregatingMergeTree}}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (event_type, ts, event_id)
TTL toDateTime(ts) + INTERVAL {{ttl_days}} DAY DELETE
SETTINGS ttl_only_drop_parts = 1, min_bytes_for_wide_part = 134217728;
-- @when {{local:event_matches}}.event_id UUID
-- @distributed event_matches_0006 BY cityHash64(restaurant_id)
-- @when {{local:event_matches}}.event_id UUID
INSERT INTO event_matches_0006
    (event_type, ts, event_id, restaurant_id, table_id, kitchen_time_minutes, seat_ts, placed_ts,
     completed_ts, first_placement)
SELECT event_type, ts, toString(event_id), restaurant_id, table_id, kitchen_time_minutes,
       seat_ts, placed_ts, completed_ts,
       (tupleElement(first_placement, 1),
        if(tupleElement(first_placement, 2) = 0, '',
           concat(substring(hex_id, 1, 8), '-', substring(hex_id, 9, 4), '-',
                  substring(hex_id, 13, 4), '-', substring(hex_id, 17, 4), '-',
                  substring(hex_id, 21, 12))),
        tupleElement(first_placement, 3))
FROM
(
    SELECT *, leftPad(lower(hex(tupleElement(first_placement, 2))), 32, '0') AS hex_id
    FROM event_matches
)
SETTINGS insert_deduplicate = 0, insert_distributed_sync = 1;
-- @when {{local:event_matches}}.event_id UUID
EXCHANGE TABLES {{local:event_matches}} AND {{local:event_matches_0006}} {{on_cluster}};
DROP TABLE IF EXISTS {{local:event_matches_0006}} {{on_cluster}} SYNC;
-- @drop-distributed event_matches_0006

-- The views, against the new tables (as 0002, 0004 and 0005 made them, with the new names).
CREATE MATERIALIZED VIEW IF NOT EXISTS {{local:order_items_mv}} {{on_cluster}} TO {{local:order_items}} AS
SELECT ts, event_id, toUInt16(line_no) AS line_no, restaurant_id, order_id,
       item.item_id AS item_id, item.item_name AS item_name, item.category AS category,
       item.quantity AS quantity, item.price AS price
FROM {{local:events}}
ARRAY JOIN items AS item, arrayEnumerate(items) AS line_no
WHERE event_type = 'order_placed';

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local:seatings_mv}} {{on_cluster}} TO {{local:seatings}} AS
SELECT restaurant_id, table_id, ts, event_id
FROM {{local:events}}
WHERE event_type = 'table_seated';

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local:order_stages_mv}} {{on_cluster}} TO {{local:order_stages}} AS
SELECT order_id, event_type, ts, event_id, restaurant_id, table_id
FROM {{local:events}}
WHERE event_type IN ('order_placed', 'order_completed', 'payment');

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local:restaurant_names_mv}} {{on_cluster}} TO {{local:restaurant_names}} AS
SELECT restaurant_id, toStartOfHour(ts) AS hour,
       argMaxState(toString(restaurant_name), (ts, event_id)) AS name_state, max(ts) AS last_ts
FROM {{local:events}}
GROUP BY restaurant_id, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local:event_matches_mv}} {{on_cluster}} TO {{local:event_matches}} AS
SELECT event_type, ts, event_id, restaurant_id, table_id, kitchen_time_minutes
FROM {{local:events}};

-- Data quality counts the events whose timestamp named no zone (read in --default-timezone).
ALTER TABLE {{local:ingest_batches}} {{on_cluster}}
    ADD COLUMN IF NOT EXISTS naive_timestamps UInt64 DEFAULT 0 AFTER total_mismatch;
