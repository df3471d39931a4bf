#include "lmusim/neurons/population.hpp"

#include <algorithm>

#include "lmusim/graph/error.hpp"
#include "lmusim/neurons/lif.hpp"
#include "lmusim/neurons/sources.hpp"

namespace lmusim {

population::population(std::size_t size, std::size_t streams, std::size_t ports)
    : size_(size), streams_(streams), ports_(ports), input_(ports * streams * size, 0.0f) {
    if (streams == 0) throw error("a population needs at least one stream");
}

void population::clear_inputs() { std::fill(input_.begin(), input_.end(), 0.0f); }

std::unique_ptr<population> make_population(const node& n, double dt, std::size_t streams) {
    switch (n.kind()) {
        case node_kind::discrete_lif:
            return std::make_unique<discrete_lif>(std::get<discrete_lif_params>(n.params), n.size, streams);
        case node_kind::continuous_lif:
            return std::make_unique<continuous_lif>(std::get<continuous_lif_params>(n.params), dt, n.size, streams);
        case node_kind::spike_source:
            return std::make_unique<spike_source>(std::get<spike_source_params>(n.params), dt, n.size, streams);
        case node_kind::input:
            return std::make_unique<input_frames>(n.size, streams);
    }
    throw internal_error("make_population: unhandled node kind");
}

}  // namespace lmusim
