#include "ncclrt/launch.hpp"

#include <climits>
#include <cstdlib>
#include <string>

#include "ncclrt/error.hpp"

namespace ncclrt {
namespace {

struct Scheme {
  const char* launcher;
  const char* rank;
  const char* size;
  const char* local_rank;
};
constexpr Scheme kSchemes[] = {
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
    {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
    {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
    {"ncclrt", "NCCLRT_RANK", "NCCLRT_WORLD_SIZE", "NCCLRT_LOCAL_RANK"},
};

// A whole number in [lo, hi], digits only; the error names the variable and its value.
long parse_number(const char* name, const char* value, long lo, long hi) {
  const std::string v = value ? value : "";
  bool digits = !v.empty() && v.size() <= 10;
  for (char c : v) digits = digits && c >= '0' && c <= '9';
  const long n = digits ? std::strtol(v.c_str(), nullptr, 10) : -1;
  if (!digits || n < lo || n > hi) {
    throw UsageError(std::string(name) + "='" + v + "' is not a whole number from " +
                     std::to_string(lo) + " to " + std::to_string(hi) +
                     "; check what your launcher exported");
  }
  return n;
}

const char* required(const EnvLookup& get, const char* launcher, const char* name) {
  const char* v = get(name);
  if (v == nullptr || *v == '\0') {
    throw UsageError(std::string(name) + " is not set, but other " + launcher +
                     " variables are; was the process started by " + launcher + "?");
  }
  return v;
}

void check_address(const char* name, const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw UsageError(std::string(name) + "='" + address +
                     "' is not a host:port address (e.g. 10.0.0.1:29501)");
  }
  parse_number(name, address.substr(colon + 1).c_str(), 1, 65535);
}

}  // namespace

LaunchInfo parse_launch_environment(const EnvLookup& get) {
  const Scheme* scheme = nullptr;
  for (const Scheme& s : kSchemes) {
    const char* r = get(s.rank);
    const char* n = get(s.size);
    if ((r && *r) || (n && *n)) {
      scheme = &s;
      break;
    }
  }
  if (scheme == nullptr) {
    throw UsageError(
        "no launcher variables found: expected RANK/WORLD_SIZE/LOCAL_RANK (torchrun), "
        "OMPI_COMM_WORLD_RANK/_SIZE/_LOCAL_RANK (Open MPI), SLURM_PROCID/SLURM_NTASKS/"
        "SLURM_LOCALID (Slurm) or NCCLRT_RANK/NCCLRT_WORLD_SIZE/NCCLRT_LOCAL_RANK");
  }
  LaunchInfo info;
  info.launcher = scheme->launcher;
  info.size = static_cast<int>(
      parse_number(scheme->size, required(get, scheme->launcher, scheme->size), 1, INT_MAX));
  info.rank = static_cast<int>(
      parse_number(scheme->rank, required(get, scheme->launcher, scheme->rank), 0, info.size - 1));
  info.local_rank = static_cast<int>(parse_number(
      scheme->local_rank, required(get, scheme->launcher, scheme->local_rank), 0, INT_MAX));

  const char* comm_id = get("NCCL_COMM_ID");
  const char* addr = get("MASTER_ADDR");
  const char* port = get("MASTER_PORT");
  if (comm_id && *comm_id) {
    info.comm_id = comm_id;
    check_address("NCCL_COMM_ID", info.comm_id);
  } else if (addr && *addr && port && *port) {
    const long p = parse_number("MASTER_PORT", port, 1, 65534);
    info.comm_id = std::string(addr) + ":" + std::to_string(p + 1);
  } else {
    throw UsageError(
        "no rendezvous address: set NCCL_COMM_ID=host:port (a free port on rank 0's host), or "
        "MASTER_ADDR and MASTER_PORT (ncclrt then uses MASTER_PORT + 1)");
  }
  return info;
}

LaunchInfo launch_info_from_environment() {
  return parse_launch_environment([](const char* name) { return std::getenv(name); });
}

}  // namespace ncclrt
