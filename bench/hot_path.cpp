// What ncclrt adds to a collective on the host: Communicator::all_reduce against the same NCCL
// function pointer called directly, on the recording stand-in (no GPU, the "NCCL" call only
// records), so that the difference is ncclrt's checks and nothing else; with the flight recorder
// on (the default, 2048 entries) and off (Config::trace_entries = 0).
//   build/ci/bench/ncclrt_bench_hot_path --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <ncclrt/ncclrt.hpp>

namespace {

ncclrt::Config recording(int entries) {
  ncclrt::Config c;
  c.trace_entries = entries;
  return c;
}

struct Fixture {
  std::shared_ptr<const ncclrt::Library> lib = ncclrt::Library::open(RECORDING_NCCL);
  ncclrt::Communicator comm =
      ncclrt::Communicator::init_rank(lib, 1, 0, lib->unique_id(), recording(2048));
  ncclrt::Communicator unrecorded =
      ncclrt::Communicator::init_rank(lib, 1, 0, lib->unique_id(), recording(0));
  float* buf = reinterpret_cast<float*>(0x1000);  // never dereferenced by the stand-in
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void DirectPointer(benchmark::State& state) {
  Fixture& f = fixture();
  const auto fn = f.lib->raw().ncclAllReduce;
  const auto native = f.comm.native();
  for (auto _ : state) {
    const auto r =
        fn(f.buf, f.buf, 256, ncclrt::abi::ncclFloat32, ncclrt::abi::ncclSum, native, nullptr);
    if (r != ncclrt::abi::ncclSuccess) state.SkipWithError("ncclAllReduce failed");
    benchmark::DoNotOptimize(r);
  }
}

void NcclrtAllReduce(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    f.comm.all_reduce(f.buf, f.buf, 256, ncclrt::ReduceOp::kSum, nullptr);
    benchmark::ClobberMemory();
  }
}

void NcclrtAllGather(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    f.comm.all_gather(f.buf, f.buf, 256, ncclrt::DataType::kFloat32, nullptr);
    benchmark::ClobberMemory();
  }
}

void NcclrtAllReduceRecordingOff(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    f.unrecorded.all_reduce(f.buf, f.buf, 256, ncclrt::ReduceOp::kSum, nullptr);
    benchmark::ClobberMemory();
  }
}

void NcclrtAllGatherRecordingOff(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) {
    f.unrecorded.all_gather(f.buf, f.buf, 256, ncclrt::DataType::kFloat32, nullptr);
    benchmark::ClobberMemory();
  }
}

}  // namespace

// Interleaved, so that a noisy neighbour hurts every case alike.
BENCHMARK(DirectPointer);
BENCHMARK(NcclrtAllReduceRecordingOff);
BENCHMARK(NcclrtAllReduce);
BENCHMARK(NcclrtAllGatherRecordingOff);
BENCHMARK(NcclrtAllGather);
BENCHMARK_MAIN();
