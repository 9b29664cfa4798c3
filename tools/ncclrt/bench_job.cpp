// `ncclrt bench` as one process of a job a launcher started: this process's ranks made with the
// others', the ranks introduced to each other, and whom the progress board blames when a wait
// fails. Declarations and what each does: bench_setup.hpp.
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "bench_setup.hpp"

namespace ncclrt_tool::bench_cuda {
namespace {

// `from`, cut to fit `to` of `cap` bytes with its NUL.
void copy_text(char* to, std::size_t cap, const char* from) {
  const std::size_t n = ::strnlen(from, cap - 1);
  std::memcpy(to, from, n);
  to[n] = '\0';
}

}  // namespace

void sync_processes(Setup& su, int t) {
  if (su.processes == 1) return;
  const int gpus = su.args.gpus;
  std::optional<ncclrt::Group> group;
  if (gpus > 1) group.emplace(*su.lib);
  for (int g = 0; g < gpus; ++g) {
    const Rank& k = su.ranks[static_cast<std::size_t>(t * gpus + g)];
    k.comm->all_reduce(k.small, k.small, 1, DataType::kUint8, ReduceOp::kMax, k.stream);
  }
  if (group) group->end();
  wait_streams(su, t);
}

std::string step_text(const Setup& su, int step) {
  if (step <= 0) return "at start-up";
  if (step == 1) return "in the warm-up";
  const std::size_t row = static_cast<std::size_t>(step - 2);
  return row < su.sizes.size() ? "in the " + std::to_string(su.sizes[row]) + "-byte row"
                               : "at the end";
}

std::string process_name(const Setup& su, int p) {
  const int per = su.args.threads * su.args.gpus;
  std::string name = ranks_of(p, per);
  const std::size_t first = static_cast<std::size_t>(p) * static_cast<std::size_t>(per);
  if (first < su.identities.size()) {
    const RankIdentity& r = su.identities[first];
    name += std::string(" (") + r.host + ", pid " + std::to_string(r.pid) + ")";
  }
  return name;
}

void introduce(Setup& su) {
  const std::size_t record = std::max(sizeof(RankIdentity), sizeof(RankTime));
  for (auto& k : su.ranks) {
    cuda(cudaSetDevice(k.device), "cudaSetDevice");
    void* p = nullptr;
    cuda(cudaMalloc(&p, kGathered + record * static_cast<std::size_t>(su.nranks)), "cudaMalloc");
    su.cuda_memory.push_back(p);
    k.small = static_cast<char*>(p);
  }
  std::string host;
  if (su.launch) {
    host = su.launch->comm_id.substr(0, su.launch->comm_id.rfind(':'));
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);  // [IPv6]:port
    }
    if (su.process == 0) {
      try {
        su.board_server = std::make_unique<BoardServer>(host, su.processes);
      } catch (const std::exception& e) {  // the job runs on; only the names are lost
        std::cerr << "ncclrt bench: " << e.what() << "; a missing rank will not be named\n";
      }
    }
  }
  char hostname[64] = {};
  ::gethostname(hostname, sizeof hostname - 1);
  on_threads(su, [&](int t) {
    std::vector<RankIdentity> mine(static_cast<std::size_t>(su.args.gpus));
    for (int g = 0; g < su.args.gpus; ++g) {
      const Rank& k = su.ranks[static_cast<std::size_t>(t * su.args.gpus + g)];
      RankIdentity& r = mine[static_cast<std::size_t>(g)];
      r.rank = k.comm->rank();
      r.process = su.process;
      r.pid = static_cast<std::int32_t>(::getpid());
      r.device = k.device;
      r.board_port = su.board_server ? su.board_server->port() : 0;
      copy_text(r.host, sizeof r.host, hostname);
      cudaDeviceProp prop{};
      cuda(cudaGetDeviceProperties(&prop, k.device), "cudaGetDeviceProperties");
      copy_text(r.name, sizeof r.name, prop.name);
      if (cudaDeviceGetPCIBusId(r.bus_id, sizeof r.bus_id, k.device) != cudaSuccess) {
        std::snprintf(r.bus_id, sizeof r.bus_id, "?");
      }
    }
    auto all = exchange(su, t, mine);
    if (t == 0) su.identities = std::move(all);
  });
  for (RankIdentity& r : su.identities) {  // what came from another process ends in a NUL
    r.host[sizeof r.host - 1] = r.name[sizeof r.name - 1] = r.bus_id[sizeof r.bus_id - 1] = '\0';
  }
  const int port = su.identities.front().board_port;  // 0: rank 0 serves none
  if (su.launch && port > 0 && port <= 65535) {
    try {
      su.board = std::make_unique<BoardClient>(host, port, su.process, std::chrono::seconds(10));
    } catch (const std::exception& e) {
      std::cerr << "ncclrt bench: " << process_name(su, su.process) << ": " << e.what()
                << "; a missing rank will not be named\n";
    }
  }
}

std::string board_verdict(Setup& su) {
  constexpr double kStaleAfter = 1.5;  // s; each process reports every 0.2 s
  const auto until = Clock::now() + std::chrono::seconds(2);
  for (;;) {
    const auto table = su.board->table(std::chrono::seconds(1));
    if (!table || table->size() != static_cast<std::size_t>(su.processes)) {
      return process_name(su, 0) +
             " does not answer: the progress board it serves is gone (it exited, or stopped)";
    }
    const Blame b = blame(
        *table, su.process, kStaleAfter, [&](int step) { return step_text(su, step); },
        [&](int p) { return process_name(su, p); });
    if (b.certain || Clock::now() >= until) return b.text;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// This process's ranks of a job that spans processes: ranks process * per + i, one thread each
// calling init_rank (NCCL makes them only together), with the id every process gets from the
// launcher's rendezvous address (NCCL_COMM_ID, as Communicator::from_environment does). Ranks
// of this process that share a GPU get max_ctas as init_all gives them. Past -T the job is given
// up: NCCL still holds the threads, so the process must end (JobAbandoned).

std::vector<Communicator> init_job(Setup& su, const std::vector<int>& devices,
                                   const ncclrt::Config& config) {
  const ncclrt::LaunchInfo& info = *su.launch;
  const int per = static_cast<int>(devices.size());
  const char* old = std::getenv("NCCL_COMM_ID");
  const std::string saved = old ? old : "";
  ::setenv("NCCL_COMM_ID", info.comm_id.c_str(), 1);
  const ncclrt::UniqueId id = su.lib->unique_id();
  struct Shared {
    std::mutex m;
    std::condition_variable cv;
    int finished = 0;
    std::vector<Communicator> comms;
    std::vector<std::string> errors;
  };
  auto shared = std::make_shared<Shared>();
  shared->comms.resize(devices.size());
  shared->errors.resize(devices.size());
  std::vector<std::thread> threads;
  for (int i = 0; i < per; ++i) {
    ncclrt::Config c = config;
    const int device = devices[static_cast<std::size_t>(i)];
    const int sharing = static_cast<int>(std::count(devices.begin(), devices.end(), device));
    if (sharing > 1 && !c.max_ctas) c.max_ctas = ncclrt::max_ctas_for_shared_gpu(device, sharing);
    threads.emplace_back(
        [shared, lib = su.lib, c, device, i, id, rank = info.rank * per + i, size = su.nranks] {
          Communicator comm;
          std::string error;
          try {
            cuda(cudaSetDevice(device), "cudaSetDevice");
            comm = Communicator::init_rank(lib, size, rank, id, c);
          } catch (const std::exception& e) {
            error = e.what();
          }
          std::lock_guard<std::mutex> lock(shared->m);
          shared->comms[static_cast<std::size_t>(i)] = std::move(comm);
          shared->errors[static_cast<std::size_t>(i)] = error;
          ++shared->finished;
          shared->cv.notify_all();
        });
  }
  {
    std::unique_lock<std::mutex> lock(shared->m);
    auto all = [&] { return shared->finished == per; };
    if (su.timeout.count() == 0) {
      shared->cv.wait(lock, all);
    } else if (!shared->cv.wait_for(lock, su.timeout, all)) {
      lock.unlock();
      for (auto& t : threads) t.detach();
      throw JobAbandoned("NCCL's init of " + std::to_string(su.nranks) + " ranks at " +
                         info.comm_id + " did not complete within -T " +
                         std::to_string(su.timeout.count()) +
                         " s: not every process of the job joined (each of the " +
                         std::to_string(info.size) + " the launcher started must run bench)");
    }
  }
  for (auto& t : threads) t.join();
  if (old) {
    ::setenv("NCCL_COMM_ID", saved.c_str(), 1);
  } else {
    ::unsetenv("NCCL_COMM_ID");
  }
  for (const auto& e : shared->errors) {
    if (!e.empty()) throw Fail(e);
  }
  return std::move(shared->comms);
}

}  // namespace ncclrt_tool::bench_cuda
