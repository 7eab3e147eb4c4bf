#!/usr/bin/env bash
# bench/kafka: events/s of `tablepulse ingest --kafka --until-caught-up` from a topic of N
# generated events (6 partitions, keyed by restaurant, produced by `tablepulse generate
# --kafka`) next to `tablepulse ingest` of the same events from a file, in the same run, on a
# private single-node broker (scripts/kafka-test-broker.sh). Not a test: prints figures.
# Usage: bench/kafka.sh [EVENTS]   (default: 1000000)
# BASELINE=path/to/tablepulse also times that binary's Kafka ingest of the same topic, after
# this one's (a change's effect, measured side by side on one machine).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/tablepulse
N=${1:-1000000}
WORK=${BENCH_DIR:-/tmp/tablepulse-bench-kafka}
rm -rf "$WORK"
mkdir -p "$WORK"
BROKER=$WORK/broker
TP_WATCH_PID=$$ scripts/kafka-test-broker.sh start "$BROKER"
trap 'scripts/kafka-test-broker.sh stop "$BROKER"' EXIT
BOOTSTRAP=$(cat "$BROKER/bootstrap")
scripts/kafka-test-broker.sh topic "$BROKER" create events 6 >/dev/null

file=$WORK/events.jsonl
$BIN generate --restaurants 200 --events "$N" --seed 7 -o "$file" 2>/dev/null
lines=$(wc -l <"$file")

seconds() {  # command...: wall seconds
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>"$WORK/last.err" || { tail -3 "$WORK/last.err" >&2; echo failed; return 0; }
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.2f}')"
}

produce=$(seconds $BIN generate --restaurants 200 --events "$N" --seed 7 --kafka "$BOOTSTRAP" --topic events)
from_file=$(seconds $BIN ingest --db "$WORK/db-file" -q "$file")
from_kafka=$(seconds $BIN ingest --db "$WORK/db-kafka" -q --kafka "$BOOTSTRAP" --topic events --until-caught-up)
if [[ -n ${BASELINE:-} ]]; then
  baseline=$(seconds "$BASELINE" ingest --db "$WORK/db-baseline" -q --kafka "$BOOTSTRAP" --topic events --group baseline --until-caught-up)
fi
rate() { python3 -c "print(round($lines / $1))"; }
printf '%-34s %10s %12s\n' "$lines lines" seconds lines/s
printf '%-34s %10.2f %12s\n' "generate --kafka (produce)" "$produce" "$(rate "$produce")"
printf '%-34s %10.2f %12s\n' "ingest FILE" "$from_file" "$(rate "$from_file")"
printf '%-34s %10.2f %12s\n' "ingest --kafka --until-caught-up" "$from_kafka" "$(rate "$from_kafka")"
if [[ -n ${BASELINE:-} ]]; then
  printf '%-34s %10.2f %12s\n' "ingest --kafka, $BASELINE" "$baseline" "$(rate "$baseline")"
fi
python3 -c "print(f'kafka / file time: {$from_kafka / $from_file:.2f}')"
# How far apart in event time the partitions were at each checkpoint insert (its rows, of one
# or more batch groups, share one committed_at): what a step spans beyond a file batch.
drift() {  # db: the largest and the median spread, in hours
  $BIN sql --rows --db "$1" "SELECT round(max(d) / 3600000, 2) AS largest_h,
    round(median(d) / 3600000, 2) AS median_h, count() AS inserts FROM (SELECT
    max(toUnixTimestamp64Milli(max_event_ts)) - min(toUnixTimestamp64Milli(max_event_ts)) AS d
    FROM ingest_batches FINAL WHERE inserted > 0 GROUP BY committed_at)"
}
echo "partitions' spread in event time per checkpoint insert: this build $(drift "$WORK/db-kafka")"
if [[ -n ${BASELINE:-} ]]; then
  echo "partitions' spread in event time per checkpoint insert: baseline $(drift "$WORK/db-baseline")"
fi
