-- Seating candidates (event_matches.seat_ts) for the placements whose seating may have changed:
-- those in the refreshed ranges, and later ones of a table that got a seating in those ranges
-- (a late seating). Each gets the latest seating of its table at or before it, from what is
-- stored now; max() over candidates keeps the true one, whichever arrived last.
-- {{ranges}} is an OR of `ts BETWEEN` over the ranges, {{seated_tables}} the tables with a
-- seating in them (both written out by src/ingest/matcher.cpp, shared with
-- order_candidates.sql); [scan_start, scan_end] bounds the scan (a batch leaves scan_end
-- open: a late seating can change any later placement).
-- Seatings are sought in the 30 minutes before the scan first; a table whose first placement
-- has none there reads its whole history from `seatings`, which is ordered by table.
INSERT INTO event_matches (event_type, ts, event_id, restaurant_id, table_id, seat_ts)
WITH
placed AS
(
    SELECT event_type, ts, event_id, restaurant_id, table_id
    FROM events
    WHERE event_type = 'order_placed'
      AND ts >= {scan_start:DateTime64(3, 'UTC')} AND ts <= {scan_end:DateTime64(3, 'UTC')}
      AND (({{ranges}})
           OR (restaurant_id, table_id) IN {{seated_tables}})
),
recent_seats AS
(
    SELECT restaurant_id, table_id, ts AS seat_ts
    FROM events
    WHERE event_type = 'table_seated'
      AND ts >= {scan_start:DateTime64(3, 'UTC')} - INTERVAL 30 MINUTE
      AND ts <= {scan_end:DateTime64(3, 'UTC')}
),
-- A table whose first placement has a recent seating at or before it has one for every later
-- placement too; only the others need history.
tables_needing_history AS
(
    SELECT p.restaurant_id AS restaurant_id, p.table_id AS table_id
    FROM
    (
        SELECT restaurant_id, table_id, min(ts) AS first_placed
        FROM placed GROUP BY restaurant_id, table_id
    ) AS p
    LEFT JOIN
    (
        SELECT restaurant_id, table_id, min(seat_ts) AS first_seat, 1 AS found
        FROM recent_seats GROUP BY restaurant_id, table_id
    ) AS s ON s.restaurant_id = p.restaurant_id AND s.table_id = p.table_id
    WHERE s.found = 0 OR s.first_seat > p.first_placed
),
seat_candidates AS
(
    SELECT restaurant_id, table_id, seat_ts FROM recent_seats
    UNION ALL
    SELECT restaurant_id, table_id, ts AS seat_ts
    FROM seatings
    WHERE ts < {scan_start:DateTime64(3, 'UTC')} - INTERVAL 30 MINUTE
      AND (restaurant_id, table_id) IN (SELECT restaurant_id, table_id FROM tables_needing_history)
)
SELECT p.event_type, p.ts, p.event_id, p.restaurant_id, p.table_id, s.seat_ts
FROM placed AS p
ASOF INNER JOIN seat_candidates AS s
    ON p.restaurant_id = s.restaurant_id AND p.table_id = s.table_id AND p.ts >= s.seat_ts
SETTINGS join_use_nulls = 0
