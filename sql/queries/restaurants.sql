-- Restaurants known at as_of, with their latest names (the page's filter).
WITH {{names}}
SELECT restaurant_id, restaurant_name FROM names ORDER BY restaurant_id
