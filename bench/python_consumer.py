"""A plain Python consumer, the reference for bench/ingest.sh: json + chdb, batches of 50k,
in-memory dedup by event_id, minimal validation. Usage: python_consumer.py DB_DIR FILE"""
import json
import sys
import uuid
from datetime import datetime, timezone

from chdb import session

SCHEMA_DIR = sys.argv[1]
TYPES = {"table_seated", "order_placed", "order_completed", "payment"}

sess = session.Session(SCHEMA_DIR)
sess.query(open("sql/migrations/0001_events.sql").read()
           .replace("{{local:events}}", "events").replace("{{on_cluster}}", "")
           .replace("{{engine:events:ReplacingMergeTree(keep_rank)}}", "ReplacingMergeTree(keep_rank)")
           .replace("{{ttl_days}}", "400").split("-- @distributed")[0])
seen = set()
batch = []


def flush():
    if batch:
        sess.query("INSERT INTO events FORMAT JSONEachRow\n" + "\n".join(batch))
        batch.clear()


for line in open(sys.argv[2], encoding="utf-8", errors="replace"):
    try:
        e = json.loads(line)
        event_id = e["event_id"]
        if not isinstance(event_id, str) or not 0 < len(event_id) <= 128:
            continue
        if len(event_id) == 36:
            try:
                event_id = str(uuid.UUID(event_id))
            except ValueError:
                pass
        if e["event_type"] not in TYPES or event_id in seen:
            continue
        stamp = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00"))
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
        if not all(isinstance(e.get(k), str) and e.get(k) for k in
                   ("restaurant_id", "restaurant_name", "table_id")):
            continue
        numbers = [e.get(k) for k in ("party_size", "subtotal", "tax", "tip", "total_amount",
                                      "kitchen_time_minutes")]
        items = e.get("items", [])
        numbers += [i.get(k) for i in items for k in ("quantity", "price")]
        if any(not isinstance(v, (int, float)) or v < 0 for v in numbers if v is not None):
            continue
        if e["event_type"] == "order_placed" and not items:
            continue
        seen.add(event_id)
        e["event_id"] = event_id
        ts = stamp.isoformat(sep=" ", timespec="milliseconds")
        row = {k: e.get(k) for k in ("event_id", "event_type", "restaurant_id", "restaurant_name",
                                     "table_id", "order_id", "server_id", "party_size", "subtotal",
                                     "tax", "tip", "total_amount", "payment_method",
                                     "kitchen_time_minutes") if e.get(k) is not None}
        row["ts"] = ts[:23]
        if "items" in e:
            row["items"] = [{k: i[k] for k in ("item_id", "item_name", "category", "quantity",
                                               "price")} for i in e["items"]]
        batch.append(json.dumps(row))
    except (ValueError, KeyError, TypeError, AttributeError):
        continue
    if len(batch) >= 50000:
        flush()
flush()
