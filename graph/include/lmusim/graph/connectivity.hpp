#pragma once
// Connectivity builders: dense from a matrix, sparse CSR from arrays, and seeded fixed-probability.
#include <cstdint>
#include <span>
#include <string>

#include "lmusim/graph/network.hpp"

namespace lmusim {

// A dense projection from a row-major weight matrix [n_target x n_source] (PyTorch Linear layout).
projection dense_projection(std::string name, std::string source, std::string target,
                            std::span<const float> weights_target_major, std::uint32_t delay = 0,
                            std::uint32_t port = 0);

// CSR from arrays. Rows are source neurons. Indices within a row are sorted here (weights follow);
// duplicates within a row are an lmusim::error naming the row.
csr csr_from_arrays(std::size_t n_source, std::span<const std::uint64_t> indptr,
                    std::span<const index_t> indices, std::span<const float> weights);

// CSR from (source, target, weight) triplets in any order.
csr csr_from_pairs(std::size_t n_source, std::span<const index_t> sources,
                   std::span<const index_t> targets, std::span<const float> weights);

// Every ordered pair (source, target) is connected independently with probability p, with the
// same weight. Sources outside [source_begin, source_end) get empty rows, so one population can
// carry an excitatory and an inhibitory projection (as in CUBA). Reproducible: the result is a
// pure function of the arguments (counter-based random numbers keyed on seed and source row).
// allow_self = false skips source i -> target i.
csr fixed_probability(std::size_t n_source, std::size_t n_target, double p, float weight,
                      std::uint64_t seed, std::size_t source_begin = 0,
                      std::size_t source_end = SIZE_MAX, bool allow_self = true);

}  // namespace lmusim
