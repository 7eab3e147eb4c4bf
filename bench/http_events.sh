#!/usr/bin/env bash
# bench/http_events: events/s and p50/p99 reply time of POST /api/v1/events for batches of 1,
# 100 and 1000 events (4 loopback clients, bench_http_events_load), while a fifth connection asks
# the dashboard's six metric endpoints in a loop (their p50/p99 printed too), on the embedded
# engine with a day of history stored first. Each reply means the batch is fdatasync'ed in the
# events log. Not a test: prints one JSON line per batch size and the endpoint's /metrics.
# Usage: bench/http_events.sh   (BUILD=build, CLIENTS=4, HISTORY=200000 events)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
BUILD=${BUILD:-build}
BIN=$BUILD/tablepulse
LOAD=$BUILD/bench_http_events_load
CLIENTS=${CLIENTS:-4}
HISTORY=${HISTORY:-200000}
[[ -x $BIN && -x $LOAD ]] || { echo "build first: scripts/build.sh" >&2; exit 2; }

WORK=$(mktemp -d /tmp/tablepulse-bench-http.XXXXXX)
SERVE_PID=
cleanup() {
  [[ -n $SERVE_PID ]] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# Requests per batch size (20k, 200k and 300k events), overridable: REQUESTS_1=… etc.
declare -A REQUESTS=([1]=${REQUESTS_1:-20000} [100]=${REQUESTS_100:-2000} [1000]=${REQUESTS_1000:-300})
POSTED=$((REQUESTS[1] + 100 * REQUESTS[100] + 1000 * REQUESTS[1000]))
"$BIN" generate --restaurants 50 --events $((HISTORY + POSTED)) --seed 13 --duplicate-rate 0 \
  --late-rate 0 --malformed-rate 0 --conflict-rate 0 -o "$WORK/all.jsonl" 2>/dev/null
head -n "$HISTORY" "$WORK/all.jsonl" >"$WORK/history.jsonl"
tail -n "$POSTED" "$WORK/all.jsonl" >"$WORK/posted.jsonl"
"$BIN" migrate --db "$WORK/db" --ttl-days 2228 >/dev/null
"$BIN" ingest --db "$WORK/db" -q "$WORK/history.jsonl" >/dev/null

PORT=$(free_port)
"$BIN" serve --db "$WORK/db" --listen "127.0.0.1:$PORT" --token bench-read \
  --write-token bench-write >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
if ! wait_ready 60 "$SERVE_PID" curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz"; then
  log_tail 20 "$WORK/serve.log"
  exit 1
fi
echo "# $(nproc) cores; $HISTORY events stored before; $CLIENTS clients; $(df -T /tmp | awk 'NR==2{print $2}') under /tmp"
fsyncs() {  # "count sum_ms" of the endpoint's fdatasync histogram
  curl -sf -H "Authorization: Bearer bench-read" "http://127.0.0.1:$PORT/metrics" |
    awk '/^tablepulse_http_events_fsync_latency_ms_count/{c=$2} /^tablepulse_http_events_fsync_latency_ms_sum/{s=$2} END{print c, s}'
}
skip=0
for batch in 1 100 1000; do
  requests=${REQUESTS[$batch]}
  read -r count0 sum0 < <(fsyncs)
  "$LOAD" "$PORT" bench-write bench-read "$WORK/posted.jsonl" "$skip" "$batch" "$requests" "$CLIENTS"
  read -r count1 sum1 < <(fsyncs)
  awk -v n=$((count1 - count0)) -v s0="$sum0" -v s1="$sum1" -v r="$requests" \
    'BEGIN{printf "  fdatasyncs %d for %d requests (%.2f requests each), mean %.2f ms\n", n, r, r / n, (s1 - s0) / n}'
  skip=$((skip + batch * requests))
done
curl -sf -H "Authorization: Bearer bench-read" "http://127.0.0.1:$PORT/metrics" |
  grep -E '^tablepulse_http_events_(requests|accepted|fsync_latency_ms_(sum|count))'
