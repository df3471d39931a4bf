#!/usr/bin/env bash
# Installs the Debian packages lmusim needs, skipping apt-get entirely when all are present.
# Usage: scripts/deps.sh build|test|bench   (sourced by demo.sh, test.sh and bench.sh)
set -euo pipefail

build_pkgs=(g++ cmake make libeigen3-dev libtbb-dev libhdf5-dev hdf5-tools catch2 libcli11-dev nlohmann-json3-dev
            libopenmpi-dev openmpi-bin python3 python3-dev pybind11-dev python3-numpy python3-h5py)
python_pkgs=(python3-mpi4py python3-pytest python3-torch python3-torchaudio espeak-ng sox python3-scipy python3-matplotlib python3-pip python3-setuptools python3-venv)
bench_pkgs=(python3-brian libopenblas0-pthread linux-perf)

case "${1:-build}" in
  build) want=("${build_pkgs[@]}") ;;
  test) want=("${build_pkgs[@]}" "${python_pkgs[@]}") ;;
  bench) want=("${build_pkgs[@]}" "${python_pkgs[@]}" "${bench_pkgs[@]}") ;;
  fuzz) want=("${build_pkgs[@]}" clang libclang-rt-14-dev) ;;
  *) echo "usage: $0 build|test|bench|fuzz" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#want[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
