// A world communicator over every visible GPU and a split one (even and odd ranks), used
// together from one process.
#include <cuda_runtime.h>

#include <cstdio>
#include <ncclrt/ncclrt.hpp>
#include <thread>
#include <vector>

int main() try {
  auto nccl = ncclrt::Library::open();
  int gpus = 0;
  cudaGetDeviceCount(&gpus);
  std::vector<int> devices;
  for (int d = 0; d < gpus; ++d) devices.push_back(d);
  std::printf("NCCL %s, %d GPU(s)\n", nccl->version().str().c_str(), gpus);

  std::vector<ncclrt::Communicator> world = ncclrt::Communicator::init_all(nccl, devices);
  // ncclCommSplit is collective: every rank calls it at once, here one thread per rank.
  std::vector<ncclrt::Communicator> parity(world.size());
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < world.size(); ++r) {
    threads.emplace_back([&, r] {
      cudaSetDevice(devices[r]);
      parity[r] = world[r].split(/*color=*/static_cast<int>(r % 2), /*key=*/static_cast<int>(r));
    });
  }
  for (auto& t : threads) t.join();

  const std::size_t n = 1024;
  bool ok = true;
  std::vector<float*> buf(world.size());
  std::vector<cudaStream_t> streams(world.size());
  for (std::size_t r = 0; r < world.size(); ++r) {
    cudaSetDevice(devices[r]);
    cudaMalloc(&buf[r], n * sizeof(float));
    cudaStreamCreate(&streams[r]);
    std::vector<float> ones(n, 1.0f);
    cudaMemcpy(buf[r], ones.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  }
  // Sum over the parity group, then over the world, on the same streams, in one group call.
  for (auto* comms : {&parity, &world}) {
    ncclrt::Group group(*nccl);
    for (std::size_t r = 0; r < world.size(); ++r) {
      (*comms)[r].all_reduce(buf[r], buf[r], n, ncclrt::ReduceOp::kSum, streams[r]);
    }
    group.end();
  }
  for (std::size_t r = 0; r < world.size(); ++r) {
    cudaSetDevice(devices[r]);
    cudaStreamSynchronize(streams[r]);
    float v = 0;
    cudaMemcpy(&v, buf[r], sizeof v, cudaMemcpyDeviceToHost);
    // Each parity group sums to its size; the world then adds every rank's group size.
    float want = 0;
    for (std::size_t q = 0; q < world.size(); ++q) want += float(parity[q].size());
    std::printf("rank %zu: parity group of %d, result %g (expected %g)\n", r, parity[r].size(), v,
                want);
    ok &= v == want;
    cudaFree(buf[r]);
  }
  return ok ? 0 : 1;
} catch (const ncclrt::Error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
