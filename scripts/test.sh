#!/usr/bin/env bash
# Every test: install what is missing, build (warnings are errors), run the C++ tests (ctest) and
# the Python tests (pytest). Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/deps.sh" test
export LMUSIM_BUILD_DIR=${LMUSIM_BUILD_DIR:-$root/build}
"$root/scripts/build.sh" -DLMUSIM_WERROR=ON -DLMUSIM_BUILD_TESTS=ON

echo "== C++ tests (ctest)"
ctest --test-dir "$LMUSIM_BUILD_DIR" --output-on-failure -j "$(nproc)"

echo "== Python tests (pytest)"
export LMUSIM_BIN="$LMUSIM_BUILD_DIR/apps/lmusim"
set +e
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$root/tests/python"
rc=$?
set -e
# pytest exits 5 when it collects no tests: that is not a failure of the code, but say so.
if [[ $rc -eq 5 ]]; then
  echo "pytest: no Python tests collected"
  rc=0
fi
exit $rc
