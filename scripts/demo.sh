#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, builds, migrates an embedded
# database and prints its tables.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build >/dev/null
DB=${TABLEPULSE_DB:-./tablepulse-data}
./build/tablepulse migrate --db "$DB" --list-tables
