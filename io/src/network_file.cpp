#include "lmusim/io/network_file.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "h5.hpp"
#include "lmusim/core/fields.hpp"
#include "lmusim/synapses/kind.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {
namespace {

using h5::handle;

template <class T> void put(hid_t loc, const std::string& name, const std::vector<T>& v, std::vector<hsize_t> dims = {}) {
    h5::write<T>(loc, name, std::span<const T>(v), std::move(dims), v.size() > 4096);
}

// An affine under attribute `<prefix>affine` and datasets `<prefix>affine_*` (prefix "" for a
// node's input affine, "post_" for a projection's post-affine). Written in its lowered form.
void write_affine(hid_t g, const std::string& prefix, const input_affine& a) {
    h5::write_attr(g, prefix + "affine", std::string(a.kind == input_affine::form::none    ? "none"
                                                     : a.kind == input_affine::form::fused ? "fused"
                                                                                            : "unfused"));
    if (a.kind == input_affine::form::fused) {
        put(g, prefix + "affine_scale", a.scale);
        put(g, prefix + "affine_shift", a.shift);
    } else if (a.kind == input_affine::form::unfused) {
        put(g, prefix + "affine_mean", a.mean);
        put(g, prefix + "affine_invstd", a.invstd);
        put(g, prefix + "affine_gamma", a.gamma);
        put(g, prefix + "affine_beta", a.beta);
    }
}

// Writes a kind's fields (core/fields.hpp) into its group.
struct field_writer {
    hid_t g;
    std::size_t n;
    std::size_t size() const { return n; }
    template <class T> void attr(const char* name, const T& value) { h5::write_attr(g, name, value); }
    void count(const char* name, std::size_t value) { h5::write_attr(g, name, std::uint64_t{value}); }
    template <class E> void choice(const char* name, const E& value, choices<E> names) {
        for (const auto& [text, v] : names)
            if (v == value) return h5::write_attr(g, name, std::string(text));
        throw internal_error(cat("field '", name, "': a value without a name"));
    }
    template <class T>
    void array(const char* name, const std::vector<T>& data, const std::vector<std::size_t>& shape,
               presence p = presence::required) {
        if (p == presence::optional && data.empty()) return;
        put(g, name, data, dims_of(shape, data.size()));
    }
    void affine(const char* prefix, const input_affine& a) { write_affine(g, prefix, a); }

    // The shape with its one free extent (any_extent) filled in from the element count.
    static std::vector<hsize_t> dims_of(const std::vector<std::size_t>& shape, std::size_t count) {
        std::size_t known = 1;
        for (std::size_t d : shape)
            if (d != any_extent) known *= d;
        std::vector<hsize_t> dims;
        for (std::size_t d : shape) dims.push_back(d == any_extent ? (known ? count / known : 0) : d);
        return dims;
    }
};

// Reading context: the file and the object path for messages.
struct reader {
    const h5::file& f;
    hid_t g;
    std::string where;

    template <class T> T attr(const std::string& name) const { return h5::read_attr<T>(f, g, name, where); }
    std::string str(const std::string& name) const { return h5::read_attr_string(f, g, name, where); }
    template <class T> std::vector<T> data(const std::string& name, std::vector<hsize_t> dims) const {
        return h5::read<T>(f, g, name, where + "/" + name, &dims);
    }
    template <class T> std::vector<T> data1(const std::string& name) const {
        const auto dims = h5::shape(f, g, name, where + "/" + name);
        if (dims.size() != 1)
            throw file_error(cat(f.path, ": dataset '", where, "/", name, "' should be one-dimensional"));
        return h5::read<T>(f, g, name, where + "/" + name);
    }
};

// Reads `<prefix>affine` (absent = none): none, fused, unfused, or batch_norm (raw BatchNorm
// statistics, lowered here exactly as input_affine::batch_norm does; docs/model_format.md).
input_affine read_affine(const reader& r, const std::string& prefix, std::size_t n) {
    input_affine a;
    if (!h5::has_attr(r.g, prefix + "affine")) return a;
    const std::string form = r.str(prefix + "affine");
    if (form == "fused") {
        a.kind = input_affine::form::fused;
        a.scale = r.data<float>(prefix + "affine_scale", {n});
        a.shift = r.data<float>(prefix + "affine_shift", {n});
    } else if (form == "unfused") {
        a.kind = input_affine::form::unfused;
        a.mean = r.data<float>(prefix + "affine_mean", {n});
        a.invstd = r.data<float>(prefix + "affine_invstd", {n});
        a.gamma = r.data<float>(prefix + "affine_gamma", {n});
        a.beta = r.data<float>(prefix + "affine_beta", {n});
    } else if (form == "batch_norm") {
        const std::string bn = prefix + "bn_";
        const std::string bn_form = r.str(bn + "form");
        if (bn_form != "fused" && bn_form != "unfused")
            throw file_error(cat(r.f.path, ": '", r.where, "' attribute ", bn, "form = '", bn_form, "', expected fused or unfused"));
        const float eps = r.attr<float>(bn + "eps");
        const auto var = r.data<float>(bn + "var", {n});
        for (std::size_t i = 0; i < n; ++i)
            if (!(var[i] + eps > 0.0f) || !std::isfinite(var[i]))
                throw file_error(cat(r.f.path, ": '", r.where, "/", bn, "var'[", i, "] = ", var[i], ", expected var + eps > 0"));
        a = input_affine::batch_norm(r.data<float>(bn + "mean", {n}), var, r.data<float>(bn + "weight", {n}),
                                     r.data<float>(bn + "bias", {n}), eps,
                                     bn_form == "fused" ? input_affine::form::fused : input_affine::form::unfused);
    } else if (form != "none") {
        throw file_error(cat(r.f.path, ": '", r.where, "' attribute ", prefix, "affine = '", form,
                             "', expected none, fused, unfused or batch_norm"));
    }
    return a;
}

// Reads a kind's fields (core/fields.hpp) from its group: every error names the file, the
// object and what was expected.
struct field_reader {
    const reader& r;
    std::size_t n;
    std::size_t size() const { return n; }
    template <class T> void attr(const char* name, T& value) { value = r.attr<T>(name); }
    void count(const char* name, std::size_t& value) {
        const auto v = r.attr<std::uint64_t>(name);
        if (v == 0 || v > max_population_size)
            throw file_error(cat(r.f.path, ": '", r.where, "' ", name, " ", v, " is out of range"));
        value = static_cast<std::size_t>(v);
    }
    template <class E> void choice(const char* name, E& value, choices<E> names) {
        const std::string text = r.str(name);
        std::string known;
        for (const auto& [t, v] : names) {
            if (text == t) {
                value = v;
                return;
            }
            known += cat(known.empty() ? "" : " or ", t);
        }
        throw file_error(cat(r.f.path, ": '", r.where, "' attribute ", name, " = '", text, "', expected ", known));
    }
    template <class T>
    void array(const char* name, std::vector<T>& data, const std::vector<std::size_t>& shape,
               presence p = presence::required) {
        if (p == presence::optional && !h5::exists(r.g, name)) {
            data.clear();
            return;
        }
        const std::string where = r.where + "/" + name;
        const auto found = h5::shape(r.f, r.g, name, where);
        bool ok = found.size() == shape.size();
        std::string expected;
        std::size_t k = 0;
        for (std::size_t d : shape) {
            expected += cat(k ? ", " : "", d == any_extent ? std::string("any") : std::to_string(d));
            if (ok && d != any_extent && found[k] != d) ok = false;
            ++k;
        }
        if (!ok)
            throw file_error(cat(r.f.path, ": dataset '", where, "' has shape ", shape_text(found), ", expected [", expected, "]"));
        data = h5::read<T>(r.f, r.g, name, where, &found);
    }
    void affine(const char* prefix, input_affine& a) { a = read_affine(r, prefix, n); }

    static std::string shape_text(const std::vector<hsize_t>& d) {
        std::string t = "[";
        for (std::size_t i = 0; i < d.size(); ++i) t += cat(i ? ", " : "", d[i]);
        return t + "]";
    }
};

std::vector<std::string> children(hid_t g) { return h5::members(g); }

// Children of a group in the order of their `index` attribute.
std::vector<std::string> ordered_children(const h5::file& f, hid_t g, const std::string& where) {
    std::vector<std::pair<std::uint64_t, std::string>> items;
    for (const std::string& name : children(g)) {
        handle c = h5::open_group(f, g, name, where + "/" + name);
        items.emplace_back(h5::read_attr<std::uint64_t>(f, c.id(), "index", where + "/" + name), name);
    }
    std::sort(items.begin(), items.end());
    for (std::size_t i = 0; i < items.size(); ++i)
        if (items[i].first != i)
            throw file_error(cat(f.path, ": '", where, "' children have index values that are not 0..", items.size() - 1,
                                 " (found ", items[i].first, " for '", items[i].second, "')"));
    std::vector<std::string> out;
    for (auto& it : items) out.push_back(std::move(it.second));
    return out;
}

}  // namespace

void save_network(const network& net, const std::string& path, if_exists existing) {
    net.validate();
    output_file out(path, existing);
    save_network(net, out);
}

void save_network(const network& net, output_file& out) {
    net.validate();
    h5::quiet q;
    h5::write_atomically(out, "network", [&](const hid_t root) {
        h5::write_header(root, "lmusim-network", network_format_version);
        h5::write_attr(root, "name", net.name);
        h5::write_attr(root, "dt_ms", net.dt);
        if (net.weights != weight_format::fp32) h5::write_attr(root, "weights", std::string(to_string(net.weights)));
        handle nodes = h5::create_group(root, "nodes");
        for (std::size_t i = 0; i < net.nodes.size(); ++i) {
            const node& nd = net.nodes[i];
            handle g = h5::create_group(nodes.id(), nd.name);
            h5::write_attr(g.id(), "index", std::uint64_t{i});
            h5::write_attr(g.id(), "kind", std::string(nd.kind()));
            h5::write_attr(g.id(), "size", std::uint64_t{nd.size});
            field_writer w{g.id(), nd.size};
            // fields() serves reading and writing, so it is not const; the writer only reads.
            std::visit([&](const auto& p) { const_cast<std::decay_t<decltype(p)>&>(p).fields(w); }, nd.params);
        }
        handle projs = h5::create_group(root, "projections");
        for (std::size_t i = 0; i < net.projections.size(); ++i) {
            const projection& p = net.projections[i];
            handle g = h5::create_group(projs.id(), p.name);
            h5::write_attr(g.id(), "index", std::uint64_t{i});
            h5::write_attr(g.id(), "source", p.source);
            h5::write_attr(g.id(), "target", p.target);
            h5::write_attr(g.id(), "kind", std::string(to_string(p.kind)));
            h5::write_attr(g.id(), "delay", p.delay);
            h5::write_attr(g.id(), "port", p.port);
            const std::size_t ns = net.find_node(p.source).size, nt = net.find_node(p.target).port_size(p.port);
            field_writer w{g.id(), nt};
            // arrays() serves reading and writing, so it takes a mutable projection; the writer only reads.
            for (const projection_array& a : kind_of(p.kind).arrays(const_cast<projection&>(p), ns, nt))
                std::visit([&](auto* data) { w.array(a.name, *data, a.shape); }, a.data);
            if (!p.bias.empty()) put(g.id(), "bias", p.bias);
            if (p.sum_separately) h5::write_attr(g.id(), "sum", std::string("separately"));
            if (!p.post_affine.empty()) write_affine(g.id(), "post_", p.post_affine);
        }
    });
}

network load_network(const std::string& path) {
    h5::quiet q;
    // The probe first: its work (a child process, paths) must not run between HDF5 opening the
    // file and reading it (a corrupt file made HDF5 1.10 read memory it had released, which the
    // probe's allocations had reused in between).
    h5::probe_in_child(path);
    h5::file f = h5::open_file(path, false);
    const hid_t root = f.h.id();
    const reader top{f, root, "/"};
    const std::string format = top.str("format");
    if (format != "lmusim-network")
        throw file_error(cat(path, ": attribute format = '", format, "', expected 'lmusim-network'"));
    const auto version = top.attr<std::int64_t>("format_version");
    if (version != network_format_version)
        throw file_error(cat(path, ": format_version ", version, " is not supported (this lmusim reads version ",
                             network_format_version, ")"));
    network net;
    net.name = top.str("name");
    net.dt = top.attr<double>("dt_ms");
    if (h5::has_attr(root, "weights")) {
        const std::string w = top.str("weights");
        try {
            net.weights = weight_format_from_string(w);
        } catch (const error&) {
            throw file_error(cat(path, ": attribute weights = '", w, "', expected fp32, bf16 or int8"));
        }
    }
    handle nodes = h5::open_group(f, root, "nodes", "/nodes");
    for (const std::string& name : ordered_children(f, nodes.id(), "/nodes")) {
        const std::string where = "/nodes/" + name;
        handle g = h5::open_group(f, nodes.id(), name, where);
        const reader r{f, g.id(), where};
        node nd;
        nd.name = name;
        nd.params = [&] {
            try {
                return default_node_params(r.str("kind"));
            } catch (const file_error&) {
                throw;
            } catch (const error& e) {
                throw file_error(cat(path, ": '", where, "': ", e.what()));
            }
        }();
        nd.size = r.attr<std::uint64_t>("size");
        if (nd.size == 0 || nd.size > max_population_size)
            throw file_error(cat(path, ": '", where, "' size ", nd.size, ", expected 1 .. ", max_population_size));
        field_reader fr{r, nd.size};
        std::visit([&](auto& p) { p.fields(fr); }, nd.params);
        net.add(std::move(nd));
    }
    handle projs = h5::open_group(f, root, "projections", "/projections");
    for (const std::string& name : ordered_children(f, projs.id(), "/projections")) {
        const std::string where = "/projections/" + name;
        handle g = h5::open_group(f, projs.id(), name, where);
        const reader r{f, g.id(), where};
        projection p;
        p.name = name;
        p.source = r.str("source");
        p.target = r.str("target");
        try {
            p.kind = connectivity_from_string(r.str("kind"));
        } catch (const file_error&) {
            throw;
        } catch (const error& e) {
            throw file_error(cat(path, ": '", where, "': ", e.what()));
        }
        p.delay = r.attr<std::uint32_t>("delay");
        p.port = r.attr<std::uint32_t>("port");
        auto node_of = [&](const std::string& node_name, const char* role) -> const node& {
            for (const node& nd : net.nodes)
                if (nd.name == node_name) return nd;
            throw file_error(cat(path, ": '", where, "' ", role, " '", node_name, "' is not a node of this file"));
        };
        const node& tgt = node_of(p.target, "target");
        if (p.port >= tgt.input_ports())
            throw file_error(cat(path, ": '", where, "' port ", p.port, " on target '", tgt.name, "', which has ",
                                 tgt.input_ports(), " input port(s)"));
        const std::size_t ns = node_of(p.source, "source").size, nt = tgt.port_size(p.port);
        const projection_kind& kind = kind_of(p.kind);
        field_reader fr{r, nt};
        for (const projection_array& a : kind.arrays(p, ns, nt))
            std::visit([&](auto* data) { fr.array(a.name, *data, a.shape); }, a.data);
        kind.after_read(p, ns, nt);
        if (h5::exists(g.id(), "bias")) p.bias = r.data<float>("bias", {nt});
        if (h5::has_attr(g.id(), "sum")) {
            const std::string sum = r.str("sum");
            if (sum != "separately" && sum != "running")
                throw file_error(cat(path, ": '", where, "' attribute sum = '", sum, "', expected running or separately"));
            p.sum_separately = sum == "separately";
        }
        p.post_affine = read_affine(r, "post_", nt);
        net.connect(std::move(p));
    }
    try {
        net.validate();
    } catch (const network_error& e) {
        throw network_error(cat(path, ": ", e.what()));
    }
    return net;
}

}  // namespace lmusim
