// One rank of the flight recorder's hang scenarios, started N times by scripts/launch_local.sh
// (scripts/trace_scenarios.sh runs them all and the analyzers on their dumps). Every rank runs with
// NCCLRT_TRACE_DIR set, so the dumps appear when ncclrt gives up on the communicator:
//   skip    a loop of all_reduces labelled "iter i"; rank 2 skips iteration 5. The others' last
//           all_reduce never completes: their deadline passes, they dump; rank 2's finalize
//           times out, it dumps.
//   desync  rank 1 issues iteration 5 with half the count of the others.
//   graph   progress mode on: 10 all_reduces captured in a CUDA graph, replayed; rank 3 stops
//           replaying after replay 7 (and dumps on request, as a SIGUSR1 would make it). The
//           others' GPUs wait inside the graph's first all_reduce, rank 3's is idle after its
//           last.
//   kill    rank 3 is SIGKILLed at iteration 10: no dump from it.
// Each rank prints one line "rank R: ..." saying what happened to it.
#include <cuda_runtime.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ncclrt/ncclrt.hpp>
#include <string>
#include <thread>

namespace {

using namespace ncclrt;

constexpr std::size_t kCount = 1 << 16;
constexpr auto kDeadline = std::chrono::milliseconds(3000);

// The eager scenarios run nonblocking (finalize and enqueues get deadlines, as in the recovery
// tests); the graph one blocking, as graphs are captured in the GPU tests.
Config config(bool graph) {
  Config c;
  if (!graph) c.timeout = std::chrono::seconds(20);
  c.trace_progress = graph;
  return c;
}

// The rank that does not do what the others do leaves through a finalize, which dumps if it
// gives up. NCCL 2.30.7's finalize completes on a rank with no work of its own pending (seen on
// the H200): then the rank dumps on request, as an operator's SIGUSR1 to every rank would.
int wait_out(Communicator& c, int rank, const char* what) {
  try {
    c.finalize(std::chrono::seconds(8));
    const auto files = dump_traces(std::getenv("NCCLRT_TRACE_DIR"));
    std::printf("rank %d: %s; finalize completed; %zu dump(s) written on request\n", rank, what,
                files.size());
    return 0;
  } catch (const Error& e) {
    std::printf("rank %d: %s; finalize gave up: %.100s\n", rank, what, e.what());
    return 0;
  }
}

int loop(const std::string& mode, Communicator& c, cudaStream_t stream, float* buf) {
  const int r = c.rank();
  for (int i = 0; i < 20; ++i) {
    if (mode == "skip" && r == 2 && i == 5) continue;  // the bug: one iteration skipped
    if (mode == "kill" && r == 3 && i == 10) {
      std::printf("rank %d: SIGKILL at iteration %d\n", r, i);
      std::fflush(stdout);
      ::raise(SIGKILL);
    }
    const std::size_t count = mode == "desync" && r == 1 && i == 5 ? kCount / 2 : kCount;
    const TraceLabel label(c, "iter " + std::to_string(i));
    c.all_reduce(buf, buf, count, ReduceOp::kSum, stream);
    try {
      c.synchronize(stream, kDeadline);  // aborts (and dumps) when the deadline passes
    } catch (const Error& e) {
      std::printf("rank %d: iteration %d did not complete: %.100s\n", r, i, e.what());
      return 0;
    }
  }
  if (mode == "skip" && r == 2) return wait_out(c, r, "finished its 19 all_reduces");
  // No hang (a desync NCCL did not notice): dump on request, as a user would with SIGUSR1.
  const auto files = dump_traces(std::getenv("NCCLRT_TRACE_DIR"));
  std::printf("rank %d: all 20 iterations completed; %zu dump(s) written on request\n", r,
              files.size());
  c.finalize(std::chrono::seconds(10));
  c.destroy();
  return 0;
}

int graph(Communicator& c, cudaStream_t stream, float* buf) {
  const int r = c.rank();
  c.all_reduce(buf, buf, kCount, ReduceOp::kSum, stream);  // one eager first
  c.synchronize(stream, kDeadline);
  cudaGraph_t g;
  cudaGraphExec_t exec;
  cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
  for (int k = 0; k < 10; ++k) c.all_reduce(buf, buf, kCount, ReduceOp::kSum, stream);
  cudaStreamEndCapture(stream, &g);
  if (cudaGraphInstantiate(&exec, g, 0) != cudaSuccess) {
    std::printf("rank %d: cudaGraphInstantiate failed\n", r);
    return 1;
  }
  for (int replay = 0; replay < 20; ++replay) {
    if (r == 3 && replay == 8) {
      const Trace t = c.trace();
      std::printf("rank %d: stops replaying after %d replays (GPU completed #%llu)\n", r, replay,
                  static_cast<unsigned long long>(t.gpu_completed));
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::seconds(5));  // the others give up meanwhile
      const auto files = dump_traces(std::getenv("NCCLRT_TRACE_DIR"));  // as SIGUSR1 would
      std::printf("rank %d: its GPU is idle; %zu dump(s) written on request\n", r, files.size());
      return 0;
    }
    cudaGraphLaunch(exec, stream);
    try {
      c.synchronize(stream, kDeadline);
    } catch (const Error& e) {
      const Trace t = c.trace();
      std::printf(
          "rank %d: replay %d did not complete (GPU started #%llu, completed #%llu): "
          "%.80s\n",
          r, replay, static_cast<unsigned long long>(t.gpu_started),
          static_cast<unsigned long long>(t.gpu_completed), e.what());
      return 0;  // the graph is left alive: the communicator is aborted already
    }
  }
  std::printf("rank %d: every replay completed (unexpected)\n", r);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "skip" && mode != "desync" && mode != "graph" && mode != "kill") {
    std::fprintf(stderr, "usage: %s skip|desync|graph|kill (launched by launch_local.sh)\n",
                 argv[0]);
    return 2;
  }
  if (std::getenv("NCCLRT_TRACE_DIR") == nullptr) {
    std::fprintf(stderr, "set NCCLRT_TRACE_DIR: the dumps go there\n");
    return 2;
  }
  try {
    auto lib = Library::open();
    Communicator c = Communicator::from_environment(lib, config(mode == "graph"));
    cudaStream_t stream;
    cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    float* buf = nullptr;
    cudaMalloc(&buf, kCount * sizeof(float));
    cudaMemset(buf, 0, kCount * sizeof(float));
    cudaDeviceSynchronize();
    if (c.rank() == 0) {
      std::printf("rank 0: %d ranks, NCCL %s, comm %016llx, recorder of %zu entries%s\n", c.size(),
                  lib->version().str().c_str(), static_cast<unsigned long long>(c.trace().comm_id),
                  c.trace().capacity, c.trace().progress ? ", progress mode" : "");
    }
    return mode == "graph" ? graph(c, stream, buf) : loop(mode, c, stream, buf);
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
