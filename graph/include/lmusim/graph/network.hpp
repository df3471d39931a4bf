#pragma once
// The network description (ARCHITECTURE.md §2): plain data with a validate() and no run-time state,
// in the spirit of Arbor's recipe and GeNN's ModelSpec. A simulation is built from it (sim/).
//
// Units: time in milliseconds, voltage in millivolts (continuous-time neurons); the discrete-time
// LIF works in steps and dimensionless input units. Names must be non-empty and must not contain
// '/' (they become HDF5 object names).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lmusim {

using index_t = std::uint32_t;  // a neuron's index within its population

// Per-neuron input affine applied to a population's summed input, used to carry an eval-mode
// BatchNorm without folding it into weights. Two rounding forms, matching PyTorch's CPU kernels
// (see docs/numerics.md):
struct input_affine {
    enum class form : std::uint8_t {
        none,     // y = x
        fused,    // y = fma(x, scale, shift)                (BN on a contiguous input)
        unfused,  // y = ((x - mean) * invstd) * gamma + beta (BN on a non-contiguous input)
    };
    form kind = form::none;
    std::vector<float> scale, shift;               // fused
    std::vector<float> mean, invstd, gamma, beta;  // unfused

    // Eval-mode BatchNorm1d from its parameters and running statistics, computed in float32 as
    // PyTorch does: invstd = 1 / sqrt(var + eps); fused: scale = gamma * invstd,
    // shift = fma(-mean, scale, beta).
    static input_affine batch_norm(const std::vector<float>& running_mean,
                                   const std::vector<float>& running_var,
                                   const std::vector<float>& gamma, const std::vector<float>& beta,
                                   float eps = 1e-5f, form kind = form::fused);
    // y = x * scale + shift (fused form).
    static input_affine scale_shift(std::vector<float> scale, std::vector<float> shift);

    bool empty() const noexcept { return kind == form::none; }
};

// Discrete-time LIF with spikingjelly's semantics (decay_input = true, hard reset):
//   x = affine(sum of inputs this step)
//   h = v + (x - (v - v_reset)) / tau
//   spike if h >= v_threshold;  v = spike ? v_reset : h
// One input port. v starts at v_reset.
struct discrete_lif_params {
    float tau = 2.0f;          // membrane time constant [steps], > 1 for a leak
    float v_threshold = 1.0f;  // firing threshold (>=)
    float v_reset = 0.0f;      // hard-reset value and initial v
    input_affine affine;       // optional per-neuron input affine (BatchNorm)
};

// Continuous-time current-based LIF (the Vogels-Abbott CUBA neuron as Brian2 and NEST define it),
// integrated exactly with the step dt:
//   tau_m dv/dt = (v_rest + i_offset - v) + g_exc + g_inh       [mV]
//   dg_exc/dt = -g_exc / tau_exc,  dg_inh/dt = -g_inh / tau_inh   [mV]
// Input port 0 adds its weights to g_exc, port 1 to g_inh (weights in mV, sign as given).
// A spike is emitted when v > v_threshold (strict, as Brian2's 'v > Vt'); v is then set to v_reset
// and held there for t_ref (the currents keep decaying). Input that arrives at step n is added to
// the currents before the update of step n.
struct continuous_lif_params {
    double tau_m = 20.0;         // [ms]
    double tau_exc = 5.0;        // [ms] port 0
    double tau_inh = 10.0;       // [ms] port 1
    double v_rest = -49.0;       // [mV] leak reversal potential
    double i_offset = 0.0;       // [mV] constant drive (R * I), added to v_rest
    double v_threshold = -50.0;  // [mV]
    double v_reset = -60.0;      // [mV]
    double t_ref = 5.0;          // [ms] refractory period, rounded to whole steps
    std::vector<float> v_init;   // [mV] per neuron; empty: every neuron starts at v_rest
};

// A spike source: explicit spike trains, or independent Poisson trains with a seed.
struct spike_source_params {
    enum class mode : std::uint8_t { arrays, poisson };
    mode kind = mode::arrays;
    // arrays: spike i is neuron `neurons[i]` at step `steps[i]` (any order; duplicates rejected).
    std::vector<std::uint64_t> steps;
    std::vector<index_t> neurons;
    // poisson: neuron j spikes in a step with probability rate_hz[j] * dt (one value = all neurons).
    std::vector<double> rate_hz;
    std::uint64_t seed = 0;
};

// Real-valued frames supplied by the caller at run time (e.g. audio features), one per step.
struct input_params {};

// A real-valued accumulator (the residual stream): output = affine(sum of this step's inputs).
struct analog_params {
    input_affine affine;
};

// A linear state-space memory (the LMU): m[t] = A m[t-1] + B u[t], m[-1] = 0, real-valued.
// impulse mode: for t < L (H's columns), m[t] = sum_{j<=t} H[:, t-j] u[j] accumulated in double
// (bit-exact with an FFT convolution of the same H); the recurrence afterwards.
struct lmu_memory_params {
    enum class mode : std::uint8_t { impulse, recurrence };
    mode kind = mode::impulse;
    std::size_t input_size = 1;
    std::vector<float> a;  // [M x M] row-major
    std::vector<float> b;  // [M x input_size] row-major
    std::vector<float> h;  // [M x L] row-major, H[:, k] = A^k B (input_size 1 only); may be empty
    std::size_t h_columns() const noexcept { return h.empty() ? 0 : h.size() / (b.size() / input_size); }
};

// Running mean of the input over the frames so far, then linear: y = W (sum x) / (t+1) + b.
struct readout_params {
    std::size_t input_size = 0;
    std::vector<float> weight;  // [size x input_size] row-major
    std::vector<float> bias;    // [size]
};

using node_params = std::variant<discrete_lif_params, continuous_lif_params, spike_source_params, input_params,
                                 analog_params, lmu_memory_params, readout_params>;

// The node kinds, in the order of node_params' alternatives.
enum class node_kind : std::uint8_t {
    discrete_lif,
    continuous_lif,
    spike_source,
    input,
    analog,
    lmu_memory,
    readout
};

std::string_view to_string(node_kind) noexcept;
node_kind node_kind_from_string(std::string_view);  // throws lmusim::error

struct node {
    std::string name;
    std::size_t size = 0;
    node_params params;

    node_kind kind() const noexcept { return static_cast<node_kind>(params.index()); }
    bool spiking() const noexcept;             // output is spikes (else real values)
    std::size_t input_ports() const noexcept;  // 0 for sources
    std::size_t port_size(std::size_t port) const noexcept;  // values per stream in an input port
};

// Connectivity kinds (GeNN synapseMatrixType style: when to use each).
enum class connectivity : std::uint8_t {
    dense,       // weights[target * n_source + source]: every pair connected. Use when most pairs
                 // carry a weight (the LMUFormer's linear layers).
    sparse,      // CSR by source row (indptr, indices = targets, weights). Use for random or
                 // structured sparse networks (CUBA); a spike costs its row length.
    one_to_one,  // weights[i]: source i -> target i (sizes must match).
    conv1d,      // weights[target][source][k]: cross-correlation along time (frames), zero padding
                 // (k-1)/2, k odd; adds (k-1)/2 frames of latency. The LMUFormer's convolutions.
    identity,    // source i -> target i with weight 1: routing of real values or spikes.
};

std::string_view to_string(connectivity) noexcept;
connectivity connectivity_from_string(std::string_view);  // throws lmusim::error

// Compressed sparse rows, one row per source neuron.
struct csr {
    std::vector<std::uint64_t> indptr;  // n_source + 1 offsets, indptr[0] = 0
    std::vector<index_t> indices;       // target neuron of each synapse, ascending within a row
    std::vector<float> weights;         // one per synapse

    std::size_t rows() const noexcept { return indptr.empty() ? 0 : indptr.size() - 1; }
    std::size_t nnz() const noexcept { return indices.size(); }
};

struct projection {
    std::string name;
    std::string source;  // node name
    std::string target;  // node name
    connectivity kind = connectivity::dense;
    std::uint32_t delay = 0;  // [steps]; 0 = same step (source updated first); cycles need >= 1
    std::uint32_t port = 0;   // the target's input port
    std::vector<float> weights;  // dense: [n_target x n_source] row-major; one_to_one: [n];
                                 // conv1d: [n_target x n_source x kernel] row-major
    csr sparse;                  // sparse only
    std::uint32_t kernel = 0;    // conv1d only: taps (odd)
    std::vector<float> bias;     // optional [target port size], added once per active frame
    input_affine post_affine;    // optional, applied to (W x + bias) before it reaches the target

    std::uint32_t latency() const noexcept { return kind == connectivity::conv1d ? (kernel - 1) / 2 : 0; }
    std::size_t synapse_count(std::size_t n_source, std::size_t n_target) const noexcept;
};

struct network {
    std::string name = "network";
    double dt = 0.1;  // [ms] the step length
    std::vector<node> nodes;
    std::vector<projection> projections;

    node& add(node n);
    projection& connect(projection p);

    // Index of the named node / projection; throws lmusim::network_error naming it if absent.
    std::size_t node_index(std::string_view name) const;
    std::size_t projection_index(std::string_view name) const;
    const node& find_node(std::string_view name) const { return nodes[node_index(name)]; }

    // Checks everything a simulation relies on and throws lmusim::network_error whose message
    // names the node or projection and the bad value.
    void validate() const;

    // Node indices in an order where every zero-delay projection's source comes before its
    // target (stable: declaration order where free). Throws if zero-delay edges form a cycle.
    std::vector<std::size_t> topological_order() const;

    // Frame latency of every node: the largest (source latency + projection latency) over its
    // zero-delay inputs; 0 for nodes without such inputs. Node i processes frame t - L[i] at step t.
    std::vector<std::uint32_t> latencies() const;

    // Trainable parameters as PyTorch counts them: weights and biases of projections and
    // readouts, two per neuron for every input affine or post-affine (a BatchNorm's weight and
    // bias). LMU memory matrices, BatchNorm running statistics and initial states are buffers.
    std::size_t parameter_count() const;
};

// Largest population accepted: indices are 32-bit.
inline constexpr std::size_t max_population_size = std::size_t{1} << 31;

}  // namespace lmusim
