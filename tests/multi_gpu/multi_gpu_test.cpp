// Two or more ranks, one thread per rank: every operation's numbers on every rank (uneven
// v-variants with ranks sending nothing, every root, in place), eager and CUDA-graph captured,
// through init_rank from a shared id and through init_all; splits into colours with
// kSplitNoColor; two communicators over the same ranks in flight at once; shrink without the
// first, a middle and the last rank; the grouped send/recv forms against the native calls.
// One rank per GPU by default; NCCLRT_RANKS=N runs N ranks, rank r on GPU r % GPUs, where the
// loaded NCCL allows several ranks per GPU (>= 2.30.3 with NCCL_MULTI_RANK_GPU_ENABLE=1).
#include <cstdlib>
#include <sstream>

#include "../gpu/gpu_support.hpp"
#include "barrier.hpp"

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

// One communicator per rank, each made by its own thread from a shared id. Threads sharing a GPU
// cap their CTAs (max_ctas_for_shared_gpu), as init_all does: uncapped, three ranks of NCCL's 64
// channels on one H100 hang. `at_once`: how many communicators each rank will use at once.
std::vector<Communicator> threaded_world(int n, int at_once = 1,
                                         const std::shared_ptr<const Library>& lib = nccl()) {
  const UniqueId id = lib->unique_id();
  std::vector<Communicator> comms(static_cast<std::size_t>(n));
  gpu_test::on_each_rank(n, [&](int r) {
    const int dev = device_of(r);
    int sharing = 0;
    for (int q = 0; q < n; ++q) sharing += device_of(q) == dev;
    Config config;
    if (sharing * at_once > 1) config.max_ctas = max_ctas_for_shared_gpu(dev, sharing * at_once);
    cudaSetDevice(dev);
    comms[static_cast<std::size_t>(r)] = Communicator::init_rank(lib, n, r, id, config);
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

TEST(MultiGpuSplit, ColorsWithNoColorAndReversedKeys) {
  NEED_RANKS();
  const int n = ranks();
  auto world = threaded_world(n);
  // Rank r: color r % 2, except every third rank (2, 5, ...) which takes no part; keys reverse
  // the order inside each color.
  auto color = [](int r) { return r % 3 == 2 ? kSplitNoColor : r % 2; };
  std::vector<Communicator> parts(static_cast<std::size_t>(n));
  gpu_test::on_each_rank(n, [&](int r) {
    cudaSetDevice(device_of(r));
    parts[static_cast<std::size_t>(r)] = world[static_cast<std::size_t>(r)].split(color(r), n - r);
  });
  std::vector<Communicator> groups[2];
  for (int r = 0; r < n; ++r) {
    auto& c = parts[static_cast<std::size_t>(r)];
    if (color(r) == kSplitNoColor) {
      EXPECT_FALSE(c.valid()) << "rank " << r;
      continue;
    }
    int size = 0, rank = 0;  // members of the color, and those after r (reversed keys)
    for (int q = 0; q < n; ++q) {
      if (color(q) != color(r)) continue;
      ++size;
      rank += q > r;
    }
    EXPECT_EQ(c.size(), size) << "rank " << r;
    EXPECT_EQ(c.rank(), rank) << "rank " << r;
    groups[color(r)].push_back(std::move(c));
  }
  for (auto& g : groups) {
    if (g.size() < 2) continue;
    EXPECT_EQ(
        gpu_test::run_case(gpu_test::all_op_cases().front(), g, DataType::kFloat32, 4096, false),
        "");
  }
}

TEST(MultiGpuSplit, TwoWorldsOverTheSameRanksAtOnce) {
  NEED_RANKS();
  const int n = ranks();
  auto a = threaded_world(n, 2), b = threaded_world(n, 2);
  // Each rank issues on both before waiting for either: both communicators are in flight at
  // once, on two streams.
  const std::size_t count = 1 << 18;
  std::vector<std::string> errors(static_cast<std::size_t>(n));
  ncclrt_tool::Barrier barrier(n);
  gpu_test::on_each_rank(n, [&](int r) {
    cudaSetDevice(device_of(r));
    gpu_test::DeviceBuffer ba(count * sizeof(float)), bb(count * sizeof(float));
    cudaStream_t sa = nullptr, sb = nullptr;
    cudaStreamCreateWithFlags(&sa, cudaStreamNonBlocking);
    cudaStreamCreateWithFlags(&sb, cudaStreamNonBlocking);
    std::vector<float> host(count, static_cast<float>(r + 1));
    cudaMemcpy(ba.ptr, host.data(), count * sizeof(float), cudaMemcpyHostToDevice);
    for (auto& x : host) x *= 10;
    cudaMemcpy(bb.ptr, host.data(), count * sizeof(float), cudaMemcpyHostToDevice);
    barrier.wait();
    a[static_cast<std::size_t>(r)].all_reduce(ba.ptr, ba.ptr, count, DataType::kFloat32,
                                              ReduceOp::kSum, sa);
    b[static_cast<std::size_t>(r)].all_reduce(bb.ptr, bb.ptr, count, DataType::kFloat32,
                                              ReduceOp::kSum, sb);
    const bool synced =
        cudaStreamSynchronize(sa) == cudaSuccess && cudaStreamSynchronize(sb) == cudaSuccess;
    const float sum = n * (n + 1) / 2.0f;
    std::vector<float> ra(count), rb(count);
    cudaMemcpy(ra.data(), ba.ptr, count * sizeof(float), cudaMemcpyDeviceToHost);
    cudaMemcpy(rb.data(), bb.ptr, count * sizeof(float), cudaMemcpyDeviceToHost);
    std::ostringstream e;
    if (!synced) e << "rank " << r << ": stream sync failed";
    for (std::size_t j = 0; j < count && e.str().empty(); ++j) {
      if (ra[j] != sum || rb[j] != 10 * sum) {
        e << "rank " << r << " element " << j << ": " << ra[j] << " and " << rb[j] << ", expected "
          << sum << " and " << 10 * sum;
      }
    }
    errors[static_cast<std::size_t>(r)] = e.str();
    barrier.wait();  // no rank frees memory while another's collectives run
    cudaStreamDestroy(sa);
    cudaStreamDestroy(sb);
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
}

// The grouped send/recv forms of all_to_all, gather and scatter (NCCLRT_DISABLE_FUNCTIONS's
// switch, here LoadOptions::disabled_functions) give what the native calls give, on every rank.
TEST(MultiGpuFallback, GroupedFormsMatchTheNativeCalls) {
  NEED_RANKS();
  const int n = ranks();
  LoadOptions o;
  o.path = nccl()->path();
  o.disabled_functions = {"ncclAlltoAll", "ncclGather", "ncclScatter"};
  auto grouped_lib = Library::open(o);
  ASSERT_FALSE(grouped_lib->has(Function::ncclAlltoAll));
  auto native = threaded_world(n), grouped = threaded_world(n, 1, grouped_lib);
  for (const auto& c : gpu_test::all_op_cases()) {
    if (c.name.rfind("all_to_all", 0) != 0 && c.name.rfind("gather", 0) != 0 &&
        c.name.rfind("scatter", 0) != 0) {
      continue;
    }
    for (std::size_t count : {std::size_t{1}, std::size_t{4099}}) {
      for (bool graph : {false, true}) {
        EXPECT_EQ(gpu_test::run_case(c, grouped, DataType::kFloat32, count, graph), "")
            << "grouped";
        EXPECT_EQ(gpu_test::run_case(c, native, DataType::kFloat32, count, graph), "") << "native";
      }
    }
  }
}

class MultiGpuShrink : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override { NEED_RANKS(); }
};

TEST_P(MultiGpuShrink, WithoutOneRank) {
  const int n = ranks();
  const std::string which = GetParam();
  const int gone = which == "first" ? 0 : which == "middle" ? n / 2 : n - 1;
  auto world = threaded_world(n);
  std::vector<Communicator> shrunk(static_cast<std::size_t>(n));
  // The excluded rank takes no part; the others shrink together.
  gpu_test::on_each_rank(n, [&](int r) {
    if (r == gone) return;
    cudaSetDevice(device_of(r));
    shrunk[static_cast<std::size_t>(r)] = world[static_cast<std::size_t>(r)].shrink({gone});
  });
  shrunk.erase(shrunk.begin() + gone);
  for (int r = 0; r < n - 1; ++r) {
    EXPECT_EQ(shrunk[static_cast<std::size_t>(r)].size(), n - 1);
    EXPECT_EQ(shrunk[static_cast<std::size_t>(r)].rank(), r);  // the old order, renumbered
  }
  EXPECT_EQ(
      gpu_test::run_case(gpu_test::all_op_cases().front(), shrunk, DataType::kFloat32, 4096, false),
      "");
}

INSTANTIATE_TEST_SUITE_P(Ranks, MultiGpuShrink, ::testing::Values("first", "middle", "last"),
                         [](const auto& p) { return std::string(p.param); });
