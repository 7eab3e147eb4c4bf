"""Writes events the way the exercise's own Python tooling does: json.dumps of dicts with the
brief's fields, uuid4 ids, datetime.now().isoformat() timestamps (no zone, microseconds),
float prices, the brief's payment methods, duplicates and out-of-order lines. Independent of
TablePulse on purpose: it is what a real producer of these events writes.

Usage: python_kit_producer.py OUT.jsonl [EVENTS] [SEED]"""
import json
import random
import sys
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

out_path = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 400
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
uuid.uuid4 = lambda: uuid.UUID(int=rng.getrandbits(128), version=4)  # reproducible ids

MENU = [("item_101", "Margherita Pizza", "Pizza", 18.99), ("item_205", "Caesar Salad", "Salad", 12.99),
        ("item_310", "Tiramisu", "Dessert", 7.5), ("item_412", "Lemonade", "Drinks", 3.25),
        ("item_518", "Ribeye Steak", "Mains", 29.9)]
RESTAURANTS = [("rest_001", "Downtown Location"), ("rest_002", "Airport Location"),
               ("rest_003", "Harbor Location")]
METHODS = ["credit_card", "debit_card", "cash", "mobile_payment"]

events = []
now = datetime.now()
clock = now - timedelta(hours=2)
order_no = 0
while len(events) < count:
    rid, rname = rng.choice(RESTAURANTS)
    table = f"table_{rng.randint(1, 20)}"
    server = f"server_{rng.randint(100, 999)}"
    base = {"restaurant_id": rid, "restaurant_name": rname, "table_id": table}
    seated = clock
    clock += timedelta(seconds=rng.randint(5, 40))
    events.append({"event_id": str(uuid.uuid4()), "event_type": "table_seated",
                   "timestamp": seated.isoformat(), **base, "party_size": rng.randint(1, 8),
                   "server_id": server})
    order_no += 1
    order_id = f"order_{order_no}"
    placed = seated + timedelta(minutes=rng.uniform(2, 15))
    items = [{"item_id": i, "item_name": n, "category": c, "price": p, "quantity": rng.randint(1, 3)}
             for i, n, c, p in rng.sample(MENU, rng.randint(1, 4))]
    subtotal = round(sum(i["price"] * i["quantity"] for i in items), 2)
    events.append({"event_id": str(uuid.uuid4()), "event_type": "order_placed",
                   "timestamp": placed.isoformat(), **base, "server_id": server,
                   "order_id": order_id, "items": items, "subtotal": subtotal})
    completed = placed + timedelta(minutes=rng.uniform(8, 30))
    events.append({"event_id": str(uuid.uuid4()), "event_type": "order_completed",
                   "timestamp": completed.isoformat(), **base, "order_id": order_id,
                   "kitchen_time_minutes": rng.randint(8, 30)})
    tax = round(subtotal * 0.09, 2)
    tip = round(subtotal * rng.choice([0, 0.1, 0.15, 0.2]), 2)
    events.append({"event_id": str(uuid.uuid4()), "event_type": "payment",
                   "timestamp": (completed + timedelta(minutes=rng.uniform(3, 20))).isoformat(),
                   **base, "order_id": order_id, "subtotal": subtotal, "tax": tax, "tip": tip,
                   "total_amount": round(subtotal + tax + tip, 2),
                   "payment_method": rng.choice(METHODS)})

lines = [json.dumps(e) for e in events[:count]]
for i in range(0, len(lines) - 5, 7):  # out of order: neighbours swapped
    lines[i], lines[i + 3] = lines[i + 3], lines[i]
lines += [lines[rng.randrange(len(lines))] for _ in range(count // 20)]  # redeliveries
with open(out_path, "w") as out:
    out.write("\n".join(lines) + "\n")
revenue = sum(Decimal(repr(e["total_amount"])) for e in events[:count] if e["event_type"] == "payment")
print(json.dumps({"events": count, "lines": len(lines), "revenue": str(revenue)}))
