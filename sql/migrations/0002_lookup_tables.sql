-- Line items of every order_placed, one row each (multi-item orders without arrays at query
-- time). Filled by a materialized view at insert; ReplacingMergeTree + FINAL keeps it exact.
CREATE TABLE IF NOT EXISTS {{local:order_items}} {{on_cluster}}
(
    ts DateTime64(3, 'UTC'),
    event_id UUID,
    line_no UInt16,
    restaurant_id LowCardinality(String),
    order_id String,
    item_id String,
    item_name String,
    category LowCardinality(String),
    quantity UInt32,
    unit_price Decimal(12, 2)
)
ENGINE = {{engine:order_items:ReplacingMergeTree}}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (ts, event_id, line_no)
TTL toDateTime(ts) + INTERVAL {{ttl_days}} DAY DELETE
SETTINGS ttl_only_drop_parts = 1;
-- @distributed order_items BY cityHash64(restaurant_id)

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local:order_items_mv}} {{on_cluster}} TO {{local:order_items}} AS
SELECT ts, event_id, toUInt16(line_no) AS line_no, restaurant_id, order_id,
       item.item_id AS item_id, item.item_name AS item_name, item.category AS category,
       item.quantity AS quantity, item.unit_price AS unit_price
FROM {{local:events}}
ARRAY JOIN items AS item, arrayEnumerate(items) AS line_no
WHERE event_type = 'order_placed';

-- Seatings by table and time: the right side of the ASOF JOIN that matches an order to the
-- latest seating of its table, however long before the window that seating was.
CREATE TABLE IF NOT EXISTS {{local:seatings}} {{on_cluster}}
(
    restaurant_id LowCardinality(String),
    table_id LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    event_id UUID
)
ENGINE = {{engine:seatings:ReplacingMergeTree}}
PARTITION BY toYYYYMM(ts)
ORDER BY (restaurant_id, table_id, ts, event_id)
TTL toDateTime(ts) + INTERVAL {{ttl_days}} DAY DELETE;
-- @distributed seatings BY cityHash64(restaurant_id)

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local:seatings_mv}} {{on_cluster}} TO {{local:seatings}} AS
SELECT restaurant_id, table_id, ts, event_id
FROM {{local:events}}
WHERE event_type = 'table_seated';

-- Order stages by order_id: finds an order's placement (or completion) for the wait-time
-- metrics without scanning by time; small granules because lookups are point lookups.
CREATE TABLE IF NOT EXISTS {{local:order_stages}} {{on_cluster}}
(
    order_id String,
    event_type Enum8('table_seated' = 1, 'order_placed' = 2, 'order_completed' = 3, 'payment' = 4),
    ts DateTime64(3, 'UTC'),
    event_id UUID,
    restaurant_id LowCardinality(String),
    table_id LowCardinality(String)
)
ENGINE = {{engine:order_stages:ReplacingMergeTree}}
PARTITION BY toYYYYMM(ts)
ORDER BY (order_id, event_type, ts, event_id)
TTL toDateTime(ts) + INTERVAL {{ttl_days}} DAY DELETE
SETTINGS index_granularity = 1024;
-- @distributed order_stages BY cityHash64(restaurant_id)

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local:order_stages_mv}} {{on_cluster}} TO {{local:order_stages}} AS
SELECT order_id, event_type, ts, event_id, restaurant_id, table_id
FROM {{local:events}}
WHERE event_type IN ('order_placed', 'order_completed');

-- The latest name of each restaurant per hour ("latest" = greatest (ts, event_id), the tie-break
-- every metric uses). argMax is idempotent, so a duplicate that reaches this view can never
-- change its answer (sums are never pre-aggregated in views: a duplicate would count twice).
CREATE TABLE IF NOT EXISTS {{local:restaurant_names}} {{on_cluster}}
(
    restaurant_id LowCardinality(String),
    hour DateTime('UTC'),
    name_state AggregateFunction(argMax, String, Tuple(DateTime64(3, 'UTC'), String)),
    last_ts SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = {{engine:restaurant_names:AggregatingMergeTree}}
ORDER BY (restaurant_id, hour)
TTL hour + INTERVAL {{ttl_days}} DAY DELETE;
-- @distributed restaurant_names BY cityHash64(restaurant_id)

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local:restaurant_names_mv}} {{on_cluster}} TO {{local:restaurant_names}} AS
SELECT restaurant_id, toStartOfHour(ts) AS hour,
       argMaxState(toString(restaurant_name), (ts, toString(event_id))) AS name_state, max(ts) AS last_ts
FROM {{local:events}}
GROUP BY restaurant_id, hour;
