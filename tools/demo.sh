#!/usr/bin/env bash
# Installs what is missing, builds the tools and runs the main job.
# For now (before the t5gemma2 CLI exists): t5gemma2-dump on the bundled tiny_a case, printing
# the tensor-by-tensor comparison with Hugging Face transformers' outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
build=${T5GEMMA2_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DT5GEMMA2_BUILD_TESTS=OFF -DT5GEMMA2_BUILD_BENCHMARKS=OFF
cmake --build "$build" -j"$(nproc)" --target t5gemma2-dump
"$build"/examples/t5gemma2-dump --model tests/data/tiny_a --inputs tests/data/tiny_a/golden.safetensors \
  --out "$build"/tiny_a.out.safetensors --compare tests/data/tiny_a/golden.safetensors
