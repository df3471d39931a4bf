#include "lmusim/graph/cuba.hpp"

#include <unistd.h>

#include <cmath>

#include "lmusim/graph/connectivity.hpp"
#include "lmusim/core/error.hpp"
#include "lmusim/core/random.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

network make_cuba(const cuba_params& cp) {
    if (cp.neurons < 2) throw error(cat("cuba: neurons = ", cp.neurons, ", expected at least 2"));
    if (!(cp.excitatory_fraction > 0.0 && cp.excitatory_fraction < 1.0))
        throw error(cat("cuba: excitatory_fraction = ", cp.excitatory_fraction, ", expected 0 < f < 1"));
    const double p = cp.p >= 0.0 ? cp.p : cp.fan_in / static_cast<double>(cp.neurons);
    if (!(p > 0.0 && p <= 1.0))
        throw error(cat("cuba: connection probability ", p, " (fan_in ", cp.fan_in, ", neurons ", cp.neurons,
                        "), expected 0 < p <= 1"));
    const std::size_t n = cp.neurons;
    if (n > max_population_size) throw error(cat("cuba: neurons = ", n, " exceeds the maximum of ", max_population_size));
    // About 8 bytes per synapse and 4 per neuron: refuse before allocating what cannot fit.
    const double bytes = 8.0 * p * static_cast<double>(n) * static_cast<double>(n) + 4.0 * static_cast<double>(n);
    const double ram = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
    if (ram > 0 && bytes > ram)
        throw error(cat("cuba: ", n, " neurons with p = ", p, " need about ", bytes / 1e9, " GB, more than this machine's ",
                        ram / 1e9, " GB"));
    if (cp.delay == 0) throw error("cuba: delay = 0 steps, expected at least 1 (a spike acts from the next step)");
    const auto n_exc = static_cast<std::size_t>(std::llround(cp.excitatory_fraction * static_cast<double>(n)));

    network net;
    net.name = "cuba";
    net.dt = cp.dt;
    continuous_lif_params lif;  // defaults are CUBA's
    lif.v_init.resize(n);
    // Key 0xC0BA separates the initial-v stream from the connectivity streams.
    for (std::size_t i = 0; i < n; ++i)
        lif.v_init[i] = static_cast<float>(lif.v_reset + random::uniform(cp.seed, 0xC0BA, i) * (lif.v_threshold - lif.v_reset));
    net.add(node{"neurons", n, lif});

    projection exc;
    exc.name = "exc";
    exc.source = exc.target = "neurons";
    exc.kind = connectivity::sparse;
    exc.delay = cp.delay;
    exc.port = 0;
    exc.sparse = fixed_probability(n, n, p, static_cast<float>(cp.w_exc), random::word(cp.seed, 1), 0, n_exc);
    net.connect(std::move(exc));

    projection inh;
    inh.name = "inh";
    inh.source = inh.target = "neurons";
    inh.kind = connectivity::sparse;
    inh.delay = cp.delay;
    inh.port = 1;
    inh.sparse = fixed_probability(n, n, p, static_cast<float>(cp.w_inh), random::word(cp.seed, 2), n_exc, n);
    net.connect(std::move(inh));
    return net;
}

}  // namespace lmusim
