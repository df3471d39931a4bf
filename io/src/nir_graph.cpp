// Lowering a NIR graph onto lmusim kinds (docs/nir.md):
// 1. flatten nested NIRGraphs (children named parent.child; a subgraph's Input/Output nodes become
//    pass-through nodes that edges into / out of the subgraph attach to);
// 2. order: depth-first from the Input nodes (sorted names; successors in sorted name order); an
//    edge into a node on the current path is a back edge and carries the previous step;
// 3. shapes, inferred along the edges;
// 4. state nodes (Input, Output, neurons, Threshold, Delay, pass-throughs) become lmusim nodes;
//    linear maps (Affine, Linear, Scale, Conv1d/2d, Sum/AvgPool2d, Flatten) become projections
//    between them, or a pass-through node when a map feeds another map.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <tuple>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/io/nir.hpp"

namespace lmusim {

nir_discretization nir_discretization_from_string(std::string_view s) {
    for (const auto& [t, v] : nir_discretization_names)
        if (s == t) return v;
    throw error(cat("NIR discretization '", s, "', expected euler or exact"));
}
nir_reset nir_reset_from_string(std::string_view s) {
    for (const auto& [t, v] : nir_reset_names)
        if (s == t) return v;
    throw error(cat("NIR reset '", s, "', expected zero or subtract"));
}
std::string_view to_string(nir_discretization d) noexcept { return d == nir_discretization::euler ? "euler" : "exact"; }
std::string_view to_string(nir_reset r) noexcept { return r == nir_reset::zero ? "zero" : "subtract"; }

namespace {

using shape_t = std::vector<std::size_t>;

std::size_t product(const shape_t& s) {
    return std::accumulate(s.begin(), s.end(), std::size_t{1}, std::multiplies<>());
}

std::string shape_text(const shape_t& s) {
    std::string t = "(";
    for (std::size_t i = 0; i < s.size(); ++i) t += cat(i ? ", " : "", s[i]);
    return t + (s.size() == 1 ? ",)" : ")");
}

// The NIR types and what they become.
enum class role : std::uint8_t { state, map };

struct type_info {
    const char* type;
    role r;
    const char* kind;  // lmusim node kind (state) or projection kind (map)
};

constexpr type_info types[] = {
    {"Input", role::state, "input"},         {"Output", role::state, "analog"},
    {"LIF", role::state, "nir_lif"},         {"LI", role::state, "nir_li"},
    {"CubaLIF", role::state, "nir_cuba_lif"}, {"CubaLI", role::state, "nir_cuba_li"},
    {"IF", role::state, "nir_if"},           {"I", role::state, "nir_integrator"},
    {"Threshold", role::state, "threshold"}, {"Delay", role::state, "nir_delay"},
    {"Affine", role::map, "dense"},          {"Linear", role::map, "dense"},
    {"Scale", role::map, "one_to_one"},      {"Conv1d", role::map, "conv2d"},
    {"Conv2d", role::map, "conv2d"},         {"SumPool2d", role::map, "sum_pool2d"},
    {"AvgPool2d", role::map, "sum_pool2d"},  {"Flatten", role::map, "identity"},
};
constexpr const char* passthrough_type = "(pass-through)";  // a subgraph's Input/Output

const type_info* info_of(const std::string& type) {
    for (const type_info& t : types)
        if (type == t.type) return &t;
    return nullptr;
}

std::string known_types() {
    std::string s;
    for (const type_info& t : types) s += cat(s.empty() ? "" : ", ", t.type);
    return s + ", NIRGraph";
}

// A primitive after flattening.
struct flat {
    std::string name;  // dotted
    std::string type;  // NIR type, or passthrough_type
    const nir_node* src = nullptr;
    shape_t shape;  // output shape, once known
    bool shaped = false;
    shape_t in_shape;  // input shape, once known (kept when edges are contracted)
    bool in_shaped = false;
};

struct flattener {
    const nir_document& doc;
    std::vector<flat> nodes;
    std::map<std::string, std::size_t> index;
    // Subgraphs: dotted name -> (its Input children, its Output children), dotted.
    std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> subgraphs;
    struct raw_edge {
        std::string graph, prefix, source, target;
    };
    std::vector<raw_edge> raw;

    void add(const nir_node& g, const std::string& prefix, const std::string& gname) {
        for (const nir_node& c : g.nodes) {
            const std::string full = prefix.empty() ? c.name : prefix + "." + c.name;
            if (c.name.empty()) throw file_error(cat(doc.path, ": graph '", gname, "' has a node with an empty name"));
            if (index.count(full) || subgraphs.count(full))
                throw file_error(cat(doc.path, ": two nodes are named '", full, "' after flattening nested graphs"));
            if (c.type == "NIRGraph") {
                auto& io = subgraphs[full];
                for (const nir_node& cc : c.nodes) {
                    if (cc.type == "Input") io.first.push_back(full + "." + cc.name);
                    if (cc.type == "Output") io.second.push_back(full + "." + cc.name);
                }
                add(c, full, full);
                continue;
            }
            if (!info_of(c.type))
                throw error(cat(doc.path, ": node '", full, "' has type '", c.type, "', which lmusim does not support (",
                                "supported: ", known_types(), ")"));
            flat f;
            f.name = full;
            f.type = (!prefix.empty() && (c.type == "Input" || c.type == "Output")) ? passthrough_type : c.type;
            f.src = &c;
            index[full] = nodes.size();
            nodes.push_back(std::move(f));
        }
        for (const auto& [s, t] : g.edges) raw.push_back({gname, prefix, s, t});
    }

    // An edge end named `n` inside the graph with `prefix`: a node (possibly nested, `g.c`), or a
    // subgraph, which stands for all its Input nodes (as a target) or Output nodes (as a source).
    std::vector<std::size_t> resolve(const raw_edge& e, const std::string& n, bool as_source) const {
        const std::string full = e.prefix.empty() ? n : e.prefix + "." + n;
        if (auto it = index.find(full); it != index.end()) return {it->second};
        if (auto sg = subgraphs.find(full); sg != subgraphs.end()) {
            const auto& ends = as_source ? sg->second.second : sg->second.first;
            if (ends.empty())
                throw error(cat(doc.path, ": edge ('", e.source, "', '", e.target, "') in graph '", e.graph.empty() ? "/" : e.graph,
                                "' connects subgraph '", full, "', which has no ", as_source ? "Output" : "Input", " node"));
            std::vector<std::size_t> out;
            for (const std::string& x : ends) out.push_back(index.at(x));
            return out;
        }
        throw error(cat(doc.path, ": edge ('", e.source, "', '", e.target, "') in graph '", e.graph.empty() ? "/" : e.graph,
                        "' names '", n, "', which is not a node of that graph"));
    }
};

// Numeric field access with messages naming the node and field.
struct fields_of {
    const std::string& path;
    const flat& f;

    const nir_field* opt(const char* name) const { return f.src->find(name); }
    const nir_field& req(const char* name) const {
        const nir_field* x = opt(name);
        if (!x) throw error(cat(path, ": ", f.type, " node '", f.name, "' has no field '", name, "'"));
        if (x->text) throw error(cat(path, ": ", f.type, " node '", f.name, "': field '", name, "' holds strings, expected numbers"));
        return *x;
    }
    std::vector<double> numbers(const char* name) const { return req(name).numbers; }
    // Non-negative integers (shapes, strides); `n` values, or one value repeated to n.
    std::vector<std::size_t> ints(const char* name, std::size_t n, std::size_t fallback_if_absent = 0, bool optional = false) const {
        const nir_field* x = opt(name);
        if (!x && optional) return std::vector<std::size_t>(n, fallback_if_absent);
        const nir_field& v = req(name);
        std::vector<std::size_t> out;
        for (double d : v.numbers) {
            if (!(d >= 0) || d != std::floor(d) || d > 1e9)
                throw error(cat(path, ": ", f.type, " node '", f.name, "': field '", name, "' = ", d, ", expected a non-negative integer"));
            out.push_back(static_cast<std::size_t>(d));
        }
        if (n && out.size() == 1) out.assign(n, out[0]);
        if (n && out.size() != n)
            throw error(cat(path, ": ", f.type, " node '", f.name, "': field '", name, "' has ", out.size(), " values, expected ", n));
        return out;
    }
    std::string text(const char* name) const {
        const nir_field* x = opt(name);
        return x && x->text && x->strings.size() == 1 ? x->strings[0] : std::string();
    }
    std::string where() const { return cat(path, ": ", f.type, " node '", f.name, "'"); }
};

// Sets a node kind's stored fields by name (core/fields.hpp visitor): numbers for attributes and
// arrays, strings for choices. Fields not given keep the kind's defaults.
struct field_setter {
    std::size_t n;
    const std::map<std::string, std::vector<double>>& numbers;
    const std::map<std::string, std::string>& texts;
    const std::string& where;
    std::size_t size() const { return n; }
    template <class T> void attr(const char* name, T& value) {
        if (auto it = numbers.find(name); it != numbers.end()) value = static_cast<T>(it->second.at(0));
    }
    void count(const char* name, std::size_t& value) {
        if (auto it = numbers.find(name); it != numbers.end()) value = static_cast<std::size_t>(it->second.at(0));
    }
    template <class E> void choice(const char* name, E& value, choices<E> names) {
        auto it = texts.find(name);
        if (it == texts.end()) return;
        for (const auto& [t, v] : names)
            if (it->second == t) {
                value = v;
                return;
            }
        throw internal_error(cat(where, ": no value '", it->second, "' for field '", name, "'"));
    }
    template <class T> void array(const char* name, std::vector<T>& data, const std::vector<std::size_t>&, presence = presence::required) {
        if (auto it = numbers.find(name); it != numbers.end()) {
            data.clear();
            for (double d : it->second) data.push_back(static_cast<T>(d));
        }
    }
    void affine(const char*, input_affine&) {}
};

// Conv/pool geometry from NIR fields.
struct conv_geometry {
    std::size_t in_c = 1, in_h = 1, in_w = 1, out_c = 1, kh = 1, kw = 1, sh = 1, sw = 1, pt = 0, pb = 0, pl = 0, pr = 0, dh = 1, dw = 1,
                groups = 1;
    std::size_t out_h() const { return (in_h + pt + pb - dh * (kh - 1) - 1) / sh + 1; }
    std::size_t out_w() const { return (in_w + pl + pr - dw * (kw - 1) - 1) / sw + 1; }
};

// PyTorch's padding: "valid" = 0; "same" = total d(k-1) split with the smaller half first.
void padding_of(const fields_of& F, std::size_t dims, const std::size_t k[2], const std::size_t d[2], std::size_t out[4]) {
    const std::string s = F.text("padding");
    if (!s.empty()) {
        for (std::size_t i = 0; i < 2; ++i) {
            const std::size_t total = s == "same" ? d[i] * (k[i] - 1) : 0;
            if (s != "same" && s != "valid") throw error(cat(F.where(), ": padding '", s, "', expected a number, 'same' or 'valid'"));
            out[2 * i] = total / 2;
            out[2 * i + 1] = total - total / 2;
        }
        return;
    }
    const std::vector<std::size_t> p = F.ints("padding", dims, 0, true);
    if (dims == 1) {
        out[0] = out[1] = 0;
        out[2] = out[3] = p[0];
    } else {
        out[0] = out[1] = p[0];
        out[2] = out[3] = p[1];
    }
}

// A node's fields for `lmusim info`: name, shape and value (or range) of each.
std::string describe_fields(const nir_node& n) {
    std::string out;
    for (const nir_field& f : n.fields) {
        std::string v;
        if (f.text) {
            v = f.strings.size() == 1 ? cat("'", f.strings[0], "'") : cat(f.strings.size(), " strings");
        } else if (f.numbers.size() == 1) {
            v = cat(f.numbers[0]);
        } else if (!f.numbers.empty()) {
            const auto [lo, hi] = std::minmax_element(f.numbers.begin(), f.numbers.end());
            v = *lo == *hi ? cat("all ", *lo) : cat(*lo, "..", *hi);
        }
        std::string shp;
        if (f.shape.size() > 1 || (f.shape.size() == 1 && f.shape[0] != 1)) shp = cat(" ", shape_text(f.shape));
        out += cat(out.empty() ? "" : "; ", f.name, shp, v.empty() ? "" : " ", v);
    }
    return out;
}

class lowering {
public:
    lowering(const nir_document& doc, const nir_options& opt) : doc_(doc), opt_(opt), fl_{doc, {}, {}, {}, {}} {}

    nir_model run() {
        if (!(opt_.dt > 0) || !std::isfinite(opt_.dt))
            throw error("NIR graphs are continuous-time: give the step with --dt SECONDS (e.g. --dt 1e-4)");
        if (doc_.root.type != "NIRGraph") {
            // A single node as the whole file: wrap it.
            throw error(cat(doc_.path, ": the top node is a '", doc_.root.type, "', expected a NIRGraph"));
        }
        fl_.add(doc_.root, "", "");
        N_ = fl_.nodes.size();
        for (const auto& e : fl_.raw)
            for (std::size_t s : fl_.resolve(e, e.source, true))
                for (std::size_t t : fl_.resolve(e, e.target, false)) edges_.push_back({s, t});
        order();
        shapes();
        for (const edge& e : edges_) m_.edges.push_back({{node(e.s).name, node(e.t).name}, e.back});
        contract();
        build();
        return std::move(m_);
    }

private:
    struct edge {
        std::size_t s, t;
        bool back = false;        // closes a cycle (found by the walk, on the graph as stored)
        std::uint32_t delay = 0;  // steps, after identity nodes are contracted (section 3)
        bool dead = false;        // contracted away
    };

    const nir_document& doc_;
    const nir_options& opt_;
    flattener fl_;
    std::size_t N_ = 0;
    std::vector<edge> edges_;
    std::vector<std::size_t> eval_;                 // evaluation order (reverse DFS postorder)
    std::vector<std::vector<std::size_t>> out_, in_;  // edge indices per node
    std::vector<bool> gone_;                          // contracted identity nodes
    nir_model m_;

    flat& node(std::size_t i) { return fl_.nodes[i]; }
    bool is_map(std::size_t i) const {
        const type_info* t = info_of(fl_.nodes[i].type);
        return t && t->r == role::map;
    }

    void order() {
        out_.assign(N_, {});
        in_.assign(N_, {});
        for (std::size_t k = 0; k < edges_.size(); ++k) {
            out_[edges_[k].s].push_back(k);
            in_[edges_[k].t].push_back(k);
        }
        auto by_target = [&](std::size_t a, std::size_t b) {
            return std::tie(fl_.nodes[edges_[a].t].name, a) < std::tie(fl_.nodes[edges_[b].t].name, b);
        };
        for (auto& v : out_) std::sort(v.begin(), v.end(), by_target);
        std::vector<std::size_t> names(N_);
        std::iota(names.begin(), names.end(), 0);
        std::sort(names.begin(), names.end(), [&](std::size_t a, std::size_t b) { return fl_.nodes[a].name < fl_.nodes[b].name; });
        std::vector<int> state(N_, 0);  // 0 new, 1 on the path, 2 done
        std::vector<std::size_t> post;
        auto dfs = [&](std::size_t root) {
            // Iterative DFS (graphs may be deep): stack of (node, next out-edge position).
            std::vector<std::pair<std::size_t, std::size_t>> stack{{root, 0}};
            state[root] = 1;
            while (!stack.empty()) {
                auto& [v, pos] = stack.back();
                if (pos < out_[v].size()) {
                    const std::size_t k = out_[v][pos++];
                    const std::size_t t = edges_[k].t;
                    if (state[t] == 1)
                        edges_[k].back = true;
                    else if (state[t] == 0) {
                        state[t] = 1;
                        stack.emplace_back(t, 0);
                    }
                } else {
                    state[v] = 2;
                    post.push_back(v);
                    stack.pop_back();
                }
            }
        };
        for (std::size_t i : names)
            if (fl_.nodes[i].type == "Input" && state[i] == 0) dfs(i);
        for (std::size_t i : names)
            if (state[i] == 0) dfs(i);
        eval_.assign(post.rbegin(), post.rend());
    }

    // Identity nodes with one incoming edge (a nested graph's Input/Output, Flatten) are contracted:
    // s -> P -> t becomes s -> t with the delays added, so spikes stay spikes across them.
    void contract() {
        gone_.assign(N_, false);
        for (edge& e : edges_) e.delay = e.back ? 1 : 0;
        for (std::size_t p : eval_) {
            const flat& f = node(p);
            if ((f.type != passthrough_type && f.type != "Flatten") || in_[p].size() != 1) continue;
            const std::size_t k0 = in_[p][0];
            const std::size_t src = edges_[k0].s;
            if (src == p) continue;
            for (std::size_t k : out_[p]) {
                edges_[k].s = src;
                edges_[k].delay += edges_[k0].delay;
                out_[src].push_back(k);
            }
            out_[src].erase(std::remove(out_[src].begin(), out_[src].end(), k0), out_[src].end());
            edges_[k0].dead = true;
            in_[p].clear();
            out_[p].clear();
            gone_[p] = true;
        }
    }

    // ---- shapes ----------------------------------------------------------------------------
    // The input shape of node i: that of its first incoming edge's source with a known shape.
    const shape_t* input_shape(std::size_t i) {
        if (node(i).in_shaped) return &node(i).in_shape;
        for (std::size_t k : in_[i]) {
            const flat& s = node(edges_[k].s);
            if (s.shaped) return &s.shape;
        }
        return nullptr;
    }

    // The neuron-parameter shape: the largest parameter's shape ({} if all are scalars).
    shape_t param_shape(const flat& f) {
        shape_t best;
        std::size_t n = 1;
        for (const nir_field& x : f.src->fields)
            if (!x.text && x.count() > n) {
                n = x.count();
                best = x.shape;
            }
        return best;
    }

    bool infer(std::size_t i) {
        flat& f = node(i);
        const fields_of F{doc_.path, f};
        const shape_t* in = input_shape(i);
        const std::string& t = f.type;
        shape_t out;
        if (t == "Input") {
            const nir_field& s = F.req("shape");
            for (double d : s.numbers) {
                if (!(d >= 1) || d != std::floor(d)) throw error(cat(F.where(), ": shape value ", d, ", expected positive integers"));
                out.push_back(static_cast<std::size_t>(d));
            }
            if (out.empty()) throw error(cat(F.where(), ": empty shape"));
        } else if (t == "Output" || t == passthrough_type || t == "Flatten") {
            if (!in) return false;
            out = *in;
            if (t == "Flatten") out = {product(*in)};
        } else if (t == "Affine" || t == "Linear") {
            const nir_field& w = F.req("weight");
            if (w.shape.size() < 2 || product(shape_t(w.shape.begin(), w.shape.end() - 2)) != 1)
                throw error(cat(F.where(), ": weight of shape ", shape_text(w.shape), ", expected (out, in)"));
            out = {w.shape[w.shape.size() - 2]};
        } else if (t == "Scale") {
            const nir_field& s = F.req("scale");
            if (s.count() > 1)
                out = s.shape;
            else if (in)
                out = *in;
            else
                return false;
        } else if (t == "Conv1d" || t == "Conv2d") {
            if (!in) return false;
            conv_geometry g = conv(i, *in);
            out = t == "Conv1d" ? shape_t{g.out_c, g.out_w()} : shape_t{g.out_c, g.out_h(), g.out_w()};
        } else if (t == "SumPool2d" || t == "AvgPool2d") {
            if (!in) return false;
            conv_geometry g = pool(i, *in);
            out = {g.in_c, g.out_h(), g.out_w()};
        } else {  // neurons, Threshold, Delay
            out = param_shape(f);
            if (product(out) <= 1) {
                if (!in) return false;
                out = *in;
            }
        }
        double total = 1;
        for (std::size_t d : out) total *= static_cast<double>(d);
        if (total < 1 || total > static_cast<double>(max_population_size))
            throw error(cat(F.where(), ": shape ", shape_text(out), " holds ", total, " values (expected 1 to ",
                            max_population_size, ")"));
        f.shape = out;
        f.shaped = true;
        if (in) {
            f.in_shape = *in;
            f.in_shaped = true;
        }
        return true;
    }

    void shapes() {
        for (bool changed = true; changed;) {
            changed = false;
            for (std::size_t i : eval_)
                if (!node(i).shaped && infer(i)) changed = true;
        }
        for (std::size_t i : eval_)
            if (!node(i).shaped)
                throw error(cat(doc_.path, ": cannot tell the shape of ", node(i).type, " node '", node(i).name,
                                "' (it has no input of known shape)"));
        // Every edge joins equal sizes (a map's input is checked where it is lowered).
        for (const edge& e : edges_) {
            if (is_map(e.t)) continue;
            const flat &s = node(e.s), &t = node(e.t);
            if (product(s.shape) != product(t.shape))
                throw error(cat(doc_.path, ": edge ('", s.name, "', '", t.name, "') joins ", product(s.shape), " values to ",
                                product(t.shape), " (", s.type, " ", shape_text(s.shape), " -> ", t.type, " ", shape_text(t.shape), ")"));
        }
    }

    conv_geometry conv(std::size_t i, const shape_t& in) {
        const flat& f = node(i);
        const fields_of F{doc_.path, f};
        const bool two = f.type == "Conv2d";
        const nir_field& w = F.req("weight");
        const std::size_t dims = two ? 2 : 1;
        if (w.shape.size() != dims + 2)
            throw error(cat(F.where(), ": weight of shape ", shape_text(w.shape), ", expected ",
                            two ? "(C_out, C_in/groups, kH, kW)" : "(C_out, C_in/groups, K)"));
        for (std::size_t d : w.shape)
            if (d == 0) throw error(cat(F.where(), ": weight of shape ", shape_text(w.shape), " is empty"));
        conv_geometry g;
        g.groups = F.ints("groups", 1, 1, true)[0];
        if (g.groups == 0) throw error(cat(F.where(), ": groups = 0"));
        g.out_c = w.shape[0];
        g.in_c = w.shape[1] * g.groups;
        g.kh = two ? w.shape[2] : 1;
        g.kw = w.shape[dims + 1];
        const std::vector<std::size_t> st = F.ints("stride", dims, 1, true), dl = F.ints("dilation", dims, 1, true);
        g.sh = two ? st[0] : 1;
        g.sw = st[dims - 1];
        g.dh = two ? dl[0] : 1;
        g.dw = dl[dims - 1];
        // Spatial input: the incoming shape; `input_shape` (spatial sizes only) when present must agree.
        const std::size_t n_in = product(in);
        std::size_t h = 1, wd = 1;
        if (const nir_field* is = F.opt("input_shape"); is && !is->text && is->count() >= dims) {
            std::vector<std::size_t> v = F.ints("input_shape", 0);
            v.erase(v.begin(), v.end() - static_cast<std::ptrdiff_t>(dims));
            h = two ? v[0] : 1;
            wd = v[dims - 1];
        } else if (in.size() >= dims + 1) {
            h = two ? in[in.size() - 2] : 1;
            wd = in.back();
        } else {
            if (n_in % g.in_c) throw error(cat(F.where(), ": input of ", n_in, " values is not ", g.in_c, " channels"));
            wd = n_in / g.in_c;
            if (two) throw error(cat(F.where(), ": cannot tell the input's height and width (no input_shape, input shape ",
                                     shape_text(in), ")"));
        }
        g.in_h = h;
        g.in_w = wd;
        if (g.in_c * h * wd != n_in)
            throw error(cat(F.where(), ": input of ", n_in, " values, expected C_in x H x W = ", g.in_c, " x ", h, " x ", wd));
        const std::size_t k[2] = {g.kh, g.kw}, d[2] = {g.dh, g.dw};
        std::size_t p[4];
        padding_of(F, dims, k, d, p);
        g.pt = p[0];
        g.pb = p[1];
        g.pl = p[2];
        g.pr = p[3];
        if (g.sh == 0 || g.sw == 0 || g.dh == 0 || g.dw == 0) throw error(cat(F.where(), ": stride and dilation must be >= 1"));
        if (h + g.pt + g.pb < g.dh * (g.kh - 1) + 1 || wd + g.pl + g.pr < g.dw * (g.kw - 1) + 1)
            throw error(cat(F.where(), ": the kernel is larger than the padded input"));
        return g;
    }

    conv_geometry pool(std::size_t i, const shape_t& in) {
        const flat& f = node(i);
        const fields_of F{doc_.path, f};
        if (in.size() != 3) throw error(cat(F.where(), ": input of shape ", shape_text(in), ", expected (C, H, W)"));
        conv_geometry g;
        g.in_c = g.out_c = in[0];
        g.in_h = in[1];
        g.in_w = in[2];
        const std::vector<std::size_t> k = F.ints("kernel_size", 2), st = F.ints("stride", 2, 0, true), p = F.ints("padding", 2, 0, true);
        g.kh = k[0];
        g.kw = k[1];
        g.sh = st[0] ? st[0] : k[0];
        g.sw = st[1] ? st[1] : k[1];
        g.pt = g.pb = p[0];
        g.pl = g.pr = p[1];
        if (g.kh == 0 || g.kw == 0) throw error(cat(F.where(), ": kernel_size 0"));
        if (g.in_h + 2 * g.pt < g.kh || g.in_w + 2 * g.pl < g.kw) throw error(cat(F.where(), ": the kernel is larger than the padded input"));
        return g;
    }

    // ---- building ----------------------------------------------------------------------------
    // Per-neuron parameters: 1 value or one per neuron, rounded to float32 by the kind.
    std::vector<double> param(const fields_of& F, const char* name, std::size_t n, std::optional<double> fallback = std::nullopt) {
        const nir_field* x = F.opt(name);
        if (!x) {
            if (fallback) return {*fallback};
            F.req(name);  // throws
        }
        const std::vector<double> v = F.numbers(name);
        if (v.size() != 1 && v.size() != n)
            throw error(cat(F.where(), ": field '", name, "' has ", v.size(), " values, expected 1 or ", n));
        for (double d : v)
            if (!std::isfinite(d)) throw error(cat(F.where(), ": field '", name, "' holds ", d));
        return v;
    }

    void add_state_node(std::size_t i) {
        flat& f = node(i);
        const fields_of F{doc_.path, f};
        const std::size_t n = product(f.shape);
        const type_info* ti = f.type == passthrough_type ? nullptr : info_of(f.type);
        const std::string& t = f.type;
        const std::string kind = !ti ? "analog" : (t == "Input" && opt_.spike_input) ? "spike_input" : ti->kind;
        std::map<std::string, std::vector<double>> nums;
        std::map<std::string, std::string> texts;
        const bool lif_like = t == "LIF" || t == "LI" || t == "CubaLIF" || t == "CubaLI";
        if (lif_like || t == "IF" || t == "I") nums["r"] = param(F, "r", n);
        if (t == "LIF" || t == "LI") nums["tau"] = param(F, "tau", n);
        if (t == "CubaLIF" || t == "CubaLI") {
            nums["tau_syn"] = param(F, "tau_syn", n);
            nums["tau_mem"] = param(F, "tau_mem", n);
            nums["w_in"] = param(F, "w_in", n, 1.0);
        }
        if (lif_like) {
            nums["v_leak"] = param(F, "v_leak", n, 0.0);
            nums["dt"] = {opt_.dt};
            texts["discretization"] = std::string(to_string(opt_.discretization));
            for (const char* tau : {"tau", "tau_syn", "tau_mem"})
                if (auto it = nums.find(tau); it != nums.end())
                    for (double v : it->second)
                        if (!(v > 0)) throw error(cat(F.where(), ": ", tau, " = ", v, ", expected > 0"));
        }
        if (t == "LIF" || t == "CubaLIF" || t == "IF") {
            nums["v_threshold"] = param(F, "v_threshold", n);
            nums["v_reset"] = param(F, "v_reset", n, 0.0);
            texts["reset"] = std::string(to_string(opt_.reset));
        }
        if (t == "Threshold") nums["threshold"] = param(F, "threshold", n);
        if (t == "Delay") {
            const std::vector<double> d = param(F, "delay", n);
            std::vector<double> steps;
            bool rounded = false;
            for (double v : d) {
                if (!(v >= 0)) throw error(cat(F.where(), ": delay ", v, ", expected >= 0 seconds"));
                const double s = std::round(v / opt_.dt);
                rounded = rounded || std::fabs(s - v / opt_.dt) > 1e-6 * std::max(1.0, s);
                if (s > 1e6) throw error(cat(F.where(), ": delay ", v, " s is ", s, " steps of ", opt_.dt, " s (at most 1e6)"));
                steps.push_back(s);
            }
            if (rounded) m_.notes.push_back(cat("Delay node '", f.name, "': delays rounded to whole steps of ", opt_.dt, " s"));
            nums["delay_steps"] = steps;
        }
        lmusim::node nd{f.name, n, default_node_params(kind)};
        const std::string where = F.where();
        field_setter set{n, nums, texts, where};
        std::visit([&](auto& p) { p.fields(set); }, nd.params);
        m_.net.add(std::move(nd));
        m_.entries.push_back({f.name, t, cat("node ", kind), f.shape, describe_fields(*f.src)});
        if (t == "Input") {
            m_.inputs.push_back(f.name);
            m_.input_shapes.push_back(f.shape);
        }
        if (t == "Output") m_.outputs.push_back(f.name);
    }

    // The projection(s) of map node `i` from lmusim node `src` (of `ns` values) to `dst`.
    projection map_projection(std::size_t i, const std::string& name, const std::string& src, const std::string& dst,
                              std::uint32_t delay, bool with_bias) {
        flat& f = node(i);
        const fields_of F{doc_.path, f};
        const std::string& t = f.type;
        projection p;
        p.name = name;
        p.source = src;
        p.target = dst;
        p.delay = delay;
        p.sum_separately = true;
        const shape_t* in = input_shape(i);
        const std::size_t ns = in ? product(*in) : 0, nt = product(f.shape);
        auto f32 = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
        if (t == "Affine" || t == "Linear") {
            const nir_field& w = F.req("weight");
            const std::size_t cols = w.shape.back();
            if (cols != ns) throw error(cat(F.where(), ": weight ", shape_text(w.shape), " takes ", cols, " inputs, but ", ns, " arrive"));
            p.kind = connectivity::dense;
            p.weights = f32(w.numbers);
            if (t == "Affine" && with_bias) {
                const std::vector<double> b = F.numbers("bias");
                if (b.size() != nt && b.size() != 1)
                    throw error(cat(F.where(), ": bias has ", b.size(), " values, expected ", nt));
                p.bias = b.size() == 1 ? std::vector<float>(nt, static_cast<float>(b[0])) : f32(b);
            }
        } else if (t == "Scale") {
            const std::vector<double> s = F.numbers("scale");
            if (s.size() != 1 && s.size() != ns) throw error(cat(F.where(), ": scale has ", s.size(), " values, expected 1 or ", ns));
            p.kind = connectivity::one_to_one;
            p.weights = s.size() == 1 ? std::vector<float>(ns, static_cast<float>(s[0])) : f32(s);
        } else if (t == "Flatten") {
            p.kind = connectivity::identity;
        } else if (t == "Conv1d" || t == "Conv2d") {
            const conv_geometry g = conv(i, *in);
            p.kind = connectivity::conv2d;
            p.geometry = {g.in_c, g.in_h, g.in_w, g.out_c, g.kh, g.kw, g.sh, g.sw, g.pt, g.pb, g.pl, g.pr, g.dh, g.dw, g.groups};
            p.weights = f32(F.numbers("weight"));
            if (with_bias && F.opt("bias")) {
                const std::vector<double> b = F.numbers("bias");
                const std::size_t per = nt / g.out_c;
                if (b.size() == g.out_c) {
                    p.bias.resize(nt);
                    for (std::size_t c = 0; c < g.out_c; ++c)
                        std::fill_n(p.bias.begin() + static_cast<std::ptrdiff_t>(c * per), per, static_cast<float>(b[c]));
                } else if (b.size() == 1) {
                    p.bias.assign(nt, static_cast<float>(b[0]));
                } else if (b.size() != 0) {
                    throw error(cat(F.where(), ": bias has ", b.size(), " values, expected ", g.out_c, " (one per output channel)"));
                }
                bool any = false;
                for (float v : p.bias) any = any || v != 0.0f;
                if (!any) p.bias.clear();
            }
        } else if (t == "SumPool2d" || t == "AvgPool2d") {
            const conv_geometry g = pool(i, *in);
            p.kind = connectivity::sum_pool2d;
            p.geometry = {g.in_c, g.in_h, g.in_w, g.kh, g.kw, g.sh, g.sw, g.pt, g.pb, g.pl, g.pr};
            p.weights = {t == "AvgPool2d" ? 1.0f / static_cast<float>(g.kh * g.kw) : 1.0f};
        } else {
            throw internal_error(cat("map node of type ", t));
        }
        return p;
    }

    void build() {
        m_.version = doc_.version;
        m_.net.name = doc_.root.name.empty() ? "nir" : doc_.root.name;
        m_.net.dt = opt_.dt * 1000.0;  // lmusim steps are in ms
        std::set<std::string> used;
        auto unique_name = [&](std::string base) {
            std::string n = base;
            for (int k = 2; used.count(n); ++k) n = cat(base, "#", k);
            used.insert(n);
            return n;
        };
        for (const flat& f : fl_.nodes)
            if (!is_map(&f - fl_.nodes.data())) used.insert(f.name);
        // Where each node's input lives in lmusim: a state node is its own node; a map's input is
        // its one state source when it has exactly one incoming edge (the edge is folded into the
        // map's projections), else a pass-through node summing its incoming edges.
        std::vector<std::string> in_node(N_);
        std::vector<std::ptrdiff_t> folded(N_, -1);  // the folded edge of a map, or -1
        for (std::size_t i : eval_) {
            const flat& f = node(i);
            if (gone_[i]) {
                m_.entries.push_back({f.name, f.type, "contracted (identity: its edges join its neighbours)", f.shape,
                                      describe_fields(*f.src)});
                continue;
            }
            if (!is_map(i)) {
                add_state_node(i);
                in_node[i] = f.name;
                continue;
            }
            if (in_[i].empty()) throw error(cat(doc_.path, ": ", f.type, " node '", f.name, "' has no incoming edge"));
            const char* kind = info_of(f.type)->kind;
            if (in_[i].size() == 1 && !is_map(edges_[in_[i][0]].s)) {
                folded[i] = static_cast<std::ptrdiff_t>(in_[i][0]);
                in_node[i] = node(edges_[in_[i][0]].s).name;
                m_.entries.push_back({f.name, f.type, cat("projection(s) ", kind), f.shape, describe_fields(*f.src)});
            } else {
                const shape_t* in = input_shape(i);
                in_node[i] = unique_name(f.name);
                m_.net.add(lmusim::node{in_node[i], in ? product(*in) : 0, default_node_params("analog")});
                m_.entries.push_back({f.name, f.type, cat("node analog '", in_node[i], "' (its summed input) + projection(s) ", kind),
                                      f.shape, describe_fields(*f.src)});
            }
            if (out_[i].empty()) m_.notes.push_back(cat(f.type, " node '", f.name, "' has no outgoing edge: it computes nothing"));
        }
        // One projection per edge that ends at an lmusim node, grouped by target in evaluation
        // order; a target's incoming edges in the order of their source names (its input is their
        // sum, docs/nir.md); a map's edge carries the map (its sum from zero, then its bias).
        for (std::size_t t : eval_) {
            if (gone_[t] || (is_map(t) && folded[t] >= 0)) continue;
            std::vector<std::size_t> ins = in_[t];
            std::stable_sort(ins.begin(), ins.end(), [&](std::size_t a, std::size_t b) {
                return node(edges_[a].s).name < node(edges_[b].s).name;
            });
            for (std::size_t k : ins) {
                const std::size_t s = edges_[k].s;
                std::uint32_t delay = edges_[k].delay;
                const std::string& tn = in_node[t];
                if (!is_map(s)) {
                    projection pr;
                    pr.name = unique_name(cat(node(s).name, "->", node(t).name));
                    pr.source = in_node[s];
                    pr.target = tn;
                    pr.kind = connectivity::identity;
                    pr.delay = delay;
                    m_.net.connect(std::move(pr));
                    continue;
                }
                if (folded[s] >= 0) delay += edges_[static_cast<std::size_t>(folded[s])].delay;
                const std::string nm = unique_name(out_[s].size() == 1 ? node(s).name : cat(node(s).name, "->", node(t).name));
                m_.net.connect(map_projection(s, nm, in_node[s], tn, delay, true));
            }
        }
        if (m_.inputs.empty()) throw error(cat(doc_.path, ": the graph has no Input node"));
        if (m_.outputs.empty()) throw error(cat(doc_.path, ": the graph has no Output node"));
        std::vector<std::size_t> by_name(m_.inputs.size());
        std::iota(by_name.begin(), by_name.end(), 0);
        std::sort(by_name.begin(), by_name.end(), [&](std::size_t a, std::size_t b) { return m_.inputs[a] < m_.inputs[b]; });
        std::vector<std::string> names;
        std::vector<shape_t> shapes;
        for (std::size_t j : by_name) {
            names.push_back(m_.inputs[j]);
            shapes.push_back(m_.input_shapes[j]);
        }
        m_.inputs = std::move(names);
        m_.input_shapes = std::move(shapes);
        std::sort(m_.outputs.begin(), m_.outputs.end());
        m_.logits = m_.outputs.front();
        if (opt_.readout_sum) {  // a counter after the first Output: its value is the sum so far
            m_.logits = unique_name(m_.outputs.front() + ".sum");
            m_.net.add(lmusim::node{m_.logits, m_.net.find_node(m_.outputs.front()).size, default_node_params("spike_count")});
            projection pr;
            pr.name = unique_name(cat(m_.outputs.front(), "->", m_.logits));
            pr.source = m_.outputs.front();
            pr.target = m_.logits;
            pr.kind = connectivity::identity;
            m_.net.connect(std::move(pr));
        }
        m_.net.validate();
    }
};

}  // namespace

nir_model lower_nir(const nir_document& doc, const nir_options& options) { return lowering(doc, options).run(); }

}  // namespace lmusim
