#include "lmusim/io/clip_writer.hpp"

#include <algorithm>
#include <array>

#include "h5.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

struct clip_writer::impl {
    std::string path;
    output_file out;  // the claim on `path`; the file is written at out.partial()
    h5::file file;
    clip_writer_options opt;
    std::size_t frames = 0, classes = 0;
    std::vector<std::size_t> spiking;   // spiking node indices
    h5::appender logits, frame_logits, predictions;
    std::array<h5::appender, op_count_fields.size()> proj_ops, node_ops;  // per op_count_fields entry
    std::vector<h5::appender> per_frame;                              // per spiking node: [clips, frames]
    std::vector<h5::appender> counts;                // per spiking node: [clips, size]
    std::vector<std::size_t> out_nodes;              // node_outputs' node indices
    std::vector<h5::appender> outputs;               // per node_outputs entry: [clips, frames, size]
    std::vector<h5::appender> sp_t, sp_id, sp_clip;  // per spiking node
    h5::handle status;
    std::uint64_t clips_done = 0;
};

clip_writer::clip_writer(std::string path, const simulation& sim, std::size_t frames, std::size_t classes,
                         clip_writer_options options)
    : impl_(std::make_unique<impl>()) {
    h5::quiet q;
    impl& m = *impl_;
    m.path = std::move(path);
    m.opt = std::move(options);
    m.frames = frames;
    m.classes = classes;
    m.out = output_file(m.path, m.opt.existing, output_file::leftover::data);
    m.file = h5::create_file(m.out.partial());
    const hid_t root = m.file.h.id();
    const network& net = sim.net();
    h5::write_header(root, "lmusim-clips", 1);
    h5::write_attr(root, "network", net.name);
    h5::write_attr(root, "frames", std::uint64_t{frames});
    h5::write_attr(root, "frame_ms", net.dt);
    h5::write_attr(root, "started_utc", h5::utc_now());
    for (const auto& [k, v] : m.opt.attributes) h5::write_attr(root, k, v);
    h5::write_static_metrics(root, net);
    if (!m.opt.class_names.empty()) h5::write_strings(root, "class_names", m.opt.class_names);
    m.logits = h5::appender(root, "logits", H5T_NATIVE_FLOAT, 64, {classes});
    m.frame_logits = h5::appender(root, "frame_logits", H5T_NATIVE_FLOAT, 8, {frames, classes});
    m.predictions = h5::appender(root, "predictions", H5T_NATIVE_INT64, 1024);

    std::vector<std::string> pop_names, proj_names, node_names;
    std::vector<std::uint64_t> pop_sizes;
    for (std::size_t i = 0; i < net.nodes.size(); ++i) {
        const node& nd = net.nodes[i];
        if (nd.spiking()) {
            m.spiking.push_back(i);
            pop_names.push_back(nd.name);
            pop_sizes.push_back(nd.size);
        }
        node_names.push_back(nd.name);
    }
    std::vector<std::string> proj_src, proj_tgt, node_kinds;
    for (const projection& p : net.projections) {
        proj_names.push_back(p.name);
        proj_src.push_back(p.source);
        proj_tgt.push_back(p.target);
    }
    for (const node& nd : net.nodes) node_kinds.push_back(std::string(nd.kind()));
    h5::handle counts = h5::create_group(root, "spike_counts");
    h5::write_strings(counts.id(), "populations", pop_names);
    h5::write<std::uint64_t>(counts.id(), "sizes", pop_sizes);
    h5::write<std::uint8_t>(counts.id(), "neurons", h5::neuron_flags(net));
    h5::handle per = h5::create_group(counts.id(), "per_neuron");
    for (std::size_t i : m.spiking)
        m.counts.emplace_back(per.id(), net.nodes[i].name, H5T_NATIVE_UINT64, 16, std::vector<hsize_t>{net.nodes[i].size});
    h5::handle ops = h5::create_group(root, "ops");
    h5::write_strings(ops.id(), "projections", proj_names);
    h5::write_strings(ops.id(), "sources", proj_src);
    h5::write_strings(ops.id(), "targets", proj_tgt);
    const hsize_t P = proj_names.size(), N = node_names.size();
    for (std::size_t k = 0; k < op_count_fields.size(); ++k)
        if (op_count_fields[k].per_projection)
            m.proj_ops[k] = h5::appender(ops.id(), op_count_fields[k].name, H5T_NATIVE_UINT64, 256, {P});
    h5::write_strings(ops.id(), "nodes", node_names);
    h5::write_strings(ops.id(), "node_kinds", node_kinds);
    for (std::size_t k = 0; k < op_count_fields.size(); ++k)
        if (op_count_fields[k].per_node)
            m.node_ops[k] = h5::appender(ops.id(), cat("node_", op_count_fields[k].name), H5T_NATIVE_UINT64, 256, {N});
    if (m.opt.per_frame_counts) {
        h5::handle pf = h5::create_group(counts.id(), "per_frame");
        for (std::size_t i : m.spiking) m.per_frame.emplace_back(pf.id(), net.nodes[i].name, H5T_NATIVE_UINT64, 16, std::vector<hsize_t>{frames});
    }
    if (m.opt.spikes) {
        h5::write_attr<std::uint32_t>(root, "magic", 0x0A7A);
        const std::uint32_t version[2] = {0, 1};
        h5::write_attr_array<std::uint32_t>(root, "version", version);
        h5::handle spikes = h5::create_group(root, "spikes");
        for (std::size_t i : m.spiking) {
            h5::handle g = h5::create_group(spikes.id(), net.nodes[i].name);
            m.sp_t.emplace_back(g.id(), "timestamps", H5T_NATIVE_DOUBLE, 16384);
            h5::write_attr(m.sp_t.back().id(), "units", std::string("ms"));
            m.sp_id.emplace_back(g.id(), "node_ids", H5T_NATIVE_UINT64, 16384);
            m.sp_clip.emplace_back(g.id(), "stream_ids", H5T_NATIVE_UINT32, 16384);
        }
    }
    if (!m.opt.node_outputs.empty()) {
        h5::handle og = h5::create_group(root, "outputs");
        for (const std::string& name : m.opt.node_outputs) {
            const std::size_t i = net.node_index(name);
            if (net.nodes[i].spiking()) throw error(cat("output node '", name, "' emits spikes, expected a value node"));
            m.out_nodes.push_back(i);
            m.outputs.emplace_back(og.id(), name, H5T_NATIVE_FLOAT, 8, std::vector<hsize_t>{frames, net.nodes[i].size});
        }
    }
    m.status = h5::create_group(root, "status");
    h5::write_scalar_u64(m.status.id(), "clips_done", 0);
    h5::write_scalar_u64(m.status.id(), "complete", 0);
    h5::flush(m.file);
}

clip_writer::~clip_writer() = default;

void clip_writer::write_batch(const batch_result& b) {
    h5::quiet q;
    impl& m = *impl_;
    const std::size_t C = m.classes, T = m.frames, clips = b.clips;
    if (b.frames != T || b.classes != C || b.first != m.clips_done)
        throw internal_error(cat("clip_writer: batch of clips ", b.first, "+", clips, " with ", b.frames, " frames x ", b.classes,
                                 " outputs; expected clip ", m.clips_done, ", ", T, " x ", C));
    std::vector<float> last(clips * C);
    std::vector<std::int64_t> pred(clips);
    for (std::size_t s = 0; s < clips; ++s) {
        const float* z = b.logits(s);
        std::copy_n(z, C, last.data() + s * C);
        pred[s] = std::max_element(z, z + C) - z;
    }
    m.logits.append(last.data(), clips);
    m.frame_logits.append(b.frame_logits.data(), clips);
    m.predictions.append(pred.data(), clips);
    for (std::size_t k = 0; k < m.spiking.size(); ++k) m.counts[k].append(b.spike_counts.at(k).data(), clips);
    std::vector<std::uint64_t> rows;
    for (std::size_t k = 0; k < op_count_fields.size(); ++k) {
        const auto member = op_count_fields[k].member;
        if (m.proj_ops[k]) {
            rows.resize(b.ops.size());
            for (std::size_t e = 0; e < rows.size(); ++e) rows[e] = b.ops[e].*member;
            m.proj_ops[k].append(rows.data(), clips);
        }
        if (!m.node_ops[k]) continue;
        rows.resize(b.node_ops.size());
        for (std::size_t e = 0; e < rows.size(); ++e) rows[e] = b.node_ops[e].*member;
        m.node_ops[k].append(rows.data(), clips);
    }
    for (std::size_t k = 0; k < m.opt.node_outputs.size(); ++k) {
        const auto it = std::find(b.value_nodes.begin(), b.value_nodes.end(), m.opt.node_outputs[k]);
        if (it == b.value_nodes.end())
            throw internal_error(cat("clip_writer: the batch has no values of output node '", m.opt.node_outputs[k], "'"));
        m.outputs[k].append(b.values[static_cast<std::size_t>(it - b.value_nodes.begin())].data(), clips);
    }
    if (m.opt.per_frame_counts)
        for (std::size_t k = 0; k < m.spiking.size(); ++k) m.per_frame[k].append(b.per_frame.at(k).data(), clips);
    if (m.opt.spikes)
        for (std::size_t k = 0; k < m.spiking.size(); ++k) {
            const batch_result::spike_list& l = b.spikes.at(k);
            m.sp_t[k].append(l.t.data(), l.t.size());
            m.sp_id[k].append(l.id.data(), l.id.size());
            m.sp_clip[k].append(l.clip.data(), l.clip.size());
        }
    m.clips_done += clips;
    // The growing datasets' chunks first, one by one: if the disk is full the file is sealed at its
    // last flushed state before HDF5 updates the file's size in the superblock.
    std::vector<h5::appender*> growing{&m.logits, &m.frame_logits, &m.predictions};
    for (auto* ops : {&m.proj_ops, &m.node_ops})
        for (h5::appender& a : *ops)
            if (a) growing.push_back(&a);
    for (auto* v : {&m.counts, &m.per_frame, &m.sp_t, &m.sp_id, &m.sp_clip, &m.outputs})
        for (auto& a : *v) growing.push_back(&a);
    for (h5::appender* a : growing)
        if (!a->flush()) {
            h5::seal(m.file);
            throw file_error(cat("cannot write '", m.file.path, "': file too large or disk full; it keeps the ",
                                 m.clips_done - clips, " clips written before"));
        }
    // Data first, then the status that declares it finished (docs/output_format.md).
    h5::flush(m.file);
    h5::write_scalar_u64(m.status.id(), "clips_done", m.clips_done);
    h5::flush(m.file);
}

void clip_writer::close(bool complete) {
    h5::quiet q;
    impl& m = *impl_;
    h5::write_scalar_u64(m.status.id(), "complete", complete ? 1 : 0);
    h5::flush(m.file);
    // Close every object, then the file, then move it into place.
    for (auto* v : {&m.per_frame, &m.counts, &m.sp_t, &m.sp_id, &m.sp_clip, &m.outputs}) v->clear();
    for (h5::appender* a : {&m.logits, &m.frame_logits, &m.predictions}) *a = h5::appender();
    for (auto* ops : {&m.proj_ops, &m.node_ops})
        for (h5::appender& a : *ops) a = h5::appender();
    m.status.reset();
    m.file.h.reset();
    m.out.commit();
}

clip_sink_factory clip_output(std::string path, clip_writer_options options) {
    return [path = std::move(path), options = std::move(options)](const simulation& sim, std::size_t frames,
                                                                   std::size_t classes) -> std::unique_ptr<clip_sink> {
        return std::make_unique<clip_writer>(path, sim, frames, classes, options);
    };
}

}  // namespace lmusim
