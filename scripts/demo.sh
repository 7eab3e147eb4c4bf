#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, builds, then runs the live demo —
# the generator in live mode appends events to a file that `tablepulse serve` follows on the
# embedded engine — and prints the dashboard's URL. Ctrl-C stops both.
# Environment: TABLEPULSE_DB (default ./tablepulse-data), TABLEPULSE_LISTEN (127.0.0.1:8080),
# DEMO_RATE (events/s, default 40), DEMO_RESTAURANTS (default 6).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build >/dev/null
DB=${TABLEPULSE_DB:-./tablepulse-data}
LISTEN=${TABLEPULSE_LISTEN:-127.0.0.1:8080}
mkdir -p "$DB"
STREAM="$DB/live-events.jsonl"
# Three hours of history first, so every panel has numbers from the first second (a live
# stream starts mid-service: its first orders belong to parties seated before it began).
build/tablepulse generate --restaurants "${DEMO_RESTAURANTS:-6}" --no-rush --seed "$RANDOM" \
  --start "$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)" --duration 3h -o "$STREAM" 2>/dev/null
build/tablepulse generate --live --rate "${DEMO_RATE:-40}" --restaurants "${DEMO_RESTAURANTS:-6}" \
  --seed "$RANDOM" -o "$STREAM" 2>"$DB/generator.log" &
GENERATOR=$!
trap 'kill $GENERATOR 2>/dev/null || true' EXIT INT TERM
echo "live events: $STREAM (generator pid $GENERATOR); refused lines: $DB/dead-letters.jsonl"
echo "dashboard:   http://$LISTEN/"
build/tablepulse serve --db "$DB" --listen "$LISTEN" --source "$STREAM" --follow \
  --dlq "$DB/dead-letters.jsonl"
