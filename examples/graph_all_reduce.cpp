// An all-reduce captured once into a CUDA graph and replayed with new input each time.
// Run: ./graph_all_reduce   (NCCL is found at run time; NCCLRT_NCCL_LIB picks a file)
#include <cuda_runtime.h>

#include <cstdio>
#include <ncclrt/ncclrt.hpp>
#include <vector>

int main() try {
  auto nccl = ncclrt::Library::open();
  std::printf("NCCL %s from %s\n", nccl->version().str().c_str(), nccl->path().c_str());

  cudaSetDevice(0);
  auto comm = ncclrt::Communicator::init_rank(nccl, /*nranks=*/1, /*rank=*/0, nccl->unique_id());

  const std::size_t n = 1 << 20;
  float *in, *out;
  cudaMalloc(&in, n * sizeof(float));
  cudaMalloc(&out, n * sizeof(float));
  cudaStream_t stream;
  cudaStreamCreate(&stream);

  // Capture: the collective is recorded, not run.
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal);
  comm.all_reduce(in, out, n, ncclrt::ReduceOp::kSum, stream);
  cudaStreamEndCapture(stream, &graph);
  cudaGraphInstantiate(&exec, graph, 0);

  std::vector<float> host(n);
  for (int replay = 0; replay < 10; ++replay) {
    for (std::size_t i = 0; i < n; ++i) host[i] = float(replay * 10 + i % 10);
    cudaMemcpyAsync(in, host.data(), n * sizeof(float), cudaMemcpyHostToDevice, stream);
    cudaGraphLaunch(exec, stream);
    cudaMemcpyAsync(host.data(), out, n * sizeof(float), cudaMemcpyDeviceToHost, stream);
    cudaStreamSynchronize(stream);
    for (std::size_t i = 0; i < n; ++i) {
      if (host[i] != float(replay * 10 + i % 10)) {
        std::fprintf(stderr, "replay %d: element %zu is %f\n", replay, i, host[i]);
        return 1;
      }
    }
  }
  std::printf("10 replays of a captured all_reduce of %zu floats: all correct\n", n);

  // The graph that captured the communicator's work goes first, then the communicator.
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  comm.finalize();
  comm.destroy();
  cudaFree(in);
  cudaFree(out);
  return 0;
} catch (const ncclrt::Error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
