#!/usr/bin/env bash
# Configures and builds TablePulse into build/ (or $1 with extra CMake flags after it).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
shift || true
if [[ -f web/package.json && -d web/node_modules ]]; then
  (cd web && npm run --silent build >/dev/null)
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
