-- turnover: per restaurant with a seating in the window: seatings, tables used, turns, and the
-- average table time of the window's payments (payment -> its order's earliest placement at or
-- before as_of -> the latest seating of that table at or before the placement). As in
-- wait-times, matches are sought in the recent past first ({recent_start}) and only the rest
-- in all history, which keeps the answer exact and the read narrow.
WITH
{{names}},
window_seatings AS
(
    SELECT restaurant_id, count() AS seatings_n, uniqExact(table_id) AS tables_n
    FROM events FINAL
    WHERE event_type = 'table_seated'
      AND ts > {window_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ({restaurant_id:String} = '' OR restaurant_id = {restaurant_id:String})
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
recent_placements AS
(
    SELECT order_id,
           tupleElement(argMin((restaurant_id, table_id), (ts, toUInt128(event_id))), 1) AS placed_restaurant,
           tupleElement(argMin((restaurant_id, table_id), (ts, toUInt128(event_id))), 2) AS placed_table,
           min(ts) AS placed_ts
    FROM events FINAL
    WHERE event_type = 'order_placed'
      AND ts > {recent_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND order_id IN (SELECT order_id FROM paid)
    GROUP BY order_id
),
placements AS
(
    SELECT order_id, placed_restaurant, placed_table, placed_ts FROM recent_placements
    UNION ALL
    SELECT order_id,
           tupleElement(argMin((restaurant_id, table_id), (ts, toUInt128(event_id))), 1) AS placed_restaurant,
           tupleElement(argMin((restaurant_id, table_id), (ts, toUInt128(event_id))), 2) AS placed_table,
           min(ts) AS placed_ts
    FROM order_stages FINAL
    WHERE event_type = 'order_placed' AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND order_id IN (SELECT order_id FROM paid
                       WHERE order_id NOT IN (SELECT order_id FROM recent_placements))
    GROUP BY order_id
),
paid_orders AS
(
    SELECT y.restaurant_id AS restaurant_id, y.ts AS paid_ts, pl.placed_restaurant AS placed_restaurant,
           pl.placed_table AS placed_table, pl.placed_ts AS placed_ts
    FROM paid AS y
    INNER JOIN placements AS pl ON pl.order_id = y.order_id
),
recent_seats AS
(
    SELECT restaurant_id, table_id, ts AS seat_ts, 1 AS found
    FROM events FINAL
    WHERE event_type = 'table_seated'
      AND ts > {recent_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
),
orders_recent AS
(
    SELECT po.restaurant_id AS restaurant_id, po.paid_ts AS paid_ts,
           po.placed_restaurant AS placed_restaurant, po.placed_table AS placed_table,
           po.placed_ts AS placed_ts, s.seat_ts AS seat_ts, s.found AS found
    FROM paid_orders AS po
    ASOF LEFT JOIN recent_seats AS s
        ON po.placed_restaurant = s.restaurant_id AND po.placed_table = s.table_id
       AND po.placed_ts >= s.seat_ts
),
orders_unmatched AS
(
    SELECT restaurant_id, paid_ts, placed_restaurant, placed_table, placed_ts
    FROM orders_recent WHERE found = 0
),
old_seats AS
(
    SELECT restaurant_id, table_id, ts AS seat_ts
    FROM seatings FINAL
    WHERE ts <= {as_of:DateTime64(3, 'UTC')}
      AND (restaurant_id, table_id) IN (SELECT placed_restaurant, placed_table FROM orders_unmatched)
),
table_times AS
(
    SELECT restaurant_id, avg(dateDiff('millisecond', seat_ts, paid_ts)) / 60000 AS avg_min,
           count() AS samples
    FROM
    (
        SELECT restaurant_id, paid_ts, seat_ts FROM orders_recent WHERE found = 1
        UNION ALL
        SELECT u.restaurant_id AS restaurant_id, u.paid_ts AS paid_ts, s.seat_ts AS seat_ts
        FROM orders_unmatched AS u
        ASOF INNER JOIN old_seats AS s
            ON u.placed_restaurant = s.restaurant_id AND u.placed_table = s.table_id
           AND u.placed_ts >= s.seat_ts
    )
    GROUP BY restaurant_id
)
SELECT w.restaurant_id AS restaurant_id,
       n.restaurant_name AS restaurant_name,
       w.seatings_n AS seatings,
       w.tables_n AS tables_used,
       w.seatings_n / w.tables_n AS turns_per_table,
       if(t.samples = 0, NULL, t.avg_min) AS avg_table_time_min
FROM window_seatings AS w
LEFT JOIN table_times AS t ON t.restaurant_id = w.restaurant_id
LEFT JOIN names AS n ON n.restaurant_id = w.restaurant_id
ORDER BY restaurant_id ASC
SETTINGS join_use_nulls = 0
