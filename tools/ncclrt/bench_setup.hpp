// What `ncclrt bench`'s measuring (bench.cpp) and its job of several processes (bench_job.cpp)
// share: the ranks this process drives, the buffers and the waits. Built with the CUDA toolkit
// only.
#pragma once

#include <cuda_runtime.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ncclrt/ncclrt.hpp>
#include <optional>
#include <string>
#include <vector>

#include "barrier.hpp"
#include "bench.hpp"
#include "board.hpp"
#include "collectives.hpp"
#include "job.hpp"

namespace ncclrt_tool::bench_cuda {

using ncclrt::Communicator;
using ncclrt::DataType;
using ncclrt::ReduceOp;
using Clock = std::chrono::steady_clock;
using Fail = BenchError;

inline void cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Fail(std::string(what) + ": " + cudaGetErrorString(e));
}

// What each operation moves and must produce: collectives.hpp, shared with the GPU tests.
using Op = Collective;

struct Rank {
  Communicator* comm = nullptr;
  int device = 0;
  cudaStream_t stream = nullptr;
  void* send = nullptr;  // both of -e bytes, as nccl-tests allocates them
  void* recv = nullptr;
  char* small = nullptr;  // the exchanges between ranks: a record at 0, every rank's at kGathered
};

// Who a rank is, as every rank tells the others at start-up (for the header, the JSON and the
// names of missing ranks). Plain bytes through NCCL; each text ends in a NUL.
struct RankIdentity {
  std::int32_t rank = 0, process = 0, pid = 0, device = 0;
  std::int32_t board_port = 0;  // rank 0's: where its progress board listens
  char host[64] = {};
  char name[96] = {};
  char bus_id[32] = {};
};

constexpr std::size_t kGathered = 256;  // offset of the gathered records in Rank::small

struct Setup {
  BenchArgs args;
  std::shared_ptr<const ncclrt::Library> lib;
  std::vector<Communicator> comms;
  std::vector<Rank> ranks;  // this process's (-t x -g)
  // The job: one process unless a launcher started several; rank r of it is process r / per.
  std::optional<ncclrt::LaunchInfo> launch;
  int processes = 1, process = 0, nranks = 0;
  std::vector<RankIdentity> identities;       // every rank's, from the start-up exchange
  std::vector<std::size_t> sizes;             // the sweep's, to say where a step is
  std::unique_ptr<BoardServer> board_server;  // in rank 0's process, across processes
  std::unique_ptr<BoardClient> board;
  bool prints() const { return process == 0; }
  std::size_t max_bytes = 0;               // -e: the size of every buffer
  std::vector<ncclrt::NcclMemory> memory;  // the buffers from ncclMemAlloc (as nccl-tests)
  std::vector<void*> cuda_memory;          // or from cudaMalloc (--cuda-malloc, NCCL < 2.19)
  DataType type = DataType::kFloat32;
  ReduceOp op = ReduceOp::kSum;
  std::chrono::seconds timeout{0};
  Setup() = default;
  Setup(const Setup&) = delete;
  Setup& operator=(const Setup&) = delete;
  ~Setup() {
    for (void* p : cuda_memory) cudaFree(p);
  }
};

// As nccl-tests' testStreamSynchronize: polls the streams of thread t's ranks, checks each
// communicator for an asynchronous error while its stream is busy, and yields when nothing
// finished. Past the -T deadline, or when the progress board says another process is gone, the
// communicators of this thread are aborted (each thread aborts only its own; the others reach
// their own deadline).
void wait_streams(Setup& su, int t);

// Runs body(t) on one thread per -t (each on its first GPU); the first failure is rethrown. A
// thread that fails breaks `barrier`, so that the others do not wait for it there.
void on_threads(Setup& su, const std::function<void(int)>& body, Barrier* barrier = nullptr);

// Every rank's record, each rank of thread t giving mine[g]: an all_gather of bytes on the bench's
// communicator, waited for as the sweep waits (-T, the progress board).
template <class T>
std::vector<T> exchange(Setup& su, int t, const std::vector<T>& mine) {
  static_assert(sizeof(T) <= kGathered, "a record fits before the gathered ones");
  const int gpus = su.args.gpus;
  auto rank = [&](int g) -> Rank& { return su.ranks[static_cast<std::size_t>(t * gpus + g)]; };
  for (int g = 0; g < gpus; ++g) {
    cuda(cudaMemcpyAsync(rank(g).small, &mine[static_cast<std::size_t>(g)], sizeof(T),
                         cudaMemcpyHostToDevice, rank(g).stream),
         "upload");
  }
  {
    std::optional<ncclrt::Group> group;
    if (gpus > 1) group.emplace(*su.lib);
    for (int g = 0; g < gpus; ++g) {
      const Rank& k = rank(g);
      k.comm->all_gather(k.small, k.small + kGathered, sizeof(T), DataType::kUint8, k.stream);
    }
    if (group) group->end();
  }
  wait_streams(su, t);
  std::vector<T> all(static_cast<std::size_t>(su.nranks));
  cuda(cudaMemcpy(all.data(), rank(0).small + kGathered, all.size() * sizeof(T),
                  cudaMemcpyDeviceToHost),
       "readback");
  return all;
}

// nccl-tests' MPI_Barrier between processes, without MPI: a one-byte all_reduce of every rank,
// waited for. Only where the job spans processes (threads meet at their own barrier).
void sync_processes(Setup& su, int t);

// Where step `step` of the sweep is, for the names of missing ranks: 0 start-up, 1 the warm-up,
// 2 + i row i.
std::string step_text(const Setup& su, int step);

// "rank 3 (host a, pid 12)": process p's ranks, with where they run once the ranks have met.
std::string process_name(const Setup& su, int p);

// The ranks meet: each has a small buffer for the exchanges, tells every other who it is, and,
// where the job spans processes, links to rank 0's progress board (board.hpp) at the launcher's
// rendezvous host and a port rank 0 picked and told in its record.
void introduce(Setup& su);

// Whom the progress board blames, asked after this process's wait failed: the board is asked
// again for up to 2 s while it sees nobody missing, so that a peer that has just stopped has time
// to fall silent.
std::string board_verdict(Setup& su);

// This process's ranks of a job that spans processes: ranks process * per + i, one thread each
// calling init_rank (NCCL makes them only together), with the id every process gets from the
// launcher's rendezvous address (NCCL_COMM_ID, as Communicator::from_environment does). Ranks
// of this process that share a GPU get max_ctas as init_all gives them. Past -T the job is given
// up: NCCL still holds the threads, so the process must end (JobAbandoned).
struct JobAbandoned : Fail {
  using Fail::Fail;
};

std::vector<Communicator> init_job(Setup& su, const std::vector<int>& devices,
                                   const ncclrt::Config& config);

}  // namespace ncclrt_tool::bench_cuda
