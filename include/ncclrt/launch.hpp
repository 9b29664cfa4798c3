// Rank, size and rendezvous from what a launcher (torchrun, Open MPI, Slurm) exported.
#pragma once

#include <functional>
#include <string>

#include "ncclrt/detail/export.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// What a process learns from its launcher's environment.
struct LaunchInfo {
  std::string launcher;  ///< "torchrun", "openmpi", "slurm" or "ncclrt"
  int rank = 0;
  int size = 0;
  int local_rank = 0;  ///< picks the GPU: device local_rank % (GPUs visible)
  /// NCCL's rendezvous address "host:port": $NCCL_COMM_ID, else made from MASTER_ADDR and
  /// MASTER_PORT + 1 (torchrun's agent already listens on MASTER_PORT itself).
  std::string comm_id;
};

/// Looks a variable up; returns nullptr when it is not set.
using EnvLookup = std::function<const char*(const char*)>;

/// Reads, in order of preference, torchrun (RANK, WORLD_SIZE, LOCAL_RANK), Open MPI
/// (OMPI_COMM_WORLD_RANK, ..._SIZE, ..._LOCAL_RANK), Slurm (SLURM_PROCID, SLURM_NTASKS,
/// SLURM_LOCALID), or ncclrt's own NCCLRT_RANK / NCCLRT_WORLD_SIZE / NCCLRT_LOCAL_RANK. Throws
/// UsageError naming any variable that is missing or malformed (not a number, out of range,
/// rank >= size, no rendezvous address).
LaunchInfo parse_launch_environment(const EnvLookup& lookup);
/// The same on this process's environment.
LaunchInfo launch_info_from_environment();

}  // namespace ncclrt
NCCLRT_EXPORT_END
