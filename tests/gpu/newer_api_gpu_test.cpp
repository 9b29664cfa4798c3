// One GPU, the calls NCCL added from 2.28.7 on, with whichever NCCL is loaded: revoke, suspend /
// resume with the memory they free, one-sided signals to self, per-call config, parameters. A
// call the loaded NCCL lacks skips with the release it needs.
#include <cstdio>
#include <cstdlib>

#include "gpu_support.hpp"

using namespace ncclrt;
using gpu_test::DeviceBuffer;

namespace {

using gpu_test::nccl;

#define NEED_FUNCTION(f)                                                              \
  do {                                                                                \
    NCCLRT_NEED_GPUS(1);                                                              \
    if (!nccl()->has(Function::f)) {                                                  \
      GTEST_SKIP() << #f " needs NCCL >= " << since(Function::f).str() << "; loaded " \
                   << nccl()->version().str() << " from " << nccl()->path();          \
    }                                                                                 \
    CUDA_OK(cudaSetDevice(0));                                                        \
  } while (0)

Communicator one_rank() { return Communicator::init_rank(nccl(), 1, 0, nccl()->unique_id()); }

// all_reduce(sum) of `n` floats i % 13 on one rank, out of place: the output equals the input.
void expect_all_reduce_works(const Communicator& comm, std::size_t n) {
  DeviceBuffer in(n * sizeof(float)), out(n * sizeof(float));
  std::vector<float> h(n);
  for (std::size_t i = 0; i < n; ++i) h[i] = float(i % 13);
  ASSERT_EQ(cudaMemcpy(in.ptr, h.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemset(out.ptr, 0, n * sizeof(float)), cudaSuccess);
  comm.all_reduce(in.as<float>(), out.as<float>(), n, ReduceOp::kSum, nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<float> got(n);
  ASSERT_EQ(cudaMemcpy(got.data(), out.ptr, n * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], float(i % 13)) << i;
}

std::string mib(std::uint64_t bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", double(bytes) / (1 << 20));
  return b;
}

}  // namespace

TEST(NewerApiGpu, RevokeThenSplitIsTheRecoveryPathThenDestroy) {
  NEED_FUNCTION(ncclCommRevoke);
  Communicator comm = one_rank();
  expect_all_reduce_works(comm, 1 << 16);
  comm.revoke();
  EXPECT_TRUE(comm.revoked());
  EXPECT_THROW(comm.all_reduce(nullptr, nullptr, 0, DataType::kFloat32, ReduceOp::kSum, nullptr),
               UsageError);
  EXPECT_THROW(comm.finalize(), UsageError);
  // On one rank, shrink would leave nobody: split makes the fresh communicator instead.
  Communicator fresh = comm.split(0, 0);
  expect_all_reduce_works(fresh, 1 << 16);
  comm.destroy();
  fresh.finalize();
  fresh.destroy();
}

TEST(NewerApiGpu, SuspendFreesMemoryAndResumeGivesAWorkingCommunicator) {
  NEED_FUNCTION(ncclCommSuspend);
  Communicator comm = one_rank();
  expect_all_reduce_works(comm, 1 << 20);  // so NCCL has allocated what it needs
  const MemoryStats before = comm.memory_stats();
  std::size_t free_before = 0, free_suspended = 0, total = 0;
  cudaMemGetInfo(&free_before, &total);
  comm.suspend();
  const MemoryStats during = comm.memory_stats();
  cudaMemGetInfo(&free_suspended, &total);
  EXPECT_TRUE(during.suspended);
  EXPECT_FALSE(before.suspended);
  EXPECT_THROW(comm.all_reduce(nullptr, nullptr, 0, DataType::kFloat32, ReduceOp::kSum, nullptr),
               UsageError);
  comm.resume();
  const MemoryStats after = comm.memory_stats();
  std::printf(
      "memory_stats (NCCL %s): before suspend: suspendable %s, persistent %s, total %s; "
      "suspended: suspendable %s, persistent %s, total %s, flag %d; resumed: suspendable %s, "
      "total %s, flag %d; cudaMemGetInfo free: %s before, %s suspended\n",
      nccl()->version().str().c_str(), mib(before.suspendable_bytes).c_str(),
      mib(before.persistent_bytes).c_str(), mib(before.total_bytes).c_str(),
      mib(during.suspendable_bytes).c_str(), mib(during.persistent_bytes).c_str(),
      mib(during.total_bytes).c_str(), int(during.suspended), mib(after.suspendable_bytes).c_str(),
      mib(after.total_bytes).c_str(), int(after.suspended), mib(free_before).c_str(),
      mib(free_suspended).c_str());
  EXPECT_FALSE(after.suspended);
  EXPECT_EQ(before.total_bytes, before.suspendable_bytes + before.persistent_bytes);
  EXPECT_LE(during.total_bytes, before.total_bytes);
  expect_all_reduce_works(comm, 1 << 20);
  {
    SuspendGuard guard(comm);
    EXPECT_TRUE(comm.suspended());
  }
  expect_all_reduce_works(comm, 1 << 16);
}

TEST(NewerApiGpu, PutSignalAndWaitSignalToSelf) {
  NEED_FUNCTION(ncclPutSignal);
  Communicator comm = one_rank();
  // NCCL wants the source in a symmetric window too: one window, source half and target half.
  const std::size_t n = 1 << 12, bytes = n * sizeof(float);
  NcclMemory mem = NcclMemory::allocate(nccl(), 2 * bytes);
  std::vector<float> h(n);
  for (std::size_t i = 0; i < n; ++i) h[i] = float(i % 101) + 0.5f;
  ASSERT_EQ(cudaMemcpy(mem.get(), h.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemset(static_cast<char*>(mem.get()) + bytes, 0, bytes), cudaSuccess);
  Window win = comm.register_window(mem.get(), 2 * bytes, WindowFlags::kCollSymmetric);
  EXPECT_EQ(win.user_pointer(), mem.get());
  try {
    comm.put_signal(mem.get(), n, DataType::kFloat32, 0, win, bytes, 0, 0, nullptr);
    comm.wait_signal({SignalWait{0, 0, 1, 0}}, nullptr);
    comm.signal(0, 0, 0, nullptr);
    comm.wait_signal({SignalWait{0, 0, 1, 0}}, nullptr);
  } catch (const NcclError& e) {
    GTEST_SKIP() << "NCCL " << nccl()->version().str()
                 << " refuses one-sided operations on one rank: " << e.what();
  }
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<float> got(n);
  ASSERT_EQ(
      cudaMemcpy(got.data(), static_cast<char*>(mem.get()) + bytes, bytes, cudaMemcpyDeviceToHost),
      cudaSuccess);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], h[i]) << i;
}

TEST(NewerApiGpu, CollConfigOnEveryCollective) {
  NEED_FUNCTION(ncclAllReduceConfig);
  Communicator comm = one_rank();
  CollConfig cc;
  cc.max_ctas = 4;
  cc.user_profiler_tag = 7;
  const std::size_t n = 1 << 16;
  DeviceBuffer in(n * sizeof(float)), out(n * sizeof(float));
  ASSERT_EQ(cudaMemset(in.ptr, 0, n * sizeof(float)), cudaSuccess);
  comm.all_reduce(in.as<float>(), out.as<float>(), n, DataType::kFloat32, ReduceOp::kSum, nullptr,
                  cc);
  comm.all_gather(in.as<float>(), out.as<float>(), n, DataType::kFloat32, nullptr, cc);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(NewerApiGpu, ParametersAndUnknownVariables) {
  NCCLRT_NEED_GPUS(1);
  const auto names = nccl()->environment_names();
  EXPECT_GT(names.size(), 50u);
  ::setenv("NCCL_SOCKET_IFNAM", "lo", 1);
  const auto unknown = nccl()->unknown_environment();
  ::unsetenv("NCCL_SOCKET_IFNAM");
  bool flagged = false;
  for (const auto& u : unknown) {
    if (u.name == "NCCL_SOCKET_IFNAM") {
      flagged = !u.nearest.empty() && u.nearest[0] == "NCCL_SOCKET_IFNAME";
    }
  }
  EXPECT_TRUE(flagged);
  if (!nccl()->has(Function::ncclParamGetAllParameterKeys)) {
    GTEST_SKIP() << "the parameter list needs NCCL >= 2.30.4; loaded " << nccl()->version().str();
  }
  const auto params = nccl()->parameters();
  std::printf("NCCL %s publishes %zu parameters; %zu NCCL_* names in its file\n",
              nccl()->version().str().c_str(), params.size(), names.size());
  EXPECT_FALSE(params.empty());
  bool debug = false;
  for (const auto& p : params) debug |= p.name == "NCCL_DEBUG";
  EXPECT_TRUE(debug);
  EXPECT_TRUE(nccl()->parameter("NCCL_DEBUG").has_value());
  EXPECT_FALSE(nccl()->parameter("NCCL_SOCKET_IFNAM").has_value());
}
