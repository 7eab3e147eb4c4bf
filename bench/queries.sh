#!/usr/bin/env bash
# bench/queries: stores N generated events (200 restaurants at ~116 events/s of event time, so that
# 10M events are about one day, as the issue asks) and runs bench_queries on them:
# p50/p99 of every metric over random as_of instants, EXPLAIN estimates, and EXPLAIN indexes
# output in $BENCH_DIR/explain-N.txt. Usage: bench/queries.sh [EVENTS ...] (default 1M 10M)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/tablepulse-bench-queries}
mkdir -p "$WORK"
for n in "${@:-1000000 10000000}"; do
  for size in $n; do
    db=$WORK/db-day-$size
    if [[ ! -f $db/.ingested ]]; then
      rm -rf "$db"
      build/tablepulse generate --restaurants 200 --events "$size" --rate 116 --no-rush --seed 5 2>/dev/null |
        build/tablepulse ingest --db "$db" -q --batch-rows 100000 >/dev/null
      touch "$db/.ingested"
    fi
    echo "== $size events"
    build/bench_queries "$db" "${ITERATIONS:-200}" "$WORK/explain-$size.txt"
  done
done
