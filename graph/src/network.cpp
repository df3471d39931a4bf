#include "lmusim/graph/network.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "lmusim/core/check.hpp"
#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/synapses/kind.hpp"

namespace lmusim {
namespace {

[[noreturn]] void fail(const std::string& what) { throw network_error(what); }

std::string node_label(const node& n) { return cat("node '", n.name, "'"); }
std::string proj_label(const projection& p) { return cat("projection '", p.name, "'"); }

// Whether p's kind stores the geometry array (conv2d, sum_pool2d): arrays() names what a kind keeps.
bool stores_geometry(const projection& p, std::size_t ns, std::size_t nt) {
    for (const projection_array& a : kind_of(p.kind).arrays(const_cast<projection&>(p), ns, nt)) {
        auto* const* g = std::get_if<std::vector<std::uint64_t>*>(&a.data);
        if (g && *g == &p.geometry) return true;
    }
    return false;
}

void check_name(const std::string& label, const std::string& name) {
    if (name.empty()) fail(cat(label, ": empty name"));
    if (name.find('/') != std::string::npos)
        fail(cat(label, " '", name, "': name contains '/', which HDF5 object names cannot hold"));
    if (name == ".") fail(cat(label, ": '.' is not a valid name"));
}

template <class F> decltype(auto) on_kind(const node& n, F&& f) {
    return std::visit(std::forward<F>(f), n.params);
}

}  // namespace

bool node::spiking() const noexcept {
    return on_kind(*this, [](const auto& p) { return std::decay_t<decltype(p)>::spiking; });
}

bool node::frame_input() const noexcept {
    return on_kind(*this, [](const auto& p) { return std::decay_t<decltype(p)>::frame_input; });
}

std::size_t node::input_ports() const noexcept {
    return on_kind(*this, [](const auto& p) { return p.input_ports(); });
}

std::size_t node::port_size(std::size_t port) const noexcept {
    return on_kind(*this, [&](const auto& p) { return p.port_size(port, size); });
}

std::size_t node::elementwise_per_step(std::size_t inputs) const noexcept {
    return on_kind(*this, [&](const auto& p) { return p.elementwise_per_step(size, inputs); });
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
        const node_context c{label, n.size, dt};
        on_kind(n, [&](const auto& p) { p.validate(c); });
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
            fail(cat(label, ": target '", tgt.name, "' is a ", tgt.kind(), " node, which takes no input"));
        if (p.port >= tgt.input_ports())
            fail(cat(label, ": port ", p.port, " on target '", tgt.name, "', expected < ", tgt.input_ports()));
        if (p.delay > 1'000'000) fail(cat(label, ": delay ", p.delay, " steps, expected <= 1000000"));
        const std::size_t ns = src.size, nt = tgt.port_size(p.port);
        if (static_cast<std::size_t>(p.kind) >= projection_kinds().size())
            fail(cat(label, ": connectivity ", static_cast<int>(p.kind), " is not a registered kind"));
        kind_of(p.kind).validate(p, projection_context{label, ns, nt, src.spiking()});
        if (!p.geometry.empty() && !stores_geometry(p, ns, nt))
            fail(cat(label, ": geometry has ", p.geometry.size(), " values, but a ", to_string(p.kind),
                     " projection stores none (it would be lost in a network file)"));
        if (!p.bias.empty() && p.bias.size() != nt)
            fail(cat(label, ": bias has ", p.bias.size(), " values, expected ", nt, " (target port size)"));
        check::finite(label, "bias", p.bias);
        check::affine(cat(label, " post"), p.post_affine, nt);
    }
    (void)topological_order();
}

std::size_t network::parameter_count() const {
    std::size_t total = 0;
    for (const node& n : nodes) total += on_kind(n, [&](const auto& p) { return p.parameters(n.size); });
    for (const projection& p : projections) {
        const node& tgt = find_node(p.target);
        total += kind_of(p.kind).parameters(p, find_node(p.source).size, tgt.port_size(p.port));
        total += p.bias.size();
        total += p.post_affine.parameters(tgt.port_size(p.port));
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
