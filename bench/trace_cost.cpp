// What the flight recorder costs on a GPU, one rank, side by side: the same all_reduce through the
// NCCL function pointer (direct), through ncclrt with recording off, on (the default), and on with
// progress mode (two stream memory operations and a capture query per call). Host time per call
// (median of interleaved batches), GPU time per operation eagerly and in a replayed CUDA graph.
// The 1 KiB in-place row is the one that shows the recorder: on one rank NCCL launches nothing for
// an in-place all_reduce, so the host time is ncclrt's and NCCL's entry, not a kernel launch.
//   build-gpu/bench/ncclrt_bench_trace_cost [-n CALLS] [--rounds R] [-J FILE]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ncclrt/ncclrt.hpp>
#include <string>
#include <vector>

namespace {

using namespace ncclrt;
using Clock = std::chrono::steady_clock;

void cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Path {
  const char* name;
  Communicator* comm;  // null: the direct call
};

}  // namespace

int main(int argc, char** argv) {
  int batch = 200, rounds = 30;
  std::string json;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-n" && i + 1 < argc) {
      batch = std::atoi(argv[++i]);
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "-J" && i + 1 < argc) {
      json = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [-n CALLS] [--rounds R] [-J FILE]\n", argv[0]);
      return 2;
    }
  }
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus == 0) {
    std::printf("SKIPPED: no GPU\n");
    return 0;
  }
  cuda(cudaSetDevice(0), "cudaSetDevice");
  auto lib = Library::open();
  auto make = [&](int entries, bool progress) {
    Config c;
    c.trace_entries = entries;
    c.trace_progress = progress;
    return Communicator::init_rank(lib, 1, 0, lib->unique_id(), c);
  };
  Communicator off = make(0, false), on = make(2048, false), progress = make(2048, true);
  if (!progress.trace().progress) {
    std::printf("progress mode did not start (see NCCLRT_LOG=warn)\n");
    return 1;
  }
  const auto fn = lib->raw().ncclAllReduce;
  cudaStream_t stream;
  cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
  std::vector<Path> paths = {
      {"direct", nullptr}, {"off", &off}, {"on", &on}, {"progress", &progress}};
  std::printf("# flight recorder cost: all_reduce of float32 on one rank, NCCL %s\n",
              lib->version().str().c_str());
  std::printf("# host: median us/call of %d interleaved batches of %d; GPU: us/op over %d ops\n",
              rounds, batch, batch);
  std::printf("# %8s %-9s %12s %14s %14s\n", "bytes", "path", "host us/call", "eager us/op",
              "graph us/op");
  std::string out = "{\"nccl\": \"" + lib->version().str() + "\", \"rows\": [";
  bool first_row = true;
  struct Case {
    std::size_t bytes;
    bool in_place;
  };
  for (const Case& size :
       {Case{1024, false}, Case{1024, true}, Case{std::size_t{1} << 20, false}}) {
    const std::size_t bytes = size.bytes;
    const std::size_t count = bytes / sizeof(float);
    float *in, *res;
    cuda(cudaMalloc(&in, bytes), "cudaMalloc");
    cuda(cudaMalloc(&res, bytes), "cudaMalloc");
    float* out_buf = size.in_place ? in : res;
    auto call = [&](const Path& p) {
      if (p.comm == nullptr) {
        if (fn(in, out_buf, count, abi::ncclFloat32, abi::ncclSum, off.native(), stream) !=
            abi::ncclSuccess) {
          std::fprintf(stderr, "direct ncclAllReduce failed\n");
          std::exit(1);
        }
      } else {
        p.comm->all_reduce(in, out_buf, count, ReduceOp::kSum, stream);
      }
    };
    for (const auto& p : paths) {
      for (int w = 0; w < batch; ++w) call(p);
    }
    cuda(cudaStreamSynchronize(stream), "sync");
    std::vector<std::vector<double>> host(paths.size());
    for (int round = 0; round < rounds; ++round) {
      for (std::size_t k = 0; k < paths.size(); ++k) {
        const auto& p = paths[(k + static_cast<std::size_t>(round)) % paths.size()];
        const auto t0 = Clock::now();
        for (int i = 0; i < batch; ++i) call(p);
        const auto t1 = Clock::now();
        host[static_cast<std::size_t>(&p - paths.data())].push_back(
            std::chrono::duration<double, std::micro>(t1 - t0).count() / batch);
        cuda(cudaStreamSynchronize(stream), "sync");
      }
    }
    cudaEvent_t e0, e1;
    cuda(cudaEventCreate(&e0), "event");
    cuda(cudaEventCreate(&e1), "event");
    for (std::size_t k = 0; k < paths.size(); ++k) {
      const Path& p = paths[k];
      float ms = 0;
      cuda(cudaEventRecord(e0, stream), "record");
      for (int i = 0; i < batch; ++i) call(p);
      cuda(cudaEventRecord(e1, stream), "record");
      cuda(cudaEventSynchronize(e1), "sync");
      cuda(cudaEventElapsedTime(&ms, e0, e1), "elapsed");
      const double eager = ms * 1e3 / batch;
      cudaGraph_t g;
      cudaGraphExec_t exec;
      cuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
      for (int i = 0; i < batch; ++i) call(p);
      cuda(cudaStreamEndCapture(stream, &g), "capture");
      cuda(cudaGraphInstantiate(&exec, g, 0), "instantiate");
      cuda(cudaGraphLaunch(exec, stream), "launch");
      const int launches = 10;
      cuda(cudaEventRecord(e0, stream), "record");
      for (int l = 0; l < launches; ++l) cuda(cudaGraphLaunch(exec, stream), "launch");
      cuda(cudaEventRecord(e1, stream), "record");
      cuda(cudaEventSynchronize(e1), "sync");
      cuda(cudaEventElapsedTime(&ms, e0, e1), "elapsed");
      const double graph = ms * 1e3 / (batch * launches);
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(g);
      const double h = median(host[k]);
      std::printf("  %8zu%s %-9s %12.3f %14.3f %14.3f\n", bytes, size.in_place ? " in place" : "",
                  p.name, h, eager, graph);
      char row[256];
      std::snprintf(row, sizeof row,
                    "%s{\"bytes\": %zu, \"in_place\": %s, \"path\": \"%s\", "
                    "\"host_us_per_call\": %.4f, \"eager_us_per_op\": %.4f, "
                    "\"graph_us_per_op\": %.4f, \"host_us_rounds\": [",
                    first_row ? "" : ", ", bytes, size.in_place ? "true" : "false", p.name, h,
                    eager, graph);
      out += row;
      for (std::size_t r = 0; r < host[k].size(); ++r) {
        char v[32];
        std::snprintf(v, sizeof v, "%s%.4f", r == 0 ? "" : ", ", host[k][r]);
        out += v;
      }
      out += "]}";
      first_row = false;
    }
    // Progress mode really wrote what the GPU did: the last op's number, started and completed.
    const Trace t = progress.trace();
    std::printf("  %8zu progress: GPU started #%llu, completed #%llu of %llu collectives%s\n",
                bytes, static_cast<unsigned long long>(t.gpu_started),
                static_cast<unsigned long long>(t.gpu_completed),
                static_cast<unsigned long long>(t.collectives),
                t.gpu_started == t.gpu_completed && t.gpu_completed > 0 ? "" : "  (WRONG)");
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(in);
    cudaFree(res);
  }
  out += "]}\n";
  if (!json.empty()) std::ofstream(json) << out;
  return 0;
}
