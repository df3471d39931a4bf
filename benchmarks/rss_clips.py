#!/usr/bin/python3
"""Does lmusim's memory stay flat in the number of clips? (benchmarks/README.md)

Method: write ``--clips`` realistic feature clips ([clips, 128, 128] float32 .npy, made chunk by
chunk with ``random_features``), then run the CLI ``lmusim run MODEL --input big.npy --output
out.h5`` (batch ``--batch``, ``--threads``) and poll the process's ``/proc/PID/status``
(VmRSS, VmHWM) every 50 ms, reading its progress lines ("N / total clips") from stderr, so that
the peak RSS is known after 10%, 20%, 50% and 100% of the clips (1k, 2k, 5k, 10k by default).
The peak is the last VmHWM read before the process exits.

The CLI reads the whole .npy into memory before it starts, so the input's size is part of the
peak from the first clip on; the working memory is the peak minus the input. "Flat" means the
peak does not grow between the checkpoints.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import slmu_bench as B  # noqa: E402


def status_kb(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS", "VmHWM")):
                    k, v = line.split(":")
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def write_features(path: Path, clips: int, chunk: int = 500) -> None:
    from numpy.lib.format import open_memmap
    mm = open_memmap(path, mode="w+", dtype=np.float32, shape=(clips, 128, 128))
    for i in range(0, clips, chunk):
        n = min(chunk, clips - i)
        mm[i:i + n] = B.features(n, seed=1000 + i // chunk)
    mm.flush()
    del mm


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(B.default_build()))
    ap.add_argument("--model", default=None, help="model .h5 or checkpoint .pth (default: calibrated random)")
    ap.add_argument("--clips", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default=None, help="where to put the features and output (default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="1000 clips")
    a = ap.parse_args()
    if a.quick:
        a.clips = 1000
    build = Path(a.build)
    B.setup_lmusim_path(build)
    model_path, _, desc = B.prepare_model(a.model, build / "bench")
    B.emit(bench="rss", model=desc, file=Path(model_path).name)
    marks = sorted({max(1, round(a.clips * f)) for f in (0.1, 0.2, 0.5, 1.0)})
    with tempfile.TemporaryDirectory(dir=a.workdir) as td:
        feats, out = Path(td) / "big.npy", Path(td) / "out.h5"
        t0 = time.perf_counter()
        write_features(feats, a.clips)
        B.log(f"  wrote {a.clips} clips ({feats.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.0f} s")
        input_mib = feats.stat().st_size / 2**20
        cmd = [str(build / "apps" / "lmusim"), "run", str(model_path), "--input", str(feats), "--output", str(out),
               "--batch", str(a.batch), "--threads", str(a.threads)]
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        done = [0]

        def reader():
            for line in p.stderr:
                m = re.match(r"\s*(\d+) / (\d+) clips", line)
                if m:
                    done[0] = int(m.group(1))

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        seen = {}
        samples = []
        while p.poll() is None:
            st = status_kb(p.pid)
            if st:
                samples.append((time.perf_counter() - t0, done[0], st.get("VmRSS", 0), st.get("VmHWM", 0)))
                for mk in marks:
                    if mk not in seen and done[0] >= mk:
                        seen[mk] = st.get("VmHWM", 0)
            time.sleep(0.05)
        th.join(timeout=5)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"lmusim run failed with status {p.returncode}")
        peak_kb = max(s[3] for s in samples)
        out_mib = out.stat().st_size / 2**20
    for mk in marks:
        if mk not in seen:  # the last batch finished as the process exited
            seen[mk] = peak_kb
    for mk in marks:
        B.emit(bench="rss", clips_done=mk, vmhwm_mib=seen[mk] / 1024, working_mib=seen[mk] / 1024 - input_mib)
    growth = (seen[marks[-1]] - seen[marks[0]]) / 1024
    B.emit(bench="rss", clips=a.clips, peak_mib=peak_kb / 1024, input_mib=input_mib, output_mib=out_mib,
           wall_s=wall, clips_per_s=a.clips / wall, growth_mib=growth, samples=len(samples))
    B.emit(row=True, workload=f"peak RSS, {a.clips} clips -> out.h5 [MiB]",
           lmusim=round(peak_kb / 1024, 1), peer=None, peer_name="",
           ratio=None, target="flat in clips", met=bool(growth < 0.02 * peak_kb / 1024 + 8),
           detail=f"VmHWM at " + ", ".join(f"{mk}: {seen[mk] / 1024:.0f}" for mk in marks)
                  + f" MiB; input .npy held in memory {input_mib:.0f} MiB")


if __name__ == "__main__":
    main()
