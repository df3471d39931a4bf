#!/usr/bin/env bash
# Configures and builds lmusim in Release into build/ (or $LMUSIM_BUILD_DIR).
# Extra arguments go to CMake, e.g. scripts/build.sh -DLMUSIM_WERROR=ON
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${LMUSIM_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLMUSIM_NATIVE=ON -DPython_EXECUTABLE=/usr/bin/python3 "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
