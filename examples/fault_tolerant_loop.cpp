// A training-style loop that survives lost ranks. Every step: an all_reduce and a ring of
// send/recv in one group, then a wait with a deadline that leaves the communicator alive on
// failure. When a rank dies, every survivor notices (NCCL's error, the deadline, or a wrong
// result), revokes, agrees with the others on who failed, shrinks them away and goes on; results
// are checked after every step, and a wrong one with nobody failed ends the program.
//
//   fault_tolerant_loop [--steps N] [--kill RANK@STEP]... [--deadline-ms MS] [--store DIR]
//                       [--blocking 1]
//
// One process per rank, started by torchrun, mpirun, srun or scripts/launch_local.sh (RANK is the
// launcher's rank). --kill makes that rank SIGKILL itself at the start of that step, to try it.
// --store is a directory every rank sees (default: /tmp/ncclrt-ftl-<rendezvous port>, private to
// this user: made with mode 0700, and refused if another user made it first).
// --blocking 1 makes a blocking communicator (no Config::timeout): recovery works the same, with
// revoke and shrink bounded by ncclrt on a helper thread.
#include <cuda_runtime.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ncclrt/ncclrt.hpp>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

struct Options {
  int steps = 20;
  std::vector<std::pair<int, int>> kills;  // (launch rank, step)
  std::chrono::milliseconds deadline{3000};
  std::string store;
  bool private_store = false;  // the default directory, in /tmp
  bool blocking = false;
};

Options parse(int argc, char** argv, const ncclrt::LaunchInfo& info) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--steps") {
      o.steps = std::atoi(value.c_str());
    } else if (flag == "--kill") {
      const auto at = value.find('@');
      o.kills.emplace_back(std::atoi(value.substr(0, at).c_str()),
                           std::atoi(value.substr(at + 1).c_str()));
    } else if (flag == "--deadline-ms") {
      o.deadline = std::chrono::milliseconds(std::atoi(value.c_str()));
    } else if (flag == "--store") {
      o.store = value;
    } else if (flag == "--blocking") {
      o.blocking = value == "1";
    } else {
      throw ncclrt::UsageError("unknown option " + flag);
    }
  }
  if (o.store.empty()) {
    o.store = "/tmp/ncclrt-ftl-" + info.comm_id.substr(info.comm_id.rfind(':') + 1);
    o.private_store = true;
  }
  return o;
}

// One step on the communicator whose rank i is launch rank members[i]: an all_reduce of
// (launch rank + 1) * (step + 1), and each rank's launch rank sent around a ring.
void issue(const ncclrt::Communicator& comm, int me, int s, float* buf, float* ring,
           cudaStream_t stream) {
  const std::size_t n = 1 << 16;
  const int r = comm.rank(), size = comm.size();
  std::vector<float> host(n, float((me + 1) * (s + 1)));
  cudaMemcpyAsync(buf, host.data(), n * sizeof(float), cudaMemcpyHostToDevice, stream);
  const float mine = float(me);
  cudaMemcpyAsync(ring, &mine, sizeof(float), cudaMemcpyHostToDevice, stream);
  cudaStreamSynchronize(stream);  // the host buffers go out of scope
  comm.all_reduce(buf, buf, n, ncclrt::ReduceOp::kSum, stream);
  ncclrt::Group group(*comm.library());  // nonblocking: its end waits for the enqueue
  comm.send(ring, 1, (r + 1) % size, stream);
  comm.recv(ring + 1, 1, (r - 1 + size) % size, stream);
  group.end();
}

// "" or what the step computed wrong: the sum over members, the previous member's launch rank.
std::string check(const ncclrt::Communicator& comm, const std::vector<int>& members, int s,
                  const float* buf, const float* ring) {
  const std::size_t n = 1 << 16;
  const int r = comm.rank(), size = comm.size();
  std::vector<float> host(n);
  float got[2];
  cudaMemcpy(host.data(), buf, n * sizeof(float), cudaMemcpyDeviceToHost);
  cudaMemcpy(got, ring, sizeof got, cudaMemcpyDeviceToHost);
  float want = 0;
  for (int m : members) want += float((m + 1) * (s + 1));
  if (host[0] != want || host[n - 1] != want) {
    return "all_reduce gave " + std::to_string(host[0]) + ", want " + std::to_string(want);
  }
  const int prev = members[static_cast<std::size_t>((r - 1 + size) % size)];
  if (got[1] != float(prev)) {
    return "the ring brought " + std::to_string(got[1]) + ", want " + std::to_string(prev);
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) try {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line as it comes, also into a file
  auto nccl = ncclrt::Library::open();
  const ncclrt::LaunchInfo info = ncclrt::launch_info_from_environment();
  const Options opt = parse(argc, argv, info);
  ncclrt::Config config;
  config.timeout = opt.deadline;  // nonblocking: creation, enqueue, revoke, shrink get deadlines
  if (opt.blocking) config = {};
  ncclrt::Communicator comm = ncclrt::Communicator::from_environment(nccl, config);
  ncclrt::DirectoryStore store(opt.store, opt.private_store
                                              ? ncclrt::DirectoryStore::Access::kPrivate
                                              : ncclrt::DirectoryStore::Access::kShared);
  std::vector<int> members;  // launch rank of each rank of `comm`
  for (int r = 0; r < comm.size(); ++r) members.push_back(r);
  float *buf = nullptr, *ring = nullptr;
  cudaMalloc(&buf, (1 << 16) * sizeof(float));
  cudaMalloc(&ring, 2 * sizeof(float));
  cudaStream_t stream;
  cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  const int me = info.rank;
  int epoch = 0;
  for (int s = 0; s < opt.steps; ++s) {
    for (const auto& [who, when] : opt.kills) {
      if (who == me && when == s) {
        std::printf("rank %d: SIGKILL at step %d\n", me, s);
        std::fflush(stdout);
        std::raise(SIGKILL);
      }
    }
    const auto start = Clock::now();
    std::string wrong;  // what a step that NCCL did not fail computed wrong
    try {
      issue(comm, me, s, buf, ring, stream);
      comm.synchronize(stream, opt.deadline, ncclrt::OnFailure::kLeave);  // detect; do not abort
      wrong = check(comm, members, s, buf, ring);
      if (wrong.empty()) continue;
      // A peer that dies during a step can leave a survivor's results invalid while NCCL
      // reports no error on that survivor (over sockets, NCCL 2.30.7: the step's output held the
      // previous step's sum). So a wrong result is a failed step: recover with the others, and
      // only if nobody failed is the result really wrong.
    } catch (const ncclrt::TimeoutError&) {
    } catch (const ncclrt::NcclError&) {
    }
    // Recovery: revoke, agree on who failed, shrink them away (where NCCL refused to revoke on
    // some survivor: a new communicator of the survivors instead), redo the step.
    const double noticed = ms_since(start);
    const int old_size = comm.size();
    const auto t = Clock::now();
    ncclrt::Recovery r = ncclrt::recover(comm, store, "ftl/epoch" + std::to_string(epoch++),
                                         std::chrono::seconds(2), config);
    const double recover_ms = ms_since(t);
    if (!wrong.empty() && r.failed.empty()) {
      std::printf("rank %d: step %d WRONG: %s\n", me, s, wrong.c_str());
      return 1;
    }
    std::string gone;
    for (auto it = r.failed.rbegin(); it != r.failed.rend(); ++it) {
      gone += (gone.empty() ? "" : ",") + std::to_string(members[static_cast<std::size_t>(*it)]);
      members.erase(members.begin() + *it);
    }
    const char* how = r.rebuilt          ? "a new communicator (NCCL refused to revoke)"
                      : r.failed.empty() ? "revoked and split"
                                         : "revoked and shrunk";
    std::printf(
        "rank %d: step %d: noticed in %.0f ms (deadline %lld ms)%s, recovered in %.0f ms: rank(s) "
        "%s failed, %d -> %d ranks, %s\n",
        me, s, noticed, static_cast<long long>(opt.deadline.count()),
        wrong.empty() ? "" : (", a wrong result: " + wrong).c_str(), recover_ms, gone.c_str(),
        old_size, r.comm.size(), how);
    if (comm.revoked()) comm.destroy();  // else recover() aborted it: nothing is left
    comm = std::move(r.comm);
    --s;  // the failed step again, on the survivors
  }
  std::printf("rank %d: OK: %d steps correct, finished with %d ranks\n", me, opt.steps,
              comm.size());
  comm.finalize();
  comm.destroy();
  return 0;
} catch (const std::exception& e) {
  std::printf("error: %s\n", e.what());
  return 1;
}
