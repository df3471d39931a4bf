#include "lmusim/graph/connectivity.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lmusim/core/error.hpp"
#include "lmusim/core/random.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

projection dense_projection(std::string name, std::string source, std::string target,
                            std::span<const float> weights, std::uint32_t delay, std::uint32_t port) {
    projection p;
    p.name = std::move(name);
    p.source = std::move(source);
    p.target = std::move(target);
    p.kind = connectivity::dense;
    p.delay = delay;
    p.port = port;
    p.weights.assign(weights.begin(), weights.end());
    return p;
}

csr csr_from_arrays(std::size_t n_source, std::span<const std::uint64_t> indptr,
                    std::span<const index_t> indices, std::span<const float> weights) {
    if (indptr.size() != n_source + 1)
        throw error(cat("CSR: indptr has ", indptr.size(), " entries, expected n_source + 1 = ", n_source + 1));
    if (indices.size() != weights.size())
        throw error(cat("CSR: ", indices.size(), " indices but ", weights.size(), " weights"));
    if (indptr[0] != 0 || indptr[n_source] != indices.size())
        throw error(cat("CSR: indptr must run from 0 to the synapse count ", indices.size(), ", got ", indptr[0],
                        " .. ", indptr[n_source]));
    csr c;
    c.indptr.assign(indptr.begin(), indptr.end());
    c.indices.resize(indices.size());
    c.weights.resize(weights.size());
    std::vector<std::size_t> perm;
    for (std::size_t r = 0; r < n_source; ++r) {
        const std::uint64_t b = indptr[r], e = indptr[r + 1];
        if (e < b || e > indices.size())
            throw error(cat("CSR: indptr[", r, "] = ", b, ", indptr[", r + 1, "] = ", e, " is not a valid row"));
        perm.resize(e - b);
        std::iota(perm.begin(), perm.end(), b);
        std::stable_sort(perm.begin(), perm.end(), [&](std::size_t x, std::size_t y) { return indices[x] < indices[y]; });
        for (std::size_t k = 0; k < perm.size(); ++k) {
            c.indices[b + k] = indices[perm[k]];
            c.weights[b + k] = weights[perm[k]];
            if (k > 0 && c.indices[b + k] == c.indices[b + k - 1])
                throw error(cat("CSR: row ", r, " connects to target ", c.indices[b + k], " twice"));
        }
    }
    return c;
}

csr csr_from_pairs(std::size_t n_source, std::span<const index_t> sources, std::span<const index_t> targets,
                   std::span<const float> weights) {
    if (sources.size() != targets.size() || sources.size() != weights.size())
        throw error(cat("CSR: ", sources.size(), " sources, ", targets.size(), " targets and ", weights.size(),
                        " weights; expected equal lengths"));
    std::vector<std::uint64_t> indptr(n_source + 1, 0);
    for (std::size_t k = 0; k < sources.size(); ++k) {
        if (sources[k] >= n_source) throw error(cat("CSR: source[", k, "] = ", sources[k], ", expected < ", n_source));
        ++indptr[sources[k] + 1];
    }
    std::partial_sum(indptr.begin(), indptr.end(), indptr.begin());
    std::vector<index_t> idx(sources.size());
    std::vector<float> w(sources.size());
    std::vector<std::uint64_t> fill(indptr.begin(), indptr.end() - 1);
    for (std::size_t k = 0; k < sources.size(); ++k) {
        const std::uint64_t at = fill[sources[k]]++;
        idx[at] = targets[k];
        w[at] = weights[k];
    }
    return csr_from_arrays(n_source, indptr, idx, w);
}

csr fixed_probability(std::size_t n_source, std::size_t n_target, double p, float weight, std::uint64_t seed,
                      std::size_t source_begin, std::size_t source_end, bool allow_self) {
    if (!(p >= 0.0 && p <= 1.0)) throw error(cat("fixed_probability: p = ", p, ", expected 0 <= p <= 1"));
    source_end = std::min(source_end, n_source);
    csr c;
    c.indptr.assign(n_source + 1, 0);
    c.indices.reserve(static_cast<std::size_t>(static_cast<double>(n_source) * static_cast<double>(n_target) * p * 1.1) + 16);
    // Geometric skipping (Batagelj & Brandes 2005): the gap to the next connected target is
    // floor(log(u) / log(1 - p)), so the cost is proportional to the synapse count.
    const double log_q = std::log1p(-p);
    for (std::size_t r = 0; r < n_source; ++r) {
        if (r >= source_begin && r < source_end && p > 0.0) {
            std::uint64_t draw = 0;
            std::int64_t t = -1;
            while (true) {
                if (p >= 1.0) {
                    ++t;
                } else {
                    const double u = 1.0 - random::uniform(seed, r, draw++);  // (0, 1]
                    const double gap = std::floor(std::log(u) / log_q);
                    if (gap >= static_cast<double>(n_target)) break;
                    t += 1 + static_cast<std::int64_t>(gap);
                }
                if (t >= static_cast<std::int64_t>(n_target)) break;
                if (!allow_self && static_cast<std::size_t>(t) == r) continue;
                c.indices.push_back(static_cast<index_t>(t));
            }
        }
        c.indptr[r + 1] = c.indices.size();
    }
    c.weights.assign(c.indices.size(), weight);
    return c;
}

}  // namespace lmusim
