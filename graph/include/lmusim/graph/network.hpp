#pragma once
// The network description: plain data with a validate() and no run-time state, in the spirit of
// Arbor's recipe and GeNN's ModelSpec (docs/design.md). A simulation is built from it (sim/).
// Node kinds are defined in neurons/ (neurons/node_kinds.hpp lists them), projection kinds in
// synapses/; this layer composes them and checks the whole.
//
// Units: time in milliseconds, voltage in millivolts (continuous-time neurons); the discrete-time
// LIF works in steps and dimensionless input units. Names must be non-empty and must not contain
// '/' (they become HDF5 object names).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lmusim/core/types.hpp"
#include "lmusim/core/weight_format.hpp"
#include "lmusim/neurons/node_kinds.hpp"
#include "lmusim/synapses/projection.hpp"

namespace lmusim {

struct node {
    std::string name;
    std::size_t size = 0;
    node_params params;

    std::string_view kind() const noexcept { return kind_name(params); }  // the kind's name
    bool spiking() const noexcept;             // output is spikes (else real values)
    bool frame_input() const noexcept;         // fed with frames (simulation::push_frames)
    std::size_t input_ports() const noexcept;  // 0 for sources
    std::size_t port_size(std::size_t port) const noexcept;  // values per stream in an input port
    // Element-wise work per active step and stream, given the number of incoming projections.
    std::size_t elementwise_per_step(std::size_t inputs) const noexcept;
};

struct network {
    std::string name = "network";
    double dt = 0.1;  // [ms] the step length
    // What the synaptic weights were rounded to (graph/weights.hpp; stored as the network file's
    // root attribute `weights`, absent for fp32).
    weight_format weights = weight_format::fp32;
    std::vector<node> nodes;
    std::vector<projection> projections;

    node& add(node n);
    projection& connect(projection p);

    // Index of the named node / projection; throws lmusim::network_error naming it if absent.
    std::size_t node_index(std::string_view name) const;
    std::size_t projection_index(std::string_view name) const;
    const node& find_node(std::string_view name) const { return nodes[node_index(name)]; }

    // Checks everything a simulation relies on and throws lmusim::network_error whose message
    // names the node or projection and the bad value.
    void validate() const;

    // Node indices in an order where every zero-delay projection's source comes before its
    // target (stable: declaration order where free). Throws if zero-delay edges form a cycle.
    std::vector<std::size_t> topological_order() const;

    // Frame latency of every node: the largest (source latency + projection latency) over its
    // zero-delay inputs; 0 for nodes without such inputs. Node i processes frame t - L[i] at step t.
    std::vector<std::uint32_t> latencies() const;

    // Trainable parameters as PyTorch counts them: weights and biases of projections and
    // readouts, two per neuron for every input affine or post-affine (a BatchNorm's weight and
    // bias). LMU memory matrices, BatchNorm running statistics and initial states are buffers.
    std::size_t parameter_count() const;
};

}  // namespace lmusim
