// The readings of `ncclrt doctor`: the only part of its checks that looks at the system.
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <limits.h>
#include <net/if.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <ncclrt/ncclrt.hpp>
#include <set>
#include <sstream>

#include "commands.hpp"
#include "doctor.hpp"
#include "gpus.hpp"

extern char** environ;

namespace ncclrt_tool {
namespace {

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : p;
}

// The entries of a directory, sorted; none when it cannot be read.
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The CUDA version a libnccl file was built for, from the banner NCCL prints
// ("NCCL version 2.28.9+cuda13.0"), found in the file's read-only data (an ELF64 .rodata is
// ~0.2 MB of a ~200 MB file). 13000 for 13.0; 0 when it is not there.
int nccl_cuda_version(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr eh{};
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof eh)) return 0;
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum) {
    return 0;
  }
  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  in.seekg(static_cast<std::streamoff>(eh.e_shoff));
  in.read(reinterpret_cast<char*>(sections.data()),
          static_cast<std::streamsize>(sections.size() * sizeof(Elf64_Shdr)));
  if (!in) return 0;
  auto read = [&](const Elf64_Shdr& sh) {
    // Bounded: a damaged header must not make us allocate what the file does not hold.
    if (sh.sh_size > (256u << 20)) return std::string();
    std::string out(sh.sh_size, '\0');
    in.seekg(static_cast<std::streamoff>(sh.sh_offset));
    in.read(out.data(), static_cast<std::streamsize>(out.size()));
    return in ? out : std::string();
  };
  const std::string names = read(sections[eh.e_shstrndx]);
  for (const auto& sh : sections) {
    if (sh.sh_name >= names.size() || std::strcmp(names.c_str() + sh.sh_name, ".rodata") != 0) {
      continue;
    }
    const std::string data = read(sh);
    for (std::size_t at = data.find("NCCL version "); at != std::string::npos;
         at = data.find("NCCL version ", at + 1)) {
      const std::size_t cuda = data.find("+cuda", at);
      if (cuda == std::string::npos || cuda > at + 40) continue;
      int major = 0, minor = 0;
      if (std::sscanf(data.c_str() + cuda, "+cuda%d.%d", &major, &minor) == 2) {
        return major * 1000 + minor * 10;
      }
    }
  }
  return 0;
}

// libnccl files mapped into this process (/proc/self/maps), real paths.
std::vector<std::string> mapped_nccl() {
  std::set<std::string> out;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    const std::size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string base = path.substr(path.rfind('/') + 1);
    if (base.rfind("libnccl.so", 0) == 0) out.insert(real_path(path));
  }
  return {out.begin(), out.end()};
}

// The number of ranks on this host, from the launcher, where it says.
void local_ranks(DoctorReadings& r) {
  for (const char* name : {"LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                           "SLURM_NTASKS_PER_NODE"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (*end == '\0' && n >= 1 && n <= 1 << 20) {
      r.local_ranks = static_cast<int>(n);
      r.local_ranks_from = name;
      return;
    }
  }
}

using nvmlDevice = void*;

// MIG, persistence mode and active NVLinks of each GPU, through NVML loaded at run time.
void read_nvml(DoctorReadings& r) {
  void* h = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    r.nvml_problem = "libnvidia-ml.so.1 not found";
    return;
  }
  using InitFn = int (*)();
  using ByBusFn = int (*)(const char*, nvmlDevice*);
  using StateFn = int (*)(nvmlDevice, unsigned*);
  using MigFn = int (*)(nvmlDevice, unsigned*, unsigned*);
  using LinkFn = int (*)(nvmlDevice, unsigned, unsigned*);
  auto init = reinterpret_cast<InitFn>(::dlsym(h, "nvmlInit_v2"));
  auto shutdown = reinterpret_cast<InitFn>(::dlsym(h, "nvmlShutdown"));
  auto by_bus = reinterpret_cast<ByBusFn>(::dlsym(h, "nvmlDeviceGetHandleByPciBusId_v2"));
  auto persistence = reinterpret_cast<StateFn>(::dlsym(h, "nvmlDeviceGetPersistenceMode"));
  auto mig = reinterpret_cast<MigFn>(::dlsym(h, "nvmlDeviceGetMigMode"));
  auto link = reinterpret_cast<LinkFn>(::dlsym(h, "nvmlDeviceGetNvLinkState"));
  if (!init || !shutdown || !by_bus) {
    r.nvml_problem = "libnvidia-ml.so.1 lacks nvmlInit_v2 or nvmlDeviceGetHandleByPciBusId_v2";
    return;  // NVML stays loaded: unloading a driver library is not worth the risk
  }
  if (const int rc = init(); rc != 0) {
    r.nvml_problem = "nvmlInit failed with NVML error " + std::to_string(rc);
    return;
  }
  for (auto& g : r.gpus) {
    nvmlDevice d = nullptr;
    if (g.pci_bus_id.empty() || by_bus(g.pci_bus_id.c_str(), &d) != 0) continue;
    unsigned state = 0, pending = 0;
    if (persistence && persistence(d, &state) == 0) g.persistence_mode = state != 0;
    // NVML_ERROR_NOT_SUPPORTED (3) on GPUs without MIG: not in MIG mode.
    if (mig) {
      const int rc = mig(d, &state, &pending);
      if (rc == 0) g.mig_enabled = state != 0;
      if (rc == 3) g.mig_enabled = false;
    }
    if (link) {
      int active = 0;
      for (unsigned l = 0; l < 18; ++l) {  // NVML_NVLINK_MAX_LINKS
        unsigned on = 0;
        if (link(d, l, &on) == 0 && on) ++active;
      }
      g.nvlinks_active = active;
    }
  }
  shutdown();
}

// Peer access between the GPUs (cuDeviceCanAccessPeer); the driver is loaded already.
void read_peer_access(DoctorReadings& r) {
  void* h = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (h == nullptr) return;
  using GetFn = int (*)(int*, int);
  using PeerFn = int (*)(int*, int, int);
  auto get = reinterpret_cast<GetFn>(::dlsym(h, "cuDeviceGet"));
  auto can = reinterpret_cast<PeerFn>(::dlsym(h, "cuDeviceCanAccessPeer"));
  const std::size_t n = r.gpus.size();
  r.peer_access.assign(n, std::vector<bool>(n, false));
  if (!get || !can) return;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      int a = 0, b = 0, yes = 0;
      if (i != j && get(&a, r.gpus[i].index) == 0 && get(&b, r.gpus[j].index) == 0 &&
          can(&yes, a, b) == 0) {
        r.peer_access[i][j] = yes != 0;
      }
    }
  }
  ::dlclose(h);  // drops the reference RTLD_NOLOAD took; list_gpus' stays
}

}  // namespace

DoctorReadings read_doctor_readings(const std::string& nccl_lib) {
  DoctorReadings r;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "NCCL_", 5) != 0) continue;
    const char* eq = std::strchr(*e, '=');
    if (eq) r.env.emplace_back(std::string(*e, static_cast<std::size_t>(eq - *e)), eq + 1);
  }
  std::sort(r.env.begin(), r.env.end());

  try {
    ncclrt::LoadOptions o;
    o.path = nccl_lib;
    auto lib = ncclrt::Library::open(o);
    r.nccl_path = lib->path();
    r.nccl_version = lib->version().str();
    r.nccl_found_by = for_cli(ncclrt::to_string(lib->found_by()), "--nccl-lib");
    r.nccl_cuda_version = nccl_cuda_version(lib->path());
    try {
      r.nccl_names = lib->environment_names();
    } catch (const ncclrt::Error&) {
      // Unreadable file: the variables are checked against NCCL 2.30.7's list alone.
    }
    const std::string loaded = real_path(lib->path());
    for (const auto& p : mapped_nccl()) {
      if (p != loaded) r.other_nccl_mapped.push_back(p);
    }
  } catch (const ncclrt::Error& e) {
    r.nccl_error = for_cli(e.what(), "--nccl-lib");
    r.other_nccl_mapped = mapped_nccl();
  }

  const GpuReport g = list_gpus();
  r.driver_version = g.driver_found ? g.driver_version : 0;
  r.gpu_problem = g.problem;
  for (const auto& d : g.gpus) r.gpus.push_back({d.index, d.name, d.pci_bus_id, -1, {}, {}});
  if (!r.gpus.empty()) {
    read_peer_access(r);
    read_nvml(r);
  }

  struct statvfs fs {};
  struct stat st {};
  if (::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && ::statvfs("/dev/shm", &fs) == 0) {
    r.shm_present = true;
    r.shm_total = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
    r.shm_free = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  }
  local_ranks(r);

  rlimit lim{};
  if (::getrlimit(RLIMIT_MEMLOCK, &lim) == 0) {
    r.memlock_soft = lim.rlim_cur == RLIM_INFINITY ? DoctorReadings::kUnlimited : lim.rlim_cur;
    r.memlock_hard = lim.rlim_max == RLIM_INFINITY ? DoctorReadings::kUnlimited : lim.rlim_max;
  }
  for (const auto& dev : entries("/sys/class/infiniband")) {
    std::vector<int> ports;
    for (const auto& p : entries("/sys/class/infiniband/" + dev + "/ports")) {
      ports.push_back(std::atoi(p.c_str()));
    }
    std::sort(ports.begin(), ports.end());
    r.ib_devices.emplace_back(dev, ports);
  }
  if (struct if_nameindex* ifs = ::if_nameindex()) {
    for (const struct if_nameindex* i = ifs; i->if_index != 0; ++i)
      r.net_interfaces.push_back(i->if_name);
    ::if_freenameindex(ifs);
  }
  std::sort(r.net_interfaces.begin(), r.net_interfaces.end());
  return r;
}

}  // namespace ncclrt_tool
