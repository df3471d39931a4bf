#!/usr/bin/python3
"""Reference benchmark: the Vogels & Abbott (2005) CUBA network in Brian2.

What it measures
----------------
The wall-clock cost of simulating the classic CUBA benchmark network (the
network of Brian2's ``examples/CUBA.py``) with Brian2's C++ standalone device,
single-threaded (``prefs.devices.cpp_standalone.openmp_threads = 0``, i.e. the
generated code contains no OpenMP at all). It serves as an external baseline
for lmusim.

Model (identical to ``examples/CUBA.py``)
-----------------------------------------
N leaky integrate-and-fire neurons, the first 80 % excitatory, the rest
inhibitory, with current-based exponential synapses::

    dv/dt  = (ge + gi - (v - El)) / taum : volt (unless refractory)
    dge/dt = -ge / taue                  : volt
    dgi/dt = -gi / taui                  : volt

taum = 20 ms, taue = 5 ms, taui = 10 ms, Vt = -50 mV, Vr = -60 mV,
El = -49 mV, threshold ``v > Vt``, reset ``v = Vr``, refractory 5 ms,
``method='exact'``, dt = 0.1 ms. v starts uniformly in [Vr, Vt), ge = gi = 0.
Excitatory synapses add we = 1.62 mV to ge, inhibitory synapses add
wi = -9 mV to gi. Connection probability is p = fanin / N (default fan-in 80,
so N = 4000 gives the classic p = 0.02).

How it is timed
---------------
* ``run_s``   -- ``device._last_run_time``: the time the compiled binary
  spends inside ``Network::run`` (simulation loop only; excludes synapse
  creation, initialisation and writing results to disk).
* ``wall_s``  -- wall time from the start of network construction to the
  return of ``run()``: Python-side code generation + ``make``/g++
  compilation + execution of the binary (including synapse construction and
  result I/O) + reading the results back. Importing brian2 is *not* included.
* ``build_s`` -- ``wall_s - run_s``: everything that is not the simulation
  loop (dominated by g++ compile time when the build directory is fresh).
* A per-phase split (make/g++, whole binary, remaining Python-side
  code generation and I/O) is printed to stderr.

Output
------
Exactly one line of JSON on stdout; everything else (Brian2 log messages, the
binary's own output, diagnostics) goes to stderr. With ``--no-monitor`` no
SpikeMonitor is created and ``spikes`` / ``rate_hz`` are ``null``.

Example::

    /usr/bin/python3 benchmarks/brian2_cuba.py --duration-ms 10000
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Brian2 cpp_standalone (no OpenMP) CUBA benchmark; "
                    "prints one JSON line to stdout.")
    ap.add_argument("--neurons", type=int, default=4000,
                    help="total number of neurons N (default: 4000)")
    ap.add_argument("--duration-ms", type=float, default=1000.0,
                    help="simulated time in ms (default: 1000)")
    ap.add_argument("--fanin", type=float, default=80.0,
                    help="expected fan-in per source population; connection "
                         "probability p = fanin / N (default: 80 -> p=0.02 "
                         "at N=4000)")
    ap.add_argument("--seed", type=int, default=1,
                    help="Brian2 random seed (default: 1)")
    ap.add_argument("--build-dir", default=None,
                    help="standalone project directory (default: a fresh "
                         "temporary directory, deleted afterwards unless "
                         "--keep). A user-given directory is never deleted; "
                         "reusing one lets make skip unchanged objects.")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary build directory")
    ap.add_argument("--no-monitor", action="store_true",
                    help="do not create a SpikeMonitor (spikes/rate_hz are "
                         "then reported as null)")
    args = ap.parse_args(argv)
    if args.neurons < 2:
        ap.error("--neurons must be >= 2")
    if args.duration_ms <= 0:
        ap.error("--duration-ms must be > 0")
    p = args.fanin / args.neurons
    if not 0.0 <= p <= 1.0:
        ap.error(f"fanin/N = {p} is not a probability")
    return args


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run_benchmark(args, build_dir):
    # Imported here so that all of brian2's import-time chatter happens while
    # stdout is redirected to stderr (see main()).
    from brian2 import (NeuronGroup, Synapses, SpikeMonitor, defaultclock,
                        device, ms, mV, prefs, seed, set_device, run)

    N = args.neurons
    p = args.fanin / N
    Ne = int(0.8 * N)

    set_device("cpp_standalone", directory=build_dir, build_on_run=True)
    prefs.devices.cpp_standalone.openmp_threads = 0  # no OpenMP code at all
    # Brian's default is an unbounded `make -j`; bound it to the core count.
    prefs.devices.cpp_standalone.extra_make_args_unix = [
        f"-j{os.cpu_count() or 1}"]
    defaultclock.dt = 0.1 * ms
    seed(args.seed)

    t0 = time.perf_counter()

    taum = 20 * ms
    taue = 5 * ms
    taui = 10 * ms
    Vt = -50 * mV
    Vr = -60 * mV
    El = -49 * mV

    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = NeuronGroup(N, eqs, threshold="v>Vt", reset="v = Vr",
                    refractory=5 * ms, method="exact")
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge = 0 * mV
    P.gi = 0 * mV

    we = (60 * 0.27 / 10) * mV  # excitatory synaptic weight (voltage)
    wi = (-20 * 4.5 / 10) * mV  # inhibitory synaptic weight
    Ce = Synapses(P, P, on_pre="ge += we")
    Ci = Synapses(P, P, on_pre="gi += wi")
    Ce.connect("i<Ne", p=p)
    Ci.connect("i>=Ne", p=p)

    M = None if args.no_monitor else SpikeMonitor(P)

    duration = args.duration_ms * ms
    run(duration)  # build_on_run: codegen + compile + execute binary
    wall_s = time.perf_counter() - t0

    run_s = float(device._last_run_time)
    n_syn = int(len(Ce)) + int(len(Ci))
    spikes = None if M is None else int(M.num_spikes)
    rate_hz = (None if spikes is None
               else spikes / N / (args.duration_ms / 1000.0))

    make_s = device.timers["compile"].get("make", float("nan"))
    binary_s = device.timers.get("run_binary", float("nan"))
    log(f"[brian2_cuba] N={N} Ne={Ne} p={p:g} syn_e={len(Ce)} "
        f"syn_i={len(Ci)} build_dir={build_dir}")
    log(f"[brian2_cuba] phases: make/g++={make_s:.2f}s "
        f"binary={binary_s:.3f}s (of which run loop {run_s:.3f}s) "
        f"python codegen+I/O={wall_s - make_s - binary_s:.2f}s; "
        f"completed fraction {device._last_run_completed_fraction}")

    return {
        "engine": "brian2-cpp_standalone",
        "neurons": N,
        "duration_ms": args.duration_ms,
        "synapses": n_syn,
        "spikes": spikes,
        "rate_hz": rate_hz,
        "run_s": run_s,
        "wall_s": wall_s,
        "build_s": wall_s - run_s,
    }


def main(argv=None):
    args = parse_args(argv)

    if args.build_dir is None:
        build_dir = tempfile.mkdtemp(prefix="brian2_cuba_")
        owns_dir = True
    else:
        build_dir = os.path.abspath(args.build_dir)
        owns_dir = False

    # Route everything written to fd 1 (brian2 messages, make/g++ output,
    # the standalone binary's stdout) to stderr, so stdout carries only the
    # final JSON line.
    sys.stdout.flush()
    real_stdout_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        result = run_benchmark(args, build_dir)
    finally:
        sys.stdout.flush()
        os.dup2(real_stdout_fd, 1)
        os.close(real_stdout_fd)
        if owns_dir and not args.keep:
            shutil.rmtree(build_dir, ignore_errors=True)
        elif owns_dir:
            log(f"[brian2_cuba] kept build directory {build_dir}")

    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
