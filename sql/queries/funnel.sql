-- funnel: per restaurant with any event in the window; ratios are null on a zero denominator.
WITH
{{names}},
counts AS
(
    SELECT restaurant_id,
           countIf(event_type = 'table_seated') AS seated_n,
           uniqExactIf(order_id, event_type = 'order_placed') AS ordered_n,
           uniqExactIf(order_id, event_type = 'order_completed') AS completed_n,
           uniqExactIf(order_id, event_type = 'payment') AS paid_n
    FROM events FINAL
    WHERE ts > {window_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ({restaurant_id:String} = '' OR restaurant_id = {restaurant_id:String})
    GROUP BY restaurant_id
)
SELECT c.restaurant_id AS restaurant_id,
       n.restaurant_name AS restaurant_name,
       c.seated_n AS seated,
       c.ordered_n AS ordered,
       c.completed_n AS completed,
       c.paid_n AS paid,
       if(c.seated_n = 0, NULL, c.ordered_n / c.seated_n) AS seated_to_ordered,
       if(c.ordered_n = 0, NULL, c.completed_n / c.ordered_n) AS ordered_to_completed,
       if(c.completed_n = 0, NULL, c.paid_n / c.completed_n) AS completed_to_paid
FROM counts AS c
LEFT JOIN names AS n ON n.restaurant_id = c.restaurant_id
ORDER BY restaurant_id ASC
