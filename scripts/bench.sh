#!/usr/bin/env bash
# Runs every benchmark and prints one table per benchmark: workload, lmusim, peer, ratio.
# See benchmarks/README.md for the questions, methods and recorded results.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/deps.sh" bench
"$root/scripts/build.sh"
/usr/bin/python3 "$root/benchmarks/cuba_vs_brian2.py" "$@"
