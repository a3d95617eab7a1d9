#!/usr/bin/env bash
# Installs what is missing, builds the t5gemma2 command and runs it on the bundled demo model
# (models/demo: a small T5Gemma 2 trained on captions of synthetic images and text tasks):
# it describes a bundled image, then solves a text task.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
build=${T5GEMMA2_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DT5GEMMA2_BUILD_TESTS=OFF -DT5GEMMA2_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target t5gemma2-cli
cli="$build/examples/t5gemma2"
set -x
"$cli" --image models/demo/images/sample_00.png --prompt "<start_of_image> describe the image"
"$cli" --image models/demo/images/sample_07.png --prompt "<start_of_image> what is in the picture?"
"$cli" --prompt "reverse: one two three"
"$cli" --prompt "sort: 7 3 9 1"
