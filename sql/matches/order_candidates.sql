-- Order candidates, run after seat_candidates.sql (it reads the seatings that one stored). For
-- every order with a placement, completion or payment in the refreshed ranges, or with a
-- placement whose seating may have changed (as in seat_candidates.sql): its earliest placement
-- (ties: smaller id), that placement's seating, and its earliest completion, from everything
-- stored, written to the order's completions (placed_ts) and payments (completed_ts,
-- first_placement). min() over candidates keeps the true values whatever arrived last.
INSERT INTO event_matches
    (event_type, ts, event_id, restaurant_id, table_id, placed_ts, completed_ts, first_placement)
WITH
toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC') AS none_yet,
toDateTime64('1900-01-01 00:00:00', 3, 'UTC') AS no_seat,
-- The stages of those orders, read once: order_stages is ordered by order_id, so a few hundred
-- ids touch most of its granules, and a CTE is read again at each of its three references; a
-- scalar subquery is evaluated once per statement (DESIGN §6a: half the time at 1M events).
(
    SELECT groupArray((order_id, event_type, ts, event_id, restaurant_id, table_id))
    FROM order_stages
    WHERE order_id IN
        (SELECT order_id FROM events
         WHERE event_type IN ('order_placed', 'order_completed', 'payment')
           AND ts >= {scan_start:DateTime64(3, 'UTC')} AND ts <= {scan_end:DateTime64(3, 'UTC')}
           AND (({{ranges}})
                OR (event_type = 'order_placed' AND (restaurant_id, table_id) IN {{seated_tables}})))
) AS stage_rows,
stages AS
(
    SELECT tupleElement(stage, 1) AS order_id, tupleElement(stage, 2) AS event_type,
           tupleElement(stage, 3) AS ts, tupleElement(stage, 4) AS event_id,
           tupleElement(stage, 5) AS restaurant_id, tupleElement(stage, 6) AS table_id
    FROM (SELECT arrayJoin(stage_rows) AS stage)
),
orders AS
(
    SELECT order_id,
           countIf(event_type = 'order_placed') > 0 AS has_placement,
           minIf((ts, event_id), event_type = 'order_placed') AS first_placed,
           countIf(event_type = 'order_completed') > 0 AS has_completion,
           minIf(ts, event_type = 'order_completed') AS first_completed
    FROM stages
    GROUP BY order_id
),
placement_seats AS
(
    SELECT ts, event_id, max(seat_ts) AS seat_ts, 1 AS found
    FROM event_matches
    WHERE event_type = 'order_placed'
      AND (ts, event_id) IN (SELECT ts, event_id FROM stages WHERE event_type = 'order_placed')
    GROUP BY ts, event_id
)
SELECT s.event_type, s.ts, s.event_id, s.restaurant_id, s.table_id,
       if(s.event_type = 'order_completed' AND o.has_placement, tupleElement(o.first_placed, 1), none_yet),
       if(s.event_type = 'payment' AND o.has_completion, o.first_completed, none_yet),
       if(s.event_type = 'payment' AND o.has_placement,
          (tupleElement(o.first_placed, 1), tupleElement(o.first_placed, 2),
           -toUnixTimestamp64Milli(if(ps.found = 1, ps.seat_ts, no_seat))),
          (none_yet, '', toInt64(0)))
FROM stages AS s
INNER JOIN orders AS o ON o.order_id = s.order_id
LEFT JOIN placement_seats AS ps
    ON ps.ts = tupleElement(o.first_placed, 1) AND ps.event_id = tupleElement(o.first_placed, 2)
WHERE s.event_type IN ('order_completed', 'payment')
SETTINGS join_use_nulls = 0
