// The build without MPI (-DLMUSIM_MPI=OFF): dist/src/mpi.cpp compiled without LMUSIM_HAVE_MPI into
// this test, so that configuration keeps compiling and behaving in every test build.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "lmusim/core/error.hpp"
#include "lmusim/dist/mpi.hpp"

TEST_CASE("without MPI: one process, and a clear refusal under mpirun", "[dist]") {
    REQUIRE_FALSE(lmusim::dist::available());
    int argc = 1;
    char name[] = "lmusim";
    char* args[] = {name, nullptr};
    char** argv = args;
    ::unsetenv("OMPI_COMM_WORLD_SIZE");
    ::unsetenv("PMIX_RANK");
    ::unsetenv("PMI_SIZE");
    ::unsetenv("PMI_RANK");
    ::unsetenv("MPI_LOCALNRANKS");
    {
        lmusim::dist::mpi_session s(argc, argv);
        REQUIRE_FALSE(s.active());
        REQUIRE(s.size() == 1);
        REQUIRE(s.rank() == 0);
        REQUIRE(s.world() == nullptr);
    }
    ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    REQUIRE(lmusim::dist::launched_by_mpi());
    try {
        lmusim::dist::mpi_session s(argc, argv);
        FAIL("expected a refusal");
    } catch (const lmusim::error& e) {
        REQUIRE(std::string(e.what()).find("-DLMUSIM_MPI=OFF") != std::string::npos);
    }
    ::unsetenv("OMPI_COMM_WORLD_SIZE");
}
