#include "lmusim/dist/mpi.hpp"

#include <climits>
#include <cstdio>
#include <cstdlib>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

#ifdef LMUSIM_HAVE_MPI
#include <mpi.h>
#endif

namespace lmusim::dist {

bool launched_by_mpi() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK", "MPI_LOCALNRANKS"})
        if (std::getenv(v)) return true;
    return false;
}

#ifdef LMUSIM_HAVE_MPI

bool available() noexcept { return true; }

namespace {

int as_count(std::size_t n, const char* what) {
    if (n > static_cast<std::size_t>(INT_MAX))
        throw error(cat(what, ": a message of ", n, " bytes, more than MPI's int count allows (", INT_MAX, ")"));
    return static_cast<int>(n);
}

class mpi_communicator final : public communicator {
public:
    mpi_communicator() {
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
    }
    int rank() const noexcept override { return rank_; }
    int size() const noexcept override { return size_; }
    std::vector<std::byte> allgatherv(std::span<const std::byte> mine, std::vector<std::size_t>& counts) override {
        std::uint64_t n = mine.size();
        std::vector<std::uint64_t> all_n(static_cast<std::size_t>(size_));
        MPI_Allgather(&n, 1, MPI_UINT64_T, all_n.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD);
        std::vector<int> cnt(all_n.size()), displ(all_n.size());
        std::size_t total = 0;
        counts.assign(all_n.size(), 0);
        for (std::size_t r = 0; r < all_n.size(); ++r) {
            counts[r] = static_cast<std::size_t>(all_n[r]);
            cnt[r] = as_count(counts[r], "allgatherv");
            displ[r] = as_count(total, "allgatherv");
            total += counts[r];
        }
        std::vector<std::byte> out(total);
        MPI_Allgatherv(mine.data(), cnt[static_cast<std::size_t>(rank_)], MPI_BYTE, out.data(), cnt.data(), displ.data(),
                       MPI_BYTE, MPI_COMM_WORLD);
        return out;
    }
    void allreduce_sum(std::span<std::uint64_t> values) override {
        MPI_Allreduce(MPI_IN_PLACE, values.data(), as_count(values.size(), "allreduce"), MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    }
    bool any(bool flag) override {
        int v = flag ? 1 : 0;
        MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        return v != 0;
    }
    void send(int dest, std::span<const std::byte> data) override {
        MPI_Send(data.data(), as_count(data.size(), "send"), MPI_BYTE, dest, kTag, MPI_COMM_WORLD);
    }
    std::vector<std::byte> recv(int source) override {
        MPI_Status st;
        MPI_Probe(source, kTag, MPI_COMM_WORLD, &st);
        int n = 0;
        MPI_Get_count(&st, MPI_BYTE, &n);
        std::vector<std::byte> out(static_cast<std::size_t>(n));
        MPI_Recv(out.data(), n, MPI_BYTE, source, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        return out;
    }
    [[noreturn]] void abort(int code) noexcept override {
        std::fflush(stdout);
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
        std::_Exit(code);
    }

private:
    static constexpr int kTag = 7301;
    int rank_ = 0, size_ = 1;
};

}  // namespace

mpi_session::mpi_session(int& argc, char**& argv) {
    if (!launched_by_mpi()) return;
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    if (provided < MPI_THREAD_FUNNELED) {
        MPI_Finalize();
        throw error("this MPI library does not provide MPI_THREAD_FUNNELED, which lmusim needs for its threads");
    }
    world_ = std::make_unique<mpi_communicator>();
}

mpi_session::~mpi_session() {
    if (!world_) return;
    world_.reset();
    MPI_Finalize();
}

void mpi_session::abort(int code) noexcept {
    if (world_) world_->abort(code);
    std::_Exit(code);
}

#else  // built without MPI (-DLMUSIM_MPI=OFF)

bool available() noexcept { return false; }

mpi_session::mpi_session(int&, char**&) {
    if (launched_by_mpi())
        throw error("this lmusim was built without MPI (-DLMUSIM_MPI=OFF); rebuild with MPI to run under mpirun");
}
mpi_session::~mpi_session() = default;
void mpi_session::abort(int code) noexcept { std::_Exit(code); }

#endif

}  // namespace lmusim::dist
