#include "lmusim/graph/weights.hpp"

#include <type_traits>
#include <variant>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/synapses/kind.hpp"

namespace lmusim {

void compress_weights(network& net, weight_format f) {
    if (f == weight_format::fp32 || f == net.weights) return;
    if (net.weights != weight_format::fp32)
        throw error(cat("network '", net.name, "' already holds ", to_string(net.weights), " weights; cannot make them ",
                        to_string(f), " (compress the fp32 network instead)"));
    net.validate();
    for (projection& p : net.projections) {
        const std::size_t ns = net.find_node(p.source).size, nt = net.find_node(p.target).port_size(p.port);
        compress_weights(kind_of(p.kind).synaptic_weights(p, ns, nt), f);
    }
    for (node& nd : net.nodes)
        std::visit(
            [&](auto& params) {
                if constexpr (requires { params.synaptic_weights(nd.size); })
                    compress_weights(params.synaptic_weights(nd.size), f);
            },
            nd.params);
    net.weights = f;
}

}  // namespace lmusim
