-- revenue: per restaurant, the window's payments (deduplicated by FINAL): exact Decimal sums.
WITH
{{names}},
window_payments AS
(
    SELECT restaurant_id,
           sum(total_amount) AS revenue_sum,
           uniqExact(order_id) AS orders,
           sum(subtotal) AS subtotal_sum,
           sum(tax) AS tax_sum,
           sum(tip) AS tip_sum
    FROM events FINAL
    WHERE event_type = 'payment'
      AND ts > {window_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ({restaurant_id:String} = '' OR restaurant_id = {restaurant_id:String})
    GROUP BY restaurant_id
)
SELECT p.restaurant_id AS restaurant_id,
       n.restaurant_name AS restaurant_name,
       p.revenue_sum AS revenue,
       p.orders AS order_count,
       p.subtotal_sum AS net_sales,
       p.tax_sum AS tax,
       p.tip_sum AS tips
FROM window_payments AS p
LEFT JOIN names AS n ON n.restaurant_id = p.restaurant_id
ORDER BY revenue DESC, restaurant_id ASC
