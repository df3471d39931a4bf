#include "lmusim/io/activity_file.hpp"

#include <algorithm>

#include "h5.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {
namespace {

// A [clips, cols] (or [cols]) uint64 dataset as per-column means over clips.
std::vector<double> column_means(const h5::file& f, hid_t g, const std::string& name, const std::string& where,
                                 std::size_t cols) {
    const auto dims = h5::shape(f, g, name, where);
    const auto v = h5::read<std::uint64_t>(f, g, name, where);
    std::vector<double> out(cols, 0.0);
    if (cols == 0) return out;
    const std::size_t rows = v.size() / cols;
    if (v.size() != rows * cols || dims.back() != cols)
        throw file_error(cat(f.path, ": dataset '", where, "' does not have ", cols, " columns"));
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) out[c] += static_cast<double>(v[r * cols + c]);
    if (rows > 0)
        for (double& x : out) x /= static_cast<double>(rows);
    return out;
}

}  // namespace

activity read_activity(const std::string& path) {
    h5::quiet q;
    h5::probe_in_child(path);  // before opening: see load_network
    h5::file f = h5::open_file(path, false);
    const hid_t root = f.h.id();
    activity r;
    r.file = path;
    r.format = h5::read_attr_string(f, root, "format", "/");
    if (h5::has_attr(root, "network")) r.network = h5::read_attr_string(f, root, "network", "/");
    if (h5::has_attr(root, "weights")) r.weights = h5::read_attr_string(f, root, "weights", "/");
    const bool clips_file = r.format == "lmusim-clips";
    if (!clips_file && r.format != "lmusim-recording")
        throw file_error(cat(path, ": format '", r.format, "' is neither a clip output (lmusim-clips) nor a recording (lmusim-recording)"));
    h5::handle ops = h5::open_group(f, root, "ops", "/ops");
    const auto proj = h5::read_strings(f, ops.id(), "projections", "/ops/projections");
    const auto src = h5::read_strings(f, ops.id(), "sources", "/ops/sources");
    const auto tgt = h5::read_strings(f, ops.id(), "targets", "/ops/targets");
    const auto nodes = h5::read_strings(f, ops.id(), "nodes", "/ops/nodes");
    const auto kinds = h5::read_strings(f, ops.id(), "node_kinds", "/ops/node_kinds");
    const std::size_t P = proj.size(), N = nodes.size();
    auto mean = [&](const std::string& name, std::size_t cols) { return column_means(f, ops.id(), name, "/ops/" + name, cols); };
    r.projections.resize(P);
    r.nodes.resize(N);
    for (std::size_t p = 0; p < P; ++p) r.projections[p] = {proj[p], src[p], tgt[p], {}};
    for (std::size_t i = 0; i < N; ++i) r.nodes[i] = {nodes[i], kinds[i], {}};
    // Fields after the first op_count_fields_v1 are absent from older files: then 0.
    auto present = [&](std::size_t k, const std::string& name) { return k < op_count_fields_v1 || h5::exists(ops.id(), name); };
    for (std::size_t k = 0; k < op_count_fields.size(); ++k) {
        const std::string name = op_count_fields[k].name, node_name = cat("node_", name);
        if (op_count_fields[k].per_projection && present(k, name)) {
            const auto v = mean(name, P);
            for (std::size_t p = 0; p < P; ++p) r.projections[p].ops[k] = v[p];
        }
        if (op_count_fields[k].per_node && present(k, node_name)) {
            const auto w = mean(node_name, N);
            for (std::size_t i = 0; i < N; ++i) r.nodes[i].ops[k] = w[i];
        }
    }

    for (auto [name, value] : {std::pair{"footprint_bytes", &r.footprint_bytes}, {"connection_zeros", &r.connection_zeros},
                               {"connection_weights", &r.connection_weights}})
        if (h5::has_attr(root, name)) *value = static_cast<double>(h5::read_attr<std::uint64_t>(f, root, name, "/"));

    // Populations: spikes per clip and firing rate.
    if (clips_file) {
        r.frames = h5::read_attr<std::uint64_t>(f, root, "frames", "/");
        h5::handle sc = h5::open_group(f, root, "spike_counts", "/spike_counts");
        const auto pops = h5::read_strings(f, sc.id(), "populations", "/spike_counts/populations");
        const auto sizes = h5::read<std::uint64_t>(f, sc.id(), "sizes", "/spike_counts/sizes");
        const auto neurons = h5::exists(sc.id(), "neurons") ? h5::read<std::uint8_t>(f, sc.id(), "neurons", "/spike_counts/neurons")
                                                             : std::vector<std::uint8_t>(pops.size(), 1);
        h5::handle per = h5::open_group(f, sc.id(), "per_neuron", "/spike_counts/per_neuron");
        for (std::size_t k = 0; k < pops.size(); ++k) {
            const auto dims = h5::shape(f, per.id(), pops[k], "/spike_counts/per_neuron/" + pops[k]);
            const auto v = h5::read<std::uint64_t>(f, per.id(), pops[k], "/spike_counts/per_neuron/" + pops[k]);
            r.clips = dims.empty() ? 0 : dims[0];
            double total = 0;
            for (std::uint64_t x : v) total += static_cast<double>(x);
            report_population p{pops[k], sizes[k], r.clips ? total / static_cast<double>(r.clips) : 0.0, 0.0};
            p.rate = (r.frames && p.size) ? p.spikes / static_cast<double>(p.size * r.frames) : 0.0;
            p.neurons = k < neurons.size() ? neurons[k] != 0 : true;
            // Every neuron is updated once per frame (nodes run every frame of a clip).
            p.neuron_updates = p.neurons ? static_cast<double>(p.size) * static_cast<double>(r.frames) : 0.0;
            r.populations.push_back(p);
        }
    } else {
        r.clips = h5::read_attr<std::uint64_t>(f, root, "streams", "/");
        h5::handle st = h5::open_group(f, root, "status", "/status");
        r.frames = h5::read<std::uint64_t>(f, st.id(), "steps_done", "/status/steps_done").at(0);
        h5::handle c = h5::open_group(f, root, "counts", "/counts");
        const auto pops = h5::read_strings(f, c.id(), "populations", "/counts/populations");
        const auto sizes = h5::read<std::uint64_t>(f, c.id(), "sizes", "/counts/sizes");
        const auto neurons = h5::exists(c.id(), "neurons") ? h5::read<std::uint8_t>(f, c.id(), "neurons", "/counts/neurons")
                                                            : std::vector<std::uint8_t>(pops.size(), 1);
        const auto spikes = h5::read<std::uint64_t>(f, c.id(), "total_spikes", "/counts/total_spikes");
        const auto updates = h5::read<std::uint64_t>(f, c.id(), "neuron_updates", "/counts/neuron_updates");
        for (std::size_t k = 0; k < pops.size(); ++k) {
            report_population p{pops[k], sizes[k], static_cast<double>(spikes[k]) / static_cast<double>(std::max<std::uint64_t>(r.clips, 1)),
                                updates[k] ? static_cast<double>(spikes[k]) / static_cast<double>(updates[k]) : 0.0};
            p.neurons = k < neurons.size() ? neurons[k] != 0 : true;
            p.neuron_updates =
                p.neurons ? static_cast<double>(updates[k]) / static_cast<double>(std::max<std::uint64_t>(r.clips, 1)) : 0.0;
            r.populations.push_back(p);
        }
    }

    return r;
}

energy_report make_report(const std::string& path, const energy_model& model, bool include_elementwise) {
    return make_report(read_activity(path), model, include_elementwise);
}

}  // namespace lmusim
