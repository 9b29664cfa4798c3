#include "gpus.hpp"

#include <dlfcn.h>

namespace ncclrt_tool {

GpuReport list_gpus() {
  GpuReport r;
  void* h = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    r.problem = "no CUDA driver (libcuda.so.1 not found)";
    return r;
  }
  r.driver_found = true;
  using InitFn = int (*)(unsigned);
  using IntFn = int (*)(int*);
  using GetFn = int (*)(int*, int);
  using NameFn = int (*)(char*, int, int);
  using MemFn = int (*)(std::size_t*, int);
  using PciFn = int (*)(char*, int, int);
  auto init = reinterpret_cast<InitFn>(::dlsym(h, "cuInit"));
  auto driver_version = reinterpret_cast<IntFn>(::dlsym(h, "cuDriverGetVersion"));
  auto count = reinterpret_cast<IntFn>(::dlsym(h, "cuDeviceGetCount"));
  auto get = reinterpret_cast<GetFn>(::dlsym(h, "cuDeviceGet"));
  auto name = reinterpret_cast<NameFn>(::dlsym(h, "cuDeviceGetName"));
  auto mem = reinterpret_cast<MemFn>(::dlsym(h, "cuDeviceTotalMem_v2"));
  auto pci = reinterpret_cast<PciFn>(::dlsym(h, "cuDeviceGetPCIBusId"));
  if (!init || !count || !get || !name) {
    r.problem = "the CUDA driver library lacks the device query functions";
    return r;
  }
  if (driver_version) driver_version(&r.driver_version);
  if (int rc = init(0); rc != 0) {
    r.problem = rc == 100 ? "no GPU (cuInit: no CUDA-capable device)"
                          : "cuInit failed with CUDA error " + std::to_string(rc);
    return r;
  }
  int n = 0;
  if (count(&n) != 0 || n == 0) {
    r.problem = "no GPU";
    return r;
  }
  for (int i = 0; i < n; ++i) {
    int dev = 0;
    if (get(&dev, i) != 0) continue;
    Gpu g;
    g.index = i;
    char buf[256] = {};
    if (name(buf, sizeof buf, dev) == 0) g.name = buf;
    if (mem) mem(&g.memory_bytes, dev);
    char bus[64] = {};
    if (pci && pci(bus, sizeof bus, dev) == 0) g.pci_bus_id = bus;
    r.gpus.push_back(g);
  }
  // The driver stays loaded: unloading it after cuInit is not supported.
  return r;
}

}  // namespace ncclrt_tool
