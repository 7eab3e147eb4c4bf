-- Shared CTE: each restaurant's name on its latest event at or before as_of (greatest
-- (ts, event_id), the id compared as text, byte for byte). Every metric's rows are restaurants with at least one event in
-- (window_start, as_of], so that latest event lies in the window: the lookup reads the
-- window's own key range, whatever the length of history. A restaurant with an event in the
-- last 2 minutes has its latest one there, so only the others need their rows of the whole
-- window (the filter reads ts and restaurant_id; names and ids only for the rows it keeps).
-- keep_rank breaks a tie between two copies of one event the way FINAL does (first delivery).
names AS
(
    SELECT restaurant_id,
           argMax(restaurant_name, (ts, event_id, keep_rank)) AS restaurant_name
    FROM events
    WHERE ts > {window_start:DateTime64(3, 'UTC')} AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ({restaurant_id:String} = '' OR restaurant_id = {restaurant_id:String})
      AND (ts > {as_of:DateTime64(3, 'UTC')} - INTERVAL 2 MINUTE
           OR restaurant_id NOT IN
              (SELECT restaurant_id FROM events
               WHERE ts > {as_of:DateTime64(3, 'UTC')} - INTERVAL 2 MINUTE
                 AND ts <= {as_of:DateTime64(3, 'UTC')}))
    GROUP BY restaurant_id
)
