#pragma once
// The Vogels-Abbott CUBA network (Brette et al. 2007, benchmark 2) exactly as Brian2's
// examples/CUBA.py defines it; see docs/cuba.md for the mapping to lmusim's semantics.
#include <cstdint>

#include "lmusim/graph/network.hpp"

namespace lmusim {

struct cuba_params {
    std::size_t neurons = 4000;       // 80% excitatory (indices first), 20% inhibitory
    double excitatory_fraction = 0.8;
    double p = -1.0;                  // connection probability; < 0: fan_in / neurons
    double fan_in = 80.0;             // expected inputs per neuron when p < 0 (p = 0.02 at 4000)
    double dt = 0.1;                  // [ms]
    double w_exc = 60.0 * 0.27 / 10.0;   // [mV] = 1.62 mV, added to g_exc
    double w_inh = -20.0 * 4.5 / 10.0;   // [mV] = -9 mV, added to g_inh
    std::uint64_t seed = 3;           // connectivity and initial v (docs/cuba.md: rates by seed)
    std::uint32_t delay = 1;          // [steps] synaptic delay; 1 is Brian2's CUBA (longer delays make
                                      // network-parallel runs exchange spikes less often)
};

// One population "neurons" (continuous LIF: tau_m 20 ms, tau_exc 5 ms, tau_inh 10 ms,
// v_rest -49 mV, threshold -50 mV, reset -60 mV, refractory 5 ms, v_init ~ U(-60, -50) mV) and two
// sparse projections "exc" (port 0, sources 0..Ne-1) and "inh" (port 1, sources Ne..N-1).
// Brian2's zero synaptic delay (a spike at step n reaches v from step n+1) is lmusim's delay of
// one step.
network make_cuba(const cuba_params& params = {});

}  // namespace lmusim
