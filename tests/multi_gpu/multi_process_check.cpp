// One rank of a multi-process job started by scripts/launch_local.sh (or torchrun, mpirun,
// srun): `every_op` checks every operation's numbers on this rank, eager and graph-captured;
// `drop` makes the last rank leave without joining, and the others must get a TimeoutError;
// `grow` starts with the first half of the ranks and grows to all; `revoke_shrink` revokes the
// communicator on every rank and shrinks it to all but the last; `signals` has each rank
// put_signal into the next rank's window and wait for the previous one's; `kill`, `absent` and
// `exit` lose the last rank in the middle of a loop of all_reduces (SIGKILL; it never calls the
// collective; it exits cleanly), and the survivors must notice within their deadline + 1 s,
// revoke, shrink to the survivors and go on with correct results.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <thread>

#include "../gpu/gpu_support.hpp"

namespace {

using namespace ncclrt;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// all_reduce(sum) of rank+1 over n floats; "" or what went wrong.
std::string check_all_reduce(const Communicator& c, std::size_t n = 1 << 16) {
  gpu_test::DeviceBuffer buf(n * sizeof(float));
  std::vector<float> h(n, float(c.rank() + 1));
  cudaMemcpy(buf.ptr, h.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  c.all_reduce(buf.as<float>(), buf.as<float>(), n, ReduceOp::kSum, nullptr);
  cudaDeviceSynchronize();
  cudaMemcpy(h.data(), buf.ptr, n * sizeof(float), cudaMemcpyDeviceToHost);
  const float want = float(c.size() * (c.size() + 1) / 2);
  for (std::size_t i = 0; i < n; ++i) {
    if (h[i] != want) {
      return "all_reduce on " + std::to_string(c.size()) + " ranks: element " + std::to_string(i) +
             " is " + std::to_string(h[i]) + ", want " + std::to_string(want);
    }
  }
  return "";
}

// The first half of the ranks make a communicator; rank 0 makes a grow id and hands it to the
// others through a file; every rank ends in one communicator of all ranks.
int grow(const std::shared_ptr<const Library>& lib, const LaunchInfo& info) {
  const int old_size = std::max(1, info.size / 2);
  const std::string file = "/tmp/ncclrt_grow_" + info.comm_id.substr(info.comm_id.rfind(':') + 1);
  int devices = 0;
  cudaGetDeviceCount(&devices);
  cudaSetDevice(info.local_rank % std::max(1, devices));
  const auto start = Clock::now();
  Communicator grown;
  if (info.rank < old_size) {
    ::setenv("NCCL_COMM_ID", info.comm_id.c_str(), 1);
    const UniqueId first = lib->unique_id();
    Communicator c = Communicator::init_rank(lib, old_size, info.rank, first);
    if (auto e = check_all_reduce(c); !e.empty()) {
      std::printf("rank %d: before grow: %s\n", info.rank, e.c_str());
      return 1;
    }
    std::optional<UniqueId> id;
    if (info.rank == 0) {
      id = c.grow_id();
      std::ofstream(file + ".tmp") << id->to_hex();
      std::rename((file + ".tmp").c_str(), file.c_str());
    }
    grown = c.grow(info.size, id);
    c.destroy();
  } else {
    ::unsetenv("NCCL_COMM_ID");
    std::string hex;
    for (int i = 0; i < 6000 && hex.empty(); ++i) {
      std::ifstream(file) >> hex;
      if (hex.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (hex.empty()) {
      std::printf("rank %d: no grow id in %s\n", info.rank, file.c_str());
      return 1;
    }
    grown = Communicator::join(lib, info.size, info.rank, UniqueId::from_hex(hex));
  }
  const double grow_ms = ms_since(start);
  if (grown.size() != info.size || grown.rank() != info.rank) {
    std::printf("rank %d: grown communicator is rank %d of %d\n", info.rank, grown.rank(),
                grown.size());
    return 1;
  }
  if (auto e = check_all_reduce(grown); !e.empty()) {
    std::printf("rank %d: after grow: %s\n", info.rank, e.c_str());
    return 1;
  }
  std::printf("rank %d: grew %d -> %d ranks in %.0f ms (%s); all_reduce correct\n", info.rank,
              old_size, info.size, grow_ms, info.rank < old_size ? "existing" : "joined");
  grown.finalize();
  grown.destroy();
  if (info.rank == 0) std::remove(file.c_str());
  return 0;
}

// Every rank revokes; all but the last shrink to a communicator without it.
int revoke_shrink(const std::shared_ptr<const Library>& lib, const LaunchInfo& info) {
  Communicator c = Communicator::from_environment(lib);
  if (auto e = check_all_reduce(c); !e.empty()) {
    std::printf("rank %d: %s\n", info.rank, e.c_str());
    return 1;
  }
  auto t = Clock::now();
  c.revoke();
  const double revoke_ms = ms_since(t);
  if (info.rank == info.size - 1) {
    c.destroy();
    std::printf("rank %d: revoked in %.0f ms, left\n", info.rank, revoke_ms);
    return 0;
  }
  t = Clock::now();
  Communicator smaller = c.shrink({info.size - 1});
  const double shrink_ms = ms_since(t);
  c.destroy();
  if (smaller.size() != info.size - 1) {
    std::printf("rank %d: shrunk to %d ranks\n", info.rank, smaller.size());
    return 1;
  }
  if (auto e = check_all_reduce(smaller); !e.empty()) {
    std::printf("rank %d: after shrink: %s\n", info.rank, e.c_str());
    return 1;
  }
  std::printf("rank %d: revoked in %.0f ms, shrank %d -> %d in %.0f ms; all_reduce correct\n",
              info.rank, revoke_ms, info.size, smaller.size(), shrink_ms);
  smaller.finalize();
  smaller.destroy();
  return 0;
}

// Rank r writes its block into rank r+1's window and signals; waits for rank r-1's.
int signals(const std::shared_ptr<const Library>& lib, const LaunchInfo&) {
  Communicator c = Communicator::from_environment(lib);
  const int n = c.size(), r = c.rank(), next = (r + 1) % n, prev = (r + n - 1) % n;
  // NCCL wants the source in a symmetric window too: one window, source half and target half.
  const std::size_t count = 1 << 14, bytes = count * sizeof(float);
  NcclMemory mem = NcclMemory::allocate(lib, 2 * bytes);
  char* base = static_cast<char*>(mem.get());
  std::vector<float> h(count);
  for (std::size_t i = 0; i < count; ++i) h[i] = float(r * 1000 + int(i % 997));
  cudaMemcpy(base, h.data(), bytes, cudaMemcpyHostToDevice);
  cudaMemset(base + bytes, 0, bytes);
  Window win = c.register_window(base, 2 * bytes, WindowFlags::kCollSymmetric);
  cudaDeviceSynchronize();
  c.put_signal(base, count, DataType::kFloat32, next, win, bytes, 0, 0, nullptr);
  c.wait_signal({SignalWait{prev, 0, 1, 0}}, nullptr);
  cudaDeviceSynchronize();
  cudaMemcpy(h.data(), base + bytes, bytes, cudaMemcpyDeviceToHost);
  for (std::size_t i = 0; i < count; ++i) {
    if (h[i] != float(prev * 1000 + int(i % 997))) {
      std::printf("rank %d: window element %zu is %f, want rank %d's\n", r, i, h[i], prev);
      return 1;
    }
  }
  // A signal without data, around the ring the other way.
  // (NCCL 2.30.7 has one signal index by default: Config::num_rma_sig raises it on 2.31.2.)
  c.signal(prev, 0, 0, nullptr);
  c.wait_signal({SignalWait{next, 0, 1, 0}}, nullptr);
  c.synchronize(nullptr, std::chrono::seconds(30));
  std::printf("rank %d: put_signal from rank %d arrived intact; signal/wait_signal done\n", r,
              prev);
  win = Window();
  c.finalize();
  c.destroy();
  return 0;
}

// The last rank is lost at iteration 10 of a loop of all_reduces; the others detect it through
// synchronize's deadline (left alive, not aborted), revoke, shrink and go on.
int lose_a_rank(const std::shared_ptr<const Library>& lib, const LaunchInfo&,
                const std::string& how) {
  Config cfg;
  cfg.timeout = std::chrono::seconds(30);  // nonblocking: revoke and shrink get deadlines too
  Communicator c = Communicator::from_environment(lib, cfg);
  const int n = c.size(), r = c.rank(), victim = n - 1;
  const auto deadline = std::chrono::milliseconds(2000);
  const std::size_t count = 1 << 16;
  gpu_test::DeviceBuffer in(count * sizeof(float)), out(count * sizeof(float));
  std::vector<float> h(count);
  cudaStream_t stream;
  cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  Clock::time_point issued;
  double detect_ms = -1;
  std::string reason;
  for (int i = 0; i < 1000 && detect_ms < 0; ++i) {
    if (r == victim && i == 10) {
      std::printf("rank %d: %s at iteration %d\n", r,
                  how == "kill"   ? "SIGKILL"
                  : how == "exit" ? "exits"
                                  : "stops calling",
                  i);
      std::fflush(stdout);
      if (how == "kill") ::raise(SIGKILL);
      if (how == "exit") std::exit(0);                        // with the communicator alive
      std::this_thread::sleep_for(std::chrono::seconds(15));  // alive, never calls
      return 0;
    }
    for (std::size_t j = 0; j < count; ++j) h[j] = float(r + i);
    cudaMemcpyAsync(in.ptr, h.data(), count * sizeof(float), cudaMemcpyHostToDevice, stream);
    c.all_reduce(in.as<float>(), out.as<float>(), count, ReduceOp::kSum, stream);
    issued = Clock::now();
    try {
      c.synchronize(stream, deadline, OnFailure::kLeave);
    } catch (const Error& e) {
      detect_ms = ms_since(issued);
      reason = e.what();
      break;
    }
    cudaMemcpy(h.data(), out.ptr, count * sizeof(float), cudaMemcpyDeviceToHost);
    const float want = float(n * (n - 1) / 2 + n * i);
    if (h[0] != want || h[count - 1] != want) {
      std::printf("rank %d: iteration %d: %f, want %f\n", r, i, h[0], want);
      return 1;
    }
  }
  if (detect_ms < 0) {
    std::printf("rank %d: the lost rank was never noticed\n", r);
    return 1;
  }
  auto t = Clock::now();
  c.revoke();
  const double revoke_ms = ms_since(t);
  t = Clock::now();
  Communicator smaller = c.shrink({victim});
  const double shrink_ms = ms_since(t);
  c.destroy();
  if (auto e = check_all_reduce(smaller); !e.empty()) {
    std::printf("rank %d: after shrink: %s\n", r, e.c_str());
    return 1;
  }
  const bool in_time = detect_ms <= deadline.count() + 1000;
  std::printf(
      "rank %d: noticed in %.0f ms (deadline %lld ms%s), revoked in %.0f ms, shrank %d -> %d in "
      "%.0f ms; all_reduce correct (%s...)\n",
      r, detect_ms, static_cast<long long>(deadline.count()), in_time ? "" : ", TOO LATE",
      revoke_ms, n, smaller.size(), shrink_ms, reason.substr(0, 90).c_str());
  smaller.finalize();
  smaller.destroy();
  cudaStreamDestroy(stream);
  return in_time ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ncclrt;
  const std::string mode = argc > 1 ? argv[1] : "every_op";
  try {
    auto lib = Library::open();
    const LaunchInfo info = launch_info_from_environment();
    int devices = 0;
    cudaGetDeviceCount(&devices);
    std::string why;
    if (info.size > devices && !lib->allows_ranks_per_gpu(&why)) {
      std::printf("SKIPPED: %d ranks on %d GPU(s): %s\n", info.size, devices, why.c_str());
      return 0;
    }
    if (mode == "can_run") {  // only the check above: may this many ranks run here?
      std::printf("%d ranks on %d GPU(s) can run\n", info.size, devices);
      return 0;
    }
    if (info.rank == 0) {
      std::printf("rank 0: launched by %s, %d ranks on %d GPU(s), NCCL %s\n", info.launcher.c_str(),
                  info.size, devices, lib->version().str().c_str());
    }
    if (mode == "kill" || mode == "absent" || mode == "exit") return lose_a_rank(lib, info, mode);
    if (mode == "grow") return grow(lib, info);
    if (mode == "revoke_shrink") return revoke_shrink(lib, info);
    if (mode == "signals") return signals(lib, info);
    if (mode == "drop") {
      if (info.rank == info.size - 1) {
        std::printf("rank %d: leaving without joining\n", info.rank);
        return 0;
      }
      Config c;
      c.timeout = std::chrono::seconds(5);
      try {
        (void)Communicator::from_environment(lib, c);
        std::printf("rank %d: init succeeded without the last rank\n", info.rank);
        return 1;
      } catch (const TimeoutError& e) {
        std::printf("rank %d: TimeoutError as expected: %s\n", info.rank, e.what());
        return 0;
      }
    }
    // every_op: a blocking communicator, every type and size. every_op_nonblocking: one made
    // with Config::timeout, on which NCCL answers ncclInProgress and ncclrt waits (groups too),
    // two types and sizes; $NCCLRT_CHECK_ONLY (a substring of case names, comma-separated)
    // narrows it, e.g. to the grouped fallbacks with NCCLRT_DISABLE_FUNCTIONS.
    const bool nonblocking = mode == "every_op_nonblocking";
    Config config;
    if (nonblocking) config.timeout = std::chrono::seconds(60);
    std::vector<Communicator> comms;
    comms.push_back(Communicator::from_environment(lib, config));
    const char* only = std::getenv("NCCLRT_CHECK_ONLY");
    auto wanted = [&](const std::string& name) {
      if (!only || !*only) return true;
      std::string list = std::string(only) + ",";
      for (std::size_t a = 0, b; (b = list.find(',', a)) != std::string::npos; a = b + 1) {
        if (b > a && name.find(list.substr(a, b - a)) != std::string::npos) return true;
      }
      return false;
    };
    const std::vector<DataType> types =
        nonblocking
            ? std::vector<DataType>{DataType::kFloat32, DataType::kBfloat16}
            : std::vector<DataType>{DataType::kFloat32, DataType::kBfloat16, DataType::kInt32};
    const std::vector<std::size_t> counts =
        nonblocking ? std::vector<std::size_t>{4099, std::size_t{1} << 20}
                    : std::vector<std::size_t>{1, 4099, std::size_t{1} << 20};
    int failures = 0, cases = 0;
    for (const auto& c : gpu_test::all_op_cases()) {
      if (!wanted(c.name)) continue;
      ++cases;
      for (DataType t : types) {
        for (std::size_t count : counts) {
          for (bool graph : {false, true}) {
            const std::string e = gpu_test::run_case(c, comms, t, count, graph);
            if (!e.empty()) {
              std::printf("rank %d: %s\n", info.rank, e.c_str());
              ++failures;
            }
          }
        }
      }
    }
    std::printf("rank %d of %d: %d cases%s, %d failures\n", info.rank, info.size, cases,
                nonblocking ? " on a nonblocking communicator" : "", failures);
    comms[0].finalize();
    comms[0].destroy();
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
