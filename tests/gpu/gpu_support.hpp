// Shared by the GPU tests: CUDA helpers, and one harness that checks every operation's numbers
// on N ranks (N = 1 on one GPU, N = all GPUs in the multi_gpu suite), eager and CUDA-graph.
#pragma once

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <ncclrt/ncclrt.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "host_values.hpp"

#define CUDA_OK(expr)                                                      \
  do {                                                                     \
    cudaError_t e_ = (expr);                                               \
    ASSERT_EQ(e_, cudaSuccess) << #expr << ": " << cudaGetErrorString(e_); \
  } while (0)

namespace gpu_test {

/// The number of GPUs, or 0 with the reason.
inline int gpu_count(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    // The runtime reports a missing driver as "driver version is insufficient": say what it is.
    void* driver = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (driver == nullptr) driver = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    *why = driver == nullptr
               ? std::string("no NVIDIA driver on this machine (libcuda.so.1 not found)")
               : std::string("no usable GPU: ") + cudaGetErrorString(e);
    return 0;
  }
  if (n == 0) *why = "no GPU visible";
  return n;
}

#define NCCLRT_NEED_GPUS(k)                                                                       \
  do {                                                                                            \
    std::string why_;                                                                             \
    const int have_ = ::gpu_test::gpu_count(&why_);                                               \
    if (have_ < (k)) {                                                                            \
      GTEST_SKIP() << "needs " << (k) << " GPU(s), found " << have_ << (why_.empty() ? "" : "; ") \
                   << why_;                                                                       \
    }                                                                                             \
  } while (0)

/// The NCCL the GPU tests use: discovery's ($NCCLRT_NCCL_LIB, else the usual places), opened once.
inline std::shared_ptr<const ncclrt::Library> nccl() {
  static auto lib = ncclrt::Library::open();
  return lib;
}

/// Device memory, freed at scope end.
struct DeviceBuffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  explicit DeviceBuffer(std::size_t n) : bytes(n) {
    if (cudaMalloc(&ptr, n == 0 ? 1 : n) != cudaSuccess) ptr = nullptr;
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T = void>
  T* as(std::size_t element_offset = 0, std::size_t elem = 1) const {
    return reinterpret_cast<T*>(static_cast<char*>(ptr) + element_offset * elem);
  }
};

// Host values of every type (shared with `ncclrt bench`).
using ncclrt_tool::load_value;
using ncclrt_tool::store_value;

// ---- the operations, as data: how big, what goes in, what must come out ----

struct OpCase {
  std::string name;
  bool in_place = false;
  // Element counts of the send and recv buffers for `count` and `n` ranks.
  std::function<std::size_t(std::size_t count, int n)> send_elems, recv_elems;
  // In place: where send and recv start inside one buffer (element offsets).
  std::function<std::size_t(std::size_t count, int r)> send_offset, recv_offset;
  // Input element j of rank r; expected recv element j of rank r (nullopt: not checked).
  std::function<double(int r, int n, std::size_t j, std::size_t count, int iter)> input;
  std::function<std::optional<double>(int r, int n, std::size_t j, std::size_t count, int iter)>
      expected;
  std::function<void(const ncclrt::Communicator&, const void*, void*, std::size_t, ncclrt::DataType,
                     cudaStream_t, const ncclrt::PreMulSum*)>
      issue;
};

inline double base(std::size_t j, int iter) { return static_cast<double>((j + iter) % 7) + 1; }
inline std::size_t zero(std::size_t, int) { return 0; }

/// Every operation, out of place and (where NCCL allows) in place.
std::vector<OpCase> all_op_cases();

inline std::vector<std::string> all_op_names() {
  std::vector<std::string> names;
  for (const auto& c : all_op_cases()) names.push_back(c.name);
  return names;
}

/// Runs `c` on every rank (one thread per rank, comms[r] on its own device and stream) for
/// `type` and `count`, eagerly or captured once into a CUDA graph and replayed for several
/// inputs. Checks every checked element on every rank. Returns "" or the first mismatch.
std::string run_case(const OpCase& c, std::vector<ncclrt::Communicator>& comms,
                     ncclrt::DataType type, std::size_t count, bool graph);

/// One thread per rank.
inline void on_each_rank(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) threads.emplace_back(fn, r);
  for (auto& t : threads) t.join();
}

}  // namespace gpu_test
