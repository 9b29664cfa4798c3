// Two or more GPUs: every operation's numbers on every rank, eager and CUDA-graph captured, with
// one thread per GPU sharing an id and with init_all; a split into halves used at once.
#include "../gpu/gpu_support.hpp"

using namespace ncclrt;

namespace {

std::shared_ptr<const Library> nccl() {
  static auto lib = Library::open();
  return lib;
}

int gpus() {
  std::string why;
  return gpu_test::gpu_count(&why);
}

// One communicator per GPU, each made by its own thread from a shared id.
std::vector<Communicator> threaded_world(int n) {
  const UniqueId id = nccl()->unique_id();
  std::vector<Communicator> comms(static_cast<std::size_t>(n));
  gpu_test::on_each_rank(n, [&](int r) {
    cudaSetDevice(r);
    comms[static_cast<std::size_t>(r)] = Communicator::init_rank(nccl(), n, r, id);
  });
  return comms;
}

class MultiGpu : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { NCCLRT_NEED_GPUS(2); }
};

}  // namespace

TEST_P(MultiGpu, EveryRankThreadPerGpu) {
  auto comms = threaded_world(gpus());
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
  for (int d = 0; d < gpus(); ++d) devices.push_back(d);
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
  NCCLRT_NEED_GPUS(2);
  const int n = gpus();
  auto world = threaded_world(n);
  std::vector<Communicator> halves(static_cast<std::size_t>(n));
  gpu_test::on_each_rank(n, [&](int r) {
    cudaSetDevice(r);
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
  NCCLRT_NEED_GPUS(2);
  const int n = gpus();
  auto world = threaded_world(n);
  std::vector<Communicator> shrunk(static_cast<std::size_t>(n - 1));
  // The excluded rank takes no part; the others shrink together.
  gpu_test::on_each_rank(n - 1, [&](int r) {
    cudaSetDevice(r);
    shrunk[static_cast<std::size_t>(r)] = world[static_cast<std::size_t>(r)].shrink({n - 1});
  });
  for (const auto& c : shrunk) EXPECT_EQ(c.size(), n - 1);
  EXPECT_EQ(
      gpu_test::run_case(gpu_test::all_op_cases().front(), shrunk, DataType::kFloat32, 4096, false),
      "");
}
