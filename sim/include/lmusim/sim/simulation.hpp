#pragma once
// A simulation: the run-time state of a validated network (Arbor's `simulation`, GeNN's Runtime).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "lmusim/graph/network.hpp"
#include "lmusim/synapses/kind.hpp"
#include "lmusim/neurons/population.hpp"
#include "lmusim/sim/communicator.hpp"
#include "lmusim/sim/recorder.hpp"

namespace lmusim {

// Explicit execution context: never a global singleton.
struct context {
    std::size_t threads = 0;        // worker threads; 0 = what oneTBB allows (tbb::global_control)
    std::size_t streams = 1;        // independent copies of the network run side by side (clips)
    std::size_t block_size = 4096;  // neurons per parallel work item; results never depend on it
    // Batches (streams > 1): streams per work item (0: automatic), and the weight bytes of one
    // cache tile of spike delivery (0: no tiling): a work item delivers every spike of its streams
    // tile by tile of target neurons, so a tile of weights is read from memory once per item and
    // step rather than once per stream (docs/design.md, "Tiled delivery"). Results never depend
    // on either.
    std::size_t stream_group = 0;
    std::size_t tile_bytes = 512 * 1024;
    // Network-parallel runs (docs/distributed.md): the ranks this simulation is one of. Each rank
    // updates the neurons it owns of every spiking population that can be split and receives the
    // others' spikes; results are the same for any number of ranks. Null: one process.
    communicator* comm = nullptr;
    // Exchange spikes after every step instead of once per min-delay epoch (a recorder on rank 0
    // needs every step's spikes).
    bool exchange_every_step = false;
};

// Where a network-parallel run spent its time (seconds, summed over the run; CPU time of the
// worker threads divided by the thread count for the parallel phases).
struct phase_times {
    double update = 0, deliver = 0, exchange = 0, io = 0;  // io: the recorders (recording, checkpoints)
    std::uint64_t exchanges = 0, bytes_sent = 0, bytes_received = 0;
};

struct run_options {
    recorder* rec = nullptr;  // sim/recorder.hpp; a recorder_chain for several
    // Called every `progress_every` steps and at the end with (steps done in this run, total).
    std::function<void(std::uint64_t, std::uint64_t)> progress{};
    std::uint64_t progress_every = 0;
    // Checked every `stop_every` steps: when it returns true the run stops there (the recorder's
    // end() still runs, so its file is closed properly). run() returns the steps taken.
    std::function<bool()> should_stop{};
    std::uint64_t stop_every = 100;
};

class simulation {
public:
    explicit simulation(network net, context ctx = {});  // validates; throws lmusim::network_error
    ~simulation();
    simulation(const simulation&) = delete;
    simulation& operator=(const simulation&) = delete;

    // Advance `steps` steps (fewer if options.should_stop asks); returns the steps taken.
    std::uint64_t run(std::uint64_t steps, const run_options& options = {});
    // Back to the initial state: neuron state, history (in-flight delayed spikes), counts, queued
    // input frames.
    void reset();

    // Checkpoints (docs/checkpoint.md). save_state() writes the complete run-time state into `out`:
    // the step counter and clip length, every population's state, each node's history ring
    // buffer (the spikes and values still in flight on delayed projections), queued input frames,
    // spike counts, neuron updates and op counts. restore_state() reads it into a simulation of
    // the same network and stream count (thread count and block size may differ: results never
    // depend on them), after which run() continues exactly as the saved simulation would have.
    // On a missing, mis-shaped or out-of-range array it throws state_error naming the key, and
    // the simulation is left reset to its initial state.
    void save_state(state_store& out) const;
    void restore_state(const state_store& in);

    // Queue real-valued frames for an input node: `frames` holds n_frames x streams x size floats
    // (frame-major). Step t consumes the next queued frame; with none queued the input is zero.
    void push_frames(std::string_view input_node, std::span<const float> frames);
    std::size_t queued_frames(std::string_view input_node) const;

    // Clips (docs/model_format.md, "Latency and alignment"): node i processes frame t - L[i] at
    // step t and is active for frames 0 .. T-1 only. end_clip(T) fixes T (until then the clip is
    // open-ended); steps_to_drain() is how many more steps every node needs to finish frame T-1.
    void end_clip(std::uint64_t frames);
    std::uint64_t steps_to_drain() const noexcept;
    std::uint32_t latency(std::size_t node) const noexcept { return latency_[node]; }
    std::uint32_t max_latency() const noexcept;
    // Whether the node was active in the last step taken, and which frame it processed.
    bool was_active(std::size_t node) const noexcept;
    std::uint64_t last_frame(std::size_t node) const noexcept { return step_ - 1 - latency_[node]; }

    const network& net() const noexcept { return net_; }
    const context& ctx() const noexcept { return ctx_; }
    std::size_t threads() const noexcept { return threads_; }
    std::uint64_t steps_done() const noexcept { return step_; }
    double time_ms() const noexcept { return static_cast<double>(step_) * net_.dt; }

    // Spikes that a node emitted in the last step taken (ascending neuron indices).
    std::span<const index_t> spikes(std::size_t node, std::size_t stream = 0) const;
    // Output of a real-valued node in the last step taken.
    std::span<const float> values(std::size_t node, std::size_t stream = 0) const;
    // Spike count per neuron since reset, [stream][neuron].
    std::span<const std::uint64_t> spike_counts(std::size_t node) const { return nodes_[node].counts; }
    std::uint64_t total_spikes(std::size_t node) const;
    // Neuron-steps updated since reset (all streams).
    std::uint64_t neuron_updates(std::size_t node) const { return nodes_[node].updates; }
    // Ops a node did itself, per stream or summed: the LMU memory's and readout's products, and
    // every node's element-wise work (docs/semantics.md).
    op_counts node_ops(std::size_t node, std::size_t stream) const;
    op_counts node_ops(std::size_t node) const;
    // Ops of one projection since reset, for one stream or summed over streams.
    const op_counts& ops(std::size_t projection, std::size_t stream) const { return projs_[projection].counts[stream]; }
    op_counts ops(std::size_t projection) const;

    // Network-parallel runs: the neurons of `node` this rank updates (all of them otherwise), the
    // steps per spike exchange, and where the time went (when ctx().comm is set).
    owned_range owned(std::size_t node) const noexcept { return nodes_[node].own; }
    bool partitioned(std::size_t node) const noexcept { return nodes_[node].partitioned; }
    std::uint64_t exchange_epoch() const noexcept { return epoch_; }
    phase_times phases() const noexcept;

    population& pop(std::size_t node) { return *nodes_[node].pop; }
    const population& pop(std::size_t node) const { return *nodes_[node].pop; }

private:
    struct node_state {
        std::unique_ptr<population> pop;
        bool spiking = true;
        std::size_t depth = 1;                            // history slots: max over outgoing projections of lag + taps
        std::vector<std::vector<index_t>> spike_history;  // [slot * streams + stream]
        std::vector<float> value_history;                 // [slot][stream][neuron]
        std::vector<std::uint64_t> counts;                // [stream][neuron]
        std::uint64_t updates = 0;
        std::vector<std::uint64_t> elementwise;           // per stream
        std::uint64_t elementwise_per_step = 0;           // per stream and active step
        std::vector<std::size_t> incoming;                // projection indices, declaration order
        std::vector<std::vector<index_t>> block_spikes;   // scratch [stream * blocks + block]
        std::size_t blocks = 1, block_size = 1;           // work split per stream
        std::size_t groups = 1, group_size = 1;           // work split of the streams
        std::deque<std::vector<float>> queued;            // input nodes: frames waiting
        // Network-parallel runs: this rank's neurons, whether they are a share of the population
        // (else it runs whole on every rank), whether its spikes go out right after its update
        // (a zero-lag edge) rather than at the end of the epoch, and the membrane updates
        // already shared, per stream.
        owned_range own{};
        bool partitioned = false, immediate = false;
        std::vector<std::uint64_t> membrane_shared;
    };
    struct proj_state {
        const projection_kind* kind = nullptr;
        std::size_t source = 0, target = 0;
        std::size_t n_source = 0, n_target = 0;  // source size, target port size
        std::uint32_t lag = 0;               // history lag of the last tap (alignment + delay)
        std::uint32_t taps = 1;              // conv1d kernel, else 1
        std::vector<float> wt;               // the kind's lowered weights (projection_kind::prepare)
        std::vector<std::uint32_t> nz;       // [tap][source] nonzero fan-out (effective operations)
        bool any_nz = false;                 // some weight is nonzero (routing has none)
        std::size_t tile = 0;                // target neurons per cache tile of spike delivery; 0: whole
        std::vector<op_counts> counts;       // per stream
        // Network-parallel runs: this rank's synapses only (onto its own targets), when the kind
        // can drop the others; delivery uses it, counting the whole projection.
        std::unique_ptr<projection> local;
    };

    void step_once();
    void step_node(std::size_t node);
    bool active_at(std::size_t node, std::uint64_t step) const noexcept;
    void deliver(std::size_t proj, std::size_t stream, std::size_t begin, std::size_t end, float* scratch);
    void add_projection(std::size_t proj, std::size_t stream, std::size_t begin, std::size_t end, float* out);
    void count_ops(std::size_t proj, std::size_t stream);
    void setup_partition();
    // Shares the own spikes of `nodes` for steps [from, to) (and their membrane updates) with the
    // other ranks, leaving every rank with the full ascending spike lists, and counts them.
    void exchange(std::span<const std::size_t> nodes, std::uint64_t from, std::uint64_t to);
    void gather_state(state_store& out, std::size_t node, const std::string& prefix) const;

    network net_;
    context ctx_;
    std::size_t threads_ = 1;
    std::vector<std::size_t> order_;
    std::vector<std::uint32_t> latency_;
    std::uint64_t clip_frames_ = UINT64_MAX;  // T; open-ended until end_clip()
    std::vector<node_state> nodes_;
    std::vector<proj_state> projs_;
    std::uint64_t step_ = 0;
    std::vector<std::vector<float>> scratch_;  // per worker: a projection's output before post-affine
    std::uint64_t epoch_ = 1;                  // steps per spike exchange
    std::uint64_t exchanged_until_ = 0;        // spikes of steps before this are on every rank
    std::vector<std::size_t> epoch_nodes_;     // partitioned nodes exchanged at epoch ends
    phase_times phases_;
    std::vector<double> deliver_s_, update_s_;  // per worker thread
    struct arena_holder;
    std::unique_ptr<arena_holder> arena_;
};

}  // namespace lmusim
