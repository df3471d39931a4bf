#!/usr/bin/env bash
# The main job: install what is missing, build in Release, run the demo.
# Until the Spiking LMUFormer lands, the demo is the Vogels-Abbott CUBA network (4000 neurons,
# 1 s), recorded to HDF5.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/deps.sh" build
"$root/scripts/build.sh"
out=${LMUSIM_DEMO_OUT:-$root/build/demo}
mkdir -p "$out"
"$root/build/apps/lmusim" cuba --neurons 4000 --duration 1s --record "$out/cuba.h5" "$@"
echo
"$root/build/apps/lmusim" report "$out/cuba.h5"
