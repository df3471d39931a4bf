#pragma once
// What lmusim counts per projection and per node (mechanism only: energy is computed from these
// by energy/). One table, op_count_fields, names the fields in their stored order: every file
// writer and reader, checkpoint, binding and report iterates it, so a new field is added here
// once. docs/semantics.md ("What is counted") defines each field.
#include <array>
#include <cstdint>

namespace lmusim {

struct op_counts {
    std::uint64_t events = 0;       // spikes delivered (projections)
    std::uint64_t sops = 0;         // accumulates triggered by events (spikes x fan-out)
    std::uint64_t macs = 0;         // multiply-accumulates on real values
    std::uint64_t dense = 0;        // what a dense (ANN) layer of the same shape would do, in MACs
    std::uint64_t elementwise = 0;  // element-wise work: affines, residual adds, biases, neuron updates
    // NeuroBench's effective synaptic operations: (nonzero input, nonzero weight) pairs, bias
    // excluded; accumulates (ACs) when the step's input is binary (0, 1 or -1), else MACs.
    std::uint64_t effective_acs = 0;
    std::uint64_t effective_macs = 0;
    std::uint64_t membrane = 0;     // NeuroBench's membrane updates: neurons whose membrane changed (nodes)

    op_counts& operator+=(const op_counts& o) noexcept;
    friend bool operator==(const op_counts&, const op_counts&) = default;
};

struct op_count_field {
    const char* name;                 // dataset / key name (per node: "node_" + name)
    std::uint64_t op_counts::*member;
    bool per_node;                    // counted for nodes' own work (events are projection-only)
    bool per_projection = true;       // counted for projections (membrane updates are node-only)
};

// The fields in their stored order (checkpoints store [streams, fields] in this order).
inline constexpr std::array<op_count_field, 8> op_count_fields{{
    {"events", &op_counts::events, false},
    {"sops", &op_counts::sops, true},
    {"macs", &op_counts::macs, true},
    {"dense", &op_counts::dense, true},
    {"elementwise", &op_counts::elementwise, true},
    {"effective_acs", &op_counts::effective_acs, true},
    {"effective_macs", &op_counts::effective_macs, true},
    {"membrane", &op_counts::membrane, true, false},
}};

// Fields stored by lmusim 0.1 files written before `effective` and `membrane` existed: readers
// accept files holding only the first this many.
inline constexpr std::size_t op_count_fields_v1 = 5;

inline op_counts& op_counts::operator+=(const op_counts& o) noexcept {
    for (const op_count_field& f : op_count_fields) this->*f.member += o.*f.member;
    return *this;
}

}  // namespace lmusim
