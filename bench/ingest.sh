#!/usr/bin/env bash
# bench/ingest: events/s and peak RSS of `tablepulse ingest` on N generated events, side by side
# in the same run with (1) the engine ingesting the same file by itself
# (INSERT INTO events ... SELECT ... FROM file(..., JSONEachRow), same schema and views; once
# with the engine's default settings and once with the insert settings tablepulse uses), also
# followed by `tablepulse rematch`, which gives its data the matches the consumer writes as it
# goes (without them wait-times and turnover have no samples), and
# (2) a plain Python consumer (json + chdb, from a project-local venv). Not a test: prints figures.
# Usage: bench/ingest.sh [EVENTS ...]   (default: 1000000 5000000)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/tablepulse
WORK=${BENCH_DIR:-/tmp/tablepulse-bench-ingest}
mkdir -p "$WORK"
SIZES=("${@:-1000000 5000000}")
read -r -a SIZES <<<"${SIZES[*]}"

# The Python reference consumer gets chdb in a project-local venv (never system-wide).
VENV=.deps/bench-venv
if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "chdb==4.4.0"
fi

measure() {  # label, command...: prints seconds and peak KB, or "failed" (reason on stderr)
  local label=$1; shift
  local stats
  stats=$(mktemp)
  if ! /usr/bin/time -o "$stats" -f "%e %M" "$@" >/dev/null 2>"$stats.err"; then
    echo "$label: failed: $(tail -3 "$stats.err")" >&2
    echo "$label failed"
    rm -f "$stats" "$stats.err"
    return 0
  fi
  echo "$label $(tail -1 "$stats")"
  rm -f "$stats.err"
  rm -f "$stats"
}

printf '%-10s %-22s %10s %12s %10s\n' events consumer seconds events/s peak_MB
for n in "${SIZES[@]}"; do
  file=$WORK/events-$n.jsonl
  [[ -f $file ]] || $BIN generate --restaurants 200 --events "$n" --seed 7 -o "$file" 2>/dev/null
  lines=$(wc -l <"$file")
  for consumer in tablepulse engine-alone engine-alone-tuned python; do
    db=$WORK/db-$consumer-$n
    rm -rf "$db"
    case $consumer in
      tablepulse) r=$(measure x $BIN ingest --db "$db" -q "$file") ;;
      engine-alone)
        $BIN migrate --db "$db" >/dev/null
        r=$(measure x $BIN sql --db "$db" "$(sed "s|@FILE@|$file|" bench/engine_insert.sql)") ;;
      engine-alone-tuned)  # with the insert settings tablepulse uses in-process (DESIGN §7)
        $BIN migrate --db "$db" >/dev/null
        r=$(measure x $BIN sql --db "$db" "$(sed "s|@FILE@|$file|" bench/engine_insert.sql),
          parallel_view_processing = 1, optimize_on_insert = 0") ;;
      python)
        $BIN migrate --db "$db" >/dev/null  # the same schema and views as the others
        r=$(measure x "$VENV/bin/python" bench/python_consumer.py "$db" "$file") ;;
    esac
    read -r _ secs kb <<<"$r"
    if [[ $secs == failed ]]; then  # e.g. the engine alone stops at the first malformed line
      printf '%-10s %-22s %10s\n' "$n" "$consumer" failed
      rm -rf "$db"
      continue
    fi
    printf '%-10s %-22s %10s %12.0f %10.0f\n' "$n" "$consumer" "$secs" "$(echo "$lines / $secs" | bc -l)" "$(echo "$kb / 1024" | bc -l)"
    if [[ $consumer == engine-alone ]]; then
      r=$(measure x $BIN rematch --db "$db")
      read -r _ rematch_secs rematch_kb <<<"$r"
      secs=$(echo "$secs + $rematch_secs" | bc -l)
      ((rematch_kb > kb)) && kb=$rematch_kb
      printf '%-10s %-22s %10.2f %12.0f %10.0f\n' "$n" "engine-alone+rematch" "$secs" "$(echo "$lines / $secs" | bc -l)" "$(echo "$kb / 1024" | bc -l)"
    fi
    rm -rf "$db"
  done
done
