// The checks of `ncclrt doctor`: pure functions of the readings (doctor.hpp), no system calls.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "doctor.hpp"
#include "gpus.hpp"
#include "nearest.hpp"

namespace ncclrt_tool {
namespace {

std::string joined(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

const std::string* env_value(const DoctorReadings& r, const std::string& name) {
  for (const auto& [k, v] : r.env) {
    if (k == name) return &v;
  }
  return nullptr;
}

// NCCL reads its integer variables with strtoll: "1", " 1", "0x1" are 1; a value that is not a
// number is refused with a warning and the default kept.
bool nonzero_number(const std::string& v) {
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 0);
  return end != v.c_str() && n != 0;
}

std::string nccl_name(const DoctorReadings& r) {
  return r.nccl_version.empty() ? std::string("NCCL") : "NCCL " + r.nccl_version;
}

// "mlx5_0 (port 1), mlx5_1 (ports 1, 2)"
std::string hca_list(const DoctorReadings& r) {
  std::vector<std::string> out;
  for (const auto& [name, ports] : r.ib_devices) {
    std::vector<std::string> p;
    for (int n : ports) p.push_back(std::to_string(n));
    out.push_back(name + (p.empty()       ? std::string()
                          : p.size() == 1 ? " (port " + p[0] + ")"
                                          : " (ports " + joined(p) + ")"));
  }
  return joined(out);
}

// 13000 -> "13.0"; 0 -> "unknown".
std::string cuda_text(int code) { return code > 0 ? cuda_version_text(code) : "unknown"; }

}  // namespace

const char* to_string(Severity s) noexcept {
  switch (s) {
    case Severity::kOk:
      return "ok";
    case Severity::kWarn:
      return "warn";
    case Severity::kError:
      return "error";
  }
  return "?";
}

const std::vector<std::string>& known_nccl_variables() {
  static const std::vector<std::string> names{
#include "nccl_variables.inc"
  };
  return names;
}

std::string bytes_text(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0 || v >= 100 || v == static_cast<double>(static_cast<std::uint64_t>(v))) {
    std::snprintf(buf, sizeof buf, "%.0f %s", v, units[u]);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  }
  return buf;
}

// What NCCL's shared-memory transport maps in /dev/shm (NCCL 2.30.7, src/transport/shm.cc
// shmSendSetup/shmRecvSetup and src/init.cc computeBuffSizes): per connection one segment holding
// the buffers of its three protocols, at their defaults
//   SIMPLE  DEFAULT_BUFFSIZE 4 MiB
//   LL128   NCCL_LL128_ELEMS_PER_THREAD 120 * NCCL_LL128_MAX_NTHREADS 640 * NCCL_STEPS 8 * 8 B
//           = 4.69 MiB
//   LL      NCCL_LL_LINES_PER_THREAD 8 * NCCL_LL_MAX_NTHREADS 512 * NCCL_STEPS 8 * 16 B = 512 KiB
// plus its ncclSendMem/ncclRecvMem header (under 8 KiB): about 9.2 MiB ("failed to extend
// /dev/shm/nccl-* to ... bytes" in NCCL's troubleshooting guide is this segment failing). A ring
// has one connection per rank per channel, and NCCL builds at least two channels: so at least
// 2 x 9.2 MiB per local rank (trees and more channels take more). With 4 ranks that is already
// above Docker's default /dev/shm of 64 MiB, the classic failure; the guide's advice is
// `--shm-size=1g`. One rank alone needs none. (From NCCL 2.24 with a CUDA 12.6 driver NCCL
// prefers cuMem host memory over /dev/shm, but falls back to /dev/shm where that does not work,
// e.g. in Docker without NUMA support: the estimate stays the one to meet.)
constexpr std::uint64_t kShmPerConnection =
    (4u << 20) + 120u * 640 * 8 * 8 + 8u * 512 * 8 * 16 + (8u << 10);
constexpr std::uint64_t kShmChannels = 2;

std::uint64_t shm_needed(int local_ranks) {
  if (local_ranks <= 1) return 0;
  return static_cast<std::uint64_t>(local_ranks) * kShmChannels * kShmPerConnection;
}

std::vector<Finding> check_nccl(const DoctorReadings& r) {
  std::vector<Finding> out;
  if (r.nccl_path.empty()) {
    out.push_back(error("nccl", "nccl_none", "no usable NCCL: " + r.nccl_error,
                        "install NCCL (pip install nvidia-nccl-cu13, or the cu12 one for a CUDA "
                        "12 driver) or name a libnccl.so.2 with NCCLRT_NCCL_LIB or --nccl-lib"));
  } else {
    out.push_back(
        ok("nccl", "nccl_loaded",
           nccl_name(r) +
               (r.nccl_cuda_version > 0 ? " (built for CUDA " + cuda_text(r.nccl_cuda_version) + ")"
                                        : std::string()) +
               " from " + r.nccl_path +
               (r.nccl_found_by.empty() ? "" : " (found by " + r.nccl_found_by + ")")));
  }
  if (!r.other_nccl_mapped.empty()) {
    out.push_back(
        error("nccl", "nccl_other_mapped",
              "other NCCL files are mapped in this process besides " +
                  (r.nccl_path.empty() ? std::string("the one doctor loads") : r.nccl_path) + ": " +
                  joined(r.other_nccl_mapped) +
                  "; two NCCLs in one process can mix their symbols and state",
              "keep one NCCL: remove the other from LD_PRELOAD or from what links it, or load that "
              "same file (NCCLRT_NCCL_LIB)"));
  }
  return out;
}

std::vector<Finding> check_driver(const DoctorReadings& r) {
  std::vector<Finding> out;
  if (r.driver_version == 0) return out;  // check_gpus says there is no driver
  const std::string driver = "the driver supports CUDA " + cuda_text(r.driver_version);
  if (r.nccl_cuda_version == 0) {
    if (!r.nccl_path.empty()) {
      out.push_back(ok("driver", "driver_nccl_cuda_unknown",
                       driver + "; the CUDA version " + nccl_name(r) +
                           " was built for is not in its file: not compared"));
    }
    return out;
  }
  const std::string built = nccl_name(r) + " was built for CUDA " + cuda_text(r.nccl_cuda_version);
  if (r.driver_version / 1000 < r.nccl_cuda_version / 1000) {
    out.push_back(error(
        "driver", "driver_too_old",
        built + " but " + driver + ": NCCL fails to start ('CUDA driver version is insufficient')",
        "install a driver for CUDA >= " + std::to_string(r.nccl_cuda_version / 1000) +
            ".0, or use an NCCL built for CUDA " + std::to_string(r.driver_version / 1000) +
            " (pip install nvidia-nccl-cu" + std::to_string(r.driver_version / 1000) + ")"));
  } else if (r.driver_version < r.nccl_cuda_version) {
    out.push_back(warn("driver", "driver_older_minor",
                       built + " and " + driver +
                           ": it runs through CUDA's minor version compatibility, with what "
                           "needs the newer driver (such as cuMem host memory) off",
                       "update the driver to one for CUDA >= " + cuda_text(r.nccl_cuda_version)));
  } else {
    out.push_back(ok("driver", "driver_ok", built + "; " + driver));
  }
  return out;
}

std::vector<Finding> check_gpus(const DoctorReadings& r) {
  std::vector<Finding> out;
  if (r.driver_version == 0) {
    out.push_back(error("gpus", "gpu_no_driver",
                        "no GPU driver: GPU checks skipped (" + r.gpu_problem + ")",
                        "run doctor where the GPUs are; install the NVIDIA driver (nvidia-smi "
                        "must list the GPUs)"));
    return out;
  }
  if (r.gpus.empty()) {
    out.push_back(error("gpus", "gpu_none",
                        "the driver sees no GPU: GPU checks skipped" +
                            (r.gpu_problem.empty() ? "" : " (" + r.gpu_problem + ")"),
                        "check CUDA_VISIBLE_DEVICES and that nvidia-smi lists the GPUs"));
    return out;
  }
  std::map<std::string, int> by_name;
  for (const auto& g : r.gpus) by_name[g.name]++;
  std::vector<std::string> kinds;
  for (const auto& [name, n] : by_name) kinds.push_back(std::to_string(n) + " x " + name);
  out.push_back(ok("gpus", "gpu_list", joined(kinds)));

  std::vector<std::string> no_peer;
  for (std::size_t i = 0; i < r.gpus.size(); ++i) {
    for (std::size_t j = i + 1; j < r.gpus.size(); ++j) {
      const bool ij =
          i < r.peer_access.size() && j < r.peer_access[i].size() && r.peer_access[i][j];
      const bool ji =
          j < r.peer_access.size() && i < r.peer_access[j].size() && r.peer_access[j][i];
      if (!ij || !ji) {
        no_peer.push_back(std::to_string(r.gpus[i].index) + "-" + std::to_string(r.gpus[j].index));
      }
    }
  }
  if (!no_peer.empty()) {
    out.push_back(warn("gpus", "gpu_no_peer",
                       "GPU pairs without peer access (P2P): " + joined(no_peer) +
                           "; NCCL passes their data through host memory, far slower",
                       "see `nvidia-smi topo -m`; on PCIe machines turn off ACS/IOMMU "
                       "redirection, in a VM enable P2P for the GPUs"));
  } else if (r.gpus.size() > 1) {
    out.push_back(ok("gpus", "gpu_peer", "every GPU pair has peer access (P2P)"));
  }

  int most = 0;
  for (const auto& g : r.gpus) most = std::max(most, g.nvlinks_active);
  if (most > 0) {
    std::vector<std::string> fewer;
    for (const auto& g : r.gpus) {
      if (g.nvlinks_active >= 0 && g.nvlinks_active < most) {
        fewer.push_back("GPU " + std::to_string(g.index) + " (" + std::to_string(g.nvlinks_active) +
                        ")");
      }
    }
    if (fewer.empty()) {
      out.push_back(
          ok("gpus", "gpu_nvlink", std::to_string(most) + " active NVLinks on every GPU"));
    } else {
      out.push_back(warn("gpus", "gpu_nvlink_down",
                         "NVLinks down: " + joined(fewer) + " against " + std::to_string(most) +
                             " active on the others",
                         "see `nvidia-smi nvlink -s`; a GPU reset or the machine's vendor"));
    }
  }
  for (const auto& g : r.gpus) {
    const std::string gpu = "GPU " + std::to_string(g.index);
    if (g.mig_enabled.value_or(false)) {
      out.push_back(warn("gpus", "gpu_mig",
                         gpu + " is in MIG mode: its instances have no peer access or NVLink, "
                               "and NCCL runs one rank per instance through host memory",
                         "for multi-GPU work turn MIG off: nvidia-smi -i " +
                             std::to_string(g.index) + " -mig 0 (then reset the GPU)"));
    }
    if (g.persistence_mode.has_value() && !*g.persistence_mode) {
      out.push_back(
          warn("gpus", "gpu_persistence",
               gpu + ": persistence mode is off; every process start waits for "
                     "the driver to bring the GPU up",
               "nvidia-smi -i " + std::to_string(g.index) + " -pm 1, or run nvidia-persistenced"));
    }
  }
  if (!r.nvml_problem.empty()) {
    out.push_back(ok("nvml", "nvml_absent",
                     "NVML not available (" + r.nvml_problem +
                         "): MIG, persistence mode and NVLink not checked"));
  }
  return out;
}

std::vector<Finding> check_shm(const DoctorReadings& r) {
  std::vector<Finding> out;
  const std::string* disabled = env_value(r, "NCCL_SHM_DISABLE");
  const std::uint64_t need = shm_needed(r.local_ranks);
  const std::string ranks = std::to_string(r.local_ranks) + " local rank" +
                            (r.local_ranks == 1 ? "" : "s") +
                            (r.local_ranks_from.empty() ? "" : " (" + r.local_ranks_from + ")");
  if (disabled && nonzero_number(*disabled)) {
    out.push_back(ok("shm", "shm_disabled", "/dev/shm not checked: NCCL_SHM_DISABLE=" + *disabled));
    return out;
  }
  if (!r.shm_present) {
    out.push_back((need > 0 ? error : warn)(
        "shm", "shm_missing",
        "/dev/shm is missing: NCCL's shared-memory transport and its proxy need it (" + ranks + ")",
        "mount a tmpfs on /dev/shm (in Docker: --shm-size=1g)"));
    return out;
  }
  const std::string have =
      "/dev/shm has " + bytes_text(r.shm_free) + " free of " + bytes_text(r.shm_total);
  if (need == 0) {
    out.push_back(ok("shm", "shm_ok", have + "; one local rank needs none for transport"));
  } else if (r.shm_free < kShmPerConnection) {
    out.push_back(error("shm", "shm_small",
                        have + ", less than one connection's buffers (" +
                            bytes_text(kShmPerConnection) +
                            "); NCCL fails at init with \"failed "
                            "to extend /dev/shm/nccl-...\" (" +
                            ranks + ")",
                        "give /dev/shm more room: docker run --shm-size=1g, or mount -o "
                        "remount,size=1G /dev/shm"));
  } else if (r.shm_free < need) {
    out.push_back(warn("shm", "shm_small",
                       have + "; NCCL's shared-memory transport needs about " + bytes_text(need) +
                           " for " + ranks + " (Docker's default is 64 MiB)",
                       "give /dev/shm more room: docker run --shm-size=1g, or mount -o "
                       "remount,size=1G /dev/shm"));
  } else {
    out.push_back(
        ok("shm", "shm_ok", have + "; about " + bytes_text(need) + " needed for " + ranks));
  }
  return out;
}

std::vector<Finding> check_memlock(const DoctorReadings& r) {
  std::vector<Finding> out;
  if (r.ib_devices.empty()) {
    out.push_back(ok("memlock", "memlock_no_ib", "no InfiniBand devices: memlock not checked"));
    return out;
  }
  const std::string* ib_off = env_value(r, "NCCL_IB_DISABLE");
  if (ib_off && nonzero_number(*ib_off)) {
    out.push_back(
        ok("memlock", "memlock_ib_off", "memlock not checked: NCCL_IB_DISABLE=" + *ib_off));
    return out;
  }
  auto limit = [](std::uint64_t v) {
    return v == DoctorReadings::kUnlimited ? std::string("unlimited") : bytes_text(v);
  };
  if (r.memlock_soft == DoctorReadings::kUnlimited) {
    out.push_back(
        ok("memlock", "memlock_ok", "memlock limit unlimited (InfiniBand: " + hca_list(r) + ")"));
    return out;
  }
  const std::string todo =
      r.memlock_hard == DoctorReadings::kUnlimited || r.memlock_hard > r.memlock_soft
          ? "raise the soft limit before starting (`ulimit -l unlimited`; the hard limit is " +
                limit(r.memlock_hard) +
                "); under Slurm or systemd set it where the job starts (LimitMEMLOCK=infinity)"
          : "raise the hard limit: '* - memlock unlimited' in /etc/security/limits.conf, or "
            "docker run --ulimit memlock=-1";
  const std::string text = "the memlock limit is " + limit(r.memlock_soft) + " (hard " +
                           limit(r.memlock_hard) + ") with InfiniBand devices here (" +
                           hca_list(r) + "): NCCL pins its buffers for the HCAs";
  if (r.memlock_soft < (64ull << 20)) {
    out.push_back(error("memlock", "memlock_low", text + " and fails to register them", todo));
  } else {
    out.push_back(warn("memlock", "memlock_low", text + "; NCCL's guide asks for unlimited", todo));
  }
  return out;
}

std::vector<Finding> check_environment(const DoctorReadings& r) {
  std::vector<Finding> out;
  const auto& table = known_nccl_variables();
  std::vector<std::string> candidates = table;
  candidates.insert(candidates.end(), r.nccl_names.begin(), r.nccl_names.end());
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  const bool loaded = !r.nccl_names.empty();
  int set = 0;
  for (const auto& [name, value] : r.env) {
    if (name.rfind("NCCL_", 0) != 0) continue;
    // NVIDIA's CUDA container images describe the NCCL they ship with it; not a setting.
    if (name == "NCCL_VERSION") continue;
    ++set;
    const bool in_file = std::binary_search(r.nccl_names.begin(), r.nccl_names.end(), name);
    const bool in_table = std::binary_search(table.begin(), table.end(), name);
    if (loaded ? in_file : in_table) continue;
    if (in_table) {
      out.push_back(warn("env", "env_not_in_loaded",
                         name + " is read by NCCL 2.30.7 but not by the loaded " + nccl_name(r) +
                             ": it has no effect here",
                         "load a newer NCCL, or unset " + name));
      continue;
    }
    // Past the NCCL_ prefix, about one edit in three is a typo rather than another name.
    const std::size_t limit = std::max<std::size_t>(2, (name.size() - 5) / 3);
    const auto near = ncclrt::util::nearest_names(name, candidates, limit, 1);
    out.push_back(warn("env", "env_unknown",
                       name + " is not a variable NCCL reads" +
                           (near.empty() ? "" : "; did you mean " + near.front() + "?"),
                       near.empty() ? "unset it (a typo, or another program's variable)"
                                    : "rename it to " + near.front()));
  }

  const std::string* v = nullptr;
  auto off = [&](const std::string& name, const std::string& text, const std::string& todo) {
    out.push_back(warn("env", "env_transport_off", name + "=" + *v + " " + text, todo));
  };
  if ((v = env_value(r, "NCCL_P2P_DISABLE")) && nonzero_number(*v)) {
    off("NCCL_P2P_DISABLE",
        "turns GPU peer-to-peer (NVLink, PCIe P2P) off: data between GPUs of a host goes "
        "through host memory",
        "unset NCCL_P2P_DISABLE, unless P2P is broken here (then fix P2P: ACS, IOMMU)");
  }
  if ((v = env_value(r, "NCCL_P2P_LEVEL")) && (*v == "LOC" || *v == "0")) {
    off("NCCL_P2P_LEVEL", "never uses peer-to-peer between GPUs (LOC: same GPU only)",
        "unset NCCL_P2P_LEVEL, or NVL / PIX / SYS to allow P2P");
  }
  if ((v = env_value(r, "NCCL_SHM_DISABLE")) && nonzero_number(*v)) {
    off("NCCL_SHM_DISABLE",
        "turns the shared-memory transport off: ranks of one host without P2P talk through "
        "the network",
        "unset NCCL_SHM_DISABLE");
  }
  if ((v = env_value(r, "NCCL_IB_DISABLE")) && nonzero_number(*v) && !r.ib_devices.empty()) {
    off("NCCL_IB_DISABLE",
        "turns InfiniBand off although this host has " + hca_list(r) +
            ": NCCL uses TCP sockets between hosts",
        "unset NCCL_IB_DISABLE");
  }
  if ((v = env_value(r, "NCCL_NET"))) {
    std::string text = "makes NCCL use the network '" + *v + "' only, and fail if it is absent";
    if (!r.ib_devices.empty() && *v != "IB") {
      text += "; the InfiniBand devices here (" + hca_list(r) + ") go unused";
    }
    off("NCCL_NET", text, "unset NCCL_NET to let NCCL choose");
  }
  if ((v = env_value(r, "NCCL_NET_GDR_LEVEL")) && (*v == "LOC" || *v == "0") &&
      !r.ib_devices.empty()) {
    off("NCCL_NET_GDR_LEVEL",
        "turns GPUDirect RDMA off: network data is staged through host memory",
        "unset NCCL_NET_GDR_LEVEL");
  }
  if (out.empty()) {
    out.push_back(ok("env", "env_ok",
                     set == 0 ? "no NCCL_* variables set"
                              : std::to_string(set) + " NCCL_* variable" + (set == 1 ? "" : "s") +
                                    " set, each read by " + (loaded ? nccl_name(r) : "NCCL") +
                                    ", none turning a transport off"));
  }
  return out;
}

NameList parse_name_list(const std::string& value) {
  NameList l;
  std::size_t at = 0;
  if (at < value.size() && value[at] == '^') {
    l.exclude = true;
    ++at;
  }
  if (at < value.size() && value[at] == '=') {
    l.exact = true;
    ++at;
  }
  while (at <= value.size()) {
    std::size_t end = value.find(',', at);
    if (end == std::string::npos) end = value.size();
    const std::string entry = value.substr(at, end - at);
    // As NCCL's parseStringList: "name[:port[:rail[:plane]]]", an empty name skipped.
    const std::size_t colon = entry.find(':');
    NameList::Entry e;
    e.prefix = entry.substr(0, colon);
    if (colon != std::string::npos) {
      const std::string port = entry.substr(colon + 1, entry.find(':', colon + 1) - colon - 1);
      if (!port.empty()) e.port = std::atoi(port.c_str());
    }
    if (!e.prefix.empty()) l.entries.push_back(e);
    at = end + 1;
  }
  return l;
}

bool selects(const NameList& list, const std::string& name, int port) {
  // NCCL's matchIfList: an empty list takes everything; exact compares whole names, otherwise
  // the entry is a prefix; ports match when either side has none.
  bool match = list.entries.empty();
  for (const auto& e : list.entries) {
    const bool name_ok = list.exact ? name == e.prefix : name.rfind(e.prefix, 0) == 0;
    if (name_ok && (port == -1 || e.port == -1 || port == e.port)) {
      match = true;
      break;
    }
  }
  return list.entries.empty() ? true : match != list.exclude;
}

std::vector<Finding> check_socket_ifname(const DoctorReadings& r) {
  std::vector<Finding> out;
  const std::string* v = env_value(r, "NCCL_SOCKET_IFNAME");
  if (!v) {
    out.push_back(
        ok("socket_ifname", "socket_ifname_unset",
           "NCCL_SOCKET_IFNAME not set: NCCL picks an interface (not lo or docker* "
           "while another exists) from " +
               (r.net_interfaces.empty() ? std::string("none") : joined(r.net_interfaces))));
    return out;
  }
  const NameList list = parse_name_list(*v);
  const std::string setting = "NCCL_SOCKET_IFNAME=" + *v;
  const std::string present =
      r.net_interfaces.empty() ? std::string("none") : joined(r.net_interfaces);
  std::vector<std::string> chosen;
  for (const auto& i : r.net_interfaces) {
    if (selects(list, i)) chosen.push_back(i);
  }
  if (chosen.empty()) {
    std::string hint;
    for (const auto& e : list.entries) {
      const auto near = ncclrt::util::nearest_names(
          e.prefix, r.net_interfaces, std::max<std::size_t>(2, e.prefix.size() / 3), 1);
      if (!near.empty() && !list.exclude) {
        hint = " (did you mean " + near.front() + "?)";
        break;
      }
    }
    out.push_back(error("socket_ifname", "socket_ifname_none",
                        setting + " selects none of this host's interfaces (" + present +
                            "): NCCL's bootstrap finds no socket interface and init fails",
                        "set it to an interface this host has" + hint + ", or unset it"));
    return out;
  }
  if (!list.exclude) {
    std::vector<std::string> unmatched;
    for (const auto& e : list.entries) {
      NameList one{false, list.exact, {e}};
      const bool any = std::any_of(r.net_interfaces.begin(), r.net_interfaces.end(),
                                   [&](const std::string& i) { return selects(one, i); });
      if (!any) unmatched.push_back(e.prefix);
    }
    if (!unmatched.empty()) {
      out.push_back(warn("socket_ifname", "socket_ifname_entry",
                         setting + ": " + joined(unmatched) +
                             " matches no interface here (present: " + present + ")",
                         "correct or remove " + joined(unmatched)));
    }
  }
  out.push_back(ok("socket_ifname", "socket_ifname_ok", setting + " selects " + joined(chosen)));
  return out;
}

std::vector<Finding> check_ib_hca(const DoctorReadings& r) {
  std::vector<Finding> out;
  const std::string* v = env_value(r, "NCCL_IB_HCA");
  if (!v) {
    out.push_back(ok("ib_hca", "ib_hca_unset",
                     r.ib_devices.empty()
                         ? "no InfiniBand devices (/sys/class/infiniband): NCCL uses TCP "
                           "sockets between hosts, or a network plugin"
                         : "NCCL_IB_HCA not set: NCCL may use every HCA: " + hca_list(r)));
    return out;
  }
  const std::string setting = "NCCL_IB_HCA=" + *v;
  if (r.ib_devices.empty()) {
    out.push_back(warn("ib_hca", "ib_hca_no_devices",
                       setting + " is set but this host has no InfiniBand devices "
                                 "(/sys/class/infiniband is empty): NCCL uses TCP sockets",
                       "check the HCA driver (ibv_devices lists them), or unset NCCL_IB_HCA"));
    return out;
  }
  const NameList list = parse_name_list(*v);
  std::vector<std::string> chosen;
  for (const auto& [name, ports] : r.ib_devices) {
    for (int p : ports) {
      if (selects(list, name, p)) chosen.push_back(name + ":" + std::to_string(p));
    }
  }
  if (chosen.empty()) {
    out.push_back(error("ib_hca", "ib_hca_none",
                        setting + " selects none of this host's HCAs (" + hca_list(r) +
                            "): NCCL cannot use InfiniBand here",
                        "name an HCA (and port) this host has, or unset NCCL_IB_HCA"));
    return out;
  }
  if (!list.exclude) {
    std::vector<std::string> problems;
    for (const auto& e : list.entries) {
      bool name_seen = false, port_seen = false;
      for (const auto& [name, ports] : r.ib_devices) {
        const bool name_ok = list.exact ? name == e.prefix : name.rfind(e.prefix, 0) == 0;
        if (!name_ok) continue;
        name_seen = true;
        port_seen = port_seen || e.port == -1 ||
                    std::find(ports.begin(), ports.end(), e.port) != ports.end();
      }
      if (!name_seen) {
        problems.push_back(e.prefix + " matches no HCA");
      } else if (!port_seen) {
        problems.push_back(e.prefix + ":" + std::to_string(e.port) + " names a port it lacks");
      }
    }
    if (!problems.empty()) {
      out.push_back(
          warn("ib_hca", "ib_hca_entry",
               setting + ": " + joined(problems, "; ") + " (present: " + hca_list(r) + ")",
               "correct or remove those entries"));
    }
  }
  out.push_back(ok("ib_hca", "ib_hca_ok", setting + " selects " + joined(chosen)));
  return out;
}

std::vector<Finding> diagnose(const DoctorReadings& r) {
  std::vector<Finding> out;
  for (auto check : {check_nccl, check_driver, check_gpus, check_shm, check_memlock,
                     check_environment, check_socket_ifname, check_ib_hca}) {
    auto f = check(r);
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

}  // namespace ncclrt_tool
