#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite (ctest).
# Extra arguments go to CMake's configure step, e.g. tools/test.sh -DT5GEMMA2_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
build=${T5GEMMA2_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
