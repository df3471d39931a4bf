// lmusim.Network: the network description, built in bulk from NumPy arrays.
#include <algorithm>

#include "common.hpp"
#include "lmusim/core/fields.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/graph/connectivity.hpp"
#include "lmusim/graph/cuba.hpp"
#include "lmusim/graph/weights.hpp"
#include "lmusim/core/random.hpp"
#include "lmusim/io/network_file.hpp"

namespace lmusim::py_bindings {
namespace {

input_affine make_affine(const std::optional<carray<float>>& scale, const std::optional<carray<float>>& shift) {
    if (!scale && !shift) return {};
    if (!scale || !shift) throw error("an input affine needs both scale and shift");
    return input_affine::scale_shift(to_vector(*scale), to_vector(*shift));
}

projection base(std::string name, std::string source, std::string target, connectivity kind, std::uint32_t delay,
                std::uint32_t port) {
    projection p;
    p.name = std::move(name);
    p.source = std::move(source);
    p.target = std::move(target);
    p.kind = kind;
    p.delay = delay;
    p.port = port;
    return p;
}

py::dict csr_dict(const csr& c) {
    py::dict d;
    d["indptr"] = to_numpy(c.indptr.data(), {static_cast<py::ssize_t>(c.indptr.size())});
    d["indices"] = to_numpy(c.indices.data(), {static_cast<py::ssize_t>(c.indices.size())});
    d["weights"] = to_numpy(c.weights.data(), {static_cast<py::ssize_t>(c.weights.size())});
    return d;
}

// Sets a kind's fields (core/fields.hpp) from Python keyword arguments: every field the kind
// describes may be given; absent ones keep their defaults; an unknown key is an error naming it.
struct kwargs_reader {
    const py::dict& kw;
    std::size_t n;
    std::string kind;
    std::vector<std::string> used;

    std::size_t size() const { return n; }
    bool take(const char* name) {
        if (!kw.contains(name)) return false;
        used.emplace_back(name);
        return true;
    }
    template <class T> void attr(const char* name, T& value) {
        if (take(name)) value = kw[name].cast<T>();
    }
    void count(const char* name, std::size_t& value) {
        if (take(name)) value = kw[name].cast<std::size_t>();
    }
    template <class E> void choice(const char* name, E& value, choices<E> names) {
        if (!take(name)) return;
        const auto text = kw[name].cast<std::string>();
        std::string known;
        for (const auto& [t, v] : names) {
            if (text == t) {
                value = v;
                return;
            }
            known += cat(known.empty() ? "" : " or ", t);
        }
        throw error(cat(kind, ": ", name, " = '", text, "', expected ", known));
    }
    template <class T>
    void array(const char* name, std::vector<T>& data, const std::vector<std::size_t>&, presence = presence::required) {
        if (take(name)) data = to_vector(kw[name].cast<carray<T>>());  // shapes are checked by validate()
    }
    void affine(const char* prefix, input_affine& a) {
        const std::string scale = cat(prefix, "affine_scale"), shift = cat(prefix, "affine_shift");
        const bool has_scale = take(scale.c_str()), has_shift = take(shift.c_str());
        if (!has_scale && !has_shift) return;
        if (!has_scale || !has_shift) throw error(cat(kind, ": an input affine needs both ", scale, " and ", shift));
        a = input_affine::scale_shift(to_vector(kw[scale.c_str()].cast<carray<float>>()),
                                      to_vector(kw[shift.c_str()].cast<carray<float>>()));
    }
};

}  // namespace

void register_network(py::module_& m) {
    py::class_<network>(m, "Network", "A network description: nodes (populations) and projections.")
        .def(py::init([](double dt, std::string name) {
                 network n;
                 n.dt = dt;
                 n.name = std::move(name);
                 return n;
             }),
             py::arg("dt") = 0.1, py::arg("name") = "network")
        .def_readwrite("dt", &network::dt)
        .def_readwrite("name", &network::name)
        .def_property_readonly("nodes", [](const network& n) {
            std::vector<std::string> out;
            for (const auto& nd : n.nodes) out.push_back(nd.name);
            return out;
        })
        .def_property_readonly("projections", [](const network& n) {
            std::vector<std::string> out;
            for (const auto& p : n.projections) out.push_back(p.name);
            return out;
        })
        .def("node_size", [](const network& n, const std::string& name) { return n.find_node(name).size; })
        .def(
            "add_node",
            [](network& n, const std::string& kind, std::string name, std::size_t size, const py::kwargs& params) {
                node nd{std::move(name), size, default_node_params(kind)};
                kwargs_reader r{params, size, kind, {}};
                std::visit([&](auto& p) { p.fields(r); }, nd.params);
                for (const auto& item : params) {
                    const auto key = item.first.cast<std::string>();
                    if (std::find(r.used.begin(), r.used.end(), key) == r.used.end())
                        throw error(cat(kind, " node '", nd.name, "': unknown parameter '", key, "'"));
                }
                n.add(std::move(nd));
            },
            py::arg("kind"), py::arg("name"), py::arg("size"),
            "Add a node of any registered kind; keyword arguments set the kind's stored fields (the names of "
            "docs/network_format.md; an input affine as <prefix>affine_scale / _shift).")
        .def_property_readonly_static("node_kinds", [](const py::object&) {
            std::vector<std::string> out;
            for (std::string_view k : registered_node_kind_names()) out.emplace_back(k);
            return out;
        })
        .def("node_kind", [](const network& n, const std::string& name) { return std::string(n.find_node(name).kind()); })
        .def("add_discrete_lif",
             [](network& n, std::string name, std::size_t size, float tau, float v_threshold, float v_reset,
                std::optional<carray<float>> scale, std::optional<carray<float>> shift) {
                 discrete_lif_params p;
                 p.tau = tau;
                 p.v_threshold = v_threshold;
                 p.v_reset = v_reset;
                 p.affine = make_affine(scale, shift);
                 n.add(node{std::move(name), size, p});
             },
             py::arg("name"), py::arg("size"), py::arg("tau") = 2.0f, py::arg("v_threshold") = 1.0f,
             py::arg("v_reset") = 0.0f, py::arg("scale") = py::none(), py::arg("shift") = py::none())
        .def("add_continuous_lif",
             [](network& n, std::string name, std::size_t size, double tau_m, double tau_exc, double tau_inh,
                double v_rest, double i_offset, double v_threshold, double v_reset, double t_ref,
                std::optional<carray<float>> v_init) {
                 continuous_lif_params p;
                 p.tau_m = tau_m;
                 p.tau_exc = tau_exc;
                 p.tau_inh = tau_inh;
                 p.v_rest = v_rest;
                 p.i_offset = i_offset;
                 p.v_threshold = v_threshold;
                 p.v_reset = v_reset;
                 p.t_ref = t_ref;
                 if (v_init) p.v_init = to_vector(*v_init);
                 n.add(node{std::move(name), size, p});
             },
             py::arg("name"), py::arg("size"), py::arg("tau_m") = 20.0, py::arg("tau_exc") = 5.0,
             py::arg("tau_inh") = 10.0, py::arg("v_rest") = -49.0, py::arg("i_offset") = 0.0,
             py::arg("v_threshold") = -50.0, py::arg("v_reset") = -60.0, py::arg("t_ref") = 5.0,
             py::arg("v_init") = py::none())
        .def("add_spike_source",
             [](network& n, std::string name, std::size_t size, carray<std::uint64_t> steps, carray<std::uint32_t> neurons) {
                 spike_source_params p;
                 p.steps = to_vector(steps);
                 p.neurons = to_vector(neurons);
                 n.add(node{std::move(name), size, p});
             },
             py::arg("name"), py::arg("size"), py::arg("steps"), py::arg("neurons"))
        .def("add_poisson_source",
             [](network& n, std::string name, std::size_t size, carray<double> rate_hz, std::uint64_t seed) {
                 spike_source_params p;
                 p.kind = spike_source_params::mode::poisson;
                 p.rate_hz = to_vector(rate_hz);
                 p.seed = seed;
                 n.add(node{std::move(name), size, p});
             },
             py::arg("name"), py::arg("size"), py::arg("rate_hz"), py::arg("seed") = 0)
        .def("add_input", [](network& n, std::string name, std::size_t size) { n.add(node{std::move(name), size, input_params{}}); },
             py::arg("name"), py::arg("size"))
        .def("connect_dense",
             [](network& n, std::string name, std::string src, std::string tgt, carray<float> w, std::uint32_t delay,
                std::uint32_t port) {
                 projection p = base(std::move(name), std::move(src), std::move(tgt), connectivity::dense, delay, port);
                 p.weights = to_vector(w);
                 n.connect(std::move(p));
             },
             py::arg("name"), py::arg("source"), py::arg("target"), py::arg("weights"), py::arg("delay") = 0,
             py::arg("port") = 0)
        .def("connect_sparse",
             [](network& n, std::string name, std::string src, std::string tgt, carray<std::uint64_t> indptr,
                carray<std::uint32_t> indices, carray<float> weights, std::uint32_t delay, std::uint32_t port) {
                 projection p = base(std::move(name), std::move(src), std::move(tgt), connectivity::sparse, delay, port);
                 const std::size_t rows = indptr.size() > 0 ? static_cast<std::size_t>(indptr.size()) - 1 : 0;
                 p.sparse = csr_from_arrays(rows, as_span(indptr), as_span(indices), as_span(weights));
                 n.connect(std::move(p));
             },
             py::arg("name"), py::arg("source"), py::arg("target"), py::arg("indptr"), py::arg("indices"),
             py::arg("weights"), py::arg("delay") = 0, py::arg("port") = 0)
        .def("connect_one_to_one",
             [](network& n, std::string name, std::string src, std::string tgt, carray<float> w, std::uint32_t delay,
                std::uint32_t port) {
                 projection p = base(std::move(name), std::move(src), std::move(tgt), connectivity::one_to_one, delay, port);
                 p.weights = to_vector(w);
                 n.connect(std::move(p));
             },
             py::arg("name"), py::arg("source"), py::arg("target"), py::arg("weights"), py::arg("delay") = 0,
             py::arg("port") = 0)
        .def("validate", &network::validate)
        .def("compress_weights", [](network& n, const std::string& format) { compress_weights(n, weight_format_from_string(format)); },
             py::arg("format"), "Round every synaptic weight to fp32 (unchanged), bf16 or int8 (docs/weights.md)")
        .def_property_readonly("weights", [](const network& n) { return std::string(to_string(n.weights)); })
        .def("parameter_count", &network::parameter_count)
        .def("latencies", [](const network& n) {
            py::dict d;
            const auto lat = n.latencies();
            for (std::size_t i = 0; i < n.nodes.size(); ++i) d[py::str(n.nodes[i].name)] = lat[i];
            return d;
        })
        .def("save", [](const network& n, const std::string& path, bool overwrite) { save_network(n, path, overwrite_if(overwrite)); },
             py::arg("path"), py::arg("overwrite") = false,
             "Write the network to an HDF5 file (atomically); an existing file only with overwrite=True.")
        .def_static("load", [](const std::string& path) { return load_network(path); }, py::arg("path"))
        .def("__repr__", [](const network& n) {
            return "<lmusim.Network '" + n.name + "': " + std::to_string(n.nodes.size()) + " nodes, " +
                   std::to_string(n.projections.size()) + " projections>";
        });

    m.def("fixed_probability",
          [](std::size_t n_source, std::size_t n_target, double p, float weight, std::uint64_t seed,
             std::size_t source_begin, std::optional<std::size_t> source_end, bool allow_self) {
              return csr_dict(fixed_probability(n_source, n_target, p, weight, seed, source_begin,
                                                source_end.value_or(SIZE_MAX), allow_self));
          },
          py::arg("n_source"), py::arg("n_target"), py::arg("p"), py::arg("weight"), py::arg("seed"),
          py::arg("source_begin") = 0, py::arg("source_end") = py::none(), py::arg("allow_self") = true,
          "Seeded fixed-probability connectivity as CSR arrays {indptr, indices, weights}.");
    m.def("cuba_network",
          [](std::size_t neurons, std::uint64_t seed, double fan_in) {
              cuba_params cp;
              cp.neurons = neurons;
              cp.seed = seed;
              cp.fan_in = fan_in;
              return make_cuba(cp);
          },
          py::arg("neurons") = 4000, py::arg("seed") = 3, py::arg("fan_in") = 80.0,
          "The Vogels-Abbott CUBA network as `lmusim cuba` builds it.");
    m.def("derive_seed", [](std::uint64_t seed, std::uint64_t stream) { return random::word(seed, stream); },
          py::arg("seed"), py::arg("stream"),
          "A seed derived from (seed, stream) by lmusim's counter-based generator; CUBA uses streams 1 and 2.");
    m.def("cuba_v_init", [](std::size_t neurons, std::uint64_t seed) {
              cuba_params cp;
              cp.neurons = neurons;
              cp.seed = seed;
              const network n = make_cuba(cp);
              const auto& v = std::get<continuous_lif_params>(n.nodes[0].params).v_init;
              return to_numpy(v.data(), {static_cast<py::ssize_t>(v.size())});
          },
          py::arg("neurons") = 4000, py::arg("seed") = 3, "CUBA's initial potentials for a seed [mV].");
}

}  // namespace lmusim::py_bindings
