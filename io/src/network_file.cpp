#include "lmusim/io/network_file.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "h5.hpp"
#include "lmusim/graph/strings.hpp"

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

struct node_writer {
    hid_t g;
    std::size_t n;
    void operator()(const discrete_lif_params& p) const {
        h5::write_attr(g, "tau", p.tau);
        h5::write_attr(g, "v_threshold", p.v_threshold);
        h5::write_attr(g, "v_reset", p.v_reset);
        write_affine(g, "", p.affine);
    }
    void operator()(const analog_params& p) const { write_affine(g, "", p.affine); }
    void operator()(const lmu_memory_params& p) const {
        h5::write_attr(g, "input_size", std::uint64_t{p.input_size});
        h5::write_attr(g, "mode", std::string(p.kind == lmu_memory_params::mode::impulse ? "impulse" : "recurrence"));
        put(g, "A", p.a, {n, n});
        put(g, "B", p.b, {n, p.input_size});
        if (!p.h.empty()) put(g, "H", p.h, {n, p.h_columns()});
    }
    void operator()(const readout_params& p) const {
        h5::write_attr(g, "input_size", std::uint64_t{p.input_size});
        put(g, "weight", p.weight, {n, p.input_size});
        put(g, "bias", p.bias);
    }
    void operator()(const continuous_lif_params& p) const {
        h5::write_attr(g, "tau_m", p.tau_m);
        h5::write_attr(g, "tau_exc", p.tau_exc);
        h5::write_attr(g, "tau_inh", p.tau_inh);
        h5::write_attr(g, "v_rest", p.v_rest);
        h5::write_attr(g, "i_offset", p.i_offset);
        h5::write_attr(g, "v_threshold", p.v_threshold);
        h5::write_attr(g, "v_reset", p.v_reset);
        h5::write_attr(g, "t_ref", p.t_ref);
        if (!p.v_init.empty()) put(g, "v_init", p.v_init);
    }
    void operator()(const spike_source_params& p) const {
        if (p.kind == spike_source_params::mode::arrays) {
            h5::write_attr(g, "mode", std::string("arrays"));
            put(g, "steps", p.steps);
            put(g, "neurons", p.neurons);
        } else {
            h5::write_attr(g, "mode", std::string("poisson"));
            put(g, "rate_hz", p.rate_hz);
            h5::write_attr(g, "seed", p.seed);
        }
    }
    void operator()(const input_params&) const {}
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

node_params read_params(const reader& r, node_kind kind, std::size_t n) {
    switch (kind) {
        case node_kind::discrete_lif: {
            discrete_lif_params p;
            p.tau = r.attr<float>("tau");
            p.v_threshold = r.attr<float>("v_threshold");
            p.v_reset = r.attr<float>("v_reset");
            p.affine = read_affine(r, "", n);
            return p;
        }
        case node_kind::analog: return analog_params{read_affine(r, "", n)};
        case node_kind::lmu_memory: {
            lmu_memory_params p;
            p.input_size = r.attr<std::uint64_t>("input_size");
            if (p.input_size == 0 || p.input_size > max_population_size)
                throw file_error(cat(r.f.path, ": '", r.where, "' input_size ", p.input_size, " is out of range"));
            const std::string mode = r.str("mode");
            if (mode == "impulse") p.kind = lmu_memory_params::mode::impulse;
            else if (mode == "recurrence") p.kind = lmu_memory_params::mode::recurrence;
            else throw file_error(cat(r.f.path, ": '", r.where, "' mode = '", mode, "', expected impulse or recurrence"));
            p.a = r.data<float>("A", {n, n});
            p.b = r.data<float>("B", {n, p.input_size});
            if (h5::exists(r.g, "H")) {
                const auto dims = h5::shape(r.f, r.g, "H", r.where + "/H");
                if (dims.size() != 2 || dims[0] != n)
                    throw file_error(cat(r.f.path, ": dataset '", r.where, "/H' should have shape [", n, ", L]"));
                p.h = r.data<float>("H", dims);
            }
            return p;
        }
        case node_kind::readout: {
            readout_params p;
            p.input_size = r.attr<std::uint64_t>("input_size");
            if (p.input_size == 0 || p.input_size > max_population_size)
                throw file_error(cat(r.f.path, ": '", r.where, "' input_size ", p.input_size, " is out of range"));
            p.weight = r.data<float>("weight", {n, p.input_size});
            p.bias = r.data<float>("bias", {n});
            return p;
        }
        case node_kind::continuous_lif: {
            continuous_lif_params p;
            p.tau_m = r.attr<double>("tau_m");
            p.tau_exc = r.attr<double>("tau_exc");
            p.tau_inh = r.attr<double>("tau_inh");
            p.v_rest = r.attr<double>("v_rest");
            p.i_offset = r.attr<double>("i_offset");
            p.v_threshold = r.attr<double>("v_threshold");
            p.v_reset = r.attr<double>("v_reset");
            p.t_ref = r.attr<double>("t_ref");
            if (h5::exists(r.g, "v_init")) p.v_init = r.data<float>("v_init", {n});
            return p;
        }
        case node_kind::spike_source: {
            spike_source_params p;
            const std::string mode = r.str("mode");
            if (mode == "arrays") {
                p.kind = spike_source_params::mode::arrays;
                p.steps = r.data1<std::uint64_t>("steps");
                p.neurons = r.data1<index_t>("neurons");
            } else if (mode == "poisson") {
                p.kind = spike_source_params::mode::poisson;
                p.rate_hz = r.data1<double>("rate_hz");
                p.seed = r.attr<std::uint64_t>("seed");
            } else {
                throw file_error(cat(r.f.path, ": '", r.where, "' attribute mode = '", mode, "', expected arrays or poisson"));
            }
            return p;
        }
        case node_kind::input: return input_params{};
    }
    throw internal_error("read_params: unhandled kind");
}

std::vector<std::string> children(hid_t g) {
    std::vector<std::string> names;
    H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, nullptr,
               [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
                   static_cast<std::vector<std::string>*>(data)->emplace_back(name);
                   return 0;
               },
               &names);
    return names;
}

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
        handle nodes = h5::create_group(root, "nodes");
        for (std::size_t i = 0; i < net.nodes.size(); ++i) {
            const node& nd = net.nodes[i];
            handle g = h5::create_group(nodes.id(), nd.name);
            h5::write_attr(g.id(), "index", std::uint64_t{i});
            h5::write_attr(g.id(), "kind", std::string(to_string(nd.kind())));
            h5::write_attr(g.id(), "size", std::uint64_t{nd.size});
            std::visit(node_writer{g.id(), nd.size}, nd.params);
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
            switch (p.kind) {
                case connectivity::dense: put(g.id(), "weights", p.weights, {nt, ns}); break;
                case connectivity::one_to_one: put(g.id(), "weights", p.weights); break;
                case connectivity::conv1d: put(g.id(), "weights", p.weights, {nt, ns, p.kernel}); break;
                case connectivity::identity: break;
                case connectivity::sparse:
                    put(g.id(), "indptr", p.sparse.indptr);
                    put(g.id(), "indices", p.sparse.indices);
                    put(g.id(), "weights", p.sparse.weights);
                    break;
            }
            if (!p.bias.empty()) put(g.id(), "bias", p.bias);
            if (!p.post_affine.empty()) write_affine(g.id(), "post_", p.post_affine);
        }
    });
}

network load_network(const std::string& path) {
    h5::quiet q;
    h5::file f = h5::open_file(path, false);
    h5::probe_in_child(path);
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
    handle nodes = h5::open_group(f, root, "nodes", "/nodes");
    for (const std::string& name : ordered_children(f, nodes.id(), "/nodes")) {
        const std::string where = "/nodes/" + name;
        handle g = h5::open_group(f, nodes.id(), name, where);
        const reader r{f, g.id(), where};
        node nd;
        nd.name = name;
        const node_kind kind = [&] {
            try {
                return node_kind_from_string(r.str("kind"));
            } catch (const file_error&) {
                throw;
            } catch (const error& e) {
                throw file_error(cat(path, ": '", where, "': ", e.what()));
            }
        }();
        nd.size = r.attr<std::uint64_t>("size");
        if (nd.size == 0 || nd.size > max_population_size)
            throw file_error(cat(path, ": '", where, "' size ", nd.size, ", expected 1 .. ", max_population_size));
        nd.params = read_params(r, kind, nd.size);
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
        switch (p.kind) {
            case connectivity::dense: p.weights = r.data<float>("weights", {nt, ns}); break;
            case connectivity::one_to_one: p.weights = r.data<float>("weights", {nt}); break;
            case connectivity::identity: break;
            case connectivity::conv1d: {
                const auto dims = h5::shape(f, g.id(), "weights", where + "/weights");
                if (dims.size() != 3 || dims[0] != nt || dims[1] != ns || dims[2] % 2 == 0)
                    throw file_error(cat(path, ": dataset '", where, "/weights' should have shape [", nt, ", ", ns,
                                         ", k] with k odd"));
                p.kernel = static_cast<std::uint32_t>(dims[2]);
                p.weights = r.data<float>("weights", dims);
                break;
            }
            case connectivity::sparse: {
                p.sparse.indptr = r.data<std::uint64_t>("indptr", {ns + 1});
                const auto nnz = h5::shape(f, g.id(), "indices", where + "/indices");
                if (nnz.size() != 1) throw file_error(cat(path, ": '", where, "/indices' should be one-dimensional"));
                p.sparse.indices = r.data<index_t>("indices", nnz);
                p.sparse.weights = r.data<float>("weights", nnz);
                break;
            }
        }
        if (h5::exists(g.id(), "bias")) p.bias = r.data<float>("bias", {nt});
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
