// The processes of an MPI job sharing a sweep's points (`mpirun -n K tandem sweep ...`): rank and size,
// a barrier that also agrees on success. Built on MPI only when CMake finds it (find_package(MPI));
// otherwise built() is false and asking for MPI is refused with a message that says so.
#pragma once
#include <string>

namespace tandem::sweep {

class MpiWorld {
 public:
  static bool built();      // this tandem was built with MPI
  // Started by mpirun (or another launcher) as one of several processes: Open MPI's and PMI's
  // environment variables say so; `size_out` gets their count.
  static bool launched(int& size_out);

  // MPI_Init (when built; else throws std::runtime_error). ~MpiWorld: MPI_Finalize.
  MpiWorld();
  ~MpiWorld();
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Waits for every process; true when every one passed `ok` true.
  bool all_ok(bool ok) const;

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace tandem::sweep
