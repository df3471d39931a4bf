// lmusim_membw: this machine's memory bandwidth per cache level, for the roofline of
// benchmarks/roofline.py (which runs it and reads its JSON lines).
//
// For each working-set size (default: L1 16 KiB, L2 256 KiB, L3 8 MiB, DRAM 512 MiB per thread),
// each thread count (default 1 and 2; every thread has its own buffers, allocated and first
// touched by itself and pinned to its own CPU where the system allows) and each access kind:
//
//   read  s += b[i]                  the buffer b is the working set;
//   rmw   a[i] += b[i]               a and b are half the working set each (a read, b read, a written);
//   acc   a[i % A] += b[i]           b is the working set, a is a small accumulator of A floats
//                                    (default 256, 1 KiB: stays in L1): one spike adding its weight
//                                    column of A targets into the targets' inputs, spike after spike.
//
// Each kernel sweeps its buffers front to back ("a pass") in a loop the compiler vectorises,
// with several independent accumulators in read (so that the add latency does not limit it).
// The number of passes is doubled until one timed run takes at least --min-ms (default 50 ms),
// then --repeats (default 5) runs are timed. With several threads all threads start each run
// together (a barrier) and the time is the run's wall time. --rounds N (default 1) measures the
// whole table N times over, so that each figure's runs are spread over time (on a shared machine
// a neighbour's burst then spoils some runs of a figure, not all of them). The figure reported is
// the best run; the median is given too, as a measure of the noise.
//
// Output: one JSON line per (level, threads, kind) on stdout, once all are measured:
//   {"bench": "membw", "level": "L2", "bytes": 262144, "threads": 1, "kind": "read",
//    "gb_per_s": ..., "src_gb_per_s": ..., "gb_per_s_median": ..., "runs": 5, "passes": ...}
// bytes: the working set per thread; gb_per_s: all bytes the kernel moves to or from the working
// set, summed over threads, 1e9 B/s (rmw counts a read, b read and a written: 3 x 4 B per element,
// STREAM's convention; acc counts b only, its accumulator being L1 traffic); src_gb_per_s: the
// bytes of b (the streamed operand: "weights") per second, summed over threads; passes: per
// timed run. A readable table goes to stderr.
//
// Usage: lmusim_membw [--threads 1,2] [--kinds read,rmw,acc] [--repeats 5] [--rounds 1]
//                     [--min-ms 50] [--acc-floats 256] [--levels L1=16K,L2=256K,L3=8M,DRAM=512M]
//                     [--quick]
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>

namespace {

using clock_type = std::chrono::steady_clock;

// Keeps the compiler from assuming anything about memory across this point, so that passes are
// neither merged nor hoisted out of the timed loop.
inline void clobber_memory() { asm volatile("" : : : "memory"); }

// ---------------------------------------------------------------------------------------------
// Kernels. n is a multiple of kBlock and of the accumulator's length (sizes are rounded so).
// ---------------------------------------------------------------------------------------------

// 8 chains x 16 lanes = 128 floats (512 B) per iteration: the inner loop is element-wise over
// independent accumulators, so it vectorises without reassociating any sum (no -ffast-math).
constexpr std::size_t kLanes = 16, kChains = 8, kBlock = kLanes * kChains;

// The accumulators live across passes (reduced once, at the end): a reduction per pass would be
// 128 dependent scalar adds, as long as a whole pass over an L1-sized buffer.
void read_pass(const float* __restrict b, std::size_t n, float* __restrict acc) {
    for (std::size_t i = 0; i < n; i += kBlock)
        for (std::size_t j = 0; j < kBlock; ++j) acc[j] += b[i + j];
}

void rmw_pass(float* __restrict a, const float* __restrict b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) a[i] += b[i];
}

// acc_n floats of a, then the next acc_n floats of b into the same acc_n floats of a, ...
void acc_pass(float* __restrict a, const float* __restrict b, std::size_t n, std::size_t acc_n) {
    for (std::size_t i = 0; i < n; i += acc_n) {
        const float* __restrict col = b + i;
        for (std::size_t j = 0; j < acc_n; ++j) a[j] += col[j];
    }
}

enum class kind { read, rmw, acc };
const char* kind_name(kind k) { return k == kind::read ? "read" : k == kind::rmw ? "rmw" : "acc"; }

// Bytes moved per element of b in one pass (see the header).
double bytes_moved_per_b(kind k) { return k == kind::rmw ? 3.0 * sizeof(float) : sizeof(float); }

struct level {
    std::string name;
    std::size_t bytes;  // working set per thread
};

struct options {
    std::vector<level> levels{{"L1", 16u << 10}, {"L2", 256u << 10}, {"L3", 8u << 20}, {"DRAM", 512u << 20}};
    std::vector<unsigned> threads{1, 2};
    std::vector<kind> kinds{kind::read, kind::rmw, kind::acc};
    int repeats = 5;
    int rounds = 1;
    double min_seconds = 0.050;
    std::size_t acc_floats = 256;
};

// The timed runs of one (level, kind, thread count): elements of b swept per second, all threads
// together, one value per run.
struct result {
    std::vector<double> rates;
    std::uint64_t passes = 0;  // per run, in the last round
};

struct free_deleter {
    void operator()(float* p) const { std::free(p); }
};
using buffer = std::unique_ptr<float[], free_deleter>;

buffer allocate(std::size_t floats) {
    const std::size_t bytes = std::max<std::size_t>(floats * sizeof(float), 64);
    void* p = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
    if (!p) throw std::bad_alloc();
    return buffer(static_cast<float*>(p));
}

void pin_to_cpu(unsigned index) {
    const unsigned n = std::max(1u, std::thread::hardware_concurrency());
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(index % n, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);  // best effort
}

// Elements of b per thread (a has as many for rmw, acc_floats for acc): the level's bytes (half
// of them for rmw) rounded down to a multiple of the accumulator's length (itself a multiple of
// kBlock).
std::size_t b_elements(const options& o, const level& lv, kind k) {
    const std::size_t b_bytes = k == kind::rmw ? lv.bytes / 2 : lv.bytes;
    return std::max(o.acc_floats, b_bytes / sizeof(float) / o.acc_floats * o.acc_floats);
}

volatile float g_sink = 0.0f;  // where every thread's checksum ends, so no kernel is dead code

// One (level, kind, thread count): every thread owns its buffers; thread 0 times the runs and
// appends their rates to `out`.
void measure(const options& o, const level& lv, kind k, unsigned nthreads, result& out) {
    const std::size_t n = b_elements(o, lv, k);
    const std::size_t a_n = k == kind::rmw ? n : k == kind::acc ? o.acc_floats : 0;

    std::barrier sync(static_cast<std::ptrdiff_t>(nthreads));
    std::atomic<std::uint64_t> passes{1};
    std::atomic<bool> done{false};
    std::vector<float> sinks(nthreads, 0.0f);

    auto worker = [&](unsigned t) {
        pin_to_cpu(t);
        buffer b = allocate(n);
        buffer a = allocate(std::max<std::size_t>(a_n, 1));
        for (std::size_t i = 0; i < n; ++i) b[i] = 1e-3f * static_cast<float>(1 + (i % 7));  // no denormals, no growth to inf
        for (std::size_t i = 0; i < a_n; ++i) a[i] = 0.0f;
        alignas(64) float read_acc[kBlock] = {};
        float sink = 0.0f;
        int timed = 0;  // runs that counted so far (after calibration)
        while (true) {
            sync.arrive_and_wait();
            const std::uint64_t p = passes.load();
            const auto t0 = clock_type::now();
            for (std::uint64_t r = 0; r < p; ++r) {
                switch (k) {
                    case kind::read: read_pass(b.get(), n, read_acc); break;
                    case kind::rmw: rmw_pass(a.get(), b.get(), n); break;
                    case kind::acc: acc_pass(a.get(), b.get(), n, o.acc_floats); break;
                }
                clobber_memory();
            }
            sync.arrive_and_wait();  // every thread has finished this run
            if (t == 0) {
                const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
                if (s < o.min_seconds && timed == 0) {
                    passes.store(p * 2);  // calibrating: too short to time
                } else {
                    out.rates.push_back(static_cast<double>(n) * static_cast<double>(p) * nthreads / s);
                    out.passes = p;
                    if (++timed >= o.repeats) done.store(true);
                }
            }
            sync.arrive_and_wait();  // thread 0's decision is visible
            if (done.load()) break;
        }
        for (float v : read_acc) sink += v;
        for (std::size_t i = 0; i < a_n; ++i) sink += a[i];
        sinks[t] = sink;
    };

    std::vector<std::thread> pool;
    for (unsigned t = 1; t < nthreads; ++t) pool.emplace_back(worker, t);
    worker(0);
    for (auto& th : pool) th.join();
    for (float v : sinks) g_sink = g_sink + v;
}

std::size_t parse_size(const std::string& s) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    std::size_t mult = 1;
    if (end && *end) {
        switch (*end) {
            case 'k': case 'K': mult = 1u << 10; break;
            case 'm': case 'M': mult = 1u << 20; break;
            case 'g': case 'G': mult = 1u << 30; break;
            default: throw std::runtime_error("size '" + s + "': expected a number with K, M or G");
        }
    }
    if (!(v > 0)) throw std::runtime_error("size '" + s + "' is not positive");
    return static_cast<std::size_t>(v * static_cast<double>(mult));
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        const std::size_t p = s.find(sep, start);
        out.push_back(s.substr(start, p - start));
        if (p == std::string::npos) break;
        start = p + 1;
    }
    return out;
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--threads") {
            o.threads.clear();
            for (const auto& t : split(value(), ',')) o.threads.push_back(static_cast<unsigned>(std::stoul(t)));
        } else if (arg == "--kinds") {
            o.kinds.clear();
            for (const auto& k : split(value(), ',')) {
                if (k == "read") o.kinds.push_back(kind::read);
                else if (k == "rmw") o.kinds.push_back(kind::rmw);
                else if (k == "acc") o.kinds.push_back(kind::acc);
                else throw std::runtime_error("kind '" + k + "': expected read, rmw or acc");
            }
        } else if (arg == "--repeats") {
            o.repeats = std::max(1, std::stoi(value()));
        } else if (arg == "--rounds") {
            o.rounds = std::max(1, std::stoi(value()));
        } else if (arg == "--min-ms") {
            o.min_seconds = std::stod(value()) * 1e-3;
        } else if (arg == "--acc-floats") {
            o.acc_floats = std::max<std::size_t>(kBlock, std::stoul(value()) / kBlock * kBlock);
        } else if (arg == "--levels") {
            o.levels.clear();
            for (const auto& item : split(value(), ',')) {
                const auto eq = item.find('=');
                if (eq == std::string::npos) throw std::runtime_error("level '" + item + "': expected NAME=SIZE");
                o.levels.push_back({item.substr(0, eq), parse_size(item.substr(eq + 1))});
            }
        } else if (arg == "--quick") {
            o.repeats = 2;
            o.rounds = 1;
            o.min_seconds = 0.010;
        } else if (arg == "-h" || arg == "--help") {
            std::fputs("usage: lmusim_membw [--threads 1,2] [--kinds read,rmw,acc] [--repeats 5] [--rounds 1] [--min-ms 50]\n"
                       "                    [--acc-floats 256] [--levels L1=16K,L2=256K,L3=8M,DRAM=512M] [--quick]\n"
                       "Read, read-modify-write and accumulate bandwidth per working-set size; JSON lines on\n"
                       "stdout, a table on stderr (see the comment at the top of benchmarks/membw.cpp).\n",
                       stdout);
            std::exit(0);
        } else {
            throw std::runtime_error("unknown option '" + arg + "' (--help)");
        }
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    try {
        o = parse(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lmusim_membw: %s\n", e.what());
        return 2;
    }
    // Every configuration once per round; rounds spread each configuration's runs over time, so
    // that a noisy moment on a shared machine does not decide a figure.
    struct config {
        level lv;
        unsigned threads;
        kind k;
        result r;
    };
    std::vector<config> configs;
    for (const auto& lv : o.levels)
        for (unsigned nt : o.threads)
            for (kind k : o.kinds) configs.push_back({lv, nt, k, {}});
    for (int round = 0; round < o.rounds; ++round)
        for (auto& c : configs) measure(o, c.lv, c.k, c.threads, c.r);

    std::fprintf(stderr, "%-5s %10s %7s %-5s %10s %12s %12s\n", "level", "bytes/thr", "threads", "kind", "GB/s",
                 "src GB/s", "median GB/s");
    for (auto& c : configs) {
        auto& rates = c.r.rates;
        std::sort(rates.begin(), rates.end());
        const double best = rates.back(), median = rates[rates.size() / 2];
        const double per_elem = bytes_moved_per_b(c.k);
        std::printf("{\"bench\": \"membw\", \"level\": \"%s\", \"bytes\": %zu, \"threads\": %u, \"kind\": \"%s\", "
                    "\"gb_per_s\": %.3f, \"src_gb_per_s\": %.3f, \"gb_per_s_median\": %.3f, \"runs\": %zu, "
                    "\"passes\": %llu",
                    c.lv.name.c_str(), c.lv.bytes, c.threads, kind_name(c.k), best * per_elem * 1e-9,
                    best * sizeof(float) * 1e-9, median * per_elem * 1e-9, rates.size(),
                    static_cast<unsigned long long>(c.r.passes));
        if (c.k == kind::acc) std::printf(", \"acc_floats\": %zu", o.acc_floats);
        std::printf("}\n");
        std::fprintf(stderr, "%-5s %10zu %7u %-5s %10.1f %12.1f %12.1f\n", c.lv.name.c_str(), c.lv.bytes, c.threads,
                     kind_name(c.k), best * per_elem * 1e-9, best * sizeof(float) * 1e-9, median * per_elem * 1e-9);
    }
    std::fflush(stdout);
    return 0;
}
