#include "lmusim/io/h5_recorder.hpp"

#include <vector>

#include "h5.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {
namespace {


// SONATA's "sorting" attribute: an enum on uint8 (none = 0, by_id = 1, by_time = 2).
void write_sorting_by_time(hid_t obj) {
    h5::handle type(H5Tenum_create(H5T_NATIVE_UINT8), H5Tclose);
    std::uint8_t v = 0;
    H5Tenum_insert(type.id(), "none", &v);
    v = 1;
    H5Tenum_insert(type.id(), "by_id", &v);
    v = 2;
    H5Tenum_insert(type.id(), "by_time", &v);
    h5::handle space(H5Screate(H5S_SCALAR), H5Sclose);
    h5::handle a(H5Acreate2(obj, "sorting", type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    H5Awrite(a.id(), type.id(), &v);
}

}  // namespace

struct h5_recorder::impl {
    std::string path;
    h5_recorder_options opt;
    output_file out;  // the claim on `path`; the file is written at out.partial()
    h5::file file;
    struct pop_rec {
        std::size_t node = 0;
        h5::appender times, ids, streams;
        std::vector<double> buf_t;
        std::vector<std::uint64_t> buf_id;
        std::vector<std::uint32_t> buf_stream;
    };
    std::vector<pop_rec> pops;
    h5::handle counts_group, per_neuron_group, ops_group, status_group;
    std::uint64_t steps_in_chunk = 0;
    std::uint64_t start_step = 0, steps_requested = 0, steps_flushed = 0;
    std::size_t buffered = 0;
    bool open = false;

    void flush(const simulation& sim, bool complete) {
        for (pop_rec& p : pops) {
            p.times.append(p.buf_t.data(), p.buf_t.size());
            p.ids.append(p.buf_id.data(), p.buf_id.size());
            if (sim.ctx().streams > 1) p.streams.append(p.buf_stream.data(), p.buf_stream.size());
            p.buf_t.clear();
            p.buf_id.clear();
            p.buf_stream.clear();
        }
        buffered = 0;
        steps_in_chunk = 0;
        // Spike chunks first: if the disk is full the file is sealed at its last flushed state.
        for (pop_rec& p : pops)
            for (h5::appender* a : {&p.times, &p.ids, &p.streams})
                if (*a && !a->flush()) {
                    h5::seal(file);
                    throw file_error(cat("cannot write '", file.path, "': file too large or disk full; it keeps the first ",
                                         steps_flushed, " steps"));
                }
        write_counts(sim);
        // Data first, then the status that declares it finished: a run killed between the two
        // flushes leaves steps_done at the previous chunk, with every spike of that chunk on disk.
        h5::flush(file);
        h5::write_scalar_u64(status_group.id(), "steps_done", sim.steps_done());
        steps_flushed = sim.steps_done();
        h5::write_scalar_u64(status_group.id(), "complete", complete ? 1 : 0);
        h5::flush(file);
    }

    // Fixed-size datasets, overwritten at every flush.
    void write_counts(const simulation& sim) {
        const network& net = sim.net();
        const std::size_t S = sim.ctx().streams;
        std::vector<std::uint64_t> totals, updates;
        for (std::size_t i = 0; i < net.nodes.size(); ++i) {
            if (!net.nodes[i].spiking()) continue;
            const auto c = sim.spike_counts(i);
            overwrite(per_neuron_group.id(), net.nodes[i].name, std::vector<std::uint64_t>(c.begin(), c.end()),
                      {S, net.nodes[i].size});
            totals.push_back(sim.total_spikes(i));
            updates.push_back(sim.neuron_updates(i));
        }
        overwrite(counts_group.id(), "total_spikes", totals, {totals.size()});
        overwrite(counts_group.id(), "neuron_updates", updates, {updates.size()});
        std::vector<std::uint64_t> v;
        for (const op_count_field& f : op_count_fields) {
            if (!f.per_projection) continue;
            v.clear();
            for (std::size_t p = 0; p < net.projections.size(); ++p) v.push_back(sim.ops(p).*f.member);
            overwrite(ops_group.id(), f.name, v, {v.size()});
        }
        for (const op_count_field& f : op_count_fields) {
            if (!f.per_node) continue;
            v.clear();
            for (std::size_t i = 0; i < net.nodes.size(); ++i) v.push_back(sim.node_ops(i).*f.member);
            overwrite(ops_group.id(), cat("node_", f.name), v, {v.size()});
        }
    }

    static void overwrite(hid_t g, const std::string& name, const std::vector<std::uint64_t>& v, std::vector<hsize_t> dims) {
        if (!h5::exists(g, name)) {
            h5::write<std::uint64_t>(g, name, v, dims);
            return;
        }
        h5::handle ds(H5Dopen2(g, name.c_str(), H5P_DEFAULT), H5Dclose);
        if (!ds || (!v.empty() && H5Dwrite(ds.id(), H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0))
            throw file_error(cat("cannot write dataset '", name, "'"));
    }
};

h5_recorder::h5_recorder(std::string path, h5_recorder_options options) : impl_(std::make_unique<impl>()) {
    if (options.chunk_steps == 0) throw error("h5_recorder: chunk_steps = 0, expected at least 1");
    h5::quiet q;
    impl_->path = std::move(path);
    impl_->opt = std::move(options);
    impl_->out = output_file(impl_->path, impl_->opt.existing, output_file::leftover::data);
    impl_->file = h5::create_file(impl_->out.partial());
}

h5_recorder::~h5_recorder() = default;  // closing the handles closes the file

const std::string& h5_recorder::path() const noexcept { return impl_->path; }

void h5_recorder::begin(const simulation& sim, std::uint64_t steps) {
    h5::quiet q;
    impl& m = *impl_;
    if (m.open) throw error(cat("h5_recorder '", m.path, "': begin() called twice; use one recorder per run"));
    m.open = true;
    m.start_step = sim.steps_done();
    m.steps_requested = steps;
    const network& net = sim.net();
    const hid_t root = m.file.h.id();
    // SONATA root attributes.
    h5::write_attr<std::uint32_t>(root, "magic", 0x0A7A);
    const std::uint32_t version[2] = {0, 1};
    h5::write_attr_array<std::uint32_t>(root, "version", version);
    h5::write_header(root, "lmusim-recording", recording_format_version);
    h5::write_attr(root, "network", net.name);
    h5::write_attr(root, "dt_ms", net.dt);
    h5::write_attr(root, "start_step", std::uint64_t{sim.steps_done()});
    h5::write_attr(root, "steps_requested", std::uint64_t{steps});
    h5::write_attr(root, "streams", std::uint64_t{sim.ctx().streams});
    h5::write_attr(root, "threads", std::uint64_t{sim.threads()});
    h5::write_attr(root, "chunk_steps", std::uint64_t{m.opt.chunk_steps});
    h5::write_attr(root, "started_utc", h5::utc_now());
    for (const auto& [k, v] : m.opt.attributes) h5::write_attr(root, k, v);
    h5::write_static_metrics(root, net);

    std::vector<std::string> pop_names, proj_names, proj_src, proj_tgt;
    std::vector<std::uint64_t> pop_sizes;
    for (const node& nd : net.nodes)
        if (nd.spiking()) {
            pop_names.push_back(nd.name);
            pop_sizes.push_back(nd.size);
        }
    for (const projection& p : net.projections) {
        proj_names.push_back(p.name);
        proj_src.push_back(p.source);
        proj_tgt.push_back(p.target);
    }
    m.counts_group = h5::create_group(root, "counts");
    h5::write_strings(m.counts_group.id(), "populations", pop_names);
    h5::write<std::uint64_t>(m.counts_group.id(), "sizes", pop_sizes);
    h5::write<std::uint8_t>(m.counts_group.id(), "neurons", h5::neuron_flags(net));
    m.per_neuron_group = h5::create_group(m.counts_group.id(), "per_neuron");
    m.ops_group = h5::create_group(root, "ops");
    h5::write_strings(m.ops_group.id(), "projections", proj_names);
    h5::write_strings(m.ops_group.id(), "sources", proj_src);
    h5::write_strings(m.ops_group.id(), "targets", proj_tgt);
    std::vector<std::string> node_names, node_kinds;
    for (const node& nd : net.nodes) {
        node_names.push_back(nd.name);
        node_kinds.push_back(std::string(nd.kind()));
    }
    h5::write_strings(m.ops_group.id(), "nodes", node_names);
    h5::write_strings(m.ops_group.id(), "node_kinds", node_kinds);
    m.status_group = h5::create_group(root, "status");

    if (m.opt.spike_times) {
        h5::handle spikes = h5::create_group(root, "spikes");
        for (std::size_t i = 0; i < net.nodes.size(); ++i) {
            if (!net.nodes[i].spiking()) continue;
            h5::handle g = h5::create_group(spikes.id(), net.nodes[i].name);
            write_sorting_by_time(g.id());
            impl::pop_rec p;
            p.node = i;
            const hsize_t chunk = 16384;
            p.times = h5::appender(g.id(), "timestamps", H5T_NATIVE_DOUBLE, chunk);
            h5::write_attr(p.times.id(), "units", std::string("ms"));
            p.ids = h5::appender(g.id(), "node_ids", H5T_NATIVE_UINT64, chunk);
            if (sim.ctx().streams > 1)
                p.streams = h5::appender(g.id(), "stream_ids", H5T_NATIVE_UINT32, chunk);
            m.pops.push_back(std::move(p));
        }
    }
    m.flush(sim, false);
}

void h5_recorder::record_step(const simulation& sim) {
    impl& m = *impl_;
    for (impl::pop_rec& p : m.pops) {
        if (!sim.was_active(p.node)) continue;
        // Frame time: a node with latency L processes frame step - L (0 for plain networks).
        const double t = static_cast<double>(sim.last_frame(p.node)) * sim.net().dt;
        for (std::size_t s = 0; s < sim.ctx().streams; ++s) {
            const auto spk = sim.spikes(p.node, s);
            p.buf_t.insert(p.buf_t.end(), spk.size(), t);
            p.buf_id.insert(p.buf_id.end(), spk.begin(), spk.end());
            if (sim.ctx().streams > 1) p.buf_stream.insert(p.buf_stream.end(), spk.size(), static_cast<std::uint32_t>(s));
            m.buffered += spk.size();
        }
    }
    if (++m.steps_in_chunk >= m.opt.chunk_steps || m.buffered >= m.opt.max_buffered_spikes) {
        h5::quiet q;
        m.flush(sim, false);
    }
}

void h5_recorder::end(const simulation& sim) {
    h5::quiet q;
    impl& m = *impl_;
    // Complete only if every requested step ran (a stopped run keeps complete = 0).
    m.flush(sim, sim.steps_done() - m.start_step == m.steps_requested);
    // Close every object, then the file, then move it into place.
    m.pops.clear();
    for (h5::handle* h : {&m.counts_group, &m.per_neuron_group, &m.ops_group, &m.status_group}) h->reset();
    m.file.h.reset();
    m.out.commit();
}

}  // namespace lmusim
