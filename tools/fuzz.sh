#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang + ASan + UBSan) and runs each for SECONDS
# (default 30) from its seed corpus. Any crash, sanitizer report, timeout (10 s per input) or
# allocation over 2 GB fails the run and leaves the input as fuzz-<target>-crash-* in the build
# directory (turn it into a regression test). Longer runs: tools/fuzz.sh 1800.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build=${T5GEMMA2_FUZZ_BUILD_DIR:-build-fuzz}
cmake -S tests/fuzz -B "$build" -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" -j"$(nproc)"
for target in safetensors config image tokenizer dump_inputs; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/"$target"/* "$work"/
  log="$build/fuzz_$target.log"
  if ! "$build/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
       -artifact_prefix="$build/fuzz-$target-" "$work" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target FAILED (input saved under $build/fuzz-$target-*)"
    exit 1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  echo "fuzz: $target: $runs executions in ${seconds} s, coverage $cov edges, $(ls "$work" | wc -l) corpus entries, no crash"
  rm -rf "$work"
done
