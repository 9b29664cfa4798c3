// `ncclrt bench`: nccl-tests-style measurements of every operation, and the overhead of ncclrt
// against a direct call of the same NCCL function pointer. Under a launcher (torchrun, mpirun,
// srun) each process drives its ranks of one job, and rank 0 prints the job's table.
#pragma once

#include <cstddef>
#include <string>

namespace ncclrt_tool {

struct BenchArgs {
  std::string op;  // all_reduce, ..., or "overhead"
  std::string nccl_lib;
  std::string min_bytes = "32M";  // -b
  std::string max_bytes = "32M";  // -e
  double step_factor = 0;         // -f (0: use -i)
  std::string step_bytes = "1M";  // -i
  int iters = 20;                 // -n
  int warmup = 1;                 // -w
  int check = 1;                  // -c
  std::string type = "float";     // -d
  std::string redop = "sum";      // -o
  int root = 0;                   // -r
  int gpus = 1;                   // -g: GPUs per thread
  int threads = 1;                // -t
  int graph = 0;                  // -G: graph launches (0: eager)
  int graph_warmup = 0;           // --graph-warmup: untimed graph launches first (nccl-tests: 0)
  int average = 1;                // -a: threads' times: 0 rank 0, 1 mean, 2 min, 3 max
  bool cuda_malloc = false;       // --cuda-malloc: buffers from cudaMalloc, not ncclMemAlloc
  int timeout = 0;                // -T seconds (0: none)
  std::string json;               // -J file
  bool direct = false;            // also run each size through the raw NCCL call
  int rounds = 30;                // overhead: rounds of interleaved batches
  std::string launcher = "auto";  // --launcher: auto, require or ignore (job.hpp)
};

/// Parses "8", "64K", "1M", "2G" (powers of 1024). Throws std::invalid_argument with the reason.
std::size_t parse_size(const std::string& text);

int run_bench(const BenchArgs& args);

}  // namespace ncclrt_tool
