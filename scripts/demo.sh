#!/usr/bin/env bash
# The main job: install what is missing, build in Release, then stream shipped test clips (speakers
# never heard in training) through the shipped trained Spiking LMUFormer (models/slmu_kws.h5),
# printing each clip's keyword, confidence and the frame from which the decision was final (the
# clean shipped clips, then the noisy ones, each with its own score), and finish with the
# SOP/energy report of the clean clips.
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

# Your own WAV files: those alone. Otherwise the shipped clips twice: clean (data/demo) and noisy
# (data/demo_noisy: the same test speakers with noise, babble, reverberation, channels), each
# with its own result line; the SOP/energy report is of the clean clips.
own=0
for arg in "$@"; do if [[ "$arg" == *.wav || "$arg" == *.WAV ]]; then own=1; fi; done
spot() { PYTHONPATH="$LMUSIM_BUILD_DIR/python" /usr/bin/python3 "$root/examples/spot_keywords.py" \
  --model "$root/models/slmu_kws.h5" --overwrite "$@"; }
if ((own)); then
  spot --output "$out/keywords.h5" "$@"
else
  echo "== clean shipped test clips (data/demo)"
  spot --output "$out/keywords.h5" "$@"
  echo
  echo "== noisy shipped test clips (data/demo_noisy)"
  spot --demo "$root/data/demo_noisy" --output "$out/keywords_noisy.h5" "$@"
fi
echo
"$bin" report "$out/keywords.h5"
