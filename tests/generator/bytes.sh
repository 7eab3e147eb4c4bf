#!/usr/bin/env bash
# Pins the bytes `tablepulse generate` writes for option sets that cover every flag of a bulk
# run: `bytes.sh BINARY` compares the sha256 of each output with tests/generator/bytes.sha256,
# `bytes.sh BINARY --record` rewrites that file (only for a deliberate change of the output).
set -euo pipefail
binary=${1:?usage: bytes.sh BINARY [--record]}
record=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
expected="$here/bytes.sha256"

# One option set per line: a name, then the flags.
sets=(
  "defaults|--events 20000"
  "readme-sample|--seed 42 --restaurants 5 --duration 12h --renames --naive-rate 0.2 --opaque-id-rate 0.1"
  "heavy-noise|--seed 7 --restaurants 3 --events 30000 --duplicate-rate 0.1 --late-rate 0.1 --max-late 2m --malformed-rate 0.05 --conflict-rate 0.05"
  "all-spellings|--seed 9 --restaurants 12 --duration 6h --location-fields --naive-rate 1 --opaque-id-rate 1 --renames --rename-every 1h --malformed-rate 0.03 --conflict-rate 0.02"
  "rate-start-no-rush|--seed 3 --rate 200 --no-rush --events 20000 --start 2025-01-01T00:00:00Z"
  "clean|--seed 123 --restaurants 1 --events 5000 --duplicate-rate 0 --late-rate 0 --malformed-rate 0"
  "mixed-malformed|--seed 5 --events 40000 --malformed-rate 0.05 --location-fields --naive-rate 0.5 --opaque-id-rate 0.5"
  "many-restaurants|--seed 8 --restaurants 1000 --events 20000 --malformed-rate 0.02 --conflict-rate 0.02"
  "duration-and-count|--seed 2 --duration 2h --events 3000 --renames --rename-every 1m"
  "default-day|"
)

actual=""
for set in "${sets[@]}"; do
  name=${set%%|*}
  flags=${set#*|}
  # shellcheck disable=SC2086 # the flags are words
  sum=$("$binary" generate $flags 2>/dev/null | sha256sum | cut -d' ' -f1)
  actual+="$sum  $name"$'\n'
done

if [[ $record == --record ]]; then
  printf '%s' "$actual" >"$expected"
  echo "recorded $expected"
  exit 0
fi
if ! diff <(printf '%s' "$actual") "$expected"; then
  echo "generate output changed (left: now, right: pinned)" >&2
  exit 1
fi
echo "generate output unchanged for ${#sets[@]} option sets"
