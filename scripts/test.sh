#!/usr/bin/env bash
# Every test: install what is missing, build (warnings are errors), run the C++ tests (ctest),
# the Python tests (pytest), the examples, and a pip install of the package into a throwaway
# virtual environment. Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/deps.sh" test
export LMUSIM_BUILD_DIR=${LMUSIM_BUILD_DIR:-$root/build}
"$root/scripts/build.sh" -DLMUSIM_WERROR=ON -DLMUSIM_BUILD_TESTS=ON

echo "== C++ tests (ctest)"
ctest --test-dir "$LMUSIM_BUILD_DIR" --output-on-failure -j "$(nproc)"

echo "== Python tests (pytest)"
export LMUSIM_BIN="$LMUSIM_BUILD_DIR/apps/lmusim"
export PYTHONPATH="$LMUSIM_BUILD_DIR/python${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg
set +e
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$root/tests/python"
rc=$?
set -e
# pytest exits 5 when it collects no tests: not a failure of the code, but say so.
if [[ $rc -eq 5 ]]; then
  echo "pytest: no Python tests collected"
elif [[ $rc -ne 0 ]]; then
  exit $rc
fi

echo "== examples"
ex=$(mktemp -d)
trap 'rm -rf "$ex"' EXIT
/usr/bin/python3 "$root/examples/cuba_raster.py" --out "$ex/raster.png" --duration-ms 200
/usr/bin/python3 "$root/tests/python/slmu_reference.py" make-checkpoint "$ex/ckpt.pth" --dim 64 --seed 1
/usr/bin/python3 -c "import sys, numpy as np; sys.path.insert(0, '$root/tests/python'); import slmu_reference as R; \
np.save('$ex/x.npy', np.asarray(R.random_features(2, frames=40, seed=1, n_pad=0), dtype=np.float32))"
/usr/bin/python3 "$root/examples/classify_clip.py" "$ex/ckpt.pth" "$ex/x.npy" --model "$ex/model.h5"
/usr/bin/python3 "$root/examples/stream_frames.py" "$ex/model.h5" "$ex/x.npy" --chunk 3 > "$ex/stream.txt"
grep -q "frame   39" "$ex/stream.txt"
/usr/bin/python3 "$root/examples/spot_keywords.py" --clips 4 --output "$ex/kws.h5" > "$ex/kws.txt"
grep -q "keywords right" "$ex/kws.txt"
/usr/bin/python3 "$root/examples/spot_keywords.py" --clips 4 --demo "$root/data/demo_noisy" > "$ex/kws_noisy.txt"
grep -q "keywords right (data/demo_noisy)" "$ex/kws_noisy.txt"
/usr/bin/python3 "$root/examples/spot_stream.py" --write-wav "$ex/long.wav" > "$ex/spot.txt"
grep -q "8/8 keywords found at the right time" "$ex/spot.txt"
"$LMUSIM_BIN" run "$root/models/slmu_kws.h5" --input - --stream --quiet < "$ex/long.wav" > "$ex/spot_cli.txt"
grep -E '^ *[0-9]+\.[0-9]{3} s  ' "$ex/spot.txt" | diff - "$ex/spot_cli.txt"  # the example = the command
echo "examples: ok"

echo "== pip install (virtual environment with the system's packages)"
/usr/bin/python3 -m venv --system-site-packages "$ex/venv"
(cd "$ex" && env -u PYTHONPATH "$ex/venv/bin/pip" install -q --no-build-isolation --no-deps "$root")
(cd "$ex" && env -u PYTHONPATH "$ex/venv/bin/python" -c "import lmusim; m = lmusim.load_model('$ex/model.h5'); print('pip install: ok,', m)")
