// `ncclrt doctor`: the readings and their checks on every rank, then a live check across the
// ranks of the launch (init with a deadline, an all_reduce, a grouped send/recv ring, each with
// checked data and timed), whose results and findings are gathered to every rank through NCCL
// itself, so that rank 0 prints each finding once, naming the ranks where it differs. If the
// live check fails (a rank missing, init timing out), each rank prints its own findings and
// exits 1 within the deadline.
#include "doctor.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <ncclrt/ncclrt.hpp>
#include <nlohmann/json.hpp>
#include <optional>

namespace ncclrt_tool {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The CUDA driver calls the live check needs, through libcuda loaded at run time (as the rest of
// the command): the command then needs no CUDA toolkit, and runs from the wheel too.
struct Driver {
  using Ptr = unsigned long long;  // CUdeviceptr
  int (*device_get)(int*, int) = nullptr;
  int (*primary_retain)(void**, int) = nullptr;
  int (*ctx_set_current)(void*) = nullptr;
  int (*mem_alloc)(Ptr*, std::size_t) = nullptr;
  int (*mem_free)(Ptr) = nullptr;
  int (*htod)(Ptr, const void*, std::size_t) = nullptr;
  int (*dtoh)(void*, Ptr, std::size_t) = nullptr;
  int (*stream_create)(CUstream_st**, unsigned) = nullptr;
  int (*stream_destroy)(CUstream_st*) = nullptr;
  int (*error_string)(int, const char**) = nullptr;

  Driver() {
    void* h = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) throw Failure("no CUDA driver (libcuda.so.1 not found)");
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(h, name));
      if (fn == nullptr) throw Failure(std::string("the CUDA driver lacks ") + name);
    };
    sym(device_get, "cuDeviceGet");
    sym(primary_retain, "cuDevicePrimaryCtxRetain");
    sym(ctx_set_current, "cuCtxSetCurrent");
    sym(mem_alloc, "cuMemAlloc_v2");
    sym(mem_free, "cuMemFree_v2");
    sym(htod, "cuMemcpyHtoD_v2");
    sym(dtoh, "cuMemcpyDtoH_v2");
    sym(stream_create, "cuStreamCreate");
    sym(stream_destroy, "cuStreamDestroy_v2");
    sym(error_string, "cuGetErrorString");
  }
  void check(int rc, const char* what) const {
    if (rc == 0) return;
    const char* s = nullptr;
    error_string(rc, &s);
    throw Failure(std::string(what) + ": CUDA error " + std::to_string(rc) +
                  (s ? std::string(" (") + s + ")" : std::string()));
  }
  // What cudaSetDevice does: the device's primary context current on this thread.
  void set_device(int device) const {
    int dev = 0;
    void* ctx = nullptr;
    check(device_get(&dev, device), "cuDeviceGet");
    check(primary_retain(&ctx, dev), "cuDevicePrimaryCtxRetain");
    check(ctx_set_current(ctx), "cuCtxSetCurrent");
  }
};

// Device memory and a stream, freed on every way out.
struct DeviceBuffers {
  const Driver& cu;
  std::vector<Driver::Ptr> ptrs;
  CUstream_st* stream = nullptr;
  explicit DeviceBuffers(const Driver& d) : cu(d) {
    cu.check(cu.stream_create(&stream, 0), "cuStreamCreate");
  }
  DeviceBuffers(const DeviceBuffers&) = delete;  // frees what it holds once
  DeviceBuffers& operator=(const DeviceBuffers&) = delete;
  ~DeviceBuffers() {
    for (auto p : ptrs) cu.mem_free(p);
    if (stream) cu.stream_destroy(stream);
  }
  void* alloc(std::size_t bytes) {
    Driver::Ptr p = 0;
    cu.check(cu.mem_alloc(&p, bytes), "cuMemAlloc");
    ptrs.push_back(p);
    return reinterpret_cast<void*>(p);
  }
  void put(void* dst, const void* src, std::size_t bytes) const {
    cu.check(cu.htod(reinterpret_cast<Driver::Ptr>(dst), src, bytes), "cuMemcpyHtoD");
  }
  void get(void* dst, const void* src, std::size_t bytes) const {
    cu.check(cu.dtoh(dst, reinterpret_cast<Driver::Ptr>(src), bytes), "cuMemcpyDtoH");
  }
};

// One rank's contribution, of a fixed size for the all_gather. The findings travel as text:
// fields separated by \x1f, findings by \x1e; what does not fit is counted.
constexpr std::size_t kHostBytes = 64;
constexpr std::size_t kFindingBytes = 7 * 1024;
struct Wire {
  char host[kHostBytes];
  std::int32_t rank;
  std::int32_t device;
  double init_seconds, all_reduce_us, ring_us;
  std::uint64_t elements, all_reduce_wrong, ring_wrong;
  std::uint32_t used, dropped;
  char findings[kFindingBytes];
};

std::string host_name() {
  char buf[kHostBytes] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

bool launched() {
  for (const char* v : {"RANK", "WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                        "SLURM_PROCID", "SLURM_NTASKS", "NCCLRT_RANK", "NCCLRT_WORLD_SIZE"}) {
    const char* x = std::getenv(v);
    if (x && *x) return true;
  }
  return false;
}

struct Outcome {
  std::vector<MergedFinding> findings;  // every rank's, merged (or this rank's alone)
  std::vector<LiveResult> live;         // every rank's
  int rank = 0;
  int size = 1;
  bool gathered = false;  // the findings are every rank's
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The live check on this rank. Fills `out` with every rank's findings and results; throws
// (ncclrt::Error, Failure) when it cannot complete, with `stage` saying where.
void live_check(const DoctorArgs& args, DoctorReadings& readings, const ncclrt::LaunchInfo* info,
                Outcome& out, std::string& stage) {
  const std::chrono::milliseconds deadline(static_cast<long long>(args.timeout_s) * 1000);
  stage = "loading the CUDA driver";
  const Driver cu;
  ncclrt::LoadOptions o;
  o.path = args.nccl_lib;
  auto lib = ncclrt::Library::open(o);
  ncclrt::Config cfg;
  cfg.timeout = deadline;
  const int size = info ? info->size : 1;
  out.size = size;
  out.rank = info ? info->rank : 0;
  stage = "init of " + std::to_string(size) + " rank" + (size == 1 ? "" : "s");
  const auto t0 = Clock::now();
  // Declared before the communicator, so that on a failure the communicator is aborted (its
  // destructor) before the memory its kernels may still use is freed.
  std::optional<DeviceBuffers> buffers;
  ncclrt::Communicator comm;
  if (info) {
    comm = ncclrt::Communicator::from_environment(lib, cfg);
  } else {
    cu.set_device(0);
    comm = ncclrt::Communicator::init_rank(lib, 1, 0, lib->unique_id(), cfg);
  }
  const double init_seconds = seconds_since(t0);
  const int rank = comm.rank();
  if (info) cu.set_device(comm.device());  // this thread's context for the copies

  DeviceBuffers& mem = buffers.emplace(cu);
  const auto sync = [&] { comm.synchronize(mem.stream, deadline); };

  // Which ranks share this host: the /dev/shm check needs the real count.
  stage = "all_gather of host names";
  const std::string host = host_name();
  {
    char mine[kHostBytes] = {};
    std::snprintf(mine, sizeof mine, "%s", host.c_str());
    auto* d_mine = mem.alloc(kHostBytes);
    auto* d_all = mem.alloc(kHostBytes * static_cast<std::size_t>(size));
    mem.put(d_mine, mine, kHostBytes);
    comm.all_gather(d_mine, d_all, kHostBytes, ncclrt::DataType::kUint8, mem.stream);
    sync();
    std::vector<char> all(kHostBytes * static_cast<std::size_t>(size));
    mem.get(all.data(), d_all, all.size());
    int here = 0;
    for (int r = 0; r < size; ++r) {
      here += std::strncmp(all.data() + r * kHostBytes, mine, kHostBytes) == 0;
    }
    readings.local_ranks = here;
    readings.local_ranks_from = "ranks of this launch on this host";
  }

  constexpr std::size_t kElements = 1 << 20;  // 4 MiB of float32
  constexpr int kTimed = 5;
  const std::size_t bytes = kElements * sizeof(float);
  auto* send = static_cast<float*>(mem.alloc(bytes));
  auto* recv = static_cast<float*>(mem.alloc(bytes));
  std::vector<float> host_buf(kElements);
  LiveResult mine;
  mine.rank = rank;
  mine.host = host;
  mine.device = comm.device();
  mine.init_seconds = init_seconds;
  mine.elements = kElements;

  // all_reduce: rank r holds (r + 1) + i % 7; the sum is n(n+1)/2 + n (i % 7), exact in float.
  stage = "all_reduce";
  for (std::size_t i = 0; i < kElements; ++i) host_buf[i] = float(rank + 1) + float(i % 7);
  mem.put(send, host_buf.data(), bytes);
  comm.all_reduce(send, recv, kElements, ncclrt::DataType::kFloat32, ncclrt::ReduceOp::kSum,
                  mem.stream);
  sync();
  mem.get(host_buf.data(), recv, bytes);
  for (std::size_t i = 0; i < kElements; ++i) {
    const float want = float(size) * float(size + 1) / 2 + float(size) * float(i % 7);
    mine.all_reduce_wrong += host_buf[i] != want;
  }
  auto t = Clock::now();
  for (int k = 0; k < kTimed; ++k) {
    comm.all_reduce(send, recv, kElements, ncclrt::DataType::kFloat32, ncclrt::ReduceOp::kSum,
                    mem.stream);
  }
  sync();
  mine.all_reduce_us = seconds_since(t) * 1e6 / kTimed;

  // A ring of send/recv in one group: each rank sends to the next, receives from the previous.
  stage = "send/recv ring";
  const int next = (rank + 1) % size, prev = (rank + size - 1) % size;
  for (std::size_t i = 0; i < kElements; ++i) host_buf[i] = float(rank * 16 + int(i % 13));
  mem.put(send, host_buf.data(), bytes);
  auto ring = [&] {
    ncclrt::Group g(*lib, deadline);
    comm.send(send, kElements, ncclrt::DataType::kFloat32, next, mem.stream);
    comm.recv(recv, kElements, ncclrt::DataType::kFloat32, prev, mem.stream);
    g.end();
  };
  ring();
  sync();
  mem.get(host_buf.data(), recv, bytes);
  for (std::size_t i = 0; i < kElements; ++i) {
    mine.ring_wrong += host_buf[i] != float(prev * 16 + int(i % 13));
  }
  t = Clock::now();
  for (int k = 0; k < kTimed; ++k) ring();
  sync();
  mine.ring_us = seconds_since(t) * 1e6 / kTimed;

  // Every rank's findings and results to every rank.
  stage = "all_gather of the results";
  auto w = std::make_unique<Wire>();
  std::memset(w.get(), 0, sizeof(Wire));
  std::snprintf(w->host, sizeof w->host, "%s", host.c_str());
  w->rank = rank;
  w->device = mine.device;
  w->init_seconds = mine.init_seconds;
  w->all_reduce_us = mine.all_reduce_us;
  w->ring_us = mine.ring_us;
  w->elements = mine.elements;
  w->all_reduce_wrong = mine.all_reduce_wrong;
  w->ring_wrong = mine.ring_wrong;
  const std::string packed = pack_findings(diagnose(readings), kFindingBytes, &w->dropped);
  std::memcpy(w->findings, packed.data(), packed.size());
  w->used = static_cast<std::uint32_t>(packed.size());
  auto* d_w = mem.alloc(sizeof(Wire));
  auto* d_all = mem.alloc(sizeof(Wire) * static_cast<std::size_t>(size));
  mem.put(d_w, w.get(), sizeof(Wire));
  comm.all_gather(d_w, d_all, sizeof(Wire), ncclrt::DataType::kUint8, mem.stream);
  sync();
  std::vector<Wire> all(static_cast<std::size_t>(size));
  mem.get(all.data(), d_all, sizeof(Wire) * all.size());

  stage = "destroying the communicator";
  comm.destroy(deadline);

  std::vector<RankReport> reports;
  for (auto& x : all) {
    x.host[kHostBytes - 1] = '\0';
    auto findings =
        unpack_findings(std::string(x.findings, std::min<std::size_t>(x.used, kFindingBytes)));
    if (x.dropped > 0) {
      findings.push_back(
          {Severity::kWarn, "doctor", "doctor_dropped",
           std::to_string(x.dropped) + " findings of this rank did not fit its record",
           "run `ncclrt doctor` alone on that host to see them all"});
    }
    reports.push_back({x.rank, x.host, x.device, std::move(findings)});
    out.live.push_back({x.rank, x.host, x.device, x.init_seconds, x.all_reduce_us, x.ring_us,
                        x.elements, x.all_reduce_wrong, x.ring_wrong});
  }
  out.findings = merge_reports(reports);
  const auto live = check_live(out.live);
  out.findings.insert(out.findings.end(), live.begin(), live.end());
  out.gathered = true;
}

json finding_json(const MergedFinding& m) {
  json j{{"severity", to_string(m.finding.severity)},
         {"check", m.finding.check},
         {"id", m.finding.id},
         {"text", m.finding.text},
         {"todo", m.finding.todo},
         {"ranks", m.ranks},
         {"hosts", m.hosts}};
  return j;
}

void print(const Outcome& o, const DoctorArgs& args, const std::string& label,
           const std::string& nccl) {
  int errors = 0, warnings = 0;
  for (const auto& m : o.findings) {
    errors += m.finding.severity == Severity::kError;
    warnings += m.finding.severity == Severity::kWarn;
  }
  if (args.json) {
    json j;
    j["ranks"] = o.size;
    j["rank"] = o.rank;
    j["all_ranks"] = o.gathered;
    j["ok"] = errors == 0;
    j["errors"] = errors;
    j["warnings"] = warnings;
    j["findings"] = json::array();
    for (const auto& m : o.findings) j["findings"].push_back(finding_json(m));
    j["live"] = json::array();
    for (const auto& l : o.live) {
      j["live"].push_back({{"rank", l.rank},
                           {"host", l.host},
                           {"device", l.device},
                           {"init_seconds", l.init_seconds},
                           {"all_reduce_us", l.all_reduce_us},
                           {"ring_us", l.ring_us},
                           {"bytes", l.elements * 4},
                           {"all_reduce_wrong", l.all_reduce_wrong},
                           {"ring_wrong", l.ring_wrong}});
    }
    const std::string text = j.dump(2) + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);  // one write: ranks share the terminal
    std::fflush(stdout);
    return;
  }
  // Gathered: every rank's findings, each naming the ranks where it differs. Otherwise this
  // rank's own, each line naming the rank (under a launcher), or none (alone).
  std::string who, on;
  if (o.gathered) {
    std::vector<std::string> hosts;
    for (const auto& l : o.live) {
      if (std::find(hosts.begin(), hosts.end(), l.host) == hosts.end()) hosts.push_back(l.host);
    }
    on = std::to_string(o.size) + " rank" + (o.size == 1 ? "" : "s");
    who = on + " on " + std::to_string(hosts.size()) + " host" + (hosts.size() == 1 ? "" : "s");
  } else if (!label.empty()) {
    who = label + ", its own findings (the ranks did not meet)";
    on = label;
  } else {
    who = "host " + host_name() + ", alone";
  }
  std::string text = "ncclrt doctor: " + who + (nccl.empty() ? "" : ", NCCL " + nccl) + "\n";
  for (const auto& m : o.findings) {
    std::string where = where_text(m);
    if (where.empty() && !o.gathered) where = label;
    const char* tag = m.finding.severity == Severity::kError  ? "[error]"
                      : m.finding.severity == Severity::kWarn ? "[warn] "
                                                              : "[ok]   ";
    text += std::string(tag) + " " + m.finding.check + ": " + (where.empty() ? "" : where + ": ") +
            m.finding.text + (m.finding.todo.empty() ? "" : " -> " + m.finding.todo) + "\n";
  }
  text += "doctor: " + std::to_string(errors) + " error" + (errors == 1 ? "" : "s") + ", " +
          std::to_string(warnings) + " warning" + (warnings == 1 ? "" : "s") +
          (on.empty() ? "" : " on " + on) + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);  // one write: ranks share the terminal
  std::fflush(stdout);
}

}  // namespace

int run_doctor(const DoctorArgs& args) {
  DoctorReadings readings = read_doctor_readings(args.nccl_lib);
  Outcome o;
  std::optional<ncclrt::LaunchInfo> info;
  std::vector<Finding> extra;
  const std::string host = host_name();
  std::string label;  // "rank 3 (host b)" on a rank's own report
  if (launched()) {
    try {
      info = ncclrt::launch_info_from_environment();
      o.rank = info->rank;
      o.size = info->size;
      label = "rank " + std::to_string(info->rank) + " (host " + host + ")";
    } catch (const ncclrt::Error& e) {
      extra.push_back({Severity::kError, "launch", "launch_environment",
                       std::string("the launcher's variables are not usable: ") + e.what(),
                       "start doctor the way the job starts (torchrun, srun, mpirun), or alone"});
      label = "host " + host;  // its rank is unknown
    }
  }
  // Until the ranks have met, this host's count of ranks is the launcher's where it says
  // (LOCAL_WORLD_SIZE, ...), else 1; the live check counts them.

  std::string skip;
  if (args.no_live) {
    skip = "--no-live";
  } else if (!extra.empty()) {
    skip = "the launcher's variables are not usable";
  } else if (readings.nccl_path.empty()) {
    skip = "no usable NCCL";
  } else if (readings.driver_version == 0) {
    skip = "no GPU driver";
  } else if (readings.gpus.empty()) {
    skip = "no GPU";
  }
  std::string stage;
  std::optional<std::string> failed;
  const auto t0 = Clock::now();
  if (skip.empty()) {
    try {
      live_check(args, readings, info ? &*info : nullptr, o, stage);
    } catch (const ncclrt::TimeoutError& e) {
      failed =
          stage + " did not finish within " + std::to_string(args.timeout_s) + " s: " + e.what();
    } catch (const std::exception& e) {
      char after[32];
      std::snprintf(after, sizeof after, "%.1f", seconds_since(t0));
      failed = stage + " failed after " + after + " s: " + e.what();
    }
  }
  if (!o.gathered) {
    // This rank's findings alone, named by its rank and host.
    std::vector<Finding> mine = diagnose(readings);
    mine.insert(mine.end(), extra.begin(), extra.end());
    if (!skip.empty()) {
      mine.push_back({Severity::kOk, "live", "live_skipped", "live check skipped: " + skip, ""});
    }
    if (failed) {
      mine.push_back(
          {Severity::kError, "live", "live_failed", *failed,
           o.size > 1 ? "start every rank (a rank that is missing or fails its own checks "
                        "keeps the others waiting); check NCCL_SOCKET_IFNAME and that the ports "
                        "are open between hosts; rerun with NCCL_DEBUG=INFO"
                      : "rerun with NCCL_DEBUG=INFO"});
    }
    o.findings.clear();
    for (auto& f : mine) o.findings.push_back({std::move(f), {}, {}});
  }
  if (!o.gathered || o.rank == 0) print(o, args, label, readings.nccl_version);
  return exit_status(o.findings);
}

}  // namespace ncclrt_tool
