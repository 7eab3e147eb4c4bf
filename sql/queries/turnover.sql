-- turnover: per restaurant with a seating in the window: seatings, tables used, turns, and the
-- average table time of the window's payments: payment -> its order's earliest placement (if
-- at or before as_of) -> the latest seating of that placement's table at or before it. One
-- pass over event_matches, where the consumer keeps that chain as data (see
-- sql/migrations/0004_event_matches.sql).
WITH
{{names}},
toDateTime64('1900-01-01 00:00:00', 3, 'UTC') AS no_seat,
per_restaurant AS
(
    SELECT restaurant_id,
           countIf(event_type = 'table_seated') AS seatings_n,
           uniqExactIf(table_id, event_type = 'table_seated') AS tables_n,
           avgIf(dateDiff('millisecond', table_seat_ts, ts), has_sample) / 60000 AS table_avg,
           countIf(has_sample) AS table_n
    FROM
    (
        SELECT restaurant_id, event_type, table_id, ts,
               fromUnixTimestamp64Milli(-tupleElement(first_placement, 3), 'UTC') AS table_seat_ts,
               event_type = 'payment'
                   AND tupleElement(first_placement, 1) <= {as_of:DateTime64(3, 'UTC')}
                   AND table_seat_ts > no_seat AS has_sample
        FROM event_matches FINAL
        WHERE event_type IN ('table_seated', 'payment')
          AND ts > {window_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
          AND ({restaurant_id:String} = '' OR restaurant_id = {restaurant_id:String})
    )
    GROUP BY restaurant_id
    HAVING seatings_n > 0
)
SELECT p.restaurant_id AS restaurant_id,
       n.restaurant_name AS restaurant_name,
       p.seatings_n AS seatings,
       p.tables_n AS tables_used,
       p.seatings_n / p.tables_n AS turns_per_table,
       if(p.table_n = 0, NULL, p.table_avg) AS avg_table_time_min
FROM per_restaurant AS p
LEFT JOIN names AS n ON n.restaurant_id = p.restaurant_id
ORDER BY restaurant_id ASC
SETTINGS join_use_nulls = 0
