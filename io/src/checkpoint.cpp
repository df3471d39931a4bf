#include "lmusim/io/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <type_traits>
#include <vector>

#include "h5.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {
namespace {

using h5::handle;

// What must match between the network that wrote a checkpoint and the one restoring it.
std::vector<std::string> node_fingerprint(const network& net) {
    std::vector<std::string> out;
    for (const node& nd : net.nodes) out.push_back(cat(nd.name, " ", nd.kind(), " ", nd.size));
    return out;
}

std::vector<std::string> projection_fingerprint(const network& net) {
    std::vector<std::string> out;
    for (const projection& p : net.projections)
        out.push_back(cat(p.name, " ", p.source, "->", p.target, " ", to_string(p.kind), " delay ", p.delay, " port ", p.port,
                          " kernel ", p.kernel));
    return out;
}

std::string dims_text(const std::vector<hsize_t>& d) {
    std::string s = "[";
    for (std::size_t i = 0; i < d.size(); ++i) s += cat(i ? ", " : "", d[i]);
    return s + "]";
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Arrays whose first dimension depends on the run (lists of spikes, inputs, queued frames).
bool variable_rows(const std::string& key) {
    for (const char* suffix : {"/history_spikes", "/events_frame", "/events_value", "/queued"})
        if (ends_with(key, suffix)) return true;
    return false;
}

// Upper bound on the first dimension of a variable-length array read from a file (2^28 values).
constexpr hsize_t max_variable_values = hsize_t{1} << 28;

void write_file(output_file& out, const network& net, std::size_t streams, std::uint64_t steps, const char* kind,
                const state_store& st, const checkpoint_options& opt) {
    h5::quiet q;
    h5::write_atomically(out, "checkpoint", [&](const hid_t root) {
        h5::write_header(root, "lmusim-checkpoint", checkpoint_format_version);
        h5::write_attr(root, "kind", std::string(kind));
        h5::write_attr(root, "network", net.name);
        h5::write_attr(root, "dt_ms", net.dt);
        h5::write_attr(root, "streams", std::uint64_t{streams});
        h5::write_attr(root, "steps_done", steps);
        h5::write_attr(root, "created", h5::utc_now());
        if (!opt.model_sha256.empty()) h5::write_attr(root, "model_sha256", opt.model_sha256);
        for (const auto& [k, v] : opt.attributes) h5::write_attr(root, k, v);
        {
            handle fp = h5::create_group(root, "fingerprint");
            h5::write_strings(fp.id(), "nodes", node_fingerprint(net));
            h5::write_strings(fp.id(), "projections", projection_fingerprint(net));
        }
        // Every key "a/b/c" becomes dataset /a/b/c; groups are created on first use.
        std::map<std::string, handle> groups;
        auto group_of = [&](const std::string& dir) -> hid_t {
            hid_t parent = root;
            std::size_t from = 0;
            while (true) {
                const std::size_t slash = dir.find('/', from);
                const std::string prefix = dir.substr(0, slash);
                auto it = groups.find(prefix);
                if (it == groups.end())
                    it = groups.emplace(prefix, h5::create_group(parent, prefix.substr(from))).first;
                parent = it->second.id();
                if (slash == std::string::npos) return parent;
                from = slash + 1;
            }
        };
        for (const auto& [key, e] : st.entries()) {
            const std::size_t slash = key.rfind('/');
            const hid_t g = slash == std::string::npos ? root : group_of(key.substr(0, slash));
            const std::string leaf = slash == std::string::npos ? key : key.substr(slash + 1);
            const std::vector<hsize_t> dims(e.shape.begin(), e.shape.end());
            std::visit(
                [&](const auto& v) {
                    using T = typename std::decay_t<decltype(v)>::value_type;
                    h5::write<T>(g, leaf, std::span<const T>(v), dims, v.size() > 4096);
                },
                e.data);
        }
    });
}

void compare_lists(const std::string& path, const std::string& what, const std::vector<std::string>& file,
                   const std::vector<std::string>& here, const network& net) {
    if (file.size() != here.size())
        throw file_error(cat(path, ": checkpoint of a different network: dataset 'fingerprint/", what, "' has shape [",
                             file.size(), "], expected [", here.size(), "] (", what, " of network '", net.name, "')"));
    for (std::size_t i = 0; i < file.size(); ++i)
        if (file[i] != here[i])
            throw file_error(cat(path, ": checkpoint of a different network: 'fingerprint/", what, "'[", i, "] is '", file[i],
                                 "', expected '", here[i], "'"));
}

// Reads the checkpoint's header and every array `expected` names (same keys, dtypes and shapes,
// except the first dimension of variable-length lists) into `out`.
checkpoint_info read_file(const std::string& path, const network& net, std::size_t streams, const state_store& expected,
                          state_store& out, const checkpoint_options& opt) {
    h5::quiet q;
    h5::probe_in_child(path);  // before opening: see load_network
    h5::file f = h5::open_file(path, false);
    const hid_t root = f.h.id();
    const std::string format = h5::read_attr_string(f, root, "format", "/");
    if (format != "lmusim-checkpoint")
        throw file_error(cat(path, ": attribute format = '", format, "', expected 'lmusim-checkpoint'"));
    const auto version = h5::read_attr<std::int64_t>(f, root, "format_version", "/");
    if (version != checkpoint_format_version)
        throw file_error(cat(path, ": checkpoint format_version ", version, " is not supported (this lmusim reads version ",
                             checkpoint_format_version, ")"));
    checkpoint_info info;
    info.kind = h5::read_attr_string(f, root, "kind", "/");
    info.steps_done = h5::read_attr<std::uint64_t>(f, root, "steps_done", "/");
    info.created = h5::read_attr_string(f, root, "created", "/");
    if (h5::has_attr(root, "model_sha256")) info.model_sha256 = h5::read_attr_string(f, root, "model_sha256", "/");

    const auto file_streams = h5::read_attr<std::uint64_t>(f, root, "streams", "/");
    if (file_streams != streams)
        throw file_error(cat(path, ": the checkpoint holds ", file_streams, " stream(s), this simulation runs ", streams));
    const double dt = h5::read_attr<double>(f, root, "dt_ms", "/");
    if (dt != net.dt)
        throw file_error(cat(path, ": checkpoint of a network with dt ", dt, " ms, this one has dt ", net.dt, " ms"));
    {
        handle fp = h5::open_group(f, root, "fingerprint", "/fingerprint");
        compare_lists(path, "nodes", h5::read_strings(f, fp.id(), "nodes", "fingerprint/nodes"), node_fingerprint(net), net);
        compare_lists(path, "projections", h5::read_strings(f, fp.id(), "projections", "fingerprint/projections"),
                      projection_fingerprint(net), net);
    }
    if (!opt.model_sha256.empty() && !info.model_sha256.empty() && opt.model_sha256 != info.model_sha256)
        throw file_error(cat(path, ": checkpoint of model sha256 ", info.model_sha256, ", this one is ", opt.model_sha256));

    for (const auto& entry : expected.entries()) {
        const std::string& key = entry.first;  // (not a structured binding: lambdas below capture it)
        const state_store::entry& e = entry.second;
        const std::vector<hsize_t> want(e.shape.begin(), e.shape.end());
        const std::vector<hsize_t> dims = h5::shape(f, root, key, key);
        const bool rows_free = variable_rows(key);
        bool fits = dims.size() == want.size();
        for (std::size_t d = rows_free ? 1 : 0; fits && d < dims.size(); ++d) fits = dims[d] == want[d];
        if (fits && rows_free) {
            hsize_t count = 1;
            for (hsize_t d : dims) count *= d == 0 ? 1 : d;
            fits = count <= max_variable_values;
        }
        if (!fits) {
            std::string want_text = dims_text(want);
            if (rows_free) want_text = "[n" + want_text.substr(want_text.find_first_of(",]"));
            throw file_error(cat(path, ": dataset '", key, "' has shape ", dims_text(dims), ", expected ", want_text));
        }
        std::visit(
            [&](const auto& v) {
                using T = typename std::decay_t<decltype(v)>::value_type;
                std::vector<T> data = h5::read<T>(f, root, key, key, &dims);
                out.insert(key, state_store::entry{state_store::shape_t(dims.begin(), dims.end()), std::move(data)});
            },
            e.data);
    }
    return info;
}

template <class Target>
checkpoint_info load_into(Target& target, const simulation& sim, const std::string& path, const checkpoint_options& opt) {
    state_store expected, store;
    target.save_state(expected);  // the keys, dtypes and shapes this simulation needs
    const checkpoint_info info = read_file(path, sim.net(), sim.ctx().streams, expected, store, opt);
    try {
        target.restore_state(store);
    } catch (const state_error& e) {
        throw file_error(cat(path, ": ", e.what()));
    }
    return info;
}

}  // namespace

void save_checkpoint(const simulation& sim, output_file& out, const checkpoint_options& options) {
    state_store st;
    sim.save_state(st);
    write_file(out, sim.net(), sim.ctx().streams, sim.steps_done(), "simulation", st, options);
}

void save_checkpoint(const clip_runner& runner, output_file& out, const checkpoint_options& options) {
    state_store st;
    runner.save_state(st);
    const simulation& sim = runner.sim();
    write_file(out, sim.net(), sim.ctx().streams, sim.steps_done(), "stream", st, options);
}

void save_checkpoint(const simulation& sim, const std::string& path, const checkpoint_options& options) {
    output_file out(path, options.existing);
    save_checkpoint(sim, out, options);
}

void save_checkpoint(const clip_runner& runner, const std::string& path, const checkpoint_options& options) {
    output_file out(path, options.existing);
    save_checkpoint(runner, out, options);
}

checkpoint_info load_checkpoint(simulation& sim, const std::string& path, const checkpoint_options& options) {
    return load_into(sim, sim, path, options);
}

checkpoint_info load_checkpoint(clip_runner& runner, const std::string& path, const checkpoint_options& options) {
    return load_into(runner, runner.sim(), path, options);
}

}  // namespace lmusim
