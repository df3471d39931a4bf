#pragma once
// What a distributed run needs from its ranks (docs/distributed.md). The simulation and the clip
// runner talk to this interface only; the MPI implementation lives in dist/ (lmusim::dist, the
// only library that links MPI), and tests use in-process ones. Every call except send/recv is
// collective: all ranks make it, in the same order.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

namespace lmusim {

class communicator {
public:
    virtual ~communicator() = default;
    virtual int rank() const noexcept = 0;
    virtual int size() const noexcept = 0;
    // Every rank contributes `mine`; returns the contributions concatenated in rank order and
    // each rank's length in `counts` (bytes).
    virtual std::vector<std::byte> allgatherv(std::span<const std::byte> mine, std::vector<std::size_t>& counts) = 0;
    // Element-wise sum over ranks, in place.
    virtual void allreduce_sum(std::span<std::uint64_t> values) = 0;
    // True on every rank when `flag` is true on any rank (a stop request, a failure).
    virtual bool any(bool flag) = 0;
    // Point to point, in order per (source, destination) pair.
    virtual void send(int dest, std::span<const std::byte> data) = 0;
    virtual std::vector<std::byte> recv(int source) = 0;
    // Ends every rank of the job with `code`, at once.
    [[noreturn]] virtual void abort(int code) noexcept = 0;
    // A dry run (Arbor's idea): this process is rank 0 of size() ranks; the others exist only as
    // the spike traffic the simulation replays for them (docs/distributed.md, "Dry run").
    virtual bool dry_run() const noexcept { return false; }
};

// The neurons [begin, end) of a population of `n` that rank r of R owns: contiguous, in rank order,
// sizes differing by at most one (docs/distributed.md, "Placement").
struct owned_range {
    std::size_t begin = 0, end = 0;
};
inline owned_range owned_by(std::size_t n, int rank, int ranks) noexcept {
    const auto r = static_cast<std::size_t>(rank), R = static_cast<std::size_t>(ranks);
    return {n * r / R, n * (r + 1) / R};
}

// Byte packing for messages (native endianness: every rank runs on the same kind of machine).
class byte_writer {
public:
    template <class T> void put(const T& v) {
        const auto* p = reinterpret_cast<const std::byte*>(&v);
        buf_.insert(buf_.end(), p, p + sizeof(T));
    }
    template <class T> void put_span(std::span<const T> v) {
        put<std::uint64_t>(v.size());
        const auto* p = reinterpret_cast<const std::byte*>(v.data());
        buf_.insert(buf_.end(), p, p + v.size_bytes());
    }
    std::vector<std::byte>& bytes() noexcept { return buf_; }

private:
    std::vector<std::byte> buf_;
};

class byte_reader {
public:
    explicit byte_reader(std::span<const std::byte> b) : b_(b) {}
    template <class T> T get();
    template <class T> std::vector<T> get_vector() {
        const auto n = static_cast<std::size_t>(get<std::uint64_t>());
        std::vector<T> v(n);
        take(v.data(), n * sizeof(T));
        return v;
    }
    // n values of T into out (a run written element by element or as one block).
    template <class T> void get_array(T* out, std::size_t n) { take(out, n * sizeof(T)); }
    bool done() const noexcept { return pos_ == b_.size(); }

private:
    void take(void* out, std::size_t n);
    std::span<const std::byte> b_;
    std::size_t pos_ = 0;
};

template <class T> T byte_reader::get() {
    T v;
    take(&v, sizeof(T));
    return v;
}

}  // namespace lmusim

namespace lmusim {

// A dry run of `ranks` ranks in one process (communicator::dry_run): this process is rank 0 and
// every collective answers as if the other ranks had sent the same as it did (the simulation
// then moves those spikes onto the other ranks' neurons). For measuring the exchange volume and
// the receiving side's work at rank counts this machine does not have.
class dry_run_communicator final : public communicator {
public:
    explicit dry_run_communicator(int ranks) : ranks_(ranks) {}
    int rank() const noexcept override { return 0; }
    int size() const noexcept override { return ranks_; }
    std::vector<std::byte> allgatherv(std::span<const std::byte> mine, std::vector<std::size_t>& counts) override {
        counts.assign(static_cast<std::size_t>(ranks_), mine.size());
        std::vector<std::byte> all;
        all.reserve(mine.size() * counts.size());
        for (int r = 0; r < ranks_; ++r) all.insert(all.end(), mine.begin(), mine.end());
        return all;
    }
    void allreduce_sum(std::span<std::uint64_t> values) override {
        for (auto& v : values) v *= static_cast<std::uint64_t>(ranks_);
    }
    bool any(bool flag) override { return flag; }
    void send(int, std::span<const std::byte>) override;
    std::vector<std::byte> recv(int) override;
    [[noreturn]] void abort(int code) noexcept override;
    bool dry_run() const noexcept override { return true; }

private:
    int ranks_;
};

}  // namespace lmusim
