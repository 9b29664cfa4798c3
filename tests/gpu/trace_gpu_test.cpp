// The flight recorder's progress mode on a GPU: a CUDA graph of all_reduces captured on a one-rank
// communicator and replayed counts its launches in the dump ("progress" -> "graphs"), beside the
// started / completed words the GPU writes.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpu_support.hpp"

using namespace ncclrt;
using gpu_test::DeviceBuffer;
using gpu_test::nccl;

namespace {

// The dump of `comm_id` in a fresh directory, parsed.
nlohmann::json dump_of(std::uint64_t comm_id) {
  std::string dir = (std::filesystem::temp_directory_path() / "ncclrt-gpu-trace-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) return {};
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(comm_id));
  nlohmann::json found;
  for (const auto& f : dump_traces(dir)) {
    if (f.find(std::string("ncclrt-trace-") + id) == std::string::npos) continue;
    std::ifstream in(f);
    found = nlohmann::json::parse(in);
  }
  std::filesystem::remove_all(dir);
  return found;
}

// Captures `n` all_reduces into a graph on `stream`; returns the instantiated graph.
cudaGraphExec_t capture(const Communicator& comm, float* buf, std::size_t count, int n,
                        cudaStream_t stream) {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  EXPECT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  for (int i = 0; i < n; ++i) comm.all_reduce(buf, buf, count, ReduceOp::kSum, stream);
  EXPECT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  EXPECT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  cudaGraphDestroy(graph);
  return exec;
}

}  // namespace

TEST(TraceGpu, ProgressModeCountsTheLaunchesOfEachCapturedGraph) {
  NCCLRT_NEED_GPUS(1);
  CUDA_OK(cudaSetDevice(0));
  Config c;
  c.trace_progress = true;
  Communicator comm = Communicator::init_rank(nccl(), 1, 0, nccl()->unique_id(), c);
  ASSERT_TRUE(comm.trace().progress) << "progress mode did not start (NCCLRT_LOG=warn says why)";
  constexpr std::size_t kCount = 1024;
  DeviceBuffer buf(kCount * sizeof(float));
  ASSERT_NE(buf.ptr, nullptr);
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  float* p = buf.as<float>();
  comm.all_reduce(p, p, kCount, ReduceOp::kSum, stream);  // #1, eager
  constexpr int kOps = 5, kLaunches = 7;
  cudaGraphExec_t first = capture(comm, p, kCount, kOps, stream);  // #2..#6
  cudaGraphExec_t second = capture(comm, p, kCount, 2, stream);    // #7, #8
  for (int i = 0; i < kLaunches; ++i) CUDA_OK(cudaGraphLaunch(first, stream));
  for (int i = 0; i < 3; ++i) CUDA_OK(cudaGraphLaunch(second, stream));
  CUDA_OK(cudaStreamSynchronize(stream));
  const Trace t = comm.trace();
  ASSERT_EQ(t.collectives, 8u);
  ASSERT_EQ(t.entries.size(), 9u);  // the creation, then the 8 all_reduces
  const std::uint64_t first_id = t.entries[2].capture_id, second_id = t.entries[7].capture_id;
  EXPECT_EQ(t.entries[1].captured, TraceCapture::kNo);
  EXPECT_EQ(t.entries[2].captured, TraceCapture::kYes);
  EXPECT_NE(first_id, 0u);
  EXPECT_NE(second_id, first_id);
  EXPECT_EQ(t.entries[6].capture_id, first_id);
  nlohmann::json d = dump_of(t.comm_id);
  ASSERT_TRUE(d.is_object()) << "no dump of the communicator";
  const auto& progress = d["progress"];
  EXPECT_EQ(progress["write_failures"], 0);
  EXPECT_EQ(progress["collective_completed"], 8);  // the second graph's last, replayed last
  EXPECT_EQ(
      progress["graphs"],
      nlohmann::json::array(
          {{{"capture_id", first_id}, {"first_seq", 2}, {"last_seq", 6}, {"launches", kLaunches}},
           {{"capture_id", second_id}, {"first_seq", 7}, {"last_seq", 8}, {"launches", 3}}}));
  // More replays of the first: only its count moves.
  for (int i = 0; i < 4; ++i) CUDA_OK(cudaGraphLaunch(first, stream));
  CUDA_OK(cudaStreamSynchronize(stream));
  d = dump_of(t.comm_id);
  EXPECT_EQ(d["progress"]["graphs"][0]["launches"], kLaunches + 4);
  EXPECT_EQ(d["progress"]["graphs"][1]["launches"], 3);
  EXPECT_EQ(d["progress"]["collective_completed"], 6);
  cudaGraphExecDestroy(first);
  cudaGraphExecDestroy(second);
  cudaStreamDestroy(stream);
}
