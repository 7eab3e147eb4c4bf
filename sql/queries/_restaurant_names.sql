-- Shared CTE: each restaurant's name on its latest event at or before as_of (greatest
-- (ts, event_id)). Whole past hours come from the restaurant_names aggregate; the hour of
-- as_of, whose events are all later than any past hour's, from events up to as_of. Exact at
-- any millisecond without scanning history.
names AS
(
    SELECT restaurant_id, argMax(name, priority) AS restaurant_name
    FROM
    (
        SELECT restaurant_id, argMaxMerge(name_state) AS name, 0 AS priority
        FROM restaurant_names
        WHERE hour < toStartOfHour({as_of:DateTime64(3, 'UTC')})
        GROUP BY restaurant_id
        UNION ALL
        SELECT restaurant_id, argMax(toString(restaurant_name), (ts, toString(event_id))) AS name,
               1 AS priority
        FROM events
        WHERE ts >= toStartOfHour({as_of:DateTime64(3, 'UTC')})
          AND ts <= {as_of:DateTime64(3, 'UTC')}
        GROUP BY restaurant_id
    )
    GROUP BY restaurant_id
)
