#!/usr/bin/env bash
# Browser tests of the live page (tests/e2e/): starts `tablepulse serve` on fresh temporary
# databases, drives Debian's Chromium headless through playwright-core, and leaves a screenshot
# in artifacts/dashboard.png. Needs build/tablepulse (scripts/build.sh) built with web/dist/
# embedded, and tests/e2e/node_modules (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TABLEPULSE_BIN=$(realpath -m "${TABLEPULSE_BIN:-$ROOT/build/tablepulse}")
export TABLEPULSE_BIN

fail() { echo "test-e2e: $*" >&2; exit 1; }
[[ -x $TABLEPULSE_BIN ]] || fail "$TABLEPULSE_BIN is missing: run scripts/build.sh first"
[[ -x ${CHROMIUM:-/usr/bin/chromium} ]] || fail "no Chromium at ${CHROMIUM:-/usr/bin/chromium}: run scripts/deps.sh"
if [[ ! -d tests/e2e/node_modules/playwright-core ]]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# The page must be inside the binary: web/dist/ is embedded when the binary is built.
[[ -f web/dist/index.html ]] || fail "web/dist/ is not built: run scripts/deps.sh, then scripts/build.sh"

mkdir -p artifacts
cd tests/e2e
# One file at a time: each suite starts its own server and browser, and the machine has 2 cores.
node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout ./*.test.mjs
echo "screenshots: $ROOT/artifacts/dashboard.png, $ROOT/artifacts/dashboard-laptop-light.png"
