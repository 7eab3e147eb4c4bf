-- Retention drops whole parts on every event-derived table that is partitioned by time, as it
-- does on events, order_items and event_matches (daily partitions): a TTL merge rewriting the
-- surviving rows of a part costs I/O for nothing. seatings and order_stages are partitioned by
-- month, so their rows are kept until the whole month has expired (up to ~31 days past the
-- retention; they only serve matches, never a metric on their own). restaurant_names has no
-- partitions and keeps its row TTL: it is small, and a part-only drop would never happen.
ALTER TABLE {{local:seatings}} {{on_cluster}} MODIFY SETTING ttl_only_drop_parts = 1;
ALTER TABLE {{local:order_stages}} {{on_cluster}} MODIFY SETTING ttl_only_drop_parts = 1;
