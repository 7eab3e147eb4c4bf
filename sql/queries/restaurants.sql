-- Restaurants known at as_of, with their latest names (the page's filter). Whole past hours
-- come from the restaurant_names aggregate; the hour of as_of, whose events are all later than
-- any past hour's, from events up to as_of. Exact at any millisecond without scanning history.
SELECT restaurant_id, argMax(name, priority) AS restaurant_name
FROM
(
    SELECT restaurant_id, argMaxMerge(name_state) AS name, 0 AS priority
    FROM restaurant_names
    WHERE hour < toStartOfHour({as_of:DateTime64(3, 'UTC')})
    GROUP BY restaurant_id
    UNION ALL
    SELECT restaurant_id, argMax(toString(restaurant_name), (ts, event_id, keep_rank)) AS name,
           1 AS priority
    FROM events
    WHERE ts >= toStartOfHour({as_of:DateTime64(3, 'UTC')})
      AND ts <= {as_of:DateTime64(3, 'UTC')}
    GROUP BY restaurant_id
)
GROUP BY restaurant_id
ORDER BY restaurant_id
