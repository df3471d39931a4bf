#pragma once
// Static figures of a network, as NeuroBench defines them for a PyTorch model (docs/energy.md,
// "NeuroBench"): the footprint (bytes of every stored parameter and buffer) and the connection
// sparsity (zero weights over all weights of the synaptic layers: projections' weight arrays and
// nodes' "weight" arrays; routing and state-space matrices are not synaptic layers).
#include <cstdint>

#include "lmusim/graph/network.hpp"

namespace lmusim {

struct static_metrics {
    std::uint64_t footprint_bytes = 0;
    std::uint64_t connection_zeros = 0, connection_total = 0;
};

static_metrics static_metrics_of(const network& net);

}  // namespace lmusim
