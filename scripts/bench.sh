#!/usr/bin/env bash
# Runs every benchmark side by side with its peer and prints one table: workload, lmusim, peer,
# ratio (and the target, met or not). See benchmarks/README.md for the questions, methods and
# recorded results.
#
# Usage: scripts/bench.sh [--quick] [--model PATH.h5|PATH.pth] [--only LIST] [CUBA OPTIONS...]
#   --quick        short smoke run of every benchmark (minutes, not tens of minutes)
#   --model PATH   the Spiking LMUFormer to use (default: a random checkpoint calibrated to
#                  realistic firing rates), e.g. models/slmu_kws.h5
#   --only LIST    comma-separated subset of: cuba,lmuformer,roofline,engine,cost,rss,mpi
#                  (engine: this tree's CLI against an earlier revision's, benchmarks/engine_ab.py)
#   anything else is passed to benchmarks/cuba_vs_brian2.py (e.g. --repeats 5)
# Builds into build/ (or $LMUSIM_BUILD_DIR). JSON lines of every run go to
# $LMUSIM_BUILD_DIR/bench/results.jsonl, plots to $LMUSIM_BUILD_DIR/bench/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quick=()
model=()
only="cuba,lmuformer,roofline,engine,cost,rss,mpi"
cuba_args=()
while (($#)); do
  case "$1" in
    --quick) quick=(--quick); shift ;;
    --model) model=(--model "$2"); shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) cuba_args+=("$1"); shift ;;
  esac
done

"$root/scripts/deps.sh" bench
"$root/scripts/build.sh"
export LMUSIM_BUILD_DIR=${LMUSIM_BUILD_DIR:-$root/build}
export MPLBACKEND=Agg
out="$LMUSIM_BUILD_DIR/bench"
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
py=/usr/bin/python3
failed=()
bench() {  # name, script, args...: JSON lines to $results, everything else to the terminal
  local name=$1 script=$2
  shift 2
  [[ ",$only," == *",$name,"* ]] || return 0
  echo "== $name: $script $*" >&2
  if ! "$py" "$root/benchmarks/$script" "$@" | tee -a "$results" | { grep -v '^{' || true; }; then
    echo "bench: $name FAILED" >&2
    failed+=("$name")
  fi
}

bench cuba cuba_vs_brian2.py "${quick[@]}" "${cuba_args[@]}"
bench lmuformer lmuformer_vs_torch.py --build "$LMUSIM_BUILD_DIR" "${quick[@]}" "${model[@]}" --plot-dir "$out"
# The roofline (memory bandwidth per cache level, bytes per frame, lower bounds) of the LMUFormer
# benchmarked above (its measured rows come from $results), the shipped models (measured here).
bench roofline roofline.py --build "$LMUSIM_BUILD_DIR" "${quick[@]}" --results "$results" --measure "${model[1]:-random}" \
  "$root/models/slmu_kws.h5" "$root/models/l2mu_kws.h5"
bench engine engine_ab.py --build "$LMUSIM_BUILD_DIR" "${quick[@]}" "${model[@]}"
bench cost cost_vs_events.py --build "$LMUSIM_BUILD_DIR" "${quick[@]}" "${model[@]}" --plot-dir "$out"
bench rss rss_clips.py --build "$LMUSIM_BUILD_DIR" "${quick[@]}" "${model[@]}"
bench mpi mpi_scaling.py --build "$LMUSIM_BUILD_DIR" "${quick[@]}"

echo
"$py" "$root/benchmarks/summarize.py" "$results"
echo "(JSON lines: $results; plots: $out/*.png)"
if ((${#failed[@]})); then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
