#include "bench.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <ncclrt/ncclrt.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "barrier.hpp"
#include "board.hpp"
#include "collectives.hpp"
#include "commands.hpp"
#include "job.hpp"

#ifdef NCCLRT_HAVE_CUDA
#include <cuda_runtime.h>

#include "bench_setup.hpp"
#include "gpus.hpp"
#include "host_values.hpp"
#include "procedure.hpp"
#include "rotation.hpp"
#endif

namespace ncclrt_tool {

std::size_t parse_size(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 15)
    throw std::invalid_argument("'" + text + "' is not a size (e.g. 8, 64K, 1M, 2G)");
  std::size_t value = std::stoull(text.substr(0, i));
  std::string unit = text.substr(i);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  std::size_t mult = 1;
  if (unit == "K" || unit == "k") {
    mult = std::size_t{1} << 10;
  } else if (unit == "M" || unit == "m") {
    mult = std::size_t{1} << 20;
  } else if (unit == "G" || unit == "g") {
    mult = std::size_t{1} << 30;
  } else if (!unit.empty()) {
    throw std::invalid_argument("'" + text + "' has an unknown unit (use K, M or G)");
  }
  if (value > SIZE_MAX / mult) throw std::invalid_argument("'" + text + "' is too large");
  return value * mult;
}

namespace {

using Fail = BenchError;

// The library's names, the same everywhere (Python's dtype= and op= take them too).
ncclrt::DataType parse_type(const std::string& s) {
  if (auto t = ncclrt::data_type_named(s)) return *t;
  throw Fail("unknown data type '" + s + "' (" + ncclrt::data_type_names() + ")");
}

ncclrt::ReduceOp parse_op(const std::string& s) {
  if (auto op = ncclrt::reduce_op_named(s)) return *op;
  throw Fail("unknown reduce op '" + s + "' (sum prod max min avg)");
}

std::vector<std::size_t> sizes_of(const BenchArgs& a) {
  const std::size_t lo = parse_size(a.min_bytes), hi = parse_size(a.max_bytes);
  if (lo == 0) throw Fail("-b must be at least 1 byte");
  if (lo > hi) throw Fail("-b (" + a.min_bytes + ") is larger than -e (" + a.max_bytes + ")");
  std::vector<std::size_t> v;
  if (a.step_factor > 0) {
    if (a.step_factor <= 1) throw Fail("-f must be greater than 1");
    for (double s = double(lo); s <= double(hi) * 1.0000001; s *= a.step_factor) {
      v.push_back(static_cast<std::size_t>(s));
    }
  } else {
    const std::size_t step = parse_size(a.step_bytes);
    if (step == 0) throw Fail("-i must be at least 1 byte");
    for (std::size_t s = lo; s <= hi; s += step) {
      v.push_back(s);
      if (s > SIZE_MAX - step) break;
    }
  }
  return v;
}

// Everything that can be wrong with the arguments, before any GPU work.
void validate(const BenchArgs& a) {
  if (!find_collective(a.op) && a.op != "overhead") {
    std::string all;
    for (const auto& c : collectives()) all += std::string(" ") + c.name;
    std::vector<std::string> names{"overhead"};
    for (const auto& c : collectives()) names.emplace_back(c.name);
    const std::string hint = did_you_mean(a.op, names);
    throw Fail("unknown operation '" + a.op + "'" + (hint.empty() ? "" : "; " + hint) +
               " One of:" + all + " overhead");
  }
  parse_type(a.type);
  parse_op(a.redop);
  if (a.op != "overhead") sizes_of(a);
  if (a.iters < 1) throw Fail("-n must be at least 1");
  if (a.warmup < 0 || a.graph < 0 || a.timeout < 0 || a.graph_warmup < 0) {
    throw Fail("-w, -G, -T and --graph-warmup cannot be negative");
  }
  if (a.graph_warmup > 0 && a.graph == 0) throw Fail("--graph-warmup needs -G (a graph to launch)");
  if (a.average < 0 || a.average > 3)
    throw Fail("-a must be 0 (rank 0), 1 (mean), 2 (min) or 3 (max)");
  if (a.gpus < 1 || a.threads < 1) throw Fail("-g and -t must be at least 1");
  if (a.graph > 0 && a.gpus != 1) throw Fail("-G needs -g 1 (one GPU per thread)");
  if (!launcher_mode_known(a.launcher)) {
    throw Fail("--launcher " + a.launcher + " is not one of auto, require, ignore");
  }
}

using Launch = std::optional<ncclrt::LaunchInfo>;
int run_on_gpus(const BenchArgs& args, const Launch& launch);

}  // namespace

int run_bench(const BenchArgs& args) {
  Launch launch;
  try {
    validate(args);
    launch = bench_launch(args.launcher, [](const char* name) { return std::getenv(name); });
    if (launch && args.op == "overhead") {
      throw Fail("overhead measures one rank in one process, but the launcher started " +
                 std::to_string(launch->size) +
                 " processes; run it without a launcher, or with --launcher ignore");
    }
  } catch (const std::exception& e) {
    std::cerr << "ncclrt bench: " << for_cli(e.what(), "--nccl-lib") << "\n";
    return 2;
  }
  return run_on_gpus(args, launch);
}

#ifndef NCCLRT_HAVE_CUDA

namespace {
int run_on_gpus(const BenchArgs&, const Launch&) {
  std::cerr << "ncclrt bench: this ncclrt was built without the CUDA toolkit; rebuild where CMake "
               "finds CUDA to measure\n";
  return 1;
}
}  // namespace

#else

namespace bench_cuda {

// As nccl-tests' testStreamSynchronize: polls the streams of thread t's ranks, checks each
// communicator for an asynchronous error while its stream is busy, and yields when nothing
// finished. Past the -T deadline, or when the progress board says another process is gone, the
// communicators of this thread are aborted (each thread aborts only its own; the others reach
// their own deadline).
void wait_streams(Setup& su, int t) {
  const int gpus = su.args.gpus;
  const auto start = Clock::now();
  auto abort_all = [&] {
    for (int g = 0; g < gpus; ++g) su.ranks[static_cast<std::size_t>(t * gpus + g)].comm->abort();
  };
  std::vector<char> done(static_cast<std::size_t>(gpus), 0);
  int remaining = gpus;
  while (remaining > 0) {
    bool idle = true;
    for (int g = 0; g < gpus; ++g) {
      if (done[static_cast<std::size_t>(g)]) continue;
      const Rank& k = su.ranks[static_cast<std::size_t>(t * gpus + g)];
      const cudaError_t e = cudaStreamQuery(k.stream);
      if (e == cudaSuccess) {
        done[static_cast<std::size_t>(g)] = 1;
        --remaining;
        idle = false;
        continue;
      }
      if (e != cudaErrorNotReady) cuda(e, "cudaStreamQuery");
      try {
        k.comm->check();
      } catch (...) {
        abort_all();
        throw;
      }
      if (su.timeout.count() > 0 && Clock::now() - start > su.timeout) {
        abort_all();
        throw Fail("timed out after " + std::to_string(su.timeout.count()) +
                   " s (-T); the communicators were aborted");
      }
      if (su.board && su.board->news()) {
        abort_all();
        throw Fail("another process of the job is gone; the communicators were aborted");
      }
    }
    if (idle) std::this_thread::yield();
  }
}

// Runs body(t) on one thread per -t (each on its first GPU); the first failure is rethrown. A
// thread that fails breaks `barrier`, so that the others do not wait for it there.
void on_threads(Setup& su, const std::function<void(int)>& body, Barrier* barrier) {
  const int n = su.args.threads;
  std::vector<std::string> errors(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      try {
        cuda(cudaSetDevice(su.ranks[static_cast<std::size_t>(t * su.args.gpus)].device),
             "cudaSetDevice");
        body(t);
      } catch (const BarrierBroken&) {
        // the thread that broke it says why
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(t)] = e.what();
        if (barrier) barrier->break_all();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& e : errors) {
    if (!e.empty()) throw Fail(e);
  }
}

}  // namespace bench_cuda

namespace {

using namespace bench_cuda;
using nlohmann::json;

// One call of `s` on one rank, through ncclrt or through the raw NCCL function pointer.
void issue(const Op& s, const Rank& k, const void* send, void* recv, std::size_t count, DataType t,
           ReduceOp op, int root, bool direct) {
  if (!direct) return s.issue(*k.comm, send, recv, count, t, op, root, k.stream);
  if (!s.issue_direct || s.issue_direct(*k.comm, send, recv, count, t, op, root, k.stream) !=
                             ncclrt::abi::ncclSuccess) {
    throw Fail(std::string("direct ") + s.name + " failed or unsupported");
  }
}

// nccl-tests built against NCCL >= 2.28 creates its communicators with nvlinkCentricSched = 1;
// so does bench where the loaded NCCL has the field.
bool nvlink_centric(const ncclrt::Library& lib) {
  return lib.version() >= ncclrt::Version{2, 28, 0};
}

const char* memory_name(const Setup& su) {
  return su.cuda_memory.empty() && !su.memory.empty() ? "ncclMemAlloc" : "cudaMalloc";
}

// The steps of time_one_size (procedure.hpp) for one size and half on the ranks of thread t.
class CudaSteps {
 public:
  CudaSteps(Setup& su, const Op& s, std::size_t count, bool in_place, bool direct, int t,
            Barrier& barrier)
      : su_(su),
        s_(s),
        count_(count),
        in_place_(in_place),
        direct_(direct),
        t_(t),
        barrier_(barrier),
        elem_(ncclrt::size_of(su.type)),
        n_(su.nranks),
        send_bytes_(s.send_elems(count, n_) * elem_),
        recv_bytes_(s.recv_elems(count, n_) * elem_) {}
  CudaSteps(const CudaSteps&) = delete;
  CudaSteps& operator=(const CudaSteps&) = delete;
  ~CudaSteps() { drop_graph(); }

  // nccl-tests' startColl: call `iter` on every rank of this thread, grouped when it drives
  // several GPUs.
  void call(int iter) {
    std::optional<ncclrt::Group> group;
    if (su_.args.gpus > 1) group.emplace(*su_.lib);
    for (int g = 0; g < su_.args.gpus; ++g) {
      const Rank& k = rank(g);
      auto [snd, rcv] = pointers(k, iter);
      issue(s_, k, snd, rcv, count_, su_.type, su_.op, su_.args.root, direct_);
    }
    if (group) group->end();
  }
  void wait() { wait_streams(su_, t_); }
  void barrier() {
    barrier_.wait();
    sync_processes(su_, t_);
  }
  void begin_capture() {
    cuda(cudaStreamBeginCapture(rank(0).stream, cudaStreamCaptureModeThreadLocal),
         "cudaStreamBeginCapture");
  }
  void end_capture() {
    cuda(cudaStreamEndCapture(rank(0).stream, &graph_), "cudaStreamEndCapture");
    cuda(cudaGraphInstantiate(&exec_, graph_, 0), "cudaGraphInstantiate");
  }
  void launch() { cuda(cudaGraphLaunch(exec_, rank(0).stream), "cudaGraphLaunch"); }
  void drop_graph() {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
    exec_ = nullptr;
    graph_ = nullptr;
  }
  void start_clock() { t0_ = Clock::now(); }
  double stop_clock() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

  // The check's inputs at call 0's buffers, its output zeroed first (nccl-tests' initData).
  void prepare() {
    for (int g = 0; g < su_.args.gpus; ++g) {
      const Rank& k = rank(g);
      const int r = k.comm->rank();
      const std::size_t send_n = s_.send_elems(count_, n_);
      std::vector<char> host(send_n * elem_);
      for (std::size_t j = 0; j < send_n; ++j) {
        store_value(su_.type, s_.input(su_.op, r, n_, j, count_, 0), &host[j * elem_]);
      }
      auto [snd, rcv] = pointers(k, 0);
      cuda(cudaMemsetAsync(rcv, 0, s_.recv_elems(count_, n_) * elem_, k.stream), "cudaMemset");
      cuda(cudaMemcpyAsync(const_cast<void*>(snd), host.data(), host.size(), cudaMemcpyHostToDevice,
                           k.stream),
           "upload");
      cuda(cudaStreamSynchronize(k.stream), "cudaStreamSynchronize");
    }
  }
  long verify() {
    long wrong = 0;
    wrong_by_rank_.assign(static_cast<std::size_t>(su_.args.gpus), 0);
    for (int g = 0; g < su_.args.gpus; ++g) {
      const Rank& k = rank(g);
      const int r = k.comm->rank();
      const std::size_t recv_n = s_.recv_elems(count_, n_);
      std::vector<char> host(recv_n * elem_);
      auto [snd, rcv] = pointers(k, 0);
      (void)snd;
      cuda(cudaMemcpy(host.data(), rcv, host.size(), cudaMemcpyDeviceToHost), "readback");
      for (std::size_t j = 0; j < recv_n; ++j) {
        const std::optional<double> want = s_.expected(su_.op, r, n_, su_.args.root, j, count_, 0);
        if (want && load_value(su_.type, &host[j * elem_]) != *want) {
          ++wrong;
          ++wrong_by_rank_[static_cast<std::size_t>(g)];
        }
      }
    }
    return wrong;
  }
  // verify()'s count for each of this thread's ranks (none yet: zeros).
  long wrong_of(int g) const {
    return wrong_by_rank_.empty() ? 0 : wrong_by_rank_[static_cast<std::size_t>(g)];
  }

 private:
  const Rank& rank(int g) const {
    return su_.ranks[static_cast<std::size_t>(t_ * su_.args.gpus + g)];
  }
  // Call `iter`'s buffers: shifted as nccl-tests' startColl shifts them (rotation.hpp); in place,
  // both in the receive buffer at nccl-tests' in-place offsets.
  std::pair<const void*, void*> pointers(const Rank& k, int iter) const {
    const std::size_t shift = rotation(su_.max_bytes, send_bytes_, recv_bytes_, iter);
    char* recv = static_cast<char*>(k.recv) + shift;
    if (!in_place_) return {static_cast<char*>(k.send) + shift, recv};
    const std::size_t at_rank = static_cast<std::size_t>(k.comm->rank()) * count_ * elem_;
    return {recv + (s_.send_at_rank ? at_rank : 0), recv + (s_.recv_at_rank ? at_rank : 0)};
  }

  Setup& su_;
  const Op& s_;
  std::size_t count_;
  bool in_place_, direct_;
  int t_;
  Barrier& barrier_;
  std::size_t elem_;
  int n_;
  std::size_t send_bytes_, recv_bytes_;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
  Clock::time_point t0_;
  std::vector<long> wrong_by_rank_;
};

struct Timing {
  double us = 0;
  long wrong = 0;
  int slowest = 0;              // the rank with the longest time
  std::vector<RankTime> ranks;  // every rank's of the job
};

// One size and half on every rank (one thread per -t, -g ranks each, in every process), timed as
// nccl-tests' BenchTime times it (procedure.hpp). Then, untimed, every rank's time and wrong
// elements are gathered through NCCL and combined as -a says (job.hpp).
Timing measure(Setup& su, const Op& s, std::size_t count, bool in_place, bool direct) {
  const auto& a = su.args;
  TimingPlan plan;
  plan.iters = a.iters;
  plan.graph_launches = a.graph;
  plan.graph_warmup = a.graph_warmup;
  plan.check = a.check != 0;
  std::vector<RankTime> all;
  Barrier barrier(a.threads);
  on_threads(
      su,
      [&](int t) {
        CudaSteps steps(su, s, count, in_place, direct, t, barrier);
        long wrong = 0;
        const double seconds = time_one_size(steps, plan, wrong);
        std::vector<RankTime> mine(static_cast<std::size_t>(a.gpus));
        for (int g = 0; g < a.gpus; ++g)
          mine[static_cast<std::size_t>(g)] = {seconds, steps.wrong_of(g)};
        auto gathered = exchange(su, t, mine);
        if (t == 0) all = std::move(gathered);
      },
      &barrier);
  const RowTime row = combine_ranks(all, a.average);
  Timing out;
  out.us = row.seconds * 1e6;
  out.wrong = static_cast<long>(row.wrong);
  out.slowest = row.slowest;
  out.ranks = std::move(all);
  return out;
}

// nccl-tests' TimeTest before its sweep: -w calls out of place at every size from -b doubling up
// to -e, each size followed by a wait.
void warm_up(Setup& su, const Op& s) {
  const auto& a = su.args;
  const std::size_t elem = ncclrt::size_of(su.type);
  const int n = su.nranks;
  Barrier barrier(a.threads);
  on_threads(
      su,
      [&](int t) {
        for (std::size_t size : warmup_sizes(parse_size(a.min_bytes), su.max_bytes)) {
          const std::size_t count = count_for(size, elem, n, s.divided);
          if (count == 0) continue;  // NCCL does nothing for a count of 0
          CudaSteps steps(su, s, count, false, false, t, barrier);
          for (int w = 0; w < a.warmup; ++w) steps.call(w);
          steps.wait();
        }
      },
      &barrier);
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

void progress(std::size_t i, std::size_t total, std::size_t bytes) {
  if (!::isatty(STDERR_FILENO)) return;
  std::fprintf(stderr, "\r  [%zu/%zu] %zu bytes...   ", i + 1, total, bytes);
  if (i + 1 == total) std::fprintf(stderr, "\r%60s\r", "");
  std::fflush(stderr);
}

json header_json(const Setup& su) {
  json h;
  h["nccl"] = {{"version", su.lib->version().str()},
               {"path", su.lib->path()},
               {"found_by", ncclrt::to_string(su.lib->found_by())}};
  h["devices"] = json::array();
  for (const RankIdentity& r : su.identities) {
    h["devices"].push_back({{"rank", r.rank}, {"device", r.device}, {"name", r.name}});
  }
  if (su.launch) {
    h["launcher"] = {{"name", su.launch->launcher},
                     {"processes", su.processes},
                     {"rendezvous", su.launch->comm_id}};
  }
  return h;
}

void print_header(const Setup& su) {
  if (!su.prints()) return;
  const auto& a = su.args;
  if (a.op == "overhead") {
    std::printf(
        "# ncclrt bench overhead: all_reduce of float32 through ncclrt and through the same "
        "NCCL function pointer\n#\n# Using devices\n");
  } else {
    std::printf(
        "# ncclrt bench %s: nThread %d nGpus %d minBytes %s maxBytes %s step: %s warmup "
        "iters: %d iters: %d validation: %d graph: %d graph warmup: %d average: %d memory: "
        "%s\n",
        a.op.c_str(), a.threads, a.gpus, a.min_bytes.c_str(), a.max_bytes.c_str(),
        a.step_factor > 0 ? (fmt("%g", a.step_factor) + "(factor)").c_str()
                          : (a.step_bytes + "(bytes)").c_str(),
        a.warmup, a.iters, a.check, a.graph, a.graph_warmup, a.average, memory_name(su));
    if (su.launch) {
      std::printf("# nProcs %d from %s's variables, %d ranks, rendezvous %s\n", su.processes,
                  su.launch->launcher.c_str(), su.nranks, su.launch->comm_id.c_str());
    }
    std::printf("#\n# Using devices\n");
  }
  for (const RankIdentity& r : su.identities) {
    std::printf("#  Rank %2d Pid %6d on %10s device %2d [%s] %s\n", r.rank, r.pid, r.host, r.device,
                r.bus_id, r.name);
  }
  std::printf("# NCCL %s from %s (found by %s)\n#\n", su.lib->version().str().c_str(),
              su.lib->path().c_str(), ncclrt::to_string(su.lib->found_by()));
}

// Every rank's two buffers, of -e bytes each as nccl-tests allocates them: from ncclMemAlloc
// where the loaded NCCL has it (>= 2.19, as nccl-tests built against it), else or with
// --cuda-malloc from cudaMalloc.
void allocate(Setup& su) {
  su.max_bytes = parse_size(su.args.max_bytes);
  const bool nccl = !su.args.cuda_malloc && su.lib->has(ncclrt::Function::ncclMemAlloc);
  for (auto& k : su.ranks) {
    cuda(cudaSetDevice(k.device), "cudaSetDevice");
    for (void** p : {&k.send, &k.recv}) {
      if (nccl) {
        su.memory.push_back(ncclrt::NcclMemory::allocate(su.lib, su.max_bytes));
        *p = su.memory.back().get();
      } else {
        cuda(cudaMalloc(p, su.max_bytes), "cudaMalloc");
        su.cuda_memory.push_back(*p);
      }
      cuda(cudaMemset(*p, 0, su.max_bytes), "cudaMemset");
    }
  }
}

// How the figures were taken, for whoever reads the JSON later.
json method_json(const Setup& su) {
  const auto& a = su.args;
  return json{{"iters", a.iters},
              {"warmup_iters", a.warmup},
              {"graph_launches", a.graph},
              {"graph_warmup", a.graph_warmup},
              {"memory", memory_name(su)},
              {"average", a.average},
              {"nvlink_centric_sched", nvlink_centric(*su.lib)}};
}

int run_sweep(Setup& su) {
  const auto& a = su.args;
  const int n = su.nranks;
  const Op& s = *find_collective(a.op);  // validate() accepted the name
  if (s.rooted && (a.root < 0 || a.root >= n)) {
    throw Fail("-r " + std::to_string(a.root) + " is outside 0.." + std::to_string(n - 1));
  }
  if (a.direct && !s.issue_direct) {
    throw Fail("--direct compares single NCCL calls; " + a.op + " has none on this path");
  }
  const auto& sizes = su.sizes;
  const std::size_t elem = ncclrt::size_of(su.type);
  const bool prints = su.prints();
  allocate(su);
  json out = header_json(su);
  print_header(su);
  if (su.board) su.board->set_step(1);
  warm_up(su, s);
  out["op"] = a.op;
  out["nranks"] = n;
  out["graph_launches"] = a.graph;
  out["method"] = method_json(su);
  out["results"] = json::array();
  // Every rank's time of every row, for the JSON's "ranks".
  std::vector<json> rank_rows(static_cast<std::size_t>(n), json::array());
  const char* second = a.direct ? "direct NCCL call" : "in-place";
  if (prints) {
    std::printf("# %52s %-33s %s\n", "", "out-of-place (ncclrt)", second);
    std::printf("# %10s %12s %8s %6s %6s %8s %7s %7s %6s %8s %7s %7s %6s\n", "size", "count",
                "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw",
                "busbw", a.direct ? "ratio" : "#wrong");
    std::printf("# %10s %12s %8s %6s %6s %8s %7s %7s %6s %8s %7s %7s %6s\n", "(B)", "(elements)",
                "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "");
  }
  long total_wrong = 0;
  double bus_sum = 0;
  int bus_count = 0;
  std::vector<int> slowest_rows(static_cast<std::size_t>(n), 0);  // rows each rank was slowest in
  int rows = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (su.board) su.board->set_step(2 + static_cast<int>(i));
    if (prints) progress(i, sizes.size(), sizes[i]);
    // nccl-tests' count and size of a row: the count each rank passes, the larger buffer's bytes.
    const std::size_t count = count_for(sizes[i], elem, n, s.divided);
    if (count == 0) continue;  // too small to split across the ranks in 16-byte pieces
    const std::size_t bytes = std::max(s.send_elems(count, n), s.recv_elems(count, n)) * elem;
    auto row = [&](const Timing& t) {
      const double algbw = t.us > 0 ? double(bytes) / 1e3 / t.us : 0;
      return json{{"time_us", t.us},
                  {"algbw", algbw},
                  {"busbw", algbw * s.bus_factor(n)},
                  {"wrong", a.check ? json(t.wrong) : json(nullptr)},
                  {"slowest_rank", t.slowest}};
    };
    std::vector<json> per_rank(static_cast<std::size_t>(n), json{{"size", bytes}});
    auto note_ranks = [&](const char* half, const Timing& t) {
      for (std::size_t r = 0; r < t.ranks.size() && r < per_rank.size(); ++r) {
        per_rank[r][std::string(half) + "_us"] = t.ranks[r].seconds * 1e6;
      }
    };
    Timing oop = measure(su, s, count, false, false);
    note_ranks("out_of_place", oop);
    ++slowest_rows[static_cast<std::size_t>(oop.slowest)];
    ++rows;
    json r{{"size", bytes},
           {"count", count},
           {"type", ncclrt::to_string(su.type)},
           {"redop", s.reduces ? ncclrt::to_string(su.op) : "none"},
           {"root", s.rooted ? a.root : -1},
           {"out_of_place", row(oop)}};
    total_wrong += oop.wrong;
    bus_sum += r["out_of_place"]["busbw"].get<double>();
    ++bus_count;
    std::string tail;
    if (a.direct) {
      // Interleaved: ncclrt, direct, ncclrt, direct; the better of each.
      Timing d = measure(su, s, count, false, true);
      Timing o2 = measure(su, s, count, false, false);
      Timing d2 = measure(su, s, count, false, true);
      if (o2.us < oop.us) {
        r["out_of_place"] = row(o2);
        note_ranks("out_of_place", o2);
      }
      if (d2.us < d.us) d = d2;
      r["direct"] = row(d);
      note_ranks("direct", d);
      // Same bytes and factor on both paths, so the busbw ratio is the inverse time ratio (and
      // stays defined on one rank, where busbw is 0).
      r["busbw_ratio"] = r["direct"]["time_us"].get<double>() /
                         std::max(1e-12, r["out_of_place"]["time_us"].get<double>());
      tail = fmt("%8.2f", d.us) + " " + fmt("%7.2f", r["direct"]["algbw"].get<double>()) + " " +
             fmt("%7.2f", r["direct"]["busbw"].get<double>()) + " " +
             fmt("%6.3f", r["busbw_ratio"].get<double>());
    } else if (s.in_place) {
      Timing ip = measure(su, s, count, true, false);
      note_ranks("in_place", ip);
      total_wrong += ip.wrong;
      r["in_place"] = row(ip);
      bus_sum += r["in_place"]["busbw"].get<double>();
      ++bus_count;
      tail = fmt("%8.2f", ip.us) + " " + fmt("%7.2f", r["in_place"]["algbw"].get<double>()) + " " +
             fmt("%7.2f", r["in_place"]["busbw"].get<double>()) + " " +
             (a.check ? std::to_string(ip.wrong) : std::string("N/A"));
    } else {
      tail = "     N/A     N/A     N/A    N/A";
    }
    const json& o = r["out_of_place"];
    if (prints) {
      std::printf("  %10zu %12zu %8s %6s %6d %8.2f %7.2f %7.2f %6s %s\n", bytes, count,
                  ncclrt::to_string(su.type), s.reduces ? ncclrt::to_string(su.op) : "none",
                  s.rooted ? a.root : -1, o["time_us"].get<double>(), o["algbw"].get<double>(),
                  o["busbw"].get<double>(),
                  a.check ? std::to_string(o["wrong"].get<long>()).c_str() : "N/A", tail.c_str());
      std::fflush(stdout);
    }
    out["results"].push_back(r);
    for (std::size_t k = 0; k < per_rank.size(); ++k) rank_rows[k].push_back(per_rank[k]);
  }
  if (su.board) su.board->set_step(2 + static_cast<int>(sizes.size()));
  if (prints) {
    std::printf("# Out of bounds values : %ld %s\n", total_wrong, total_wrong ? "FAILED" : "OK");
    std::printf("# Avg bus bandwidth    : %g\n", bus_count ? bus_sum / bus_count : 0.0);
    if (n > 1 && rows > 0) {
      // The rank slowest out of place in the most rows (the lowest of equals).
      const auto most = std::max_element(slowest_rows.begin(), slowest_rows.end());
      const int r = static_cast<int>(most - slowest_rows.begin());
      const RankIdentity& id = su.identities[static_cast<std::size_t>(r)];
      std::printf("# Slowest rank         : %d (%s, pid %d, device %d), in %d of %d rows\n", r,
                  id.host, id.pid, id.device, *most, rows);
    }
    std::printf("#\n");
  }
  out["ranks"] = json::array();
  for (std::size_t r = 0; r < su.identities.size(); ++r) {
    const RankIdentity& id = su.identities[r];
    out["ranks"].push_back(
        {{"rank", id.rank},
         {"process", id.process},
         {"host", id.host},
         {"pid", id.pid},
         {"device", {{"index", id.device}, {"name", id.name}, {"pci_bus_id", id.bus_id}}},
         {"rows", rank_rows[r]}});
  }
  if (prints && !a.json.empty()) {
    std::ofstream f(a.json);
    f << out.dump(2) << "\n";
    if (!f) throw Fail("cannot write " + a.json);
  }
  return total_wrong ? 1 : 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Host time per all_reduce call through ncclrt and through the same NCCL function pointer,
// interleaved batch by batch; then GPU time per op eagerly and in a replayed graph.
int run_overhead(Setup& su) {
  const auto& a = su.args;
  Rank& k = su.ranks.front();
  const Communicator& c = *k.comm;
  const auto fn = c.library()->raw().ncclAllReduce;
  const auto native = c.native();
  const int batch = std::max(1, a.iters);
  json out = header_json(su);
  print_header(su);
  out["op"] = "overhead";
  out["rows"] = json::array();
  std::printf(
      "# host time per call: median of %d interleaved batches of %d calls; GPU time per "
      "op: events over %d ops\n",
      a.rounds, batch, batch);
  std::printf("# %10s %-8s %12s %12s %14s %14s\n", "size", "path", "host us/call", "min us/call",
              "eager us/op", "graph us/op");
  for (std::size_t bytes : {std::size_t{1024}, std::size_t{1} << 20}) {
    const std::size_t count = bytes / sizeof(float);
    void *in, *outp;
    cuda(cudaMalloc(&in, bytes), "cudaMalloc");
    cuda(cudaMalloc(&outp, bytes), "cudaMalloc");
    auto call = [&](bool direct) {
      if (direct) {
        if (fn(in, outp, count, ncclrt::abi::ncclFloat32, ncclrt::abi::ncclSum, native, k.stream) !=
            ncclrt::abi::ncclSuccess) {
          throw Fail("direct ncclAllReduce failed");
        }
      } else {
        c.all_reduce(static_cast<const float*>(in), static_cast<float*>(outp), count,
                     ReduceOp::kSum, k.stream);
      }
    };
    for (int w = 0; w < 3 * batch; ++w) call(w % 2 == 0);
    cuda(cudaStreamSynchronize(k.stream), "sync");
    std::vector<double> host[2];
    for (int round = 0; round < a.rounds; ++round) {
      for (int j = 0; j < 2; ++j) {
        const bool direct = ((round + j) % 2) == 1;  // alternate which goes first
        const auto t0 = Clock::now();
        for (int i = 0; i < batch; ++i) call(direct);
        const auto t1 = Clock::now();
        host[direct].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / batch);
        cuda(cudaStreamSynchronize(k.stream), "sync");
      }
    }
    double eager[2], graph[2];
    cudaEvent_t e0, e1;
    cuda(cudaEventCreate(&e0), "event");
    cuda(cudaEventCreate(&e1), "event");
    for (int direct = 0; direct < 2; ++direct) {
      float ms = 0;
      cuda(cudaEventRecord(e0, k.stream), "record");
      for (int i = 0; i < batch; ++i) call(direct);
      cuda(cudaEventRecord(e1, k.stream), "record");
      cuda(cudaEventSynchronize(e1), "sync");
      cuda(cudaEventElapsedTime(&ms, e0, e1), "elapsed");
      eager[direct] = ms * 1e3 / batch;
      cudaGraph_t g;
      cudaGraphExec_t exec;
      cuda(cudaStreamBeginCapture(k.stream, cudaStreamCaptureModeThreadLocal), "capture");
      for (int i = 0; i < batch; ++i) call(direct);
      cuda(cudaStreamEndCapture(k.stream, &g), "capture");
      cuda(cudaGraphInstantiate(&exec, g, 0), "instantiate");
      cuda(cudaGraphLaunch(exec, k.stream), "launch");
      const int launches = 10;
      cuda(cudaEventRecord(e0, k.stream), "record");
      for (int l = 0; l < launches; ++l) cuda(cudaGraphLaunch(exec, k.stream), "launch");
      cuda(cudaEventRecord(e1, k.stream), "record");
      cuda(cudaEventSynchronize(e1), "sync");
      cuda(cudaEventElapsedTime(&ms, e0, e1), "elapsed");
      graph[direct] = ms * 1e3 / (batch * launches);
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(g);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    json row{{"size", bytes}};
    for (int direct = 0; direct < 2; ++direct) {
      const char* path = direct ? "direct" : "ncclrt";
      const double med = median(host[direct]);
      const double mn = *std::min_element(host[direct].begin(), host[direct].end());
      row[path] = {{"host_us_per_call", med},
                   {"host_us_min", mn},
                   {"eager_us_per_op", eager[direct]},
                   {"graph_us_per_op", graph[direct]}};
      std::printf("  %10zu %-8s %12.3f %12.3f %14.3f %14.3f\n", bytes, path, med, mn, eager[direct],
                  graph[direct]);
    }
    const double ratio = row["ncclrt"]["host_us_per_call"].get<double>() /
                         row["direct"]["host_us_per_call"].get<double>();
    const double gratio = graph[0] / graph[1];
    row["host_ratio"] = ratio;
    row["graph_ratio"] = gratio;
    std::printf("  %10zu ratio ncclrt/direct: host %.4f, graph %.4f\n", bytes, ratio, gratio);
    out["rows"].push_back(row);
    cudaFree(in);
    cudaFree(outp);
  }
  if (!a.json.empty()) {
    std::ofstream f(a.json);
    f << out.dump(2) << "\n";
    if (!f) throw Fail("cannot write " + a.json);
  }
  return 0;
}

// Why the CUDA runtime sees no GPU, told apart as `ncclrt info` does, with what to try.
std::string why_no_gpu(cudaError_t runtime_error) {
  const GpuReport g = list_gpus();
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  if (!g.driver_found) {
    return "no NVIDIA driver on this machine (libcuda.so.1 not found). Try: run on a machine "
           "with an NVIDIA GPU and its driver (`nvidia-smi` should list the GPU)";
  }
  if (runtime_error == cudaErrorInsufficientDriver) {
    int runtime = 0;
    cudaRuntimeGetVersion(&runtime);
    return "the NVIDIA driver supports CUDA " + cuda_version_text(g.driver_version) +
           ", older than the CUDA runtime " + cuda_version_text(runtime) +
           " this ncclrt was built with. Try: update the driver, or build ncclrt with a CUDA "
           "toolkit the driver supports";
  }
  if (g.gpus.empty() && visible != nullptr) {
    return std::string("no GPU visible: CUDA_VISIBLE_DEVICES=") + visible +
           " hides them, or names none that exist. Try: unset it, or list GPUs `nvidia-smi -L` "
           "shows";
  }
  if (g.gpus.empty()) {
    return "no GPU: " + (g.problem.empty() ? std::string("the driver reports none") : g.problem) +
           ". Try: `nvidia-smi` to see what the driver sees";
  }
  return std::string("the CUDA runtime cannot use the GPU(s) the driver lists: ") +
         cudaGetErrorString(runtime_error) + ". Try: `nvidia-smi` for the GPU's state";
}

int run_on_gpus(const BenchArgs& args, const Launch& launch) {
  Setup su;
  try {
    su.args = args;
    su.type = parse_type(args.type);
    su.op = parse_op(args.redop);
    su.timeout = std::chrono::seconds(args.timeout);
    su.launch = launch;
    if (args.op != "overhead") su.sizes = sizes_of(args);
    int have = 0;
    if (cudaError_t e = cudaGetDeviceCount(&have); e != cudaSuccess || have == 0) {
      throw Fail(why_no_gpu(e));
    }
    const int per = args.threads * args.gpus;
    su.processes = launch ? launch->size : 1;
    su.process = launch ? launch->rank : 0;
    su.nranks = su.processes * per;
    ncclrt::LoadOptions o;
    o.path = args.nccl_lib;
    su.lib = ncclrt::Library::open(o);
    // Rank r on GPU r % GPUs: more ranks than GPUs where the loaded NCCL allows it. Under a
    // launcher this process's ranks follow those of the processes before it on this host.
    const int base = launch ? launch->local_rank * per : 0;
    std::string why;
    if (base + per > have && !su.lib->allows_ranks_per_gpu(&why)) {
      throw Fail("-t " + std::to_string(args.threads) + " x -g " + std::to_string(args.gpus) +
                 (launch ? " from local rank " + std::to_string(launch->local_rank) : "") +
                 " needs " + std::to_string(base + per) + " GPUs; " + std::to_string(have) +
                 " visible, and " + why);
    }
    std::vector<int> devices;
    for (int d = 0; d < per; ++d) devices.push_back((base + d) % have);
    ncclrt::Config config;
    if (nvlink_centric(*su.lib)) config.nvlink_centric_sched = true;
    su.comms =
        launch ? init_job(su, devices, config) : Communicator::init_all(su.lib, devices, config);
    for (int d = 0; d < per; ++d) {
      Rank k;
      k.comm = &su.comms[static_cast<std::size_t>(d)];
      k.device = devices[static_cast<std::size_t>(d)];
      cuda(cudaSetDevice(k.device), "cudaSetDevice");
      cuda(cudaStreamCreateWithFlags(&k.stream, cudaStreamNonBlocking), "cudaStreamCreate");
      su.ranks.push_back(k);
    }
    introduce(su);
    const int rc = args.op == "overhead" ? run_overhead(su) : run_sweep(su);
    if (su.board) su.board->done();
    if (su.board_server) su.board_server->finish(std::max(std::chrono::seconds(10), su.timeout));
    return rc;
  } catch (const std::exception& e) {
    std::string message = for_cli(e.what(), "--nccl-lib");
    std::optional<std::string> verdict;
    if (su.board) {
      // Which rank is missing, from the progress board (first: the line a reader and a script
      // look at); told to the board for the others.
      verdict = board_verdict(su);
      su.board->fail(*verdict);
      message = *verdict + ". This process: " + message;
    }
    if (su.launch) message = process_name(su, su.process) + ": " + message;
    std::cerr << "ncclrt bench: " << message << "\n";
    std::cerr.flush();
    // Rank 0's process keeps the board up a while, for the others to read why.
    if (verdict && su.board_server) su.board_server->finish(std::chrono::seconds(5));
    if (dynamic_cast<const JobAbandoned*>(&e) != nullptr) {
      std::fflush(nullptr);
      std::_Exit(1);  // threads blocked in NCCL cannot be joined; exit() would run under them
    }
    return 1;
  }
}

}  // namespace

#endif  // NCCLRT_HAVE_CUDA

}  // namespace ncclrt_tool
