// `ncclrt doctor`: each check on readings built by hand (one fault each, and a healthy machine
// with no warning), the NCCL list syntax, the merging of every rank's findings, and the command as
// a user runs it on this machine.
#include "doctor.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace {

using ncclrt_tool::DoctorGpu;
using ncclrt_tool::DoctorReadings;
using ncclrt_tool::Finding;
using ncclrt_tool::Severity;

constexpr std::uint64_t kMiB = 1ull << 20;

// A machine on which NCCL works: 4 H100s with NVLink and P2P, NCCL 2.30.7 for CUDA 13.0 on a
// CUDA 13.0 driver, plenty of /dev/shm, unlimited memlock, two HCAs, the variables right.
DoctorReadings healthy() {
  DoctorReadings r;
  r.env = {
      {"NCCL_DEBUG", "WARN"}, {"NCCL_IB_HCA", "mlx5_0:1,mlx5_1:1"}, {"NCCL_SOCKET_IFNAME", "eth0"}};
  r.nccl_path = "/opt/nccl/lib/libnccl.so.2";
  r.nccl_version = "2.30.7";
  r.nccl_found_by = "$NCCLRT_NCCL_LIB";
  r.nccl_cuda_version = 13000;
  r.nccl_names = ncclrt_tool::known_nccl_variables();
  r.driver_version = 13000;
  for (int i = 0; i < 4; ++i) {
    r.gpus.push_back(
        {i, "NVIDIA H100 80GB HBM3", "0000:1" + std::to_string(i) + ":00.0", 18, false, true});
  }
  r.peer_access.assign(4, std::vector<bool>(4, true));
  r.shm_present = true;
  r.shm_total = r.shm_free = 64ull << 30;
  r.local_ranks = 4;
  r.local_ranks_from = "LOCAL_WORLD_SIZE";
  r.ib_devices = {{"mlx5_0", {1}}, {"mlx5_1", {1}}};
  r.net_interfaces = {"eth0", "ib0", "lo"};
  return r;
}

void set_env(DoctorReadings& r, const std::string& name, const std::string& value) {
  r.env.erase(
      std::remove_if(r.env.begin(), r.env.end(), [&](const auto& kv) { return kv.first == name; }),
      r.env.end());
  r.env.emplace_back(name, value);
  std::sort(r.env.begin(), r.env.end());
}

std::string show(const std::vector<Finding>& fs) {
  std::string s;
  for (const auto& f : fs) {
    s += std::string(ncclrt_tool::to_string(f.severity)) + " " + f.check + "/" + f.id + ": " +
         f.text + " -> " + f.todo + "\n";
  }
  return s;
}

// The one finding with this id; fails the test when there is not exactly one.
Finding only(const std::vector<Finding>& fs, const std::string& id) {
  const auto n = std::count_if(fs.begin(), fs.end(), [&](const Finding& f) { return f.id == id; });
  EXPECT_EQ(n, 1) << "findings with id " << id << ":\n" << show(fs);
  for (const auto& f : fs) {
    if (f.id == id) return f;
  }
  return {};
}

void expect_words(const std::string& text, std::initializer_list<std::string> words) {
  for (const auto& w : words) {
    EXPECT_NE(text.find(w), std::string::npos) << "missing \"" << w << "\" in: " << text;
  }
}

// Exactly one finding with this id and severity, its text and advice holding the words given.
void expect_finding(const std::vector<Finding>& fs, const std::string& id, Severity s,
                    std::initializer_list<std::string> text,
                    std::initializer_list<std::string> todo = {}) {
  const Finding f = only(fs, id);
  EXPECT_EQ(f.severity, s) << show(fs);
  expect_words(f.text, text);
  expect_words(f.todo, todo);
  if (s != Severity::kOk) {
    EXPECT_FALSE(f.todo.empty()) << "no advice: " << f.text;
  }
}

int problems(const std::vector<Finding>& fs) {
  return static_cast<int>(std::count_if(
      fs.begin(), fs.end(), [](const Finding& f) { return f.severity != Severity::kOk; }));
}

}  // namespace

TEST(Doctor, HealthyMachineHasNoWarningOrError) {
  const auto fs = ncclrt_tool::diagnose(healthy());
  EXPECT_EQ(problems(fs), 0) << show(fs);
  // Every check reports, fine or not.
  for (const char* check :
       {"nccl", "driver", "gpus", "shm", "memlock", "env", "socket_ifname", "ib_hca"}) {
    EXPECT_TRUE(
        std::any_of(fs.begin(), fs.end(), [&](const Finding& f) { return f.check == check; }))
        << check << " missing:\n"
        << show(fs);
  }
  expect_finding(fs, "nccl_loaded", Severity::kOk,
                 {"NCCL 2.30.7", "built for CUDA 13.0", "/opt/nccl/lib/libnccl.so.2"});
  expect_finding(fs, "gpu_list", Severity::kOk, {"4 x NVIDIA H100 80GB HBM3"});
  expect_finding(fs, "gpu_nvlink", Severity::kOk, {"18 active NVLinks on every GPU"});
  expect_finding(fs, "socket_ifname_ok", Severity::kOk, {"NCCL_SOCKET_IFNAME=eth0 selects eth0"});
  expect_finding(fs, "ib_hca_ok", Severity::kOk, {"selects mlx5_0:1, mlx5_1:1"});
  expect_finding(fs, "env_ok", Severity::kOk, {"3 NCCL_* variables set"});
  EXPECT_EQ(ncclrt_tool::exit_status(ncclrt_tool::merge_reports({{0, "a", 0, fs}})), 0);
}

TEST(Doctor, NoUsableNccl) {
  DoctorReadings r = healthy();
  r.nccl_path.clear();
  r.nccl_version.clear();
  r.nccl_names.clear();
  r.nccl_error = "no libnccl found; tried ...";
  const auto fs = ncclrt_tool::check_nccl(r);
  expect_finding(fs, "nccl_none", Severity::kError, {"no usable NCCL", "no libnccl found"},
                 {"NCCLRT_NCCL_LIB", "--nccl-lib"});
}

TEST(Doctor, AnotherNcclMappedInTheProcess) {
  DoctorReadings r = healthy();
  r.other_nccl_mapped = {"/usr/lib/x86_64-linux-gnu/libnccl.so.2.28.3"};
  expect_finding(ncclrt_tool::check_nccl(r), "nccl_other_mapped", Severity::kError,
                 {"other NCCL files are mapped", "/usr/lib/x86_64-linux-gnu/libnccl.so.2.28.3",
                  "/opt/nccl/lib/libnccl.so.2", "two NCCLs in one process"},
                 {"LD_PRELOAD"});
}

TEST(Doctor, DriverOlderThanNcclsCuda) {
  DoctorReadings r = healthy();
  r.driver_version = 12080;
  expect_finding(
      ncclrt_tool::check_driver(r), "driver_too_old", Severity::kError,
      {"NCCL 2.30.7 was built for CUDA 13.0", "the driver supports CUDA 12.8", "insufficient"},
      {"CUDA >= 13.0", "nvidia-nccl-cu12"});
  // Within one major version CUDA's minor version compatibility runs it: a warning.
  r.driver_version = 13000;
  r.nccl_cuda_version = 13020;
  expect_finding(ncclrt_tool::check_driver(r), "driver_older_minor", Severity::kWarn,
                 {"built for CUDA 13.2", "supports CUDA 13.0", "minor version compatibility"},
                 {"CUDA >= 13.2"});
  // Newer drivers run older CUDA builds.
  r.driver_version = 13020;
  r.nccl_cuda_version = 12090;
  expect_finding(ncclrt_tool::check_driver(r), "driver_ok", Severity::kOk, {"CUDA 12.9"});
}

TEST(Doctor, NoGpuDriverSkipsTheGpuChecks) {
  DoctorReadings r = healthy();
  r.driver_version = 0;
  r.gpus.clear();
  r.peer_access.clear();
  r.gpu_problem = "no CUDA driver (libcuda.so.1 not found)";
  const auto fs = ncclrt_tool::diagnose(r);
  expect_finding(fs, "gpu_no_driver", Severity::kError,
                 {"no GPU driver: GPU checks skipped", "libcuda.so.1 not found"},
                 {"NVIDIA driver"});
  EXPECT_TRUE(ncclrt_tool::check_driver(r).empty()) << "said twice";
}

TEST(Doctor, DriverWithoutGpus) {
  DoctorReadings r = healthy();
  r.gpus.clear();
  r.peer_access.clear();
  r.gpu_problem = "no GPU (cuInit: no CUDA-capable device)";
  expect_finding(ncclrt_tool::check_gpus(r), "gpu_none", Severity::kError,
                 {"sees no GPU", "GPU checks skipped", "no CUDA-capable device"},
                 {"CUDA_VISIBLE_DEVICES"});
}

TEST(Doctor, GpusWithoutPeerAccess) {
  DoctorReadings r = healthy();
  r.peer_access[0][1] = false;
  r.peer_access[3][2] = false;
  expect_finding(ncclrt_tool::check_gpus(r), "gpu_no_peer", Severity::kWarn,
                 {"without peer access (P2P): 0-1, 2-3", "through host memory"},
                 {"nvidia-smi topo -m", "ACS"});
}

TEST(Doctor, NvlinkDownOnOneGpu) {
  DoctorReadings r = healthy();
  r.gpus[3].nvlinks_active = 12;
  expect_finding(ncclrt_tool::check_gpus(r), "gpu_nvlink_down", Severity::kWarn,
                 {"NVLinks down: GPU 3 (12)", "18 active"}, {"nvidia-smi nvlink -s"});
}

TEST(Doctor, MigMode) {
  DoctorReadings r = healthy();
  r.gpus[1].mig_enabled = true;
  expect_finding(ncclrt_tool::check_gpus(r), "gpu_mig", Severity::kWarn,
                 {"GPU 1 is in MIG mode", "no peer access or NVLink"}, {"nvidia-smi -i 1 -mig 0"});
}

TEST(Doctor, PersistenceModeOff) {
  DoctorReadings r = healthy();
  r.gpus[2].persistence_mode = false;
  expect_finding(ncclrt_tool::check_gpus(r), "gpu_persistence", Severity::kWarn,
                 {"GPU 2: persistence mode is off"}, {"nvidia-smi -i 2 -pm 1", "persistenced"});
}

TEST(Doctor, NoNvmlIsSaidNotFailed) {
  DoctorReadings r = healthy();
  r.nvml_problem = "libnvidia-ml.so.1 not found";
  for (auto& g : r.gpus) {
    g.nvlinks_active = -1;
    g.mig_enabled.reset();
    g.persistence_mode.reset();
  }
  const auto fs = ncclrt_tool::check_gpus(r);
  EXPECT_EQ(problems(fs), 0) << show(fs);
  expect_finding(fs, "nvml_absent", Severity::kOk,
                 {"NVML not available", "libnvidia-ml.so.1 not found", "MIG", "persistence"});
}

TEST(Doctor, ShmEstimateAndDockersDefault) {
  // The estimate: two channels of ~9.2 MiB segments per local rank; none for a rank alone.
  EXPECT_EQ(ncclrt_tool::shm_needed(1), 0u);
  EXPECT_GT(ncclrt_tool::shm_needed(2), 36 * kMiB);
  EXPECT_LT(ncclrt_tool::shm_needed(2), 38 * kMiB);
  EXPECT_EQ(ncclrt_tool::shm_needed(8), 4 * ncclrt_tool::shm_needed(2));
  EXPECT_GT(ncclrt_tool::shm_needed(4), 64 * kMiB);  // Docker's default is too small for 4

  DoctorReadings r = healthy();
  r.shm_total = r.shm_free = 64 * kMiB;
  expect_finding(ncclrt_tool::check_shm(r), "shm_small", Severity::kWarn,
                 {"/dev/shm has 64 MiB free of 64 MiB", "needs about 73.6 MiB",
                  "4 local ranks (LOCAL_WORLD_SIZE)", "Docker's default is 64 MiB"},
                 {"--shm-size=1g"});
  r.local_ranks = 2;
  expect_finding(ncclrt_tool::check_shm(r), "shm_ok", Severity::kOk, {"36.8 MiB needed"});
  // Below one segment: NCCL's own error.
  r.shm_free = 8 * kMiB;
  expect_finding(ncclrt_tool::check_shm(r), "shm_small", Severity::kError,
                 {"8 MiB free", "failed to extend /dev/shm/nccl-"}, {"--shm-size=1g"});
  // One rank uses no shared-memory transport.
  r.local_ranks = 1;
  expect_finding(ncclrt_tool::check_shm(r), "shm_ok", Severity::kOk, {"one local rank"});
}

TEST(Doctor, ShmMissingOrTurnedOff) {
  DoctorReadings r = healthy();
  r.shm_present = false;
  expect_finding(ncclrt_tool::check_shm(r), "shm_missing", Severity::kError,
                 {"/dev/shm is missing"}, {"tmpfs"});
  set_env(r, "NCCL_SHM_DISABLE", "1");
  expect_finding(ncclrt_tool::check_shm(r), "shm_disabled", Severity::kOk, {"NCCL_SHM_DISABLE=1"});
}

TEST(Doctor, MemlockWithInfiniband) {
  DoctorReadings r = healthy();
  r.memlock_soft = r.memlock_hard = 64 * 1024;
  expect_finding(ncclrt_tool::check_memlock(r), "memlock_low", Severity::kError,
                 {"memlock limit is 64 KiB (hard 64 KiB)", "mlx5_0 (port 1), mlx5_1 (port 1)",
                  "fails to register"},
                 {"limits.conf", "--ulimit memlock=-1"});
  r.memlock_soft = 1ull << 30;
  r.memlock_hard = DoctorReadings::kUnlimited;
  expect_finding(ncclrt_tool::check_memlock(r), "memlock_low", Severity::kWarn,
                 {"memlock limit is 1 GiB (hard unlimited)", "unlimited"}, {"ulimit -l unlimited"});
  // Without HCAs, or with InfiniBand off, the limit does not matter.
  set_env(r, "NCCL_IB_DISABLE", "1");
  expect_finding(ncclrt_tool::check_memlock(r), "memlock_ib_off", Severity::kOk,
                 {"NCCL_IB_DISABLE=1"});
  r.ib_devices.clear();
  expect_finding(ncclrt_tool::check_memlock(r), "memlock_no_ib", Severity::kOk,
                 {"no InfiniBand devices"});
}

TEST(Doctor, MisspeltVariableNamesTheNearest) {
  DoctorReadings r = healthy();
  set_env(r, "NCCL_SOCKET_IFNAM", "eth0");
  expect_finding(
      ncclrt_tool::check_environment(r), "env_unknown", Severity::kWarn,
      {"NCCL_SOCKET_IFNAM is not a variable NCCL reads", "did you mean NCCL_SOCKET_IFNAME?"},
      {"rename it to NCCL_SOCKET_IFNAME"});
  r = healthy();
  set_env(r, "NCCL_QQQQQQQQQQQQQQQQ", "1");
  expect_finding(ncclrt_tool::check_environment(r), "env_unknown", Severity::kWarn,
                 {"NCCL_QQQQQQQQQQQQQQQQ is not a variable NCCL reads"}, {"unset it"});
  // NVIDIA's container images set NCCL_VERSION to describe their NCCL: not a setting.
  r = healthy();
  set_env(r, "NCCL_VERSION", "2.28.9-1");
  EXPECT_EQ(problems(ncclrt_tool::check_environment(r)), 0);
}

TEST(Doctor, VariableTheLoadedNcclIsTooOldFor) {
  DoctorReadings r = healthy();
  r.nccl_version = "2.28.9";
  r.nccl_names.erase(
      std::remove(r.nccl_names.begin(), r.nccl_names.end(), "NCCL_MULTI_RANK_GPU_ENABLE"),
      r.nccl_names.end());
  set_env(r, "NCCL_MULTI_RANK_GPU_ENABLE", "1");
  expect_finding(ncclrt_tool::check_environment(r), "env_not_in_loaded", Severity::kWarn,
                 {"NCCL_MULTI_RANK_GPU_ENABLE is read by NCCL 2.30.7",
                  "not by the loaded NCCL 2.28.9", "no effect"},
                 {"newer NCCL"});
}

TEST(Doctor, ValuesThatTurnTransportsOff) {
  struct Case {
    const char* name;
    const char* value;
    std::initializer_list<std::string> words;
  };
  const Case cases[] = {
      {"NCCL_P2P_DISABLE", "1", {"NCCL_P2P_DISABLE=1", "peer-to-peer", "host memory"}},
      {"NCCL_P2P_LEVEL", "LOC", {"NCCL_P2P_LEVEL=LOC", "never uses peer-to-peer"}},
      {"NCCL_SHM_DISABLE", "1", {"NCCL_SHM_DISABLE=1", "shared-memory transport off"}},
      {"NCCL_IB_DISABLE", "1", {"NCCL_IB_DISABLE=1", "InfiniBand off", "mlx5_0", "TCP sockets"}},
      {"NCCL_NET", "Socket", {"NCCL_NET=Socket", "'Socket' only", "go unused"}},
      {"NCCL_NET_GDR_LEVEL", "LOC", {"NCCL_NET_GDR_LEVEL=LOC", "GPUDirect RDMA off"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    DoctorReadings r = healthy();
    set_env(r, c.name, c.value);
    const auto fs = ncclrt_tool::check_environment(r);
    expect_finding(fs, "env_transport_off", Severity::kWarn, c.words, {"unset"});
  }
  // The values that leave them on.
  for (const auto& [name, value] : {std::pair<const char*, const char*>{"NCCL_P2P_DISABLE", "0"},
                                    {"NCCL_P2P_LEVEL", "NVL"},
                                    {"NCCL_SHM_DISABLE", "0"}}) {
    DoctorReadings r = healthy();
    set_env(r, name, value);
    EXPECT_EQ(problems(ncclrt_tool::check_environment(r)), 0) << name << "=" << value;
  }
  // InfiniBand off where there is none changes nothing.
  DoctorReadings r = healthy();
  r.ib_devices.clear();
  r.env = {{"NCCL_IB_DISABLE", "1"}};
  EXPECT_EQ(problems(ncclrt_tool::check_environment(r)), 0);
}

TEST(Doctor, NcclListSyntax) {
  auto l = ncclrt_tool::parse_name_list("^=mlx5_0:1,mlx5_1");
  EXPECT_TRUE(l.exclude);
  EXPECT_TRUE(l.exact);
  ASSERT_EQ(l.entries.size(), 2u);
  EXPECT_EQ(l.entries[0].prefix, "mlx5_0");
  EXPECT_EQ(l.entries[0].port, 1);
  EXPECT_EQ(l.entries[1].prefix, "mlx5_1");
  EXPECT_EQ(l.entries[1].port, -1);
  l = ncclrt_tool::parse_name_list("eth,,ib");  // an empty entry is skipped, as NCCL does
  EXPECT_FALSE(l.exclude);
  EXPECT_FALSE(l.exact);
  ASSERT_EQ(l.entries.size(), 2u);

  using ncclrt_tool::parse_name_list;
  using ncclrt_tool::selects;
  EXPECT_TRUE(selects(parse_name_list("eth"), "eth0"));    // a prefix
  EXPECT_FALSE(selects(parse_name_list("=eth"), "eth0"));  // exact
  EXPECT_TRUE(selects(parse_name_list("=eth0"), "eth0"));
  EXPECT_FALSE(selects(parse_name_list("^eth"), "eth0"));  // excluded
  EXPECT_TRUE(selects(parse_name_list("^eth"), "ib0"));
  EXPECT_FALSE(selects(parse_name_list("^=eth"), "eth"));
  EXPECT_TRUE(selects(parse_name_list("^=eth"), "eth0"));
  EXPECT_TRUE(selects(parse_name_list("mlx5_0:1"), "mlx5_0", 1));
  EXPECT_FALSE(selects(parse_name_list("mlx5_0:1"), "mlx5_0", 2));
  EXPECT_TRUE(selects(parse_name_list("mlx5_0"), "mlx5_0", 2));  // no port: any
  EXPECT_TRUE(selects(parse_name_list(""), "anything"));         // no list: everything
}

TEST(Doctor, SocketIfnameMatchingNothing) {
  DoctorReadings r = healthy();
  set_env(r, "NCCL_SOCKET_IFNAME", "nonexistent");
  expect_finding(
      ncclrt_tool::check_socket_ifname(r), "socket_ifname_none", Severity::kError,
      {"NCCL_SOCKET_IFNAME=nonexistent selects none", "(eth0, ib0, lo)", "no socket interface"},
      {"unset it"});
  set_env(r, "NCCL_SOCKET_IFNAME", "eht0");  // a typo of an interface here
  expect_finding(ncclrt_tool::check_socket_ifname(r), "socket_ifname_none", Severity::kError,
                 {"NCCL_SOCKET_IFNAME=eht0"}, {"did you mean eth0?"});
  set_env(r, "NCCL_SOCKET_IFNAME", "=eth");  // exact: no interface is called "eth"
  expect_finding(ncclrt_tool::check_socket_ifname(r), "socket_ifname_none", Severity::kError,
                 {"=eth selects none"});
  set_env(r, "NCCL_SOCKET_IFNAME", "^eth,ib,lo");  // everything excluded
  expect_finding(ncclrt_tool::check_socket_ifname(r), "socket_ifname_none", Severity::kError,
                 {"^eth,ib,lo selects none"});
}

TEST(Doctor, SocketIfnameWithAnEntryThatMatchesNothing) {
  DoctorReadings r = healthy();
  set_env(r, "NCCL_SOCKET_IFNAME", "eth,bond");
  const auto fs = ncclrt_tool::check_socket_ifname(r);
  expect_finding(fs, "socket_ifname_entry", Severity::kWarn,
                 {"NCCL_SOCKET_IFNAME=eth,bond: bond matches no interface here"}, {"bond"});
  expect_finding(fs, "socket_ifname_ok", Severity::kOk, {"selects eth0"});
  set_env(r, "NCCL_SOCKET_IFNAME", "^lo");
  const auto ex = ncclrt_tool::check_socket_ifname(r);
  EXPECT_EQ(problems(ex), 0) << show(ex);
  expect_finding(ex, "socket_ifname_ok", Severity::kOk, {"selects eth0, ib0"});
}

TEST(Doctor, IbHcaAgainstTheDevicesPresent) {
  DoctorReadings r = healthy();
  set_env(r, "NCCL_IB_HCA", "mlx5_9");
  expect_finding(
      ncclrt_tool::check_ib_hca(r), "ib_hca_none", Severity::kError,
      {"NCCL_IB_HCA=mlx5_9 selects none of this host's HCAs", "mlx5_0 (port 1), mlx5_1 (port 1)"},
      {"unset NCCL_IB_HCA"});
  set_env(r, "NCCL_IB_HCA", "mlx5_0:2");  // a port the HCA lacks
  expect_finding(ncclrt_tool::check_ib_hca(r), "ib_hca_none", Severity::kError,
                 {"mlx5_0:2 selects none"});
  set_env(r, "NCCL_IB_HCA", "mlx5_0:2,mlx5_1,mlx5_7");
  auto fs = ncclrt_tool::check_ib_hca(r);
  expect_finding(fs, "ib_hca_entry", Severity::kWarn,
                 {"mlx5_0:2 names a port it lacks", "mlx5_7 matches no HCA"});
  expect_finding(fs, "ib_hca_ok", Severity::kOk, {"selects mlx5_1:1"});
  set_env(r, "NCCL_IB_HCA", "^mlx5_0");
  fs = ncclrt_tool::check_ib_hca(r);
  EXPECT_EQ(problems(fs), 0) << show(fs);
  expect_finding(fs, "ib_hca_ok", Severity::kOk, {"^mlx5_0 selects mlx5_1:1"});
  set_env(r, "NCCL_IB_HCA", "mlx5");
  expect_finding(ncclrt_tool::check_ib_hca(r), "ib_hca_ok", Severity::kOk,
                 {"selects mlx5_0:1, mlx5_1:1"});
  r.ib_devices.clear();
  expect_finding(ncclrt_tool::check_ib_hca(r), "ib_hca_no_devices", Severity::kWarn,
                 {"NCCL_IB_HCA=mlx5", "no InfiniBand devices"}, {"ibv_devices"});
}

TEST(Doctor, VariableTableIsSortedWithoutDuplicates) {
  const auto& names = ncclrt_tool::known_nccl_variables();
  ASSERT_GT(names.size(), 200u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  for (const auto& n : names) {
    EXPECT_EQ(n.rfind("NCCL_", 0), 0u) << n;
    EXPECT_GT(n.size(), 5u) << n;
  }
  for (const char* n : {"NCCL_SOCKET_IFNAME", "NCCL_IB_HCA", "NCCL_P2P_DISABLE", "NCCL_SHM_DISABLE",
                        "NCCL_DEBUG", "NCCL_NET", "NCCL_MULTI_RANK_GPU_ENABLE", "NCCL_COMM_ID"}) {
    EXPECT_TRUE(std::binary_search(names.begin(), names.end(), n)) << n;
  }
}

TEST(Doctor, MergedFindingsNameTheRanksWhereTheyDiffer) {
  const Finding common{Severity::kOk, "nccl", "nccl_loaded", "NCCL 2.30.7", ""};
  const Finding typo{Severity::kWarn, "env", "env_unknown", "NCCL_SOKET_IFNAME ...", "rename"};
  const Finding ifname{Severity::kError, "socket_ifname", "socket_ifname_none", "x", "y"};
  std::vector<ncclrt_tool::RankReport> reports = {
      {2, "b", 0, {common, ifname}},
      {0, "a", 0, {common}},
      {1, "a", 1, {common, ifname}},
      {3, "b", 1, {common, typo, ifname}},
  };
  const auto merged = ncclrt_tool::merge_reports(reports);
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].finding.id, "nccl_loaded");  // rank 0's first
  EXPECT_TRUE(merged[0].ranks.empty());            // every rank
  EXPECT_EQ(ncclrt_tool::where_text(merged[0]), "");
  EXPECT_EQ(merged[1].finding.id, "socket_ifname_none");
  EXPECT_EQ(merged[1].ranks, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(ncclrt_tool::where_text(merged[1]), "ranks 1-3 (hosts a, b)");
  EXPECT_EQ(merged[2].finding.id, "env_unknown");
  EXPECT_EQ(ncclrt_tool::where_text(merged[2]), "rank 3 (host b)");
  EXPECT_EQ(ncclrt_tool::exit_status(merged), 1);
  EXPECT_EQ(ncclrt_tool::exit_status({merged[0], merged[2]}), 0);  // warnings exit 0

  ncclrt_tool::MergedFinding gaps{common, {0, 1, 2, 5, 7, 8}, {"a"}};
  EXPECT_EQ(ncclrt_tool::where_text(gaps), "ranks 0-2, 5, 7-8 (host a)");
}

TEST(Doctor, FindingsTravelBetweenRanksIntact) {
  const std::vector<Finding> fs = {{Severity::kError, "socket_ifname", "socket_ifname_none",
                                    "text\x1f with\x1e separators", "do this"},
                                   {Severity::kOk, "nccl", "nccl_loaded", "NCCL 2.30.7", ""},
                                   {Severity::kWarn, "env", "env_unknown", "NCCL_X", "unset it"}};
  std::uint32_t dropped = 99;
  const std::string bytes = ncclrt_tool::pack_findings(fs, 4096, &dropped);
  EXPECT_EQ(dropped, 0u);
  const auto back = ncclrt_tool::unpack_findings(bytes);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].severity, Severity::kError);
  EXPECT_EQ(back[0].text, "text  with  separators");
  EXPECT_EQ(back[0].todo, "do this");
  EXPECT_EQ(back[1].todo, "");
  EXPECT_EQ(back[2].severity, Severity::kWarn);
  EXPECT_EQ(back[2].check, "env");
  // What does not fit is counted, never cut in half.
  const std::string small = ncclrt_tool::pack_findings(fs, 60, &dropped);
  EXPECT_LE(small.size(), 60u);
  EXPECT_EQ(dropped, 2u);
  EXPECT_EQ(ncclrt_tool::unpack_findings(small).size(), 1u);
  // Bytes that are not whole findings are skipped.
  EXPECT_TRUE(ncclrt_tool::unpack_findings("garbage\x1e"
                                           "7\x1f"
                                           "a\x1f"
                                           "b\x1f"
                                           "c\x1f"
                                           "d\x1e")
                  .empty());
  EXPECT_EQ(ncclrt_tool::unpack_findings(bytes.substr(0, bytes.size() - 3)).size(), 2u);
}

TEST(Doctor, LiveResultsCheckedAndTimed) {
  std::vector<ncclrt_tool::LiveResult> rs;
  for (int r = 0; r < 4; ++r) {
    rs.push_back({r, r < 2 ? "a" : "b", r % 2, 1.5, 200.0, 100.0, 1u << 20, 0, 0});
  }
  auto fs = ncclrt_tool::check_live(rs);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].finding.severity, Severity::kOk);
  expect_words(fs[0].finding.text,
               {"4 ranks on 2 hosts", "init 1.50 s", "all_reduce of 4 MiB 200 us",
                "send/recv ring of 4 MiB 100 us", "data checked, correct on every rank"});
  rs[2].ring_wrong = 17;
  rs[3].ring_us = 5000;
  fs = ncclrt_tool::check_live(rs);
  ASSERT_EQ(fs.size(), 3u);
  EXPECT_EQ(fs[0].finding.text.find("correct on every rank"), std::string::npos);
  EXPECT_EQ(fs[1].finding.severity, Severity::kError);
  EXPECT_EQ(ncclrt_tool::where_text(fs[1]), "rank 2 (host b)");
  expect_words(fs[1].finding.text, {"send/recv ring of 4 MiB gave wrong data", "17 of 1048576"});
  EXPECT_EQ(fs[2].finding.severity, Severity::kWarn);
  EXPECT_EQ(ncclrt_tool::where_text(fs[2]), "rank 3 (host b)");
  expect_words(fs[2].finding.text, {"send/recv ring took 5000 us", "median of 100 us"});
}

// --- The command, run as a user runs it -------------------------------------------------------

namespace {

using DoctorRun = ncclrt_test::CommandRun;

DoctorRun doctor(const std::string& env, const std::string& args) {
  return ncclrt_test::run_command("env " + env + " " + NCCLRT_TOOL + " doctor " + args);
}

// The launchers' variables unset: doctor runs alone unless a test sets them.
const std::string kAlone =
    "-u RANK -u WORLD_SIZE -u LOCAL_RANK -u LOCAL_WORLD_SIZE -u OMPI_COMM_WORLD_RANK "
    "-u OMPI_COMM_WORLD_SIZE -u SLURM_PROCID -u SLURM_NTASKS -u NCCLRT_RANK -u NCCLRT_WORLD_SIZE";

}  // namespace

TEST(Doctor, CommandAloneOnThisMachine) {
  NCCLRT_NEED_REAL_NCCL();
  const DoctorRun r = doctor(kAlone, "--nccl-lib " + ncclrt_test::real_nccl());
  expect_words(r.out,
               {"ncclrt doctor: host ", ", alone, NCCL " + ncclrt_test::real_nccl_version(),
                "[ok]    nccl: NCCL " + ncclrt_test::real_nccl_version(), "[ok]    shm: /dev/shm",
                "memlock: ", "env: ", "socket_ifname: ", "ib_hca: ", "doctor: "});
  if (ncclrt_test::gpu_count() == 0) {
    // No GPU: the GPU checks and the live check say why they were skipped, and doctor exits 1.
    EXPECT_EQ(r.code, 1) << r.out;
    expect_words(r.out, {"[error] gpus: no GPU driver: GPU checks skipped",
                         "[ok]    live: live check skipped: no GPU", "doctor: 1 error"});
  } else {
    expect_words(r.out, {"[ok]    gpus: ", "[ok]    live: 1 rank on 1 host", "data checked"});
  }
}

TEST(Doctor, CommandNamesFaultsInTheEnvironment) {
  NCCLRT_NEED_REAL_NCCL();
  const DoctorRun r = doctor(kAlone +
                                 " NCCL_SOCKET_IFNAM=eth0 NCCL_SOCKET_IFNAME=nonexistent_if "
                                 "NCCL_P2P_DISABLE=1",
                             "--no-live --nccl-lib " + ncclrt_test::real_nccl());
  EXPECT_EQ(r.code, 1) << r.out;
  expect_words(r.out,
               {"[warn]  env: NCCL_SOCKET_IFNAM is not a variable NCCL reads; did you mean "
                "NCCL_SOCKET_IFNAME? -> rename it to NCCL_SOCKET_IFNAME",
                "[warn]  env: NCCL_P2P_DISABLE=1 turns GPU peer-to-peer",
                "[error] socket_ifname: NCCL_SOCKET_IFNAME=nonexistent_if selects none of this "
                "host's interfaces",
                "live check skipped: --no-live"});
}

TEST(Doctor, CommandJson) {
  NCCLRT_NEED_REAL_NCCL();
  const DoctorRun r = doctor(kAlone + " NCCL_SOCKET_IFNAME=nonexistent_if",
                             "--json --no-live --nccl-lib " + ncclrt_test::real_nccl());
  EXPECT_EQ(r.code, 1) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["ok"].get<bool>());
  EXPECT_FALSE(j["all_ranks"].get<bool>());
  EXPECT_EQ(j["ranks"].get<int>(), 1);
  bool seen = false;
  for (const auto& f : j["findings"]) {
    if (f["id"] != "socket_ifname_none") continue;
    seen = true;
    EXPECT_EQ(f["severity"], "error");
    EXPECT_EQ(f["check"], "socket_ifname");
    EXPECT_NE(f["todo"].get<std::string>().find("unset it"), std::string::npos);
  }
  EXPECT_TRUE(seen) << r.out;
}

TEST(Doctor, CommandUnderALauncherNamesItsRank) {
  NCCLRT_NEED_REAL_NCCL();
  if (ncclrt_test::gpu_count() > 0)
    GTEST_SKIP() << "a GPU here: the live check would wait for rank 0";
  // Rank 1 of 2 without a GPU: no live check, its own findings named by rank and host.
  const DoctorRun r = doctor(kAlone +
                                 " NCCLRT_RANK=1 NCCLRT_WORLD_SIZE=2 NCCLRT_LOCAL_RANK=1 "
                                 "NCCL_COMM_ID=127.0.0.1:29999",
                             "--nccl-lib " + ncclrt_test::real_nccl());
  EXPECT_EQ(r.code, 1) << r.out;
  expect_words(r.out,
               {"ncclrt doctor: rank 1 (host ", "its own findings", "[error] gpus: rank 1 (host ",
                "live check skipped: no GPU", "on rank 1 (host "});
  // Launcher variables that are not usable: said, not a crash.
  const DoctorRun bad =
      doctor(kAlone + " RANK=0 WORLD_SIZE=x", "--nccl-lib " + ncclrt_test::real_nccl());
  EXPECT_EQ(bad.code, 1) << bad.out;
  expect_words(bad.out,
               {"[error] launch: ", "the launcher's variables are not usable", "WORLD_SIZE='x'"});
}

TEST(Doctor, CommandUsageErrors) {
  const DoctorRun zero = doctor(kAlone, "--timeout 0");
  EXPECT_EQ(zero.code, 2) << zero.out;
  expect_words(zero.out, {"ncclrt doctor: --timeout: '0' is not a whole number >= 1"});
  const DoctorRun typo = doctor(kAlone, "--no-lve");
  EXPECT_EQ(typo.code, 2) << typo.out;
  expect_words(typo.out, {"did you mean '--no-live'"});
}
