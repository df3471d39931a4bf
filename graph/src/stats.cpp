#include "lmusim/graph/stats.hpp"

#include <cstring>

#include "lmusim/synapses/kind.hpp"

namespace lmusim {
namespace {

// Visits a kind's fields (core/fields.hpp), adding up stored bytes and synaptic weights.
struct counter {
    std::size_t n;
    static_metrics& m;
    bool synaptic;  // false for routing projections (no trained parameters: identity, sum_pool2d)
    std::size_t size() const { return n; }
    template <class T> void attr(const char*, T&) { m.footprint_bytes += sizeof(T); }
    void count(const char*, std::size_t&) {}
    template <class E> void choice(const char*, E&, choices<E>) {}
    template <class T> void array(const char* name, std::vector<T>& data, const std::vector<std::size_t>&, presence = presence::required) {
        m.footprint_bytes += data.size() * sizeof(T);
        if constexpr (std::is_same_v<T, float>)
            if (synaptic && (std::strcmp(name, "weight") == 0 || std::strcmp(name, "weights") == 0)) weights(data);
    }
    void affine(const char*, input_affine& a) {
        for (const auto* v : {&a.scale, &a.shift, &a.mean, &a.invstd, &a.gamma, &a.beta}) m.footprint_bytes += v->size() * sizeof(float);
    }
    void weights(const std::vector<float>& w) {
        m.connection_total += w.size();
        for (float x : w) m.connection_zeros += x == 0.0f;
    }
};

}  // namespace

static_metrics static_metrics_of(const network& net) {
    static_metrics m;
    for (const node& nd : net.nodes) {
        counter c{nd.size, m, true};
        std::visit([&](const auto& p) { const_cast<std::decay_t<decltype(p)>&>(p).fields(c); }, nd.params);
    }
    for (const projection& p : net.projections) {
        const std::size_t ns = net.find_node(p.source).size, nt = net.find_node(p.target).port_size(p.port);
        const projection_kind& kind = kind_of(p.kind);
        counter c{nt, m, kind.parameters(p, ns, nt) > 0};
        for (const projection_array& a : kind.arrays(const_cast<projection&>(p), ns, nt))
            std::visit([&](auto* data) { c.array(a.name, *data, a.shape); }, a.data);
        m.footprint_bytes += p.bias.size() * sizeof(float);
        c.affine("post_", const_cast<input_affine&>(p.post_affine));
    }
    return m;
}

}  // namespace lmusim
