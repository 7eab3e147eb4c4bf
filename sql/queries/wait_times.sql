-- wait-times: per restaurant, three matched intervals and the reported kitchen time, read from
-- event_matches in one pass over the window (the matches are kept as data; see
-- sql/migrations/0004_event_matches.sql):
--  * seat -> order: each order_placed P in the window minus the latest seating of its table at
--    or before P (always at or before as_of too);
--  * kitchen: each order_completed C in the window minus its order's earliest placement, if
--    that is at or before as_of (the earliest at or before as_of is then the same one);
--  * completion -> payment: each payment Y in the window minus its order's earliest completion,
--    if that is at or before as_of.
WITH
{{names}},
toDateTime64('1900-01-01 00:00:00', 3, 'UTC') AS no_seat,
per_restaurant AS
(
    SELECT restaurant_id,
           avgIf(dateDiff('millisecond', seat_ts, ts),
                 event_type = 'order_placed' AND seat_ts > no_seat) / 60000 AS seat_avg,
           countIf(event_type = 'order_placed' AND seat_ts > no_seat) AS seat_n,
           avgIf(dateDiff('millisecond', placed_ts, ts),
                 event_type = 'order_completed' AND placed_ts <= {as_of:DateTime64(3, 'UTC')}) / 60000 AS kitchen_avg,
           countIf(event_type = 'order_completed' AND placed_ts <= {as_of:DateTime64(3, 'UTC')}) AS kitchen_n,
           avgIf(kitchen_time_minutes, event_type = 'order_completed') AS reported_avg,
           countIf(event_type = 'order_completed') AS reported_n,
           avgIf(dateDiff('millisecond', completed_ts, ts),
                 event_type = 'payment' AND completed_ts <= {as_of:DateTime64(3, 'UTC')}) / 60000 AS payment_avg,
           countIf(event_type = 'payment' AND completed_ts <= {as_of:DateTime64(3, 'UTC')}) AS payment_n
    FROM event_matches FINAL
    WHERE event_type IN ('order_placed', 'order_completed', 'payment')
      AND ts > {window_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ({restaurant_id:String} = '' OR restaurant_id = {restaurant_id:String})
    GROUP BY restaurant_id
    HAVING seat_n + reported_n + payment_n > 0
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
