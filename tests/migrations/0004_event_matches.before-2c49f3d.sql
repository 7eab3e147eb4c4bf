-- One slim row per event, with the matches wait-times and turnover need kept as data, so that
-- those metrics read one key range of the window instead of joining at query time.
--  * A materialized view writes each event's row with every match "none" (the defaults).
--  * After each batch the consumer adds candidate rows (sql/matches/): for an event of the batch
--    its match in what is stored, and for stored events a late seating, placement or
--    completion of the batch may now match. Each match is a max or min over its candidates, so
--    repeats (retries, crash replays, redeliveries) change nothing, and the merged row is the
--    match over everything stored, whatever the arrival order.
--  * A match never depends on as_of except through its own timestamp: a query keeps the ones
--    at or before as_of. Seatings are at or before their placement, which is in the window.
CREATE TABLE IF NOT EXISTS {{local:event_matches}} {{on_cluster}}
(
    event_type Enum8('table_seated' = 1, 'order_placed' = 2, 'order_completed' = 3, 'payment' = 4),
    ts DateTime64(3, 'UTC'),
    event_id UUID,
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
    first_placement SimpleAggregateFunction(min, Tuple(placed_ts DateTime64(3, 'UTC'), placed_id UInt128, minus_seat_ms Int64))
        DEFAULT (toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC'), 0, 0)
        COMMENT 'payment: its order''s earliest placement (ties: smaller id) and minus that placement''s seating in ms; min keeps the latest seating found'
)
ENGINE = {{engine:event_matches:AggregatingMergeTree}}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (event_type, ts, event_id)
TTL toDateTime(ts) + INTERVAL {{ttl_days}} DAY DELETE
SETTINGS ttl_only_drop_parts = 1;
-- @distributed event_matches BY cityHash64(restaurant_id)

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local:event_matches_mv}} {{on_cluster}} TO {{local:event_matches}} AS
SELECT event_type, ts, event_id, restaurant_id, table_id, kitchen_time_minutes
FROM {{local:events}};

-- Events stored before this migration get their rows once, through the (distributed) tables so
-- a cluster fills every shard; their matches come from `tablepulse rematch`, which `migrate`
-- runs after this migration.
INSERT INTO event_matches (event_type, ts, event_id, restaurant_id, table_id, kitchen_time_minutes)
SELECT event_type, ts, event_id, restaurant_id, table_id, kitchen_time_minutes
FROM events;

-- Payments join the order stages: a late placement or completion finds the payments of its order.
CREATE MATERIALIZED VIEW IF NOT EXISTS {{local:order_payments_mv}} {{on_cluster}} TO {{local:order_stages}} AS
SELECT order_id, event_type, ts, event_id, restaurant_id, table_id
FROM {{local:events}}
WHERE event_type = 'payment';

INSERT INTO order_stages (order_id, event_type, ts, event_id, restaurant_id, table_id)
SELECT order_id, event_type, ts, event_id, restaurant_id, table_id
FROM events
WHERE event_type = 'payment';
