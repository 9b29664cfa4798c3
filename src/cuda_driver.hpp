// The few CUDA driver calls ncclrt itself needs, through libcuda loaded at run time: ncclrt
// builds and loads without CUDA and only needs a driver where it must pick a device, wait for a
// stream or look at graph capture. None of these is on the collective path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

struct CUstream_st;

namespace ncclrt::detail {

/// Why the CUDA driver cannot be used here ("no CUDA driver (libcuda.so.1 could not be
/// loaded)", a cuInit failure), or "" when it can.
std::string driver_problem() noexcept;
/// Number of GPUs the driver sees; throws Error with the reason when there is no driver or GPU.
int cuda_device_count();
/// Makes `device`'s primary context current on this thread (what cudaSetDevice does), so NCCL
/// creates the communicator on it.
void cuda_set_device(int device);
/// Number of streaming multiprocessors of `device`; throws Error when the driver cannot say.
int cuda_sm_count(int device);

/// Keeps this thread's current CUDA context for a scope and puts it back at its end.
class CurrentContextScope {
 public:
  CurrentContextScope() noexcept;
  ~CurrentContextScope();
  CurrentContextScope(const CurrentContextScope&) = delete;
  CurrentContextScope& operator=(const CurrentContextScope&) = delete;

 private:
  void* saved_ = nullptr;
  bool valid_ = false;
};

enum class Capture { kNone, kActive, kOtherStream };
/// Whether `stream` is being captured into a CUDA graph (kActive), or, for the legacy stream,
/// whether a global-mode capture elsewhere forbids synchronous work (kOtherStream). kNone when
/// there is no driver: without one nothing can be captured.
Capture capture_status(CUstream_st* stream) noexcept;
/// Whether a capture in progress forbids calls that synchronize (registration, creation, ...):
/// the legacy and per-thread default streams (a global-mode capture on a blocking stream shows
/// there) and `stream`, when given, are asked. A capture on another non-blocking stream that the
/// caller does not name cannot be seen: CUDA has no query for it.
bool capture_forbids_sync(CUstream_st* stream = nullptr) noexcept;

enum class StreamState { kDone, kBusy, kError };
/// cuStreamQuery.
StreamState stream_state(CUstream_st* stream) noexcept;

/// An event recorded on `stream` now (cuEventRecord), to see later whether the work enqueued so
/// far has finished. Null when there is no driver.
void* record_event(CUstream_st* stream);
StreamState event_state(void* event) noexcept;
void destroy_event(void* event) noexcept;

/// Pinned host memory the GPU can write (cuMemHostAlloc, portable and mapped), zeroed, and its
/// device address. Needs a current context; throws Error with the reason.
struct HostMapped {
  void* host = nullptr;
  std::uint64_t device = 0;
};
HostMapped host_mapped_alloc(std::size_t bytes);
void host_mapped_free(void* host) noexcept;

/// cuStreamWriteValue64 (a stream memory operation: captured into a CUDA graph as a node) and a
/// capture query with the capture's id (cuStreamGetCaptureInfo), for the flight recorder's
/// progress mode; null where the driver lacks them. Both return CUDA's result (0: success).
using StreamWriteValueFn = int (*)(CUstream_st*, std::uint64_t, std::uint64_t, unsigned);
StreamWriteValueFn stream_write_value64() noexcept;
using CaptureInfoFn = int (*)(CUstream_st*, int*, unsigned long long*);
CaptureInfoFn stream_capture_info() noexcept;
/// cuLaunchHostFunc: `fn(data)` runs on a driver thread when the stream reaches it; captured into
/// a CUDA graph as a host node, it runs on every launch of the graph. Null without a driver.
using LaunchHostFuncFn = int (*)(CUstream_st*, void (*)(void*), void*);
LaunchHostFuncFn launch_host_func() noexcept;

}  // namespace ncclrt::detail
