// One GPU: every operation's numbers on a one-rank communicator (eager and in a replayed CUDA
// graph), several communicators at once, registration and windows, and NCCL's own failures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "gpu_support.hpp"

using namespace ncclrt;
using gpu_test::DeviceBuffer;

namespace {

using gpu_test::nccl;

const DataType kTypes[] = {DataType::kFloat32, DataType::kFloat64, DataType::kInt32,
                           DataType::kInt64,   DataType::kUint8,   DataType::kInt8,
                           DataType::kFloat16, DataType::kBfloat16};
const std::size_t kCounts[] = {1, 1023, std::size_t{1} << 20};

int thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// Fills `n` floats with value(i), runs fn, returns what `out` holds.
std::vector<float> roundtrip(float* in, float* out, std::size_t n,
                             const std::function<float(std::size_t)>& value,
                             const std::function<void()>& fn) {
  std::vector<float> h(n);
  for (std::size_t i = 0; i < n; ++i) h[i] = value(i);
  cudaMemcpy(in, h.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  fn();
  cudaDeviceSynchronize();
  cudaMemcpy(h.data(), out, n * sizeof(float), cudaMemcpyDeviceToHost);
  return h;
}

class OneGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    NCCLRT_NEED_GPUS(1);
    CUDA_OK(cudaSetDevice(0));
  }
  Communicator one_rank(const Config& c = {}) {
    return Communicator::init_rank(nccl(), 1, 0, nccl()->unique_id(), c);
  }
};

class EveryOp : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    NCCLRT_NEED_GPUS(1);
    CUDA_OK(cudaSetDevice(0));
  }
};

}  // namespace

TEST_P(EveryOp, NumbersOnOneRankEagerAndGraph) {
  std::vector<Communicator> comms;
  comms.push_back(Communicator::init_rank(nccl(), 1, 0, nccl()->unique_id()));
  for (const auto& c : gpu_test::all_op_cases()) {
    if (c.name != GetParam()) continue;
    for (DataType t : kTypes) {
      for (std::size_t count : kCounts) {
        for (bool graph : {false, true}) {
          EXPECT_EQ(gpu_test::run_case(c, comms, t, count, graph), "");
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Gpu, EveryOp, ::testing::ValuesIn(gpu_test::all_op_names()),
                         [](const auto& p) { return p.param; });

TEST_F(OneGpu, ThreeCommunicatorsInterleaved) {
  Communicator a = one_rank();
  std::vector<Communicator> all = Communicator::init_all(nccl(), {0});
  Communicator& b = all[0];
  Communicator c = a.split(0, 0);
  ASSERT_TRUE(c.valid());
  const float two = 2, three = 3;
  PreMulSum by2 = b.create_pre_mul_sum(&two, DataType::kFloat32, ScalarResidence::kHostImmediate);
  PreMulSum by3 = c.create_pre_mul_sum(&three, DataType::kFloat32, ScalarResidence::kHostImmediate);
  const std::size_t n = 4096;
  DeviceBuffer x(n * 4), y(n * 4), z(n * 4), w(n * 4);
  cudaStream_t s;
  CUDA_OK(cudaStreamCreate(&s));
  // One stream: a, then b (x2), then c (x3), chained: w = 6 x.
  auto out = roundtrip(
      x.as<float>(), w.as<float>(), n, [](std::size_t i) { return float(i % 100); },
      [&] {
        for (int k = 0; k < 3; ++k) {
          a.all_reduce(x.as<float>(), y.as<float>(), n, ReduceOp::kSum, s);
          b.all_reduce(y.as<float>(), z.as<float>(), n, by2, s);
          c.all_reduce(z.as<float>(), w.as<float>(), n, by3, s);
        }
      });
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], 6.0f * float(i % 100)) << i;
  // Three streams at once, one communicator each.
  cudaStream_t ss[3];
  for (auto& st : ss) CUDA_OK(cudaStreamCreate(&st));
  DeviceBuffer in(n * 4), o1(n * 4), o2(n * 4), o3(n * 4);
  roundtrip(
      in.as<float>(), in.as<float>(), n, [](std::size_t i) { return float(i % 50); }, [] {});
  for (int k = 0; k < 5; ++k) {
    a.all_reduce(in.as<float>(), o1.as<float>(), n, ReduceOp::kSum, ss[0]);
    b.all_reduce(in.as<float>(), o2.as<float>(), n, by2, ss[1]);
    c.all_reduce(in.as<float>(), o3.as<float>(), n, by3, ss[2]);
  }
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<float> h1(n), h2(n), h3(n);
  cudaMemcpy(h1.data(), o1.ptr, n * 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(h2.data(), o2.ptr, n * 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(h3.data(), o3.ptr, n * 4, cudaMemcpyDeviceToHost);
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(h1[i], float(i % 50));
    ASSERT_EQ(h2[i], 2.0f * float(i % 50));
    ASSERT_EQ(h3[i], 3.0f * float(i % 50));
  }
  for (auto& st : ss) cudaStreamDestroy(st);
  cudaStreamDestroy(s);
}

TEST_F(OneGpu, RegistrationAndWindowRoundTrip) {
  Communicator comm = one_rank();
  const std::size_t n = 1 << 18, bytes = n * sizeof(float);
  NcclMemory mem = NcclMemory::allocate(nccl(), bytes);
  ASSERT_NE(mem.get(), nullptr);
  DeviceBuffer out(bytes);
  {
    Registration reg = comm.register_buffer(mem.get(), bytes);
    EXPECT_NE(reg.handle(), nullptr);
    Window win = comm.register_window(mem.get(), bytes, kWinCollSymmetric);
    EXPECT_NE(win.native(), nullptr);
    auto h = roundtrip(
        static_cast<float*>(mem.get()), out.as<float>(), n,
        [](std::size_t i) { return float(i % 1000); },
        [&] {
          comm.all_reduce(static_cast<float*>(mem.get()), out.as<float>(), n, ReduceOp::kSum,
                          nullptr);
        });
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(h[i], float(i % 1000));
  }
  // Deregistered; the communicator goes on.
  auto h = roundtrip(
      static_cast<float*>(mem.get()), out.as<float>(), n,
      [](std::size_t i) { return float(i % 7); },
      [&] {
        comm.all_reduce(static_cast<float*>(mem.get()), out.as<float>(), n, ReduceOp::kMax,
                        nullptr);
      });
  EXPECT_EQ(h[13], 6.0f);
}

TEST_F(OneGpu, TwoRanksOnOneGpuFailWithNcclsText) {
  if (const char* v = std::getenv("NCCL_MULTI_RANK_GPU_ENABLE"); v && std::atoi(v) != 0) {
    GTEST_SKIP() << "NCCL_MULTI_RANK_GPU_ENABLE=" << v
                 << " lets several ranks share a GPU (NCCL >= 2.30.3); unset it to check the "
                    "refusal";
  }
  const UniqueId id = nccl()->unique_id();
  std::string errors[2];
  int results[2] = {0, 0};
  gpu_test::on_each_rank(2, [&](int r) {
    cudaSetDevice(0);
    try {
      (void)Communicator::init_rank(nccl(), 2, r, id);
      errors[r] = "succeeded";
    } catch (const NcclError& e) {
      errors[r] = e.what();
      results[r] = static_cast<int>(e.result());
    }
  });
  bool duplicate = false;
  for (int r = 0; r < 2; ++r) {
    EXPECT_NE(errors[r], "succeeded");
    // NCCL up to 2.29: "Duplicate GPU detected"; 2.30.3 on: "Multiple Ranks are using the same
    // GPU/Partition. Set NCCL_MULTI_RANK_GPU_ENABLE=1 ..."
    duplicate |= errors[r].find("Duplicate GPU") != std::string::npos ||
                 errors[r].find("using the same GPU") != std::string::npos;
    std::cout << "rank " << r << ": " << errors[r] << "\n";
  }
  EXPECT_TRUE(duplicate);
  EXPECT_TRUE(results[0] == ncclrt::abi::ncclInvalidUsage ||
              results[1] == ncclrt::abi::ncclInvalidUsage);
  // The process goes on.
  Communicator ok = one_rank();
  EXPECT_EQ(ok.size(), 1);
}

TEST_F(OneGpu, PeerThatNeverJoinsTimesOut) {
  // ncclGetUniqueId starts NCCL's bootstrap root thread, which waits for every rank of that id;
  // it is NCCL's and is counted before. The init, wait and abort must leave no thread behind.
  const UniqueId id = nccl()->unique_id();
  const int threads_before = thread_count();
  Config c;
  c.timeout = std::chrono::milliseconds(2000);
  const auto start = std::chrono::steady_clock::now();
  try {
    (void)Communicator::init_rank(nccl(), 2, 0, id, c);
    ADD_FAILURE() << "init of 2 ranks with one missing succeeded";
  } catch (const TimeoutError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("did not complete within 2000 ms"), std::string::npos) << what;
    EXPECT_NE(what.find("rank 0 of 2"), std::string::npos) << what;
    EXPECT_NE(what.find("aborted"), std::string::npos) << what;
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(3000));
  EXPECT_GE(took, std::chrono::milliseconds(2000));
  // Give exiting threads a moment to be reaped, then count.
  int threads_after = thread_count();
  for (int i = 0; i < 50 && threads_after > threads_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    threads_after = thread_count();
  }
  std::cout << "threads before " << threads_before << ", after abort " << threads_after << "\n";
  EXPECT_LE(threads_after, threads_before);
  Communicator next = one_rank();
  DeviceBuffer b(64 * 4);
  auto h = roundtrip(
      b.as<float>(), b.as<float>(), 64, [](std::size_t i) { return float(i); },
      [&] { next.all_reduce(b.as<float>(), b.as<float>(), 64, ReduceOp::kSum, nullptr); });
  EXPECT_EQ(h[63], 63.0f);
}

TEST_F(OneGpu, FromEnvironment) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  ::setenv("NCCLRT_RANK", "0", 1);
  ::setenv("NCCLRT_WORLD_SIZE", "1", 1);
  ::setenv("NCCLRT_LOCAL_RANK", "0", 1);
  ::setenv("NCCL_COMM_ID", ("127.0.0.1:" + std::to_string(port)).c_str(), 1);
  Communicator comm = Communicator::from_environment(nccl());
  ::unsetenv("NCCL_COMM_ID");
  for (const char* v : {"NCCLRT_RANK", "NCCLRT_WORLD_SIZE", "NCCLRT_LOCAL_RANK"}) ::unsetenv(v);
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.size(), 1);
  EXPECT_EQ(comm.device(), 0);
  DeviceBuffer b(256 * 8);
  std::vector<double> h(256, 1.5), back(256);
  cudaMemcpy(b.ptr, h.data(), 256 * 8, cudaMemcpyHostToDevice);
  comm.all_reduce(b.as<double>(), b.as<double>(), 256, ReduceOp::kSum, nullptr);
  cudaDeviceSynchronize();
  cudaMemcpy(back.data(), b.ptr, 256 * 8, cudaMemcpyDeviceToHost);
  EXPECT_EQ(back[255], 1.5);
  // torchrun's variables: NCCL_COMM_ID is made from MASTER_ADDR and MASTER_PORT + 1, and put back
  // (unset) afterwards, so later ids of this process are ordinary ones again.
  ASSERT_EQ(std::getenv("NCCL_COMM_ID"), nullptr);
  ::setenv("RANK", "0", 1);
  ::setenv("WORLD_SIZE", "1", 1);
  ::setenv("LOCAL_RANK", "0", 1);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", std::to_string(port - 1).c_str(), 1);
  Communicator torchrun = Communicator::from_environment(nccl());
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) {
    ::unsetenv(v);
  }
  EXPECT_EQ(torchrun.size(), 1);
  EXPECT_EQ(std::getenv("NCCL_COMM_ID"), nullptr);
  EXPECT_NE(nccl()->unique_id(), nccl()->unique_id());
}

TEST_F(OneGpu, SplitNoColorShrinkFinalizeDestroy) {
  Communicator comm = one_rank();
  Communicator none = comm.split(kSplitNoColor, 0);
  EXPECT_FALSE(none.valid());
  EXPECT_THROW(comm.shrink({}), UsageError);  // nothing to exclude: NCCL refuses it too
  Config cfg;
  cfg.comm_name = "ncclrt-gpu-test";
  cfg.blocking = false;  // a nonblocking communicator: creation is polled to completion
  Communicator named = Communicator::init_rank(nccl(), 1, 0, nccl()->unique_id(), cfg);
  named.check();
  DeviceBuffer b(32 * 4);
  auto h = roundtrip(
      b.as<float>(), b.as<float>(), 32, [](std::size_t i) { return float(i); },
      [&] { named.all_reduce(b.as<float>(), b.as<float>(), 32, ReduceOp::kSum, nullptr); });
  EXPECT_EQ(h[31], 31.0f);
  comm.finalize();
  comm.destroy();
  EXPECT_THROW(comm.rank(), UsageError);
  named.finalize();
  named.destroy();
}

namespace {

void CUDART_CB sleep_on_stream(void* ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(reinterpret_cast<std::intptr_t>(ms)));
}

void block_stream(cudaStream_t s, int ms) {
  cudaLaunchHostFunc(s, sleep_on_stream, reinterpret_cast<void*>(static_cast<std::intptr_t>(ms)));
}

}  // namespace

// Ends a capture however the test leaves, so one failure cannot poison the tests after it.
struct CaptureGuard {
  cudaStream_t s;
  cudaGraph_t graph = nullptr;
  bool open = true;
  cudaError_t end() {
    open = false;
    return cudaStreamEndCapture(s, &graph);
  }
  ~CaptureGuard() {
    if (open) cudaStreamEndCapture(s, &graph);
    if (graph) cudaGraphDestroy(graph);
  }
};

TEST_F(OneGpu, CaptureMisuseIsRefusedAndTheCaptureSurvives) {
  Communicator comm = one_rank();
  const std::size_t n = 1024;
  DeviceBuffer buf(n * 4), out(n * 4);
  for (bool blocking : {true, false}) {
    SCOPED_TRACE(blocking ? "blocking stream, global capture" : "non-blocking stream, named");
    cudaStream_t s;
    CUDA_OK(cudaStreamCreateWithFlags(&s, blocking ? cudaStreamDefault : cudaStreamNonBlocking));
    // A blocking stream's global capture shows on the legacy stream; a non-blocking one is seen
    // when the caller names it.
    cudaStream_t named = blocking ? nullptr : s;
    CUDA_OK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    CaptureGuard guard{s};
    try {
      (void)comm.register_buffer(buf.ptr, n * 4, named);
      ADD_FAILURE() << "registration during capture was not refused";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("CUDA graph is being captured"), std::string::npos);
    }
    EXPECT_THROW(comm.register_window(buf.ptr, n * 4, kWinDefault, named), UsageError);
    if (blocking) {
      EXPECT_THROW(Communicator::init_rank(nccl(), 1, 0, nccl()->unique_id()), UsageError);
    }
    EXPECT_THROW(comm.synchronize(s, std::chrono::seconds(1)), UsageError);
    comm.all_reduce(buf.as<float>(), out.as<float>(), n, ReduceOp::kSum, s);  // this is fine
    ASSERT_EQ(guard.end(), cudaSuccess) << "the capture was invalidated";
    cudaGraphExec_t exec;
    CUDA_OK(cudaGraphInstantiate(&exec, guard.graph, 0));
    std::vector<float> h(n, 3.0f);
    CUDA_OK(cudaMemcpy(buf.ptr, h.data(), n * 4, cudaMemcpyHostToDevice));
    CUDA_OK(cudaGraphLaunch(exec, s));
    CUDA_OK(cudaStreamSynchronize(s));
    CUDA_OK(cudaMemcpy(h.data(), out.ptr, n * 4, cudaMemcpyDeviceToHost));
    EXPECT_EQ(h[n - 1], 3.0f);
    cudaGraphExecDestroy(exec);
    cudaStreamDestroy(s);
  }
}

TEST_F(OneGpu, SynchronizeTurnsAHangIntoTimeoutError) {
  Communicator comm = one_rank();
  cudaStream_t s;
  CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  block_stream(s, 1500);  // stands in for work that never finishes
  // NCCL's abort waits for the device while the stream is blocked; ncclrt bounds that wait.
  ::setenv("NCCLRT_ABORT_TIMEOUT_MS", "200", 1);
  const auto start = std::chrono::steady_clock::now();
  try {
    comm.synchronize(s, std::chrono::milliseconds(300));
    ADD_FAILURE() << "synchronize returned";
  } catch (const TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("did not finish within 300 ms"), std::string::npos);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1300));
  ::unsetenv("NCCLRT_ABORT_TIMEOUT_MS");
  // Aborted: the next call says why.
  EXPECT_THROW(comm.check(), TimeoutError);
  CUDA_OK(cudaStreamSynchronize(s));
  cudaStreamDestroy(s);
  // Done on a fresh stream it returns at once.
  Communicator next = one_rank();
  next.synchronize(nullptr, std::chrono::seconds(5));
}

TEST_F(OneGpu, WatchdogAbortsWatchedWorkPastItsDeadline) {
  Communicator comm = one_rank();
  Watchdog::enable(std::chrono::milliseconds(20));
  cudaStream_t s;
  CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  block_stream(s, 1500);
  comm.watch(s, std::chrono::milliseconds(200));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  try {
    comm.check();
    ADD_FAILURE() << "the watchdog did not abort the communicator";
  } catch (const TimeoutError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("watchdog"), std::string::npos) << what;
    EXPECT_NE(what.find("did not finish within 200 ms"), std::string::npos) << what;
  }
  CUDA_OK(cudaStreamSynchronize(s));
  // Work that finishes in time is left alone.
  Communicator fine = one_rank();
  fine.watch(s, std::chrono::seconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  fine.check();
  Watchdog::disable();
  cudaStreamDestroy(s);
}

TEST_F(OneGpu, ProcessExitingWithLiveCommunicatorsNeitherHangsNorCrashes) {
  char self[4096] = {};
  ASSERT_GT(::readlink("/proc/self/exe", self, sizeof self - 1), 0);
  const std::string dir = std::string(self).substr(0, std::string(self).rfind('/'));
  for (const char* mode : {"return", "exit", "leak"}) {
    const auto start = std::chrono::steady_clock::now();
    const std::string cmd = dir + "/ncclrt_exit_helper " + nccl()->path() + " " + mode;
    const int status = std::system(cmd.c_str());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << mode << " status " << status;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20)) << mode;
  }
}
