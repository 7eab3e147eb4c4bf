-- top-items: line items of the window's order_placed events (order_items, one row per line);
-- name and category from the item's latest order in the window (greatest (ts, event_id), the
-- id compared as text). An item with a line in the last 2 minutes has its latest one there,
-- so only the other items compare keys over the whole window (as for restaurant names).
SELECT item_id, latest.1 AS item_name, latest.2 AS category, quantity_sum AS quantity,
       orders AS times_ordered
FROM
(
    SELECT item_id,
           argMaxIf((item_name, category),
                    (ts, event_id),
                    ts > {as_of:DateTime64(3, 'UTC')} - INTERVAL 2 MINUTE
                    OR item_id NOT IN
                       (SELECT item_id FROM order_items
                        WHERE ts > {as_of:DateTime64(3, 'UTC')} - INTERVAL 2 MINUTE
                          AND ts <= {as_of:DateTime64(3, 'UTC')}
                          AND ({restaurant_id:String} = '' OR restaurant_id = {restaurant_id:String}))) AS latest,
           sum(quantity) AS quantity_sum,
           uniqExact(order_id) AS orders
    FROM order_items FINAL
    WHERE ts > {window_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ({restaurant_id:String} = '' OR restaurant_id = {restaurant_id:String})
    GROUP BY item_id
)
ORDER BY quantity_sum DESC, orders DESC, item_id ASC
LIMIT {limit:UInt32}
