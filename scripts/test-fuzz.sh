#!/usr/bin/env bash
# Builds the decoder's libFuzzer target with clang (ASan + UBSan) and runs it for a bounded
# time over the kept corpus (tests/fuzz/corpus). New interesting inputs go to a scratch copy;
# a crash fails the run and leaves its input in artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_BUDGET=${FUZZ_SECONDS:-60}
OUT=build-fuzz
mkdir -p "$OUT" artifacts
SOURCES="src/decode/decoder.cpp src/decode/event.cpp src/decode/reasons.cpp src/common/time.cpp
  src/common/error.cpp src/ingest/row_encoder.cpp"
# absl: IANA zones (--default-timezone) and the decoder's key sets.
ABSL_LIBS="-labsl_time -labsl_time_zone -labsl_int128 -labsl_raw_hash_set -labsl_hash -labsl_city
  -labsl_low_level_hash"
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Isrc tests/fuzz/fuzz_decoder.cpp $SOURCES -lsimdjson -lfmt $ABSL_LIBS -o "$OUT/fuzz_decoder"
rm -rf "$OUT/corpus" && cp -r tests/fuzz/corpus "$OUT/corpus"
"$OUT/fuzz_decoder" -max_total_time="$SECONDS_BUDGET" -max_len=8192 -timeout=10 \
  -artifact_prefix=artifacts/ -print_final_stats=1 "$OUT/corpus" 2>&1 | tail -n 15
echo "fuzz: 1 passed, 0 failed"
