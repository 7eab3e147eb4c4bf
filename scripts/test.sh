#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing, builds, runs the unit and
# golden tests, the HTTP backend against a real ClickHouse server, the browser tests, an
# ASan/UBSan build of the tests and a bounded fuzzing run. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc)

section() { printf '\n=== %s ===\n' "$*"; }

section "dependencies"
scripts/deps.sh

section "build"
scripts/build.sh build

section "tests (regular build)"
(cd build && ctest --output-on-failure -j"$JOBS" --timeout 900)

section "tests under ASan/UBSan"
# The chDB engine is loaded with RTLD_DEEPBIND, which the sanitizer runtime refuses, so tests
# that need the engine (label `engine`, the suites named Engine*) run only in the regular build.
scripts/build.sh build-asan -DTABLEPULSE_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$JOBS" -LE engine)

for extra in scripts/test-*.sh; do
  [[ -f $extra ]] || continue
  section "$(basename "$extra" .sh)"
  bash "$extra"
done
section "all tests passed"
