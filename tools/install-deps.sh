#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages t5gemma2 builds with, when any is missing.
# All dependencies come from the distribution; nothing is downloaded at build time.
set -euo pipefail
packages=(g++ cmake make pkg-config python3
          libhwy-dev libxtensor-dev libxsimd-dev libsentencepiece-dev libstb-dev
          catch2 libbenchmark-dev nlohmann-json3-dev
          pybind11-dev python3-dev python3-numpy python3-pytest  # the Python module and its tests
          clang libclang-rt-dev)  # clang + its runtime: the libFuzzer targets (tools/fuzz.sh)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
