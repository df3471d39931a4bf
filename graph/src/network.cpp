#include "lmusim/graph/network.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "lmusim/graph/error.hpp"
#include "lmusim/graph/strings.hpp"

namespace lmusim {
namespace {

[[noreturn]] void fail(const std::string& what) { throw network_error(what); }

std::string node_label(const node& n) { return cat("node '", n.name, "'"); }
std::string proj_label(const projection& p) { return cat("projection '", p.name, "'"); }

void check_name(const std::string& label, const std::string& name) {
    if (name.empty()) fail(cat(label, ": empty name"));
    if (name.find('/') != std::string::npos)
        fail(cat(label, " '", name, "': name contains '/', which HDF5 object names cannot hold"));
    if (name == "." ) fail(cat(label, ": '.' is not a valid name"));
}

void check_finite(const std::string& label, const char* what, const std::vector<float>& v) {
    for (std::size_t i = 0; i < v.size(); ++i)
        if (!std::isfinite(v[i])) fail(cat(label, ": ", what, "[", i, "] = ", v[i], " is not finite"));
}

void check_positive(const std::string& label, const char* what, double v) {
    if (!(v > 0) || !std::isfinite(v)) fail(cat(label, ": ", what, " = ", v, ", expected a finite value > 0"));
}

void check_affine(const std::string& label, const input_affine& a, std::size_t n) {
    auto size_is = [&](const char* what, const std::vector<float>& v) {
        if (v.size() != n)
            fail(cat(label, ": affine ", what, " has ", v.size(), " values, expected ", n, " (one per neuron)"));
        check_finite(label, cat("affine ", what).c_str(), v);
    };
    switch (a.kind) {
        case input_affine::form::none: break;
        case input_affine::form::fused:
            size_is("scale", a.scale);
            size_is("shift", a.shift);
            break;
        case input_affine::form::unfused:
            size_is("mean", a.mean);
            size_is("invstd", a.invstd);
            size_is("gamma", a.gamma);
            size_is("beta", a.beta);
            break;
    }
}

struct node_checker {
    const node& n;
    std::string label;
    double dt;

    void operator()(const discrete_lif_params& p) const {
        check_positive(label, "tau", p.tau);
        if (p.tau < 1.0f) fail(cat(label, ": tau = ", p.tau, " steps, expected >= 1"));
        if (!std::isfinite(p.v_threshold)) fail(cat(label, ": v_threshold = ", p.v_threshold, " is not finite"));
        if (!std::isfinite(p.v_reset)) fail(cat(label, ": v_reset = ", p.v_reset, " is not finite"));
        check_affine(label, p.affine, n.size);
    }
    void operator()(const continuous_lif_params& p) const {
        check_positive(label, "tau_m [ms]", p.tau_m);
        check_positive(label, "tau_exc [ms]", p.tau_exc);
        check_positive(label, "tau_inh [ms]", p.tau_inh);
        for (auto [what, v] : {std::pair{"v_rest", p.v_rest}, {"i_offset", p.i_offset},
                               {"v_threshold", p.v_threshold}, {"v_reset", p.v_reset}})
            if (!std::isfinite(v)) fail(cat(label, ": ", what, " = ", v, " is not finite"));
        if (!(p.t_ref >= 0) || !std::isfinite(p.t_ref))
            fail(cat(label, ": t_ref = ", p.t_ref, " ms, expected a finite value >= 0"));
        if (!p.v_init.empty() && p.v_init.size() != n.size)
            fail(cat(label, ": v_init has ", p.v_init.size(), " values, expected ", n.size, " (one per neuron) or none"));
        check_finite(label, "v_init", p.v_init);
    }
    void operator()(const spike_source_params& p) const {
        if (p.kind == spike_source_params::mode::arrays) {
            if (p.steps.size() != p.neurons.size())
                fail(cat(label, ": ", p.steps.size(), " spike steps but ", p.neurons.size(), " spike neurons; expected equal lengths"));
            std::set<std::pair<std::uint64_t, index_t>> seen;
            for (std::size_t i = 0; i < p.neurons.size(); ++i) {
                if (p.neurons[i] >= n.size)
                    fail(cat(label, ": spike ", i, " names neuron ", p.neurons[i], ", expected < ", n.size));
                if (!seen.emplace(p.steps[i], p.neurons[i]).second)
                    fail(cat(label, ": spike ", i, " (neuron ", p.neurons[i], ", step ", p.steps[i], ") is a duplicate"));
            }
        } else {
            if (p.rate_hz.size() != 1 && p.rate_hz.size() != n.size)
                fail(cat(label, ": rate_hz has ", p.rate_hz.size(), " values, expected 1 or ", n.size));
            for (std::size_t i = 0; i < p.rate_hz.size(); ++i) {
                const double prob = p.rate_hz[i] * dt * 1e-3;
                if (!(p.rate_hz[i] >= 0) || !std::isfinite(p.rate_hz[i]) || prob > 1.0)
                    fail(cat(label, ": rate_hz[", i, "] = ", p.rate_hz[i], ", expected 0 <= rate <= 1/dt = ", 1e3 / dt, " Hz"));
            }
        }
    }
    void operator()(const input_params&) const {}
    void operator()(const analog_params& p) const { check_affine(label, p.affine, n.size); }
    void operator()(const lmu_memory_params& p) const {
        const std::size_t m = n.size;
        if (p.input_size == 0) fail(cat(label, ": input_size 0, expected >= 1"));
        if (p.a.size() != m * m) fail(cat(label, ": A has ", p.a.size(), " values, expected ", m, " x ", m));
        if (p.b.size() != m * p.input_size)
            fail(cat(label, ": B has ", p.b.size(), " values, expected ", m, " x ", p.input_size));
        if (!p.h.empty() && (p.input_size != 1 || p.h.size() % m != 0))
            fail(cat(label, ": H has ", p.h.size(), " values, expected ", m, " x L columns (input_size 1)"));
        if (p.kind == lmu_memory_params::mode::impulse && p.h.empty() && p.input_size != 1)
            fail(cat(label, ": impulse mode needs input_size 1"));
        check_finite(label, "A", p.a);
        check_finite(label, "B", p.b);
        check_finite(label, "H", p.h);
    }
    void operator()(const readout_params& p) const {
        if (p.input_size == 0) fail(cat(label, ": input_size 0, expected >= 1"));
        if (p.weight.size() != n.size * p.input_size)
            fail(cat(label, ": weight has ", p.weight.size(), " values, expected ", n.size, " x ", p.input_size));
        if (p.bias.size() != n.size) fail(cat(label, ": bias has ", p.bias.size(), " values, expected ", n.size));
        check_finite(label, "weight", p.weight);
        check_finite(label, "bias", p.bias);
    }
};

}  // namespace

// ----------------------------------------------------------------------------------------------

input_affine input_affine::batch_norm(const std::vector<float>& running_mean,
                                      const std::vector<float>& running_var,
                                      const std::vector<float>& gamma,
                                      const std::vector<float>& beta, float eps, form kind) {
    const std::size_t n = running_mean.size();
    if (running_var.size() != n || gamma.size() != n || beta.size() != n)
        throw error(cat("batch_norm: mean, var, gamma, beta have ", n, ", ", running_var.size(), ", ",
                        gamma.size(), ", ", beta.size(), " values; expected equal lengths"));
    input_affine a;
    a.kind = kind;
    std::vector<float> invstd(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (!(running_var[i] + eps > 0.0f))
            throw error(cat("batch_norm: running_var[", i, "] + eps = ", running_var[i] + eps, ", expected > 0"));
        invstd[i] = 1.0f / std::sqrt(running_var[i] + eps);
    }
    if (kind == form::fused) {
        a.scale.resize(n);
        a.shift.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            a.scale[i] = invstd[i] * gamma[i];
            a.shift[i] = std::fma(-running_mean[i], a.scale[i], beta[i]);
        }
    } else if (kind == form::unfused) {
        a.mean = running_mean;
        a.invstd = std::move(invstd);
        a.gamma = gamma;
        a.beta = beta;
    }
    return a;
}

input_affine input_affine::scale_shift(std::vector<float> scale, std::vector<float> shift) {
    input_affine a;
    a.kind = form::fused;
    a.scale = std::move(scale);
    a.shift = std::move(shift);
    return a;
}

std::string_view to_string(node_kind k) noexcept {
    switch (k) {
        case node_kind::discrete_lif: return "discrete_lif";
        case node_kind::continuous_lif: return "continuous_lif";
        case node_kind::spike_source: return "spike_source";
        case node_kind::input: return "input";
        case node_kind::analog: return "analog";
        case node_kind::lmu_memory: return "lmu_memory";
        case node_kind::readout: return "readout";
    }
    return "?";
}

node_kind node_kind_from_string(std::string_view s) {
    for (auto k : {node_kind::discrete_lif, node_kind::continuous_lif, node_kind::spike_source, node_kind::input,
                   node_kind::analog, node_kind::lmu_memory, node_kind::readout})
        if (to_string(k) == s) return k;
    throw error(cat("unknown node kind '", s,
                    "', expected discrete_lif, continuous_lif, spike_source, input, analog, lmu_memory or readout"));
}

std::string_view to_string(connectivity c) noexcept {
    switch (c) {
        case connectivity::dense: return "dense";
        case connectivity::sparse: return "sparse";
        case connectivity::one_to_one: return "one_to_one";
        case connectivity::conv1d: return "conv1d";
        case connectivity::identity: return "identity";
    }
    return "?";
}

connectivity connectivity_from_string(std::string_view s) {
    for (auto c : {connectivity::dense, connectivity::sparse, connectivity::one_to_one, connectivity::conv1d,
                   connectivity::identity})
        if (to_string(c) == s) return c;
    throw error(cat("unknown connectivity '", s, "', expected dense, sparse, one_to_one, conv1d or identity"));
}

bool node::spiking() const noexcept {
    switch (kind()) {
        case node_kind::discrete_lif:
        case node_kind::continuous_lif:
        case node_kind::spike_source: return true;
        default: return false;
    }
}

std::size_t node::input_ports() const noexcept {
    switch (kind()) {
        case node_kind::discrete_lif:
        case node_kind::analog:
        case node_kind::lmu_memory:
        case node_kind::readout: return 1;
        case node_kind::continuous_lif: return 2;
        default: return 0;
    }
}

std::size_t node::port_size(std::size_t) const noexcept {
    if (const auto* m = std::get_if<lmu_memory_params>(&params)) return m->input_size;
    if (const auto* r = std::get_if<readout_params>(&params)) return r->input_size;
    return size;
}

std::size_t projection::synapse_count(std::size_t n_source, std::size_t n_target) const noexcept {
    switch (kind) {
        case connectivity::dense: return n_source * n_target;
        case connectivity::sparse: return sparse.nnz();
        case connectivity::one_to_one:
        case connectivity::identity: return n_source;
        case connectivity::conv1d: return n_source * n_target * kernel;
    }
    return 0;
}

node& network::add(node n) {
    nodes.push_back(std::move(n));
    return nodes.back();
}

projection& network::connect(projection p) {
    projections.push_back(std::move(p));
    return projections.back();
}

std::size_t network::node_index(std::string_view name) const {
    for (std::size_t i = 0; i < nodes.size(); ++i)
        if (nodes[i].name == name) return i;
    throw network_error(cat("no node named '", name, "'"));
}

std::size_t network::projection_index(std::string_view name) const {
    for (std::size_t i = 0; i < projections.size(); ++i)
        if (projections[i].name == name) return i;
    throw network_error(cat("no projection named '", name, "'"));
}

void network::validate() const {
    if (!(dt > 0) || !std::isfinite(dt)) fail(cat("network '", name, "': dt = ", dt, " ms, expected a finite value > 0"));
    if (nodes.empty()) fail(cat("network '", name, "': has no nodes"));
    std::set<std::string_view> names;
    for (const node& n : nodes) {
        const std::string label = node_label(n);
        check_name("node", n.name);
        if (!names.insert(n.name).second) fail(cat(label, ": a node with this name already exists"));
        if (n.size == 0) fail(cat(label, ": size 0, expected at least 1 neuron"));
        if (n.size > max_population_size)
            fail(cat(label, ": size ", n.size, " exceeds the maximum of ", max_population_size, " neurons"));
        std::visit(node_checker{n, label, dt}, n.params);
    }
    std::set<std::string_view> pnames;
    for (const projection& p : projections) {
        const std::string label = proj_label(p);
        check_name("projection", p.name);
        if (!pnames.insert(p.name).second) fail(cat(label, ": a projection with this name already exists"));
        std::size_t si = 0, ti = 0;
        try {
            si = node_index(p.source);
        } catch (const network_error&) {
            fail(cat(label, ": source node '", p.source, "' does not exist"));
        }
        try {
            ti = node_index(p.target);
        } catch (const network_error&) {
            fail(cat(label, ": target node '", p.target, "' does not exist"));
        }
        const node& src = nodes[si];
        const node& tgt = nodes[ti];
        if (tgt.input_ports() == 0)
            fail(cat(label, ": target '", tgt.name, "' is a ", to_string(tgt.kind()), " node, which takes no input"));
        if (p.port >= tgt.input_ports())
            fail(cat(label, ": port ", p.port, " on target '", tgt.name, "', expected < ", tgt.input_ports()));
        if (p.delay > 1'000'000) fail(cat(label, ": delay ", p.delay, " steps, expected <= 1000000"));
        const std::size_t ns = src.size, nt = tgt.port_size(p.port);
        switch (p.kind) {
            case connectivity::dense:
                if (p.weights.size() != ns * nt)
                    fail(cat(label, ": ", p.weights.size(), " dense weights, expected ", nt, " x ", ns, " = ", nt * ns,
                             " (target x source)"));
                break;
            case connectivity::one_to_one:
                if (ns != nt) fail(cat(label, ": one_to_one needs equal sizes, source has ", ns, " and target ", nt));
                if (p.weights.size() != ns)
                    fail(cat(label, ": ", p.weights.size(), " one_to_one weights, expected ", ns));
                break;
            case connectivity::identity:
                if (ns != nt) fail(cat(label, ": identity needs equal sizes, source has ", ns, " and target ", nt));
                if (!p.weights.empty()) fail(cat(label, ": identity takes no weights, got ", p.weights.size()));
                break;
            case connectivity::conv1d:
                if (p.kernel == 0 || p.kernel % 2 == 0)
                    fail(cat(label, ": conv1d kernel ", p.kernel, ", expected an odd number of taps"));
                if (p.weights.size() != nt * ns * p.kernel)
                    fail(cat(label, ": ", p.weights.size(), " conv1d weights, expected ", nt, " x ", ns, " x ", p.kernel,
                             " = ", nt * ns * p.kernel, " (target x source x kernel)"));
                if (p.delay != 0) fail(cat(label, ": conv1d projections take no delay (got ", p.delay, ")"));
                break;
            case connectivity::sparse: {
                const csr& c = p.sparse;
                if (c.indptr.size() != ns + 1)
                    fail(cat(label, ": CSR indptr has ", c.indptr.size(), " entries, expected source size + 1 = ", ns + 1));
                if (c.indptr.front() != 0) fail(cat(label, ": CSR indptr[0] = ", c.indptr.front(), ", expected 0"));
                if (c.indptr.back() != c.indices.size())
                    fail(cat(label, ": CSR indptr[", ns, "] = ", c.indptr.back(), ", expected the synapse count ", c.indices.size()));
                if (c.weights.size() != c.indices.size())
                    fail(cat(label, ": CSR has ", c.indices.size(), " indices but ", c.weights.size(), " weights"));
                for (std::size_t r = 0; r < ns; ++r) {
                    if (c.indptr[r + 1] < c.indptr[r])
                        fail(cat(label, ": CSR indptr decreases at row ", r, " (", c.indptr[r], " -> ", c.indptr[r + 1], ")"));
                    if (c.indptr[r + 1] > c.indices.size())
                        fail(cat(label, ": CSR indptr[", r + 1, "] = ", c.indptr[r + 1], " exceeds the synapse count ",
                                 c.indices.size()));
                    for (std::uint64_t k = c.indptr[r]; k < c.indptr[r + 1]; ++k) {
                        if (c.indices[k] >= nt)
                            fail(cat(label, ": CSR row ", r, " targets neuron ", c.indices[k], ", expected < ", nt));
                        if (k > c.indptr[r] && c.indices[k] <= c.indices[k - 1])
                            fail(cat(label, ": CSR row ", r, " targets are not strictly ascending at synapse ", k));
                    }
                }
                break;
            }
        }
        check_finite(label, "weight", p.kind == connectivity::sparse ? p.sparse.weights : p.weights);
        if (!p.bias.empty() && p.bias.size() != nt)
            fail(cat(label, ": bias has ", p.bias.size(), " values, expected ", nt, " (target port size)"));
        check_finite(label, "bias", p.bias);
        check_affine(cat(label, " post"), p.post_affine, nt);
        if (!src.spiking() && p.delay != 0)
            fail(cat(label, ": delay ", p.delay, " from the real-valued node '", src.name, "'; only spike projections take delays"));
    }
    (void)topological_order();
}

std::size_t network::parameter_count() const {
    std::size_t total = 0;
    for (const node& n : nodes) {
        if (const auto* d = std::get_if<discrete_lif_params>(&n.params); d && !d->affine.empty()) total += 2 * n.size;
        if (const auto* a = std::get_if<analog_params>(&n.params); a && !a->affine.empty()) total += 2 * n.size;
        if (const auto* r = std::get_if<readout_params>(&n.params)) total += r->weight.size() + r->bias.size();
    }
    for (const projection& p : projections) {
        const node& tgt = find_node(p.target);
        if (p.kind != connectivity::identity) total += p.synapse_count(find_node(p.source).size, tgt.port_size(p.port));
        total += p.bias.size();
        if (!p.post_affine.empty()) total += 2 * tgt.port_size(p.port);
    }
    return total;
}

std::vector<std::uint32_t> network::latencies() const {
    std::vector<std::uint32_t> lat(nodes.size(), 0);
    for (std::size_t i : topological_order())
        for (const projection& p : projections)
            if (p.delay == 0 && node_index(p.target) == i)
                lat[i] = std::max(lat[i], lat[node_index(p.source)] + p.latency());
    return lat;
}

std::vector<std::size_t> network::topological_order() const {
    const std::size_t n = nodes.size();
    std::vector<std::vector<std::size_t>> out(n);
    std::vector<std::size_t> indeg(n, 0);
    for (const projection& p : projections) {
        if (p.delay != 0) continue;
        const std::size_t s = node_index(p.source), t = node_index(p.target);
        if (s == t) fail(cat(proj_label(p), ": zero-delay projection from '", p.source, "' to itself; a cycle needs delay >= 1"));
        out[s].push_back(t);
        ++indeg[t];
    }
    // Kahn's algorithm, always taking the lowest ready index: stable in declaration order.
    std::set<std::size_t> ready;
    for (std::size_t i = 0; i < n; ++i)
        if (indeg[i] == 0) ready.insert(i);
    std::vector<std::size_t> order;
    order.reserve(n);
    while (!ready.empty()) {
        const std::size_t i = *ready.begin();
        ready.erase(ready.begin());
        order.push_back(i);
        for (std::size_t t : out[i])
            if (--indeg[t] == 0) ready.insert(t);
    }
    if (order.size() != n) {
        std::string members;
        for (std::size_t i = 0; i < n; ++i)
            if (indeg[i] != 0) members += cat(members.empty() ? "" : ", ", "'", nodes[i].name, "'");
        fail(cat("zero-delay projections form a cycle through nodes ", members, "; give one projection of the cycle a delay >= 1"));
    }
    return order;
}

}  // namespace lmusim
