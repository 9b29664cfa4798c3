// Two or more ranks: every operation's numbers on every rank, eager and CUDA-graph captured, with
// one thread per rank sharing an id and with init_all; a split into halves used at once; shrink.
// One rank per GPU by default; NCCLRT_RANKS=N runs N ranks, rank r on GPU r % GPUs, where the
// loaded NCCL allows several ranks per GPU (>= 2.30.3 with NCCL_MULTI_RANK_GPU_ENABLE=1).
#include <cstdlib>

#include "../gpu/gpu_support.hpp"

using namespace ncclrt;

namespace {

using gpu_test::nccl;

int gpus() {
  std::string why;
  return gpu_test::gpu_count(&why);
}

// How many ranks the suite runs: $NCCLRT_RANKS, else one per GPU.
int ranks() {
  const char* v = std::getenv("NCCLRT_RANKS");
  return v && std::atoi(v) > 0 ? std::atoi(v) : gpus();
}
int device_of(int rank) { return rank % std::max(1, gpus()); }

// Skips unless there are two ranks to run, each with a GPU it may use.
#define NEED_RANKS()                                                                               \
  do {                                                                                             \
    NCCLRT_NEED_GPUS(1);                                                                           \
    if (ranks() < 2) {                                                                             \
      GTEST_SKIP() << "needs 2 ranks: 2 GPUs (found " << gpus()                                    \
                   << "), or NCCLRT_RANKS=N with NCCL >= 2.30.3 and NCCL_MULTI_RANK_GPU_ENABLE=1"; \
    }                                                                                              \
    std::string why_;                                                                              \
    if (ranks() > gpus() && !nccl()->allows_ranks_per_gpu(&why_)) {                                \
      GTEST_SKIP() << ranks() << " ranks on " << gpus() << " GPU(s): " << why_;                    \
    }                                                                                              \
  } while (0)

// One communicator per GPU, each made by its own thread from a shared id.
std::vector<Communicator> threaded_world(int n) {
  const UniqueId id = nccl()->unique_id();
  std::vector<Communicator> comms(static_cast<std::size_t>(n));
  gpu_test::on_each_rank(n, [&](int r) {
    cudaSetDevice(device_of(r));
    comms[static_cast<std::size_t>(r)] = Communicator::init_rank(nccl(), n, r, id);
  });
  return comms;
}

class MultiGpu : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { NEED_RANKS(); }
};

}  // namespace

TEST_P(MultiGpu, EveryRankThreadPerGpu) {
  auto comms = threaded_world(ranks());
  for (const auto& c : gpu_test::all_op_cases()) {
    if (c.name != GetParam()) continue;
    for (DataType t : {DataType::kFloat32, DataType::kInt32, DataType::kBfloat16, DataType::kUint8,
                       DataType::kFloat64}) {
      for (std::size_t count : {std::size_t{1}, std::size_t{4099}, std::size_t{1} << 20}) {
        for (bool graph : {false, true}) {
          EXPECT_EQ(gpu_test::run_case(c, comms, t, count, graph), "");
        }
      }
    }
  }
}

TEST_P(MultiGpu, EveryRankInitAll) {
  std::vector<int> devices;
  for (int r = 0; r < ranks(); ++r) devices.push_back(device_of(r));  // a GPU may repeat
  auto comms = Communicator::init_all(nccl(), devices);
  for (const auto& c : gpu_test::all_op_cases()) {
    if (c.name != GetParam()) continue;
    for (bool graph : {false, true}) {
      EXPECT_EQ(gpu_test::run_case(c, comms, DataType::kFloat32, 10000, graph), "");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Multi, MultiGpu, ::testing::ValuesIn(gpu_test::all_op_names()),
                         [](const auto& p) { return p.param; });

TEST(MultiGpuSplit, HalvesUsedAtOnce) {
  NEED_RANKS();
  const int n = ranks();
  auto world = threaded_world(n);
  std::vector<Communicator> halves(static_cast<std::size_t>(n));
  gpu_test::on_each_rank(n, [&](int r) {
    cudaSetDevice(device_of(r));
    halves[static_cast<std::size_t>(r)] = world[static_cast<std::size_t>(r)].split(r < n / 2, r);
  });
  // Both halves (and the world) at once: a sum over each half, then over the world.
  const auto sum_case = gpu_test::all_op_cases().front();
  std::vector<Communicator> low, high;
  for (int r = 0; r < n; ++r) {
    (r < n / 2 ? high : low).push_back(std::move(halves[static_cast<std::size_t>(r)]));
  }
  std::string e1, e2;
  std::thread t1(
      [&] { e1 = gpu_test::run_case(sum_case, low, DataType::kFloat32, 1 << 16, false); });
  std::thread t2(
      [&] { e2 = gpu_test::run_case(sum_case, high, DataType::kFloat32, 1 << 16, true); });
  t1.join();
  t2.join();
  EXPECT_EQ(e1, "");
  EXPECT_EQ(e2, "");
  EXPECT_EQ(gpu_test::run_case(sum_case, world, DataType::kFloat32, 1 << 16, false), "");
}

TEST(MultiGpuShrink, WithoutTheLastRank) {
  NEED_RANKS();
  const int n = ranks();
  auto world = threaded_world(n);
  std::vector<Communicator> shrunk(static_cast<std::size_t>(n - 1));
  // The excluded rank takes no part; the others shrink together.
  gpu_test::on_each_rank(n - 1, [&](int r) {
    cudaSetDevice(device_of(r));
    shrunk[static_cast<std::size_t>(r)] = world[static_cast<std::size_t>(r)].shrink({n - 1});
  });
  for (const auto& c : shrunk) EXPECT_EQ(c.size(), n - 1);
  EXPECT_EQ(
      gpu_test::run_case(gpu_test::all_op_cases().front(), shrunk, DataType::kFloat32, 4096, false),
      "");
}
