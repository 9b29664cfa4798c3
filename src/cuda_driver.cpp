#include "cuda_driver.hpp"

#include <dlfcn.h>

#include <string>

#include "ncclrt/error.hpp"

namespace ncclrt::detail {
namespace {

struct Driver {
  std::string problem;
  int (*cuInit)(unsigned) = nullptr;
  int (*cuDeviceGetCount)(int*) = nullptr;
  int (*cuDeviceGet)(int*, int) = nullptr;
  int (*cuDevicePrimaryCtxRetain)(void**, int) = nullptr;
  int (*cuCtxSetCurrent)(void*) = nullptr;
};

template <class F>
void bind(void* h, const char* name, F& f) {
  f = reinterpret_cast<F>(::dlsym(h, name));
}

const Driver& driver() {
  static const Driver d = [] {
    Driver r;
    void* h = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      r.problem = "no CUDA driver (libcuda.so.1 could not be loaded)";
      return r;
    }
    bind(h, "cuInit", r.cuInit);
    bind(h, "cuDeviceGetCount", r.cuDeviceGetCount);
    bind(h, "cuDeviceGet", r.cuDeviceGet);
    bind(h, "cuDevicePrimaryCtxRetain", r.cuDevicePrimaryCtxRetain);
    bind(h, "cuCtxSetCurrent", r.cuCtxSetCurrent);
    if (!r.cuInit || !r.cuDeviceGetCount || !r.cuDeviceGet || !r.cuDevicePrimaryCtxRetain ||
        !r.cuCtxSetCurrent) {
      r.problem = "the CUDA driver lacks the context functions ncclrt needs";
    } else if (int rc = r.cuInit(0); rc != 0) {
      r.problem = "cuInit failed with CUDA error " + std::to_string(rc) +
                  (rc == 100 ? " (no CUDA-capable device)" : "");
    }
    return r;
  }();
  if (!d.problem.empty()) throw Error("ncclrt: " + d.problem);
  return d;
}

}  // namespace

int cuda_device_count() {
  int n = 0;
  if (int rc = driver().cuDeviceGetCount(&n); rc != 0) {
    throw Error("ncclrt: cuDeviceGetCount failed with CUDA error " + std::to_string(rc));
  }
  if (n == 0) throw Error("ncclrt: no GPU visible (check CUDA_VISIBLE_DEVICES)");
  return n;
}

void cuda_set_device(int device) {
  const Driver& d = driver();
  int dev = 0;
  void* ctx = nullptr;
  int rc = d.cuDeviceGet(&dev, device);
  if (rc == 0) rc = d.cuDevicePrimaryCtxRetain(&ctx, dev);
  if (rc == 0) rc = d.cuCtxSetCurrent(ctx);
  if (rc != 0) {
    throw Error("ncclrt: cannot make GPU " + std::to_string(device) + " current: CUDA error " +
                std::to_string(rc));
  }
}

}  // namespace ncclrt::detail
