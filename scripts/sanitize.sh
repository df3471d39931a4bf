#!/usr/bin/env bash
# Builds lmusim and its C++ tests with AddressSanitizer + UndefinedBehaviorSanitizer and runs
# them, then runs the CLI-driven Python tests (parity, corpus of broken inputs, signals, front-end,
# recordings, guarded outputs, the L2MU, model metadata, NIR graphs, keyword spotting from standard input, MPI
# runs) against the sanitized `lmusim` binary. Exits non-zero on any failure or report.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/deps.sh" test
build=${LMUSIM_ASAN_BUILD_DIR:-$root/build-asan}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLMUSIM_SANITIZE=ON -DLMUSIM_WERROR=ON \
  -DLMUSIM_BUILD_TESTS=ON -DLMUSIM_BUILD_PYTHON=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:hard_rss_limit_mb=4096:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0}
export LMUSIM_SANITIZED=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "== C++ tests under ASan + UBSan"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
echo "== CLI tests against the sanitized binary"
export LMUSIM_BIN="$build/apps/lmusim"
export PYTHONPATH="${LMUSIM_BUILD_DIR:-$root/build}/python${PYTHONPATH:+:$PYTHONPATH}"
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$root/tests/python/test_lmuformer_parity.py" \
  "$root/tests/python/test_cli_recording.py" "$root/tests/python/test_corpus.py" "$root/tests/python/test_signals.py" \
  "$root/tests/python/test_frontend.py" "$root/tests/python/test_outputs.py" "$root/tests/python/test_l2mu.py" \
  "$root/tests/python/test_model_meta.py" "$root/tests/python/test_nir.py" "$root/tests/python/test_stream_stdin.py" \
  "$root/tests/python/test_mpi.py"
