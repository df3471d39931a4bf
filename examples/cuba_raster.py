#!/usr/bin/env python3
"""Run the Vogels-Abbott CUBA network from Python and plot a spike raster.

    PYTHONPATH=build/python python3 examples/cuba_raster.py [--out cuba_raster.png] [--neurons 4000]
"""
import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lmusim  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--out", default="cuba_raster.png")
ap.add_argument("--neurons", type=int, default=4000)
ap.add_argument("--duration-ms", type=float, default=500.0)
ap.add_argument("--seed", type=int, default=3)
a = ap.parse_args()

n, seed = a.neurons, a.seed
ne = int(round(0.8 * n))
net = lmusim.Network(dt=0.1, name="cuba")
net.add_continuous_lif("neurons", n, v_init=lmusim.cuba_v_init(n, seed))
exc = lmusim.fixed_probability(n, n, 80 / n, 1.62, lmusim.derive_seed(seed, 1), 0, ne)
inh = lmusim.fixed_probability(n, n, 80 / n, -9.0, lmusim.derive_seed(seed, 2), ne, n)
net.connect_sparse("exc", "neurons", "neurons", **exc, delay=1, port=0)  # Brian2's zero delay = 1 step
net.connect_sparse("inh", "neurons", "neurons", **inh, delay=1, port=1)
sim = lmusim.Simulation(net)
steps = int(a.duration_ms / net.dt)
sim.run(steps, record=True)
step, neuron, _ = sim.spikes("neurons")
rate = len(step) / n / (a.duration_ms / 1000)
print(f"{len(step)} spikes, mean rate {rate:.2f} Hz, "
      f"{int(sim.ops('exc')['sops'][0] + sim.ops('inh')['sops'][0])} SOPs")

fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
t = step * net.dt
shown = neuron % max(1, n // 1000) == 0  # every k-th neuron: about 1000 rows
exc_mask = neuron < ne
ax.scatter(t[shown & exc_mask], neuron[shown & exc_mask], s=1, c="tab:blue", label="excitatory")
ax.scatter(t[shown & ~exc_mask], neuron[shown & ~exc_mask], s=1, c="tab:red", label="inhibitory")
ax.set_ylabel(f"neuron (every {max(1, n // 1000)}th)")
ax.set_title(f"CUBA, {n} neurons: {rate:.2f} Hz mean rate (lmusim)")
ax.legend(loc="upper right", markerscale=8, framealpha=0.9)
bins = np.arange(0, a.duration_ms + 1, 5)
ax2.hist(t, bins=bins, color="gray")
ax2.set_xlabel("time [ms]")
ax2.set_ylabel("spikes / 5 ms")
fig.tight_layout()
fig.savefig(a.out, dpi=120)
print(f"raster: {a.out}")
