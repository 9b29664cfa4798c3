// `ncclrt doctor`: what stands between this machine (or every rank of a launch) and a working
// NCCL. Readings of the system are plain data; every check is a pure function of them, so each
// finding's text is tested on the CPU without the fault (tests/unit/doctor_test.cpp). Only
// read_doctor_readings() touches the system, and run_doctor() the GPUs and the network.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ncclrt_tool {

enum class Severity { kOk = 0, kWarn = 1, kError = 2 };  // the numbers travel between ranks
const char* to_string(Severity s) noexcept;              // "ok", "warn", "error"

/// One line of the verdict.
struct Finding {
  Severity severity = Severity::kOk;
  std::string check;  ///< the area: "nccl", "driver", "shm", "memlock", "env", "socket_ifname",
                      ///< "ib_hca", "gpus", "nvml", "launch", "live"
  std::string id;     ///< stable, for scripts: "env_unknown", "shm_small", ...
  std::string text;   ///< what was found
  std::string todo;   ///< what to do about it ("" for ok)
};
inline Finding ok(std::string check, std::string id, std::string text) {
  return {Severity::kOk, std::move(check), std::move(id), std::move(text), {}};
}
inline Finding warn(std::string check, std::string id, std::string text, std::string todo) {
  return {Severity::kWarn, std::move(check), std::move(id), std::move(text), std::move(todo)};
}
inline Finding error(std::string check, std::string id, std::string text, std::string todo) {
  return {Severity::kError, std::move(check), std::move(id), std::move(text), std::move(todo)};
}

struct DoctorGpu {
  int index = 0;  ///< CUDA's device number
  std::string name;
  std::string pci_bus_id;
  int nvlinks_active = -1;               ///< NVML; -1: not read
  std::optional<bool> mig_enabled;       ///< NVML; empty: not read
  std::optional<bool> persistence_mode;  ///< NVML; empty: not read
};

/// What doctor reads of one process's machine. Plain data: tests build it by hand.
struct DoctorReadings {
  static constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

  /// The NCCL_* variables set, as (name, value), sorted by name.
  std::vector<std::pair<std::string, std::string>> env;

  // The NCCL that would be loaded.
  std::string nccl_path;      ///< "" when none loads
  std::string nccl_version;   ///< "2.28.9"
  std::string nccl_found_by;  ///< "the dynamic loader's search"
  std::string nccl_error;     ///< why none loads (LoadError's text)
  int nccl_cuda_version = 0;  ///< the CUDA it was built for, 13000 for "+cuda13.0"; 0: unknown
  std::vector<std::string> nccl_names;  ///< NCCL_* names the loaded file reads (sorted)
  /// libnccl files mapped into this process other than the loaded one (/proc/self/maps).
  std::vector<std::string> other_nccl_mapped;

  // The CUDA driver and the GPUs.
  int driver_version = 0;   ///< cuDriverGetVersion: 12080 for 12.8; 0: no driver
  std::string gpu_problem;  ///< "no CUDA driver (...)", "no GPU", a cuInit error; "" when fine
  std::vector<DoctorGpu> gpus;
  /// peer_access[i][j]: GPU i can access GPU j's memory (cuDeviceCanAccessPeer); i == j unused.
  std::vector<std::vector<bool>> peer_access;
  std::string nvml_problem;  ///< "libnvidia-ml.so.1 not found", ...; "" when NVML answered

  // Host resources.
  bool shm_present = false;      ///< /dev/shm is a directory we can statvfs
  std::uint64_t shm_total = 0;   ///< bytes
  std::uint64_t shm_free = 0;    ///< bytes available to this user
  int local_ranks = 1;           ///< ranks of this launch on this host
  std::string local_ranks_from;  ///< the variable it came from ("LOCAL_WORLD_SIZE"), "" if none
  std::uint64_t memlock_soft = kUnlimited;  ///< RLIMIT_MEMLOCK, bytes
  std::uint64_t memlock_hard = kUnlimited;
  /// InfiniBand devices (/sys/class/infiniband) with their port numbers.
  std::vector<std::pair<std::string, std::vector<int>>> ib_devices;
  std::vector<std::string> net_interfaces;  ///< names, as `ip link` shows them
};

/// Every finding about one process's readings, in a fixed order of checks. A check that is fine
/// says so with an ok finding; one that cannot run says why (ok, "... skipped").
std::vector<Finding> diagnose(const DoctorReadings& r);

// The pieces of diagnose(), each on its own readings (tests call them too).
std::vector<Finding> check_nccl(const DoctorReadings& r);
std::vector<Finding> check_driver(const DoctorReadings& r);
std::vector<Finding> check_shm(const DoctorReadings& r);
std::vector<Finding> check_memlock(const DoctorReadings& r);
std::vector<Finding> check_environment(const DoctorReadings& r);
std::vector<Finding> check_socket_ifname(const DoctorReadings& r);
std::vector<Finding> check_ib_hca(const DoctorReadings& r);
std::vector<Finding> check_gpus(const DoctorReadings& r);

/// The NCCL_* variables NCCL 2.30.7 reads, from its sources (nccl_variables.inc), sorted.
const std::vector<std::string>& known_nccl_variables();

/// /dev/shm that NCCL's shared-memory transport needs for `local_ranks` ranks on one host, in
/// bytes (an estimate; doctor_checks.cpp says where it comes from).
std::uint64_t shm_needed(int local_ranks);

/// NCCL's interface and HCA lists (NCCL_SOCKET_IFNAME, NCCL_IB_HCA): "^" excludes, "=" matches
/// names exactly (after "^" when both), entries are comma-separated, each a prefix otherwise,
/// with ":port" for HCAs.
struct NameList {
  bool exclude = false;
  bool exact = false;
  struct Entry {
    std::string prefix;
    int port = -1;  ///< -1: any
  };
  std::vector<Entry> entries;
};
NameList parse_name_list(const std::string& value);
/// Whether `name` (with `port`, -1 for an interface) is selected by the list, as NCCL decides.
bool selects(const NameList& list, const std::string& name, int port = -1);

// --- Across ranks -------------------------------------------------------------------------

/// What one rank contributes to the verdict.
struct RankReport {
  int rank = 0;
  std::string host;
  int device = -1;
  std::vector<Finding> findings;
};

/// A finding with the ranks that have it (empty: every rank).
struct MergedFinding {
  Finding finding;
  std::vector<int> ranks;          ///< sorted; empty when every rank has it
  std::vector<std::string> hosts;  ///< of those ranks, in rank order, once each
};

/// The findings of every rank, each once: with no ranks named where all ranks have it, else
/// with the ranks (and their hosts) that do. Order: as rank 0's, then the others' in rank order.
std::vector<MergedFinding> merge_reports(const std::vector<RankReport>& reports);

/// Findings as text of at most `capacity` bytes, for the all_gather of every rank's record:
/// fields separated by \x1f, findings by \x1e (those bytes in a text become spaces). `dropped`
/// counts the findings that did not fit. unpack_findings() reads it back, skipping what is not a
/// whole finding.
std::string pack_findings(const std::vector<Finding>& findings, std::size_t capacity,
                          std::uint32_t* dropped);
std::vector<Finding> unpack_findings(const std::string& bytes);

/// "rank 3 (host b)", "ranks 0-2, 5 (hosts a, b)".
std::string where_text(const MergedFinding& f);

/// What one rank measured in the live check.
struct LiveResult {
  int rank = 0;
  std::string host;
  int device = -1;
  double init_seconds = 0;
  double all_reduce_us = 0;    ///< per call
  double ring_us = 0;          ///< per grouped send/recv round
  std::uint64_t elements = 0;  ///< per buffer (float32)
  std::uint64_t all_reduce_wrong = 0;
  std::uint64_t ring_wrong = 0;
};
/// The live check's findings for all ranks: the data checked on each rank, the times (the
/// slowest rank named where it is much slower than the median).
std::vector<MergedFinding> check_live(const std::vector<LiveResult>& results);

/// The exit status of a verdict: 1 when any finding is an error, else 0.
int exit_status(const std::vector<MergedFinding>& findings) noexcept;

/// "4 MiB", "1.5 GiB".
std::string bytes_text(std::uint64_t bytes);

// --- The command --------------------------------------------------------------------------

struct DoctorArgs {
  std::string nccl_lib;
  bool json = false;
  int timeout_s = 60;    ///< the live check's deadline (init and each step)
  bool no_live = false;  ///< --no-live: the readings and their checks only
};

/// Reads this process's system (the only code that does).
DoctorReadings read_doctor_readings(const std::string& nccl_lib);

int run_doctor(const DoctorArgs& args);

}  // namespace ncclrt_tool
