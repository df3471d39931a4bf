#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer + UBSan) and runs each for a bounded
# time (LMUSIM_FUZZ_SECONDS, default 60) from a seed corpus of valid files. A crash is copied into
# tests/fuzz/regressions/<reader>/ (replayed by ctest from then on) and fails this script.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${LMUSIM_FUZZ_SECONDS:-60}
"$root/scripts/deps.sh" fuzz
build=$(realpath -m "${LMUSIM_FUZZ_BUILD_DIR:-$root/build-fuzz}")
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLMUSIM_FUZZ=ON -DLMUSIM_SANITIZE=ON \
  -DLMUSIM_BUILD_TESTS=OFF -DLMUSIM_BUILD_PYTHON=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target fuzz_model fuzz_wav fuzz_npy fuzz_nir lmusim >/dev/null

seeds=$build/seeds
rm -rf "$seeds" && mkdir -p "$seeds"/{model,wav,npy,nir}
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 "$build/apps/lmusim" cuba --neurons 200 --fan-in 5 --duration 1ms --save-network "$seeds/model/cuba.h5" --quiet >/dev/null
/usr/bin/python3 - "$seeds" <<'PY'
import sys, wave, numpy as np
d = sys.argv[1]
with wave.open(f"{d}/wav/tone.wav", "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    w.writeframes((3000 * np.sin(np.arange(2000) / 5)).astype("<i2").tobytes())
np.save(f"{d}/npy/x.npy", np.zeros((2, 3, 4), np.float32))
PY
for kind in cuba_rnn conv_sum nested; do
  /usr/bin/python3 "$root/tests/python/nir_reference.py" make "$kind" --seed 1 --out "$seeds/nir/$kind.nir" >/dev/null
done
status=0
for t in model wav npy nir; do
  echo "== fuzz_$t for ${seconds}s"
  artifacts=$build/artifacts/$t/
  rm -rf "$artifacts" && mkdir -p "$artifacts"  # only this run's findings
  if ! (cd "$build" && ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 "./tests/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=4096 \
        -timeout=30 -report_slow_units=60 -artifact_prefix="$artifacts" "$seeds/$t" 2>&1 | tail -5); then
    status=1
  fi
  for f in "$artifacts"*; do
    [[ -f "$f" ]] || continue
    mkdir -p "$root/tests/fuzz/regressions/$t"
    cp "$f" "$root/tests/fuzz/regressions/$t/"
    echo "fuzz_$t: finding kept as tests/fuzz/regressions/$t/$(basename "$f")"
    status=1
  done
done
exit $status
