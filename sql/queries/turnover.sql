-- turnover: per restaurant with a seating in the window: seatings, tables used, turns, and the
-- average table time of the window's payments (payment -> its order's placement -> the latest
-- seating of that table at or before the placement).
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
placements AS
(
    SELECT order_id,
           argMin(restaurant_id, (ts, toString(event_id))) AS placed_restaurant,
           argMin(table_id, (ts, toString(event_id))) AS placed_table,
           min(ts) AS placed_ts
    FROM order_stages FINAL
    WHERE event_type = 'order_placed' AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND order_id IN (SELECT order_id FROM paid)
    GROUP BY order_id
),
paid_orders AS
(
    SELECT y.restaurant_id AS restaurant_id, y.ts AS paid_ts, pl.placed_restaurant AS placed_restaurant,
           pl.placed_table AS placed_table, pl.placed_ts AS placed_ts
    FROM paid AS y
    INNER JOIN placements AS pl ON pl.order_id = y.order_id
),
seats AS
(
    SELECT restaurant_id, table_id, ts AS seat_ts
    FROM seatings FINAL
    WHERE ts <= {as_of:DateTime64(3, 'UTC')}
      AND (restaurant_id, table_id) IN (SELECT placed_restaurant, placed_table FROM paid_orders)
),
table_times AS
(
    SELECT po.restaurant_id AS restaurant_id,
           avg(dateDiff('millisecond', s.seat_ts, po.paid_ts)) / 60000 AS avg_min,
           count() AS samples
    FROM paid_orders AS po
    ASOF INNER JOIN seats AS s
        ON po.placed_restaurant = s.restaurant_id AND po.placed_table = s.table_id
       AND po.placed_ts >= s.seat_ts
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
