#!/usr/bin/env bash
# Installs what is missing, then runs everything CI checks, in order:
#   1. Release build with the Python module, the whole test suite (ctest, pytest included)
#   2. ASan + UBSan build, the fast part of the suite (no full-size goldens, benchmarks or
#      packaging consumers); any sanitizer report fails its test
#   3. the libFuzzer targets, T5GEMMA2_FUZZ_SECONDS each (default 20; tools/fuzz.sh)
# T5GEMMA2_QUICK=1 runs step 1 only. Extra arguments go to step 1's CMake configure.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
jobs=$(nproc)
build=${T5GEMMA2_BUILD_DIR:-build}
start=$SECONDS
# The Python module is built and tested with the system's Python (Debian's numpy and pytest), not
# with another python3 that may come first on PATH.
python=()
if [ -x /usr/bin/python3 ]; then python=(-DPython3_EXECUTABLE=/usr/bin/python3); fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DT5GEMMA2_PYTHON=ON "${python[@]}" "$@"
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs"
echo "test.sh: release build and tests: $((SECONDS - start)) s"
[ "${T5GEMMA2_QUICK:-0}" = 1 ] && exit 0

start=$SECONDS
asan=${T5GEMMA2_ASAN_BUILD_DIR:-build-asan}
cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DT5GEMMA2_SANITIZE=ON \
      -DT5GEMMA2_FULL_SIZE_TESTS=OFF -DT5GEMMA2_BUILD_BENCHMARKS=OFF
cmake --build "$asan" -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$asan" --output-on-failure -j"$jobs" -E "^consumer_"
echo "test.sh: ASan + UBSan build and tests: $((SECONDS - start)) s"

start=$SECONDS
tools/fuzz.sh "${T5GEMMA2_FUZZ_SECONDS:-20}"
echo "test.sh: fuzzing: $((SECONDS - start)) s"
