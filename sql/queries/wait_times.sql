-- wait-times: per restaurant, three matched intervals and the reported kitchen time.
--  * seat -> order: each order_placed P in the window, ASOF-joined to the latest seating of its
--    restaurant and table at or before P;
--  * kitchen: each order_completed C in the window minus its order's placement (the earliest
--    order_placed of the order at or before as_of);
--  * completion -> payment: each payment Y in the window minus its order's first completion.
-- Matches are first sought in the recent past ({recent_start} = window start - 2 h), a narrow
-- range of the (event_type, ts) key; only what is not found there is looked up in all history
-- (seatings by table, order_stages by order_id), so the answer is exact and usually cheap.
WITH
{{names}},
placed AS
(
    SELECT restaurant_id, table_id, ts
    FROM events FINAL
    WHERE event_type = 'order_placed'
      AND ts > {window_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ({restaurant_id:String} = '' OR restaurant_id = {restaurant_id:String})
),
recent_seats AS
(
    SELECT restaurant_id, table_id, ts AS seat_ts, 1 AS found
    FROM events FINAL
    WHERE event_type = 'table_seated'
      AND ts > {recent_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
),
placed_recent AS
(
    SELECT p.restaurant_id AS restaurant_id, p.table_id AS table_id, p.ts AS ts,
           s.seat_ts AS seat_ts, s.found AS found
    FROM placed AS p
    ASOF LEFT JOIN recent_seats AS s
        ON p.restaurant_id = s.restaurant_id AND p.table_id = s.table_id AND p.ts >= s.seat_ts
),
placed_unmatched AS
(
    SELECT restaurant_id, table_id, ts FROM placed_recent WHERE found = 0
),
old_seats AS
(
    SELECT restaurant_id, table_id, ts AS seat_ts
    FROM seatings FINAL
    WHERE ts <= {as_of:DateTime64(3, 'UTC')}
      AND (restaurant_id, table_id) IN (SELECT restaurant_id, table_id FROM placed_unmatched)
),
seat_to_order AS
(
    SELECT restaurant_id, avg(dateDiff('millisecond', seat_ts, ts)) / 60000 AS avg_min,
           count() AS samples
    FROM
    (
        SELECT restaurant_id, ts, seat_ts FROM placed_recent WHERE found = 1
        UNION ALL
        SELECT u.restaurant_id AS restaurant_id, u.ts AS ts, s.seat_ts AS seat_ts
        FROM placed_unmatched AS u
        ASOF INNER JOIN old_seats AS s
            ON u.restaurant_id = s.restaurant_id AND u.table_id = s.table_id AND u.ts >= s.seat_ts
    )
    GROUP BY restaurant_id
),
completed AS
(
    SELECT restaurant_id, order_id, ts, kitchen_time_minutes
    FROM events FINAL
    WHERE event_type = 'order_completed'
      AND ts > {window_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ({restaurant_id:String} = '' OR restaurant_id = {restaurant_id:String})
),
recent_placements AS
(
    SELECT order_id, min(ts) AS placed_ts
    FROM events FINAL
    WHERE event_type = 'order_placed'
      AND ts > {recent_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND order_id IN (SELECT order_id FROM completed)
    GROUP BY order_id
),
placements AS
(
    SELECT order_id, placed_ts FROM recent_placements
    UNION ALL
    SELECT order_id, min(ts) AS placed_ts
    FROM order_stages FINAL
    WHERE event_type = 'order_placed' AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND order_id IN (SELECT order_id FROM completed
                       WHERE order_id NOT IN (SELECT order_id FROM recent_placements))
    GROUP BY order_id
),
kitchen AS
(
    SELECT c.restaurant_id AS restaurant_id,
           avgIf(dateDiff('millisecond', pl.placed_ts, c.ts), pl.order_id != '') / 60000 AS avg_min,
           countIf(pl.order_id != '') AS samples,
           avg(c.kitchen_time_minutes) AS reported_avg,
           count() AS reported_samples
    FROM completed AS c
    LEFT JOIN placements AS pl ON pl.order_id = c.order_id
    GROUP BY restaurant_id
),
paid AS
(
    SELECT restaurant_id, order_id, ts
    FROM events FINAL
    WHERE event_type = 'payment'
      AND ts > {window_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ({restaurant_id:String} = '' OR restaurant_id = {restaurant_id:String})
),
recent_completions AS
(
    SELECT order_id, min(ts) AS completed_ts
    FROM events FINAL
    WHERE event_type = 'order_completed'
      AND ts > {recent_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND order_id IN (SELECT order_id FROM paid)
    GROUP BY order_id
),
completions AS
(
    SELECT order_id, completed_ts FROM recent_completions
    UNION ALL
    SELECT order_id, min(ts) AS completed_ts
    FROM order_stages FINAL
    WHERE event_type = 'order_completed' AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND order_id IN (SELECT order_id FROM paid
                       WHERE order_id NOT IN (SELECT order_id FROM recent_completions))
    GROUP BY order_id
),
completion_to_payment AS
(
    SELECT y.restaurant_id AS restaurant_id,
           avg(dateDiff('millisecond', co.completed_ts, y.ts)) / 60000 AS avg_min,
           count() AS samples
    FROM paid AS y
    INNER JOIN completions AS co ON co.order_id = y.order_id
    GROUP BY restaurant_id
),
-- One row per restaurant from the three parts, each computed once (a CTE is evaluated at
-- every reference, so joining them to a list of restaurants would run them twice).
parts AS
(
    SELECT restaurant_id, toFloat64(avg_min) AS so_avg, toUInt64(samples) AS so_n,
           toFloat64(0) AS k_avg, toUInt64(0) AS k_n, toFloat64(0) AS rk_avg, toUInt64(0) AS rk_n,
           toFloat64(0) AS cp_avg, toUInt64(0) AS cp_n
    FROM seat_to_order
    UNION ALL
    SELECT restaurant_id, 0, 0, avg_min, samples, reported_avg, reported_samples, 0, 0 FROM kitchen
    UNION ALL
    SELECT restaurant_id, 0, 0, 0, 0, 0, 0, avg_min, samples FROM completion_to_payment
),
per_restaurant AS
(
    SELECT restaurant_id,
           sumIf(so_avg, so_n > 0) AS seat_avg, sum(so_n) AS seat_n,
           sumIf(k_avg, k_n > 0) AS kitchen_avg, sum(k_n) AS kitchen_n,
           sumIf(rk_avg, rk_n > 0) AS reported_avg, sum(rk_n) AS reported_n,
           sumIf(cp_avg, cp_n > 0) AS payment_avg, sum(cp_n) AS payment_n
    FROM parts
    GROUP BY restaurant_id
)
SELECT p.restaurant_id AS restaurant_id,
       n.restaurant_name AS restaurant_name,
       if(p.seat_n = 0, NULL, p.seat_avg) AS avg_seat_to_order_min,
       if(p.kitchen_n = 0, NULL, p.kitchen_avg) AS avg_kitchen_min,
       if(p.reported_n = 0, NULL, p.reported_avg) AS avg_reported_kitchen_min,
       if(p.payment_n = 0, NULL, p.payment_avg) AS avg_completion_to_payment_min,
       p.seat_n AS seat_to_order_samples,
       p.kitchen_n AS kitchen_samples,
       p.payment_n AS completion_to_payment_samples
FROM per_restaurant AS p
LEFT JOIN names AS n ON n.restaurant_id = p.restaurant_id
ORDER BY restaurant_id ASC
SETTINGS join_use_nulls = 0
