#include "cuda_driver.hpp"

#include <dlfcn.h>

#include <cstring>
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
  int (*cuCtxGetCurrent)(void**) = nullptr;
  int (*cuDeviceGetAttribute)(int*, int, int) = nullptr;
  int (*cuStreamIsCapturing)(CUstream_st*, int*) = nullptr;
  int (*cuStreamQuery)(CUstream_st*) = nullptr;
  int (*cuEventCreate)(void**, unsigned) = nullptr;
  int (*cuEventRecord)(void*, CUstream_st*) = nullptr;
  int (*cuEventQuery)(void*) = nullptr;
  int (*cuEventDestroy)(void*) = nullptr;
  int (*cuMemHostAlloc)(void**, std::size_t, unsigned) = nullptr;
  int (*cuMemHostGetDevicePointer)(std::uint64_t*, void*, unsigned) = nullptr;
  int (*cuMemFreeHost)(void*) = nullptr;
  int (*cuStreamWriteValue64)(CUstream_st*, std::uint64_t, std::uint64_t, unsigned) = nullptr;
  int (*cuLaunchHostFunc)(CUstream_st*, void (*)(void*), void*) = nullptr;
  // v3 (CUDA >= 12.3) has one more out-parameter than v2 (edge data); both may be null.
  int (*cuStreamGetCaptureInfo3)(CUstream_st*, int*, unsigned long long*, void**, const void**,
                                 const void**, std::size_t*) = nullptr;
  int (*cuStreamGetCaptureInfo2)(CUstream_st*, int*, unsigned long long*, void**, const void**,
                                 std::size_t*) = nullptr;
};

constexpr int kNotReady = 600;         // CUDA_ERROR_NOT_READY
constexpr int kCaptureImplicit = 906;  // CUDA_ERROR_STREAM_CAPTURE_IMPLICIT
constexpr int kCaptureActive = 1;      // CU_STREAM_CAPTURE_STATUS_ACTIVE
CUstream_st* const kLegacyStream = reinterpret_cast<CUstream_st*>(0x1);  // CU_STREAM_LEGACY

template <class F>
void bind(void* h, const char* name, F& f) {
  f = reinterpret_cast<F>(::dlsym(h, name));
}

const Driver& loaded() {
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
    bind(h, "cuCtxGetCurrent", r.cuCtxGetCurrent);
    bind(h, "cuDeviceGetAttribute", r.cuDeviceGetAttribute);
    bind(h, "cuStreamIsCapturing", r.cuStreamIsCapturing);
    bind(h, "cuStreamQuery", r.cuStreamQuery);
    bind(h, "cuEventCreate", r.cuEventCreate);
    bind(h, "cuEventRecord", r.cuEventRecord);
    bind(h, "cuEventQuery", r.cuEventQuery);
    bind(h, "cuEventDestroy_v2", r.cuEventDestroy);
    bind(h, "cuMemHostAlloc", r.cuMemHostAlloc);
    bind(h, "cuMemHostGetDevicePointer_v2", r.cuMemHostGetDevicePointer);
    bind(h, "cuMemFreeHost", r.cuMemFreeHost);
    bind(h, "cuStreamWriteValue64_v2", r.cuStreamWriteValue64);
    if (!r.cuStreamWriteValue64) bind(h, "cuStreamWriteValue64", r.cuStreamWriteValue64);
    bind(h, "cuLaunchHostFunc", r.cuLaunchHostFunc);
    bind(h, "cuStreamGetCaptureInfo_v3", r.cuStreamGetCaptureInfo3);
    bind(h, "cuStreamGetCaptureInfo_v2", r.cuStreamGetCaptureInfo2);
    if (!r.cuInit || !r.cuDeviceGetCount || !r.cuDeviceGet || !r.cuDevicePrimaryCtxRetain ||
        !r.cuCtxSetCurrent) {
      r.problem = "the CUDA driver lacks the context functions ncclrt needs";
    } else if (int rc = r.cuInit(0); rc != 0) {
      r.problem = "cuInit failed with CUDA error " + std::to_string(rc) +
                  (rc == 100 ? " (no CUDA-capable device)" : "");
    }
    return r;
  }();
  return d;
}

const Driver& driver() {
  const Driver& d = loaded();
  if (!d.problem.empty()) throw Error("ncclrt: " + d.problem);
  return d;
}

// The driver when it is usable, else null: for the checks that must not throw.
const Driver* usable() noexcept {
  try {
    const Driver& d = loaded();
    return d.problem.empty() ? &d : nullptr;
  } catch (...) {
    return nullptr;
  }
}

StreamState state_of(int rc) noexcept {
  if (rc == 0) return StreamState::kDone;
  return rc == kNotReady ? StreamState::kBusy : StreamState::kError;
}

}  // namespace

std::string driver_problem() noexcept {
  try {
    return loaded().problem;
  } catch (...) {
    return "the CUDA driver could not be asked";
  }
}

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

int cuda_sm_count(int device) {
  const Driver& d = driver();
  constexpr int kMultiprocessorCount = 16;  // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
  int dev = 0, sms = 0;
  int rc = d.cuDeviceGetAttribute ? d.cuDeviceGet(&dev, device) : -1;
  if (rc == 0) rc = d.cuDeviceGetAttribute(&sms, kMultiprocessorCount, dev);
  if (rc != 0 || sms < 1) {
    throw Error("ncclrt: cannot read the multiprocessor count of GPU " + std::to_string(device) +
                ": CUDA error " + std::to_string(rc));
  }
  return sms;
}

CurrentContextScope::CurrentContextScope() noexcept {
  const Driver* d = usable();
  valid_ = d && d->cuCtxGetCurrent && d->cuCtxGetCurrent(&saved_) == 0;
}

CurrentContextScope::~CurrentContextScope() {
  if (const Driver* d = usable(); d && valid_) d->cuCtxSetCurrent(saved_);
}

Capture capture_status(CUstream_st* stream) noexcept {
  const Driver* d = usable();
  if (d == nullptr || d->cuStreamIsCapturing == nullptr) return Capture::kNone;
  int status = 0;
  const int rc = d->cuStreamIsCapturing(stream, &status);
  if (rc == kCaptureImplicit) return Capture::kOtherStream;
  return rc == 0 && status == kCaptureActive ? Capture::kActive : Capture::kNone;
}

bool capture_forbids_sync(CUstream_st* stream) noexcept {
  CUstream_st* const per_thread = reinterpret_cast<CUstream_st*>(0x2);  // CU_STREAM_PER_THREAD
  return capture_status(kLegacyStream) != Capture::kNone ||
         capture_status(per_thread) != Capture::kNone ||
         (stream != nullptr && capture_status(stream) != Capture::kNone);
}

StreamState stream_state(CUstream_st* stream) noexcept {
  const Driver* d = usable();
  if (d == nullptr || d->cuStreamQuery == nullptr) return StreamState::kError;
  return state_of(d->cuStreamQuery(stream));
}

void* record_event(CUstream_st* stream) {
  const Driver& d = driver();
  if (!d.cuEventCreate || !d.cuEventRecord) throw Error("ncclrt: the CUDA driver lacks events");
  void* e = nullptr;
  constexpr unsigned kDisableTiming = 0x2;  // CU_EVENT_DISABLE_TIMING
  int rc = d.cuEventCreate(&e, kDisableTiming);
  if (rc == 0) rc = d.cuEventRecord(e, stream);
  if (rc != 0) {
    if (e) d.cuEventDestroy(e);
    throw Error("ncclrt: cannot record an event on the stream: CUDA error " + std::to_string(rc));
  }
  return e;
}

StreamState event_state(void* event) noexcept {
  const Driver* d = usable();
  if (d == nullptr || event == nullptr) return StreamState::kError;
  return state_of(d->cuEventQuery(event));
}

void destroy_event(void* event) noexcept {
  const Driver* d = usable();
  if (d && event) d->cuEventDestroy(event);
}

HostMapped host_mapped_alloc(std::size_t bytes) {
  const Driver& d = driver();
  if (!d.cuMemHostAlloc || !d.cuMemFreeHost) {
    throw Error("ncclrt: the CUDA driver lacks cuMemHostAlloc");
  }
  constexpr unsigned kPortable = 0x1, kDeviceMap = 0x2;  // CU_MEMHOSTALLOC_*
  HostMapped m;
  if (int rc = d.cuMemHostAlloc(&m.host, bytes, kPortable | kDeviceMap); rc != 0) {
    throw Error("ncclrt: cuMemHostAlloc of " + std::to_string(bytes) +
                " bytes failed with CUDA error " + std::to_string(rc) +
                (rc == 201 ? " (no current CUDA context)" : ""));
  }
  std::memset(m.host, 0, bytes);
  // With unified addressing (every 64-bit platform CUDA supports) the two are the same.
  if (!d.cuMemHostGetDevicePointer || d.cuMemHostGetDevicePointer(&m.device, m.host, 0) != 0) {
    m.device = reinterpret_cast<std::uintptr_t>(m.host);
  }
  return m;
}

void host_mapped_free(void* host) noexcept {
  const Driver* d = usable();
  if (d && host && d->cuMemFreeHost) d->cuMemFreeHost(host);
}

StreamWriteValueFn stream_write_value64() noexcept {
  const Driver* d = usable();
  return d ? d->cuStreamWriteValue64 : nullptr;
}

LaunchHostFuncFn launch_host_func() noexcept {
  const Driver* d = usable();
  return d ? d->cuLaunchHostFunc : nullptr;
}

namespace {
int capture_info_v3(CUstream_st* s, int* status, unsigned long long* id) {
  return loaded().cuStreamGetCaptureInfo3(s, status, id, nullptr, nullptr, nullptr, nullptr);
}
int capture_info_v2(CUstream_st* s, int* status, unsigned long long* id) {
  return loaded().cuStreamGetCaptureInfo2(s, status, id, nullptr, nullptr, nullptr);
}
}  // namespace

CaptureInfoFn stream_capture_info() noexcept {
  const Driver* d = usable();
  if (d == nullptr) return nullptr;
  if (d->cuStreamGetCaptureInfo3) return capture_info_v3;
  return d->cuStreamGetCaptureInfo2 ? capture_info_v2 : nullptr;
}

}  // namespace ncclrt::detail
