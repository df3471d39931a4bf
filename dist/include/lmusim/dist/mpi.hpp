#pragma once
// MPI for lmusim (docs/distributed.md): the one place that calls MPI. The `lmusim` program opens
// an mpi_session at start; under mpirun it initialises MPI (MPI_THREAD_FUNNELED: oneTBB workers
// never call MPI) and world() is a communicator over MPI_COMM_WORLD; started alone it leaves MPI
// untouched (no start-up cost, no launcher needed) and world() is null. Built with
// -DLMUSIM_MPI=OFF, no process is ever distributed.
#include <memory>

#include "lmusim/sim/communicator.hpp"

namespace lmusim::dist {

// Whether an MPI launcher (mpirun, mpiexec, srun) started this process.
bool launched_by_mpi();
// Whether this build has MPI.
bool available() noexcept;

class mpi_session {
public:
    mpi_session(int& argc, char**& argv);
    ~mpi_session();
    mpi_session(const mpi_session&) = delete;
    mpi_session& operator=(const mpi_session&) = delete;

    bool active() const noexcept { return world_ != nullptr; }
    int rank() const noexcept { return world_ ? world_->rank() : 0; }
    int size() const noexcept { return world_ ? world_->size() : 1; }
    communicator* world() noexcept { return world_.get(); }
    // Ends every rank of the job with `code` (MPI_Abort), or this process when not distributed.
    [[noreturn]] void abort(int code) noexcept;

private:
    std::unique_ptr<communicator> world_;
};

}  // namespace lmusim::dist
