#!/usr/bin/env bash
# The main job: install what is missing, build in Release, then stream shipped test clips (speakers
# never heard in training) through the shipped trained Spiking LMUFormer (models/slmu_kws.h5),
# printing each clip's keyword, confidence and the frame from which the decision was final, and
# finish with the SOP/energy report of those clips.
#
# Usage: scripts/demo.sh [--clips N] [--chunk-ms MS] [--model M.h5] [WAV ...]
#                                   (options of examples/spot_keywords.py; --clips 0 streams all 70
#                                    clips; --model models/l2mu_kws.h5 runs the L2MU spotter instead)
#        scripts/demo.sh cuba [lmusim cuba options]                (the CUBA network demo instead)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/deps.sh" build
export LMUSIM_BUILD_DIR=${LMUSIM_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
bin="$LMUSIM_BUILD_DIR/apps/lmusim"
out=${LMUSIM_DEMO_OUT:-$LMUSIM_BUILD_DIR/demo}
mkdir -p "$out"

if [[ "${1:-}" == "cuba" ]]; then
  shift
  # The demo rewrites its own outputs under $out on every run: --overwrite.
  "$bin" cuba --neurons 4000 --duration 1s --record "$out/cuba.h5" --overwrite "$@"
  echo
  "$bin" report "$out/cuba.h5"
  exit 0
fi

PYTHONPATH="$LMUSIM_BUILD_DIR/python" /usr/bin/python3 "$root/examples/spot_keywords.py" \
  --model "$root/models/slmu_kws.h5" --output "$out/keywords.h5" --overwrite "$@"
echo
"$bin" report "$out/keywords.h5"
