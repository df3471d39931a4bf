#pragma once
// NIR (Neuromorphic Intermediate Representation) graph files: reading them (any format version
// from 0.1 to 1.0.x) and lowering a graph onto lmusim's node and projection kinds, so a network
// exported by snnTorch, Norse, Sinabs, Rockpool, ... runs like any other lmusim network.
// Semantics (discretisation, resets, cycles, naming): docs/nir.md.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lmusim/graph/network.hpp"
#include "lmusim/neurons/kinds/nir_lif.hpp"

namespace lmusim {

// One dataset of a NIR node: numbers (any stored dtype, as double) or strings, with its shape
// ({} for a scalar).
struct nir_field {
    std::string name;
    std::vector<std::size_t> shape;
    bool text = false;
    std::vector<double> numbers;
    std::vector<std::string> strings;

    std::size_t count() const noexcept { return text ? strings.size() : numbers.size(); }
};

// A node as stored: its type, its fields and, for a NIRGraph, its children and edges.
struct nir_node {
    std::string name;  // the key in its parent's `nodes` group ("" for the file's top node)
    std::string type;  // "LIF", "Affine", "NIRGraph", ...
    std::vector<nir_field> fields;
    std::vector<nir_node> nodes;                              // NIRGraph only, in HDF5 name order
    std::vector<std::pair<std::string, std::string>> edges;  // NIRGraph only, as stored

    const nir_field* find(std::string_view field) const noexcept;
};

struct nir_document {
    std::string path;
    std::string version;  // /version ("" when absent)
    nir_node root;
};

// Reads a NIR file; throws file_error naming the file, the HDF5 path and what was expected.
nir_document read_nir(const std::string& path);
// Is this an HDF5 file laid out as NIR (/node with a type)? False for anything else, never throws.
bool is_nir_file(const std::string& path);

// The enumerations are the NIR node kinds' (neurons/kinds/nir_lif.hpp).
nir_discretization nir_discretization_from_string(std::string_view);  // throws lmusim::error
nir_reset nir_reset_from_string(std::string_view);                    // throws lmusim::error
std::string_view to_string(nir_discretization) noexcept;
std::string_view to_string(nir_reset) noexcept;

struct nir_options {
    double dt = 0;  // [s] the step; required (> 0)
    nir_discretization discretization = nir_discretization::euler;
    nir_reset reset = nir_reset::zero;
    // The Input nodes take 0/1 spikes (delivered event-driven: each spike adds its weights, counted
    // as SOPs) instead of real values; callers set it when the data are binary.
    bool spike_input = false;
    // What the first Output node contributes to the run's logits: `sum` (default) its values summed
    // over the steps so far (spike counts for a spiking read-out), or `last` its value at the step.
    bool readout_sum = true;
};

// A NIR graph lowered onto lmusim kinds.
struct nir_model {
    network net;
    std::string version;
    std::vector<std::string> inputs;   // lmusim node names of the NIR Input nodes (sorted)
    std::vector<std::string> outputs;  // lmusim node names of the NIR Output nodes (sorted)
    std::string logits;                // the node whose values are the run's logits (options.readout_sum)
    std::vector<std::vector<std::size_t>> input_shapes;  // per input, the NIR shape
    // Every primitive node after flattening: its name, NIR type, output shape and what it became
    // ("node <kind>" or "projection(s) <kind>"); for `lmusim info`.
    struct entry {
        std::string name, type, lowered;
        std::vector<std::size_t> shape;
        std::string fields;  // the node's fields as stored: "tau (38,) 0.0005..0.002; r 1; ..."
    };
    std::vector<entry> entries;
    // Edges after flattening, with `true` for the back edges of cycles (they carry the previous step).
    std::vector<std::pair<std::pair<std::string, std::string>, bool>> edges;
    std::vector<std::string> notes;  // what the user should know (rounded delays, ...)
};

// Lowers a document; throws lmusim::error naming the node (dotted name), field and expected value.
nir_model lower_nir(const nir_document& doc, const nir_options& options);
inline nir_model load_nir(const std::string& path, const nir_options& options) { return lower_nir(read_nir(path), options); }

}  // namespace lmusim
