#!/usr/bin/env bash
# Installs everything TablePulse needs on a fresh Debian machine; idempotent and quiet when
# there is nothing to do. Apt packages from scripts/apt-packages.txt; the pinned chDB engine
# and the ADBC header from PyPI into .deps/ (project-local, never system-wide); the web and
# browser-test packages from npm into web/ and tests/e2e/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEPS="$ROOT/.deps"

CHDB_VERSION=26.9.0
CHDB_WHEEL_SHA256=707e2ec3fe0f7953bac97942eaeb7a1ed1d66b1e56ecef3f0aa2130f61f6e735
ADBC_VERSION=1.13.0

log() { echo "[deps] $*" >&2; }

install_apt() {
  local wanted missing=()
  wanted=$(grep -v '^\s*#' scripts/apt-packages.txt | grep -v '^\s*$')
  for pkg in $wanted; do
    # nodejs/npm may come from elsewhere on a developer machine: a working command is enough.
    if [[ $pkg == nodejs ]] && command -v node >/dev/null; then continue; fi
    if [[ $pkg == npm ]] && command -v npm >/dev/null; then continue; fi
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "installing apt packages: ${missing[*]}"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

install_chdb() {
  local stamp="$DEPS/chdb/.version"
  if [[ -f $stamp && $(cat "$stamp") == "$CHDB_VERSION" && -f $DEPS/chdb/_chdb.abi3.so ]]; then return; fi
  log "fetching chdb-core==$CHDB_VERSION (ClickHouse engine) into .deps/chdb"
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_17_x86_64 -d "$tmp" "chdb-core==$CHDB_VERSION"
  local wheel
  wheel=$(ls "$tmp"/chdb_core-*.whl)
  echo "$CHDB_WHEEL_SHA256  $wheel" | sha256sum -c --quiet -
  rm -rf "$DEPS/chdb" "$DEPS/chdb_core.libs"
  mkdir -p "$DEPS"
  unzip -q -o "$wheel" 'chdb/_chdb.abi3.so' 'chdb_core.libs/*' -d "$DEPS"
  echo "$CHDB_VERSION" >"$stamp"
  rm -rf "$tmp"
}

install_adbc_header() {
  [[ -f $DEPS/adbc/include/adbc.h ]] && return
  log "fetching the ADBC C header (adbc-driver-manager==$ADBC_VERSION) into .deps/adbc"
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 -d "$tmp" "adbc-driver-manager==$ADBC_VERSION"
  mkdir -p "$DEPS/adbc/include"
  unzip -q -o -j "$tmp"/adbc_driver_manager-*.whl 'adbc_driver_manager/arrow-adbc/adbc.h' -d "$DEPS/adbc/include"
  rm -rf "$tmp"
}

install_npm() {
  for dir in web tests/e2e; do
    [[ -f $dir/package.json ]] || continue
    if [[ ! -d $dir/node_modules || $dir/package-lock.json -nt $dir/node_modules ]]; then
      log "installing npm packages in $dir"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
  done
}

install_apt
install_chdb
install_adbc_header
install_npm
