// MpiWorld over the MPI C interface, or its refusal in builds without MPI (mpi_world.h).
#include "sweep/mpi_world.h"

#include <cstdlib>
#include <stdexcept>

#ifdef TANDEM_SWEEP_MPI
// The C interface only: Open MPI's mpi.h otherwise pulls in its C++ bindings, a library tandem does not link.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace tandem::sweep {

bool MpiWorld::built() {
#ifdef TANDEM_SWEEP_MPI
  return true;
#else
  return false;
#endif
}

bool MpiWorld::launched(int& size_out) {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
    const char* v = std::getenv(var);
    if (v && std::atoi(v) > 1) {
      size_out = std::atoi(v);
      return true;
    }
  }
  return false;
}

#ifdef TANDEM_SWEEP_MPI
MpiWorld::MpiWorld() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised && MPI_Init(nullptr, nullptr) != MPI_SUCCESS) throw std::runtime_error("MPI_Init failed");
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiWorld::~MpiWorld() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) MPI_Finalize();
}

bool MpiWorld::all_ok(bool ok) const {
  int mine = ok ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all == 1;
}
#else
MpiWorld::MpiWorld() {
  throw std::runtime_error("this tandem was built without MPI (install libopenmpi-dev and openmpi-bin, then rebuild)");
}
MpiWorld::~MpiWorld() = default;
bool MpiWorld::all_ok(bool ok) const { return ok; }
#endif

}  // namespace tandem::sweep
