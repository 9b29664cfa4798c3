#include "ncclrt/communicator.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <future>
#include <optional>
#include <thread>

#include "cuda_driver.hpp"
#include "handles.hpp"
#include "log_internal.hpp"
#include "nccl_error.hpp"
#include "ncclrt/error.hpp"
#include "ncclrt/launch.hpp"

namespace ncclrt {

namespace detail {

namespace {

std::atomic<bool> g_exiting{false};

std::chrono::milliseconds abort_timeout() {
  const char* v = std::getenv("NCCLRT_ABORT_TIMEOUT_MS");
  char* end = nullptr;
  const long ms = v ? std::strtol(v, &end, 10) : 0;
  return std::chrono::milliseconds(v && end && *end == '\0' && ms > 0 ? ms : 10000);
}

// At process exit NCCL and the CUDA runtime may already be torn down: destructors then make no
// NCCL call (the operating system reclaims everything).
void note_exit_once() {
  static const bool registered = [] {
    std::atexit([] { g_exiting.store(true); });
    return true;
  }();
  (void)registered;
}

struct ConfigField {
  const char* name;
  Version since;
  std::size_t end;  // offset just past the field in ncclConfig_t
};

constexpr ConfigField kFields[] = {
#define NCCLRT_CONFIG_FIELD(member, field, type, major, minor, patch) \
  {#member,                                                           \
   {major, minor, patch},                                             \
   offsetof(abi::ncclConfig_t, field) + sizeof(abi::ncclConfig_t::field)},
#include "ncclrt/detail/config_fields.def"
};

template <class T>
void set_field(const Library& lib, const ConfigField& f, const std::optional<T>& value, int& out) {
  out = abi::kConfigUndefInt;  // NCCL's "not set"
  if (!value) return;
  if (lib.version() < f.since) {
    throw UnsupportedError("Config::" + std::string(f.name) + " needs NCCL >= " + f.since.str() +
                           "; loaded " + lib.version().str() + " from " + lib.path() +
                           ". Leave it unset or load a newer NCCL");
  }
  out = static_cast<int>(*value);
}

void set_field(const Library& lib, const ConfigField& f, const std::optional<std::string>& value,
               const char*& out) {
  out = nullptr;  // NCCL's "not set"
  if (!value) return;
  if (lib.version() < f.since) {
    throw UnsupportedError("Config::" + std::string(f.name) + " needs NCCL >= " + f.since.str() +
                           "; loaded " + lib.version().str() + " from " + lib.path());
  }
  out = value->c_str();
}

using Clock = std::chrono::steady_clock;

// Waits for a nonblocking creation to finish. On expiry or failure the new communicator is
// aborted, so nothing is left half made.
void wait_created(const Library& lib, abi::ncclComm_t comm, abi::ncclResult_t first,
                  const Config& config, const char* call, const std::string& where) {
  const auto& fn = lib.raw();
  abi::ncclResult_t state = first;
  const auto start = Clock::now();
  while (state == abi::ncclInProgress) {
    if (config.timeout && Clock::now() - start >= *config.timeout) {
      fn.ncclCommAbort(comm);
      throw TimeoutError(std::string(call) + " did not complete within " +
                         std::to_string(config.timeout->count()) + " ms (" + where +
                         "): the other ranks did not all join. The communicator was aborted. "
                         "Check that every rank started and uses the same unique id, or raise "
                         "Config::timeout");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (fn.ncclCommGetAsyncError(comm, &state) != abi::ncclSuccess) break;
  }
  if (state != abi::ncclSuccess) {
    try {
      throw_nccl_error(lib, state, call, comm, where);
    } catch (...) {
      fn.ncclCommAbort(comm);
      throw;
    }
  }
}

std::string rank_text(int rank, int nranks) {
  return "rank " + std::to_string(rank) + " of " + std::to_string(nranks);
}

}  // namespace

bool process_exiting() noexcept { return g_exiting.load(); }

bool bounded_abort(const Library& lib, abi::ncclComm_t comm) noexcept {
  const auto fn = lib.raw().ncclCommAbort ? lib.raw().ncclCommAbort : lib.raw().ncclCommDestroy;
  try {
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    // The library is kept alive by the thread: it may outlive this call if NCCL hangs.
    std::thread([fn, comm, done, keep = lib.shared_from_this()] {
      fn(comm);
      done->set_value();
    }).detach();
    if (finished.wait_for(abort_timeout()) == std::future_status::ready) return true;
    log(LogLevel::kError, "ncclCommAbort did not return within " +
                              std::to_string(abort_timeout().count()) +
                              " ms; ncclrt goes on without waiting for it");
    return false;
  } catch (...) {
    fn(comm);  // no thread could be made: call it here
    return true;
  }
}

void abort_with_reason(HandleState& hs, std::exception_ptr reason) noexcept {
  std::lock_guard<std::mutex> lock(hs.mutex);
  if (!hs.alive || hs.poisoned.load()) return;
  hs.reason = std::move(reason);
  hs.poisoned.store(true);
  if (!g_exiting.load()) bounded_abort(*hs.lib, hs.comm);
  hs.alive = false;
}

abi::ncclConfig_t make_config(const Library& lib, const Config& c) {
  abi::ncclConfig_t cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.magic = abi::kConfigMagic;
  cfg.version = static_cast<unsigned>(lib.version().code());
  std::size_t index = 0;  // every field is written, in table order
#define NCCLRT_CONFIG_FIELD(member, field, type, major, minor, patch) \
  set_field(lib, kFields[index++], c.member, cfg.field);
#include "ncclrt/detail/config_fields.def"
  // The struct as the loaded release declares it: NCCL copies min(size, its own size) bytes.
  std::size_t size = 0;
  for (const auto& f : kFields) {
    if (lib.version() >= f.since) size = f.end;
  }
  constexpr std::size_t align = alignof(abi::ncclConfig_t);
  cfg.size = size == 0 ? 0 : (size + align - 1) / align * align;
  return cfg;
}

}  // namespace detail

bool Config::empty() const noexcept {
  bool any = timeout.has_value();
#define NCCLRT_CONFIG_FIELD(member, field, type, major, minor, patch) any |= member.has_value();
#include "ncclrt/detail/config_fields.def"
  return !any;
}

namespace {

// Runs one creation call (`start` fills the new handle) with the config as the loaded NCCL
// wants it, waits for nonblocking creation, and returns the new handle or throws with nothing
// left behind.
template <class Start>
abi::ncclComm_t create_comm(const Library& lib, const Config& config, const char* call,
                            const std::string& where, bool& nonblocking, Start&& start) {
  if (detail::capture_forbids_sync()) {
    throw UsageError(std::string(call) +
                     " while a CUDA graph is being captured: creating a "
                     "communicator synchronizes and would invalidate the capture. Create it "
                     "before cudaStreamBeginCapture");
  }
  abi::ncclConfig_t cfg = detail::make_config(lib, config);
  if (config.timeout) {
    lib.require(Function::ncclCommGetAsyncError);
    lib.require(Function::ncclCommAbort);
    if (config.blocking.value_or(false)) {
      throw UsageError(
          "Config::timeout needs a nonblocking creation; leave Config::blocking unset "
          "or false");
    }
    cfg.blocking = 0;
  }
  nonblocking = cfg.blocking == 0;
  abi::ncclComm_t comm = nullptr;
  const abi::ncclResult_t r = start(&comm, &cfg);
  if (r == abi::ncclInProgress && comm != nullptr) {
    detail::wait_created(lib, comm, r, config, call, where);
  } else if (r != abi::ncclSuccess) {
    detail::throw_nccl_error(lib, r, call, comm, where);
  }
  if (comm == nullptr) {
    throw Error(std::string(call) + " succeeded but returned no communicator (" + where + ")");
  }
  return comm;
}

}  // namespace

Communicator::Communicator(std::shared_ptr<const Library> lib, abi::ncclComm_t comm,
                           bool nonblocking, std::optional<std::chrono::milliseconds> timeout)
    : lib_(std::move(lib)),
      fn_(&lib_->raw()),
      comm_(comm),
      timeout_(timeout),
      nonblocking_(nonblocking) {
  detail::note_exit_once();
  handles_ = std::make_shared<detail::HandleState>();
  hs_ = handles_.get();
  poisoned_ = &hs_->poisoned;
  handles_->lib = lib_;
  handles_->comm = comm_;
  state_ = State::kLive;
  const char* where = "querying a new communicator";
  try {
    detail::check(*lib_, fn_->ncclCommUserRank(comm_, &rank_), "ncclCommUserRank", comm_, where);
    detail::check(*lib_, fn_->ncclCommCount(comm_, &size_), "ncclCommCount", comm_, where);
    detail::check(*lib_, fn_->ncclCommCuDevice(comm_, &device_), "ncclCommCuDevice", comm_, where);
  } catch (...) {
    abort();
    throw;
  }
  for (int t = 0; t <= static_cast<int>(DataType::kFloat64); ++t) type_mask_ |= 1u << t;
  if (lib_->has(Feature::bfloat16)) type_mask_ |= 1u << static_cast<int>(DataType::kBfloat16);
  if (lib_->has(Feature::fp8)) {
    type_mask_ |= 1u << static_cast<int>(DataType::kFloat8e4m3);
    type_mask_ |= 1u << static_cast<int>(DataType::kFloat8e5m2);
  }
  has_avg_ = lib_->has(Feature::avg);
  handles_->where = detail::rank_text(rank_, size_) + " on GPU " + std::to_string(device_);
}

Communicator::Communicator(Communicator&& o) noexcept { *this = std::move(o); }

Communicator& Communicator::operator=(Communicator&& o) noexcept {
  if (this == &o) return *this;
  release(State::kAborted);
  lib_ = std::move(o.lib_);
  fn_ = o.fn_;
  comm_ = o.comm_;
  handles_ = std::move(o.handles_);
  hs_ = o.hs_;
  poisoned_ = o.poisoned_;
  timeout_ = o.timeout_;
  rank_ = o.rank_;
  size_ = o.size_;
  device_ = o.device_;
  type_mask_ = o.type_mask_;
  has_avg_ = o.has_avg_;
  nonblocking_ = o.nonblocking_;
  state_ = o.state_;
  o.fn_ = nullptr;
  o.comm_ = nullptr;
  o.hs_ = nullptr;
  o.poisoned_ = nullptr;
  o.state_ = State::kMovedFrom;
  return *this;
}

Communicator::~Communicator() { release(State::kAborted); }

// Ends the NCCL communicator if this object still owns one; never throws or waits for peers.
void Communicator::release(State next) noexcept {
  if (state_ != State::kLive && state_ != State::kFinalized) return;
  {
    std::lock_guard<std::mutex> lock(hs_->mutex);
    if (hs_->alive && !detail::g_exiting.load()) {
      // A finalized communicator is quiescent, so destroy is local; a live one is aborted
      // because destroy could wait for peers that are gone.
      if (state_ == State::kFinalized) {
        fn_->ncclCommDestroy(comm_);
      } else {
        detail::bounded_abort(*lib_, comm_);
      }
    }
    hs_->alive = false;
  }
  comm_ = nullptr;
  state_ = next;
}

const char* Communicator::state_text(State state) noexcept {
  switch (state) {
    case State::kEmpty:
      return "an empty communicator (default-constructed, or from a split with no color)";
    case State::kMovedFrom:
      return "a moved-from communicator";
    case State::kLive:
      return "a live communicator";
    case State::kFinalized:
      return "a finalized communicator (only destroy() or abort() may follow finalize())";
    case State::kDestroyed:
      return "a destroyed communicator";
    case State::kAborted:
      return "an aborted communicator";
  }
  return "a communicator in an unknown state";
}

void Communicator::fail_state(const char* op) const {
  if (state_ == State::kLive && hs_->poisoned.load()) {
    // Aborted behind the owner's back (watchdog, synchronize): say why, every time.
    std::rethrow_exception(hs_->reason);
  }
  throw UsageError(std::string(op) + " on " + state_text(state_));
}

void Communicator::settle(abi::ncclResult_t result, const char* call) const {
  if (result != abi::ncclInProgress || !nonblocking_) fail(result, call);
  // Bounded by the creation's timeout, else by a limit long enough for any real enqueue.
  const auto limit = timeout_.value_or(std::chrono::minutes(5));
  const auto start = detail::Clock::now();
  for (unsigned polls = 0;; ++polls) {
    abi::ncclResult_t state = abi::ncclSuccess;
    const abi::ncclResult_t r = fn_->ncclCommGetAsyncError(comm_, &state);
    if (r != abi::ncclSuccess) fail(r, "ncclCommGetAsyncError");
    if (state == abi::ncclSuccess) return;
    if (state != abi::ncclInProgress) fail(state, call);
    if (detail::Clock::now() - start >= limit) {
      auto e = std::make_exception_ptr(TimeoutError(
          std::string(call) + " was not enqueued within " + std::to_string(limit.count()) +
          " ms (" + hs_->where +
          "): the nonblocking communicator kept reporting ncclInProgress; a peer may be missing. "
          "The communicator was aborted"));
      detail::abort_with_reason(*hs_, e);
      std::rethrow_exception(e);
    }
    if (polls < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
}

void Communicator::fail(abi::ncclResult_t result, const char* call) const {
  detail::throw_nccl_error(*lib_, result, call, comm_,
                           detail::rank_text(rank_, size_) + " on GPU " + std::to_string(device_));
}

Communicator Communicator::init_rank(std::shared_ptr<const Library> lib, int nranks, int rank,
                                     const UniqueId& id, const Config& config) {
  if (!lib) throw UsageError("init_rank: no Library (null shared_ptr)");
  if (nranks < 1) throw UsageError("init_rank: nranks must be >= 1; got " + std::to_string(nranks));
  if (rank < 0 || rank >= nranks) {
    throw UsageError("init_rank: rank " + std::to_string(rank) + " is outside 0.." +
                     std::to_string(nranks - 1));
  }
  if (id == UniqueId()) {
    throw UsageError(
        "init_rank: the unique id is all zeros; make one with Library::unique_id() "
        "on one rank and pass it to all");
  }
  const auto& fn = lib->raw();
  const abi::ncclUniqueId raw = id.raw();
  const std::string where = detail::rank_text(rank, nranks);
  bool nonblocking = false;
  abi::ncclComm_t comm;
  if (config.empty()) {
    comm = create_comm(*lib, config, "ncclCommInitRank", where, nonblocking,
                       [&](abi::ncclComm_t* c, abi::ncclConfig_t*) {
                         return fn.ncclCommInitRank(c, nranks, raw, rank);
                       });
  } else {
    lib->require(Function::ncclCommInitRankConfig);
    comm = create_comm(*lib, config, "ncclCommInitRankConfig", where, nonblocking,
                       [&](abi::ncclComm_t* c, abi::ncclConfig_t* cfg) {
                         return fn.ncclCommInitRankConfig(c, nranks, raw, rank, cfg);
                       });
  }
  return Communicator(std::move(lib), comm, nonblocking, config.timeout);
}

std::vector<Communicator> Communicator::init_all(std::shared_ptr<const Library> lib,
                                                 const std::vector<int>& devices) {
  if (!lib) throw UsageError("init_all: no Library (null shared_ptr)");
  if (devices.empty()) throw UsageError("init_all: the device list is empty");
  if (devices.size() > static_cast<std::size_t>(INT_MAX)) {
    throw UsageError("init_all: too many devices");
  }
  for (int d : devices) {
    if (d < 0) throw UsageError("init_all: device " + std::to_string(d) + " is negative");
  }
  if (detail::capture_forbids_sync()) {
    throw UsageError(
        "init_all while a CUDA graph is being captured: create communicators before "
        "cudaStreamBeginCapture");
  }
  std::vector<abi::ncclComm_t> raw(devices.size(), nullptr);
  detail::check(
      *lib,
      lib->raw().ncclCommInitAll(raw.data(), static_cast<int>(devices.size()), devices.data()),
      "ncclCommInitAll", nullptr, "init_all");
  std::vector<Communicator> out;
  out.reserve(raw.size());
  for (auto* c : raw) out.push_back(Communicator(lib, c, false, std::nullopt));
  return out;
}

Communicator Communicator::from_environment(std::shared_ptr<const Library> lib,
                                            const Config& config) {
  if (!lib) throw UsageError("from_environment: no Library (null shared_ptr)");
  const LaunchInfo info = launch_info_from_environment();
  const int device = info.local_rank % detail::cuda_device_count();
  detail::cuda_set_device(device);
  // NCCL's own rendezvous: with NCCL_COMM_ID set every rank gets the same id, and rank 0 hosts
  // the bootstrap root at that address. No side channel of ncclrt's. The variable is put back
  // as it was afterwards: left set, every later ncclGetUniqueId of the process would return the
  // same address, and a second communicator would collide with this one.
  struct CommIdScope {
    std::optional<std::string> old;
    explicit CommIdScope(const std::string& value) {
      if (const char* v = std::getenv("NCCL_COMM_ID")) old = v;
      ::setenv("NCCL_COMM_ID", value.c_str(), 1);
    }
    ~CommIdScope() {
      if (old) {
        ::setenv("NCCL_COMM_ID", old->c_str(), 1);
      } else {
        ::unsetenv("NCCL_COMM_ID");
      }
    }
  } scope(info.comm_id);
  const UniqueId id = lib->unique_id();
  return init_rank(std::move(lib), info.size, info.rank, id, config);
}

Communicator Communicator::split(int color, int key, const Config& config) const {
  require_live("split");
  lib_->require(Function::ncclCommSplit);
  if (color < 0 && color != abi::kSplitNoColor) {
    throw UsageError("split: color must be >= 0 or kSplitNoColor; got " + std::to_string(color));
  }
  bool nonblocking = false;
  abi::ncclComm_t comm = nullptr;
  abi::ncclConfig_t cfg = detail::make_config(*lib_, config);
  if (color == abi::kSplitNoColor) {
    // This rank takes part in the split but gets no communicator.
    call_result(fn_->ncclCommSplit(comm_, color, key, &comm, &cfg), "ncclCommSplit");
    return Communicator();
  }
  comm = create_comm(*lib_, config, "ncclCommSplit", detail::rank_text(rank_, size_), nonblocking,
                     [&](abi::ncclComm_t* c, abi::ncclConfig_t* cf) {
                       return fn_->ncclCommSplit(comm_, color, key, c, cf);
                     });
  return Communicator(lib_, comm, nonblocking, config.timeout);
}

Communicator Communicator::shrink(const std::vector<int>& excluded, const Config& config,
                                  ShrinkMode mode) const {
  require_live("shrink");
  lib_->require(Function::ncclCommShrink);
  if (excluded.empty()) {
    throw UsageError("shrink: the list of ranks to exclude is empty (NCCL requires at least one)");
  }
  std::vector<int> list = excluded;
  for (int r : list) check_rank("shrink", "excluded rank", r);
  std::sort(list.begin(), list.end());
  if (std::adjacent_find(list.begin(), list.end()) != list.end()) {
    throw UsageError("shrink: the list of ranks to exclude names a rank twice");
  }
  if (list.size() >= static_cast<std::size_t>(size_)) {
    throw UsageError("shrink: excluding " + std::to_string(list.size()) + " of " +
                     std::to_string(size_) + " ranks leaves none");
  }
  bool nonblocking = false;
  if (mode != ShrinkMode::kDefault && mode != ShrinkMode::kAbortParent) {
    throw UsageError("shrink: unknown mode " + std::to_string(static_cast<int>(mode)));
  }
  const int flags = static_cast<int>(mode);
  abi::ncclComm_t comm = create_comm(
      *lib_, config, "ncclCommShrink", detail::rank_text(rank_, size_), nonblocking,
      [&](abi::ncclComm_t* c, abi::ncclConfig_t* cf) {
        return fn_->ncclCommShrink(comm_, list.data(), static_cast<int>(list.size()), c, cf, flags);
      });
  return Communicator(lib_, comm, nonblocking, config.timeout);
}

int Communicator::rank() const {
  require_live("rank");
  return rank_;
}
int Communicator::size() const {
  require_live("size");
  return size_;
}
int Communicator::device() const {
  require_live("device");
  return device_;
}
abi::ncclComm_t Communicator::native() const {
  require_live("native");
  return comm_;
}

void Communicator::wait_finalized(std::optional<std::chrono::milliseconds> deadline) {
  lib_->require(Function::ncclCommFinalize);
  if (deadline && !nonblocking_) {
    throw UsageError(
        "finalize with a deadline needs a nonblocking communicator: create it with "
        "Config::timeout or Config::blocking = false");
  }
  if (detail::capture_forbids_sync()) {
    throw UsageError(
        "finalize while a CUDA graph is being captured: finalize waits for the other "
        "ranks and would invalidate the capture");
  }
  const auto start = detail::Clock::now();
  abi::ncclResult_t r = fn_->ncclCommFinalize(comm_);
  while (r == abi::ncclInProgress) {
    if (deadline && detail::Clock::now() - start >= *deadline) {
      abort();
      throw TimeoutError("finalize did not complete within " + std::to_string(deadline->count()) +
                         " ms (" + hs_->where +
                         "): the other ranks did not all finalize. The "
                         "communicator was aborted");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (fn_->ncclCommGetAsyncError(comm_, &r) != abi::ncclSuccess) break;
  }
  if (r != abi::ncclSuccess) fail(r, "ncclCommFinalize");
  state_ = State::kFinalized;
}

void Communicator::finalize(std::optional<std::chrono::milliseconds> deadline) {
  require_live("finalize");
  wait_finalized(deadline ? deadline : timeout_);
}

void Communicator::destroy(std::optional<std::chrono::milliseconds> deadline) {
  if (state_ != State::kLive && state_ != State::kFinalized) fail_state("destroy");
  if (state_ == State::kLive && hs_->poisoned.load()) {
    release(State::kDestroyed);  // already aborted: nothing left to do in NCCL
    return;
  }
  if (!deadline) deadline = timeout_;
  if (state_ == State::kLive && deadline && nonblocking_ && fn_->ncclCommFinalize) {
    wait_finalized(deadline);  // so that destroy itself is local and cannot hang
  }
  abi::ncclResult_t r;
  {
    std::lock_guard<std::mutex> lock(hs_->mutex);
    hs_->alive = false;
    r = fn_->ncclCommDestroy(comm_);
  }
  comm_ = nullptr;
  state_ = State::kDestroyed;
  if (r != abi::ncclSuccess) {
    detail::throw_nccl_error(*lib_, r, "ncclCommDestroy", nullptr, detail::rank_text(rank_, size_));
  }
}

void Communicator::abort() noexcept { release(State::kAborted); }

void Communicator::synchronize(CUstream_st* stream, std::chrono::milliseconds deadline) const {
  require_live("synchronize");
  if (detail::capture_status(stream) == detail::Capture::kActive) {
    throw UsageError(
        "synchronize: the stream is being captured into a CUDA graph; waiting on it "
        "would invalidate the capture. End the capture first");
  }
  const auto start = detail::Clock::now();
  for (;;) {
    const detail::StreamState st = detail::stream_state(stream);
    if (st == detail::StreamState::kDone) return check();
    if (st == detail::StreamState::kError) {
      throw Error("synchronize: cuStreamQuery failed (" + hs_->where +
                  "): a CUDA error on the stream, or no CUDA driver");
    }
    abi::ncclResult_t async = abi::ncclSuccess;
    if (fn_->ncclCommGetAsyncError &&
        fn_->ncclCommGetAsyncError(comm_, &async) == abi::ncclSuccess &&
        async != abi::ncclSuccess && async != abi::ncclInProgress) {
      std::exception_ptr e;
      try {
        fail(async, "the communicator (asynchronous error while synchronizing)");
      } catch (...) {
        e = std::current_exception();
      }
      detail::abort_with_reason(*hs_, e);
      std::rethrow_exception(e);
    }
    if (detail::Clock::now() - start >= deadline) {
      auto e = std::make_exception_ptr(
          TimeoutError("synchronize: the work on the stream did not finish within " +
                       std::to_string(deadline.count()) + " ms (" + hs_->where +
                       "); a peer may be missing or stuck. The communicator was aborted"));
      detail::abort_with_reason(*hs_, e);
      std::rethrow_exception(e);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void Communicator::check() const {
  require_live("check");
  lib_->require(Function::ncclCommGetAsyncError);
  abi::ncclResult_t async = abi::ncclSuccess;
  call_result(fn_->ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
  call_result(async, "the communicator (asynchronous error)");
}

// ---- argument checks: host-side only, before anything is enqueued ----

[[noreturn]] void Communicator::bad_type(const char* op, DataType type) const {
  if (static_cast<unsigned>(type) < static_cast<unsigned>(kNumDataTypes)) {
    lib_->require(type == DataType::kBfloat16 ? Feature::bfloat16 : Feature::fp8);
  }
  throw UsageError(std::string(op) + ": " + std::to_string(static_cast<int>(type)) +
                   " is not an NCCL data type");
}

void Communicator::check_other_op(const char* op, ReduceOp rop) const {
  const int v = static_cast<int>(rop);
  if (v == static_cast<int>(ReduceOp::kAvg)) {
    if (!has_avg_) lib_->require(Feature::avg);
    return;
  }
  // A PreMulSum op is valid only on the communicator that made it, while its handle lives.
  const auto& live = hs_->pre_mul_sums;
  if (v >= kNumBuiltinOps && std::find(live.begin(), live.end(), v) != live.end()) return;
  throw UsageError(std::string(op) + ": " + std::to_string(v) +
                   " is not a reduce op of this communicator (built-in ops are 0..4; others "
                   "come from create_pre_mul_sum and are valid on that communicator until the "
                   "PreMulSum handle goes)");
}

[[noreturn]] void Communicator::bad_rank(const char* op, const char* what, int r) const {
  throw UsageError(std::string(op) + ": " + what + " " + std::to_string(r) + " is outside 0.." +
                   std::to_string(size_ - 1) + " (" + detail::rank_text(rank_, size_) + ")");
}

[[noreturn]] void Communicator::bad_buffer(const char* op, const char* what, const void* p,
                                           std::size_t count, DataType type,
                                           std::size_t multiple) const {
  if (p != nullptr || count > SIZE_MAX / size_of(type) / multiple) {
    throw UsageError(std::string(op) + ": " + std::to_string(count) + " elements of " +
                     to_string(type) + " overflow a byte size");
  }
  throw UsageError(std::string(op) + ": the " + what + " buffer is null with a count of " +
                   std::to_string(count) + " (" + detail::rank_text(rank_, size_) + ")");
}

// ---- collectives ----

void Communicator::all_reduce(const void* send, void* recv, std::size_t count, DataType type,
                              ReduceOp op, CUstream_st* stream) const {
  require_live("all_reduce");
  check_type("all_reduce", type);
  check_op("all_reduce", op);
  check_buffer("all_reduce", "send", send, count, type);
  check_buffer("all_reduce", "recv", recv, count, type);
  call_result(fn_->ncclAllReduce(send, recv, count, static_cast<abi::ncclDataType_t>(type),
                                 static_cast<abi::ncclRedOp_t>(op), comm_, stream),
              "ncclAllReduce");
}

void Communicator::broadcast(const void* send, void* recv, std::size_t count, DataType type,
                             int root, CUstream_st* stream) const {
  require_live("broadcast");
  check_type("broadcast", type);
  check_rank("broadcast", "root", root);
  if (rank_ == root) check_buffer("broadcast", "send", send, count, type);
  check_buffer("broadcast", "recv", recv, count, type);
  call_result(fn_->ncclBroadcast(send, recv, count, static_cast<abi::ncclDataType_t>(type), root,
                                 comm_, stream),
              "ncclBroadcast");
}

void Communicator::reduce(const void* send, void* recv, std::size_t count, DataType type,
                          ReduceOp op, int root, CUstream_st* stream) const {
  require_live("reduce");
  check_type("reduce", type);
  check_op("reduce", op);
  check_rank("reduce", "root", root);
  check_buffer("reduce", "send", send, count, type);
  if (rank_ == root) check_buffer("reduce", "recv", recv, count, type);
  call_result(fn_->ncclReduce(send, recv, count, static_cast<abi::ncclDataType_t>(type),
                              static_cast<abi::ncclRedOp_t>(op), root, comm_, stream),
              "ncclReduce");
}

void Communicator::all_gather(const void* send, void* recv, std::size_t send_count, DataType type,
                              CUstream_st* stream) const {
  require_live("all_gather");
  check_type("all_gather", type);
  check_buffer("all_gather", "send", send, send_count, type);
  check_buffer("all_gather", "recv", recv, send_count, type, static_cast<std::size_t>(size_));
  call_result(fn_->ncclAllGather(send, recv, send_count, static_cast<abi::ncclDataType_t>(type),
                                 comm_, stream),
              "ncclAllGather");
}

void Communicator::reduce_scatter(const void* send, void* recv, std::size_t recv_count,
                                  DataType type, ReduceOp op, CUstream_st* stream) const {
  require_live("reduce_scatter");
  check_type("reduce_scatter", type);
  check_op("reduce_scatter", op);
  check_buffer("reduce_scatter", "send", send, recv_count, type, static_cast<std::size_t>(size_));
  check_buffer("reduce_scatter", "recv", recv, recv_count, type);
  call_result(fn_->ncclReduceScatter(send, recv, recv_count, static_cast<abi::ncclDataType_t>(type),
                                     static_cast<abi::ncclRedOp_t>(op), comm_, stream),
              "ncclReduceScatter");
}

void Communicator::send(const void* buf, std::size_t count, DataType type, int peer,
                        CUstream_st* stream) const {
  require_live("send");
  if (!fn_->ncclSend) lib_->require(Function::ncclSend);
  check_type("send", type);
  check_rank("send", "peer", peer);
  check_buffer("send", "send", buf, count, type);
  call_result(
      fn_->ncclSend(buf, count, static_cast<abi::ncclDataType_t>(type), peer, comm_, stream),
      "ncclSend");
}

void Communicator::recv(void* buf, std::size_t count, DataType type, int peer,
                        CUstream_st* stream) const {
  require_live("recv");
  if (!fn_->ncclRecv) lib_->require(Function::ncclRecv);
  check_type("recv", type);
  check_rank("recv", "peer", peer);
  check_buffer("recv", "recv", buf, count, type);
  call_result(
      fn_->ncclRecv(buf, count, static_cast<abi::ncclDataType_t>(type), peer, comm_, stream),
      "ncclRecv");
}

namespace {

const char* at(const void* base, std::size_t elements, DataType type) {
  return static_cast<const char*>(base) + elements * size_of(type);
}
char* at(void* base, std::size_t elements, DataType type) {
  return static_cast<char*>(base) + elements * size_of(type);
}

}  // namespace

// The grouped forms: arguments are all checked first, then one NCCL group is issued; the group
// is always closed, even when a call inside it fails.
#define NCCLRT_GROUPED(body)                                      \
  do {                                                            \
    call_result(fn_->ncclGroupStart(), "ncclGroupStart");         \
    abi::ncclResult_t inner_ = abi::ncclSuccess;                  \
    const char* inner_call_ = "";                                 \
    auto issue_ = [&](abi::ncclResult_t r_, const char* c_) {     \
      if (inner_ == abi::ncclSuccess && r_ != abi::ncclSuccess && \
          !(r_ == abi::ncclInProgress && nonblocking_)) {         \
        inner_ = r_;                                              \
        inner_call_ = c_;                                         \
      }                                                           \
    };                                                            \
    body;                                                         \
    const abi::ncclResult_t end_ = fn_->ncclGroupEnd();           \
    if (inner_ != abi::ncclSuccess) fail(inner_, inner_call_);    \
    call_result(end_, "ncclGroupEnd");                            \
  } while (0)

void Communicator::all_to_all(const void* send, void* recv, std::size_t count, DataType type,
                              CUstream_st* stream) const {
  require_live("all_to_all");
  check_type("all_to_all", type);
  const auto n = static_cast<std::size_t>(size_);
  check_buffer("all_to_all", "send", send, count, type, n);
  check_buffer("all_to_all", "recv", recv, count, type, n);
  const auto t = static_cast<abi::ncclDataType_t>(type);
  if (fn_->ncclAlltoAll) {
    call_result(fn_->ncclAlltoAll(send, recv, count, t, comm_, stream), "ncclAlltoAll");
    return;
  }
  lib_->require(Function::ncclSend);
  NCCLRT_GROUPED(for (int p = 0; p < size_; ++p) {
    const auto off = static_cast<std::size_t>(p) * count;
    issue_(fn_->ncclSend(at(send, off, type), count, t, p, comm_, stream), "ncclSend");
    issue_(fn_->ncclRecv(at(recv, off, type), count, t, p, comm_, stream), "ncclRecv");
  });
}

void Communicator::gather(const void* send, void* recv, std::size_t count, DataType type, int root,
                          CUstream_st* stream) const {
  require_live("gather");
  check_type("gather", type);
  check_rank("gather", "root", root);
  check_buffer("gather", "send", send, count, type);
  if (rank_ == root)
    check_buffer("gather", "recv", recv, count, type, static_cast<std::size_t>(size_));
  const auto t = static_cast<abi::ncclDataType_t>(type);
  if (fn_->ncclGather) {
    call_result(fn_->ncclGather(send, recv, count, t, root, comm_, stream), "ncclGather");
    return;
  }
  lib_->require(Function::ncclSend);
  NCCLRT_GROUPED({
    issue_(fn_->ncclSend(send, count, t, root, comm_, stream), "ncclSend");
    if (rank_ == root) {
      for (int p = 0; p < size_; ++p) {
        issue_(fn_->ncclRecv(at(recv, static_cast<std::size_t>(p) * count, type), count, t, p,
                             comm_, stream),
               "ncclRecv");
      }
    }
  });
}

void Communicator::scatter(const void* send, void* recv, std::size_t count, DataType type, int root,
                           CUstream_st* stream) const {
  require_live("scatter");
  check_type("scatter", type);
  check_rank("scatter", "root", root);
  if (rank_ == root)
    check_buffer("scatter", "send", send, count, type, static_cast<std::size_t>(size_));
  check_buffer("scatter", "recv", recv, count, type);
  const auto t = static_cast<abi::ncclDataType_t>(type);
  if (fn_->ncclScatter) {
    call_result(fn_->ncclScatter(send, recv, count, t, root, comm_, stream), "ncclScatter");
    return;
  }
  lib_->require(Function::ncclSend);
  NCCLRT_GROUPED({
    if (rank_ == root) {
      for (int p = 0; p < size_; ++p) {
        issue_(fn_->ncclSend(at(send, static_cast<std::size_t>(p) * count, type), count, t, p,
                             comm_, stream),
               "ncclSend");
      }
    }
    issue_(fn_->ncclRecv(recv, count, t, root, comm_, stream), "ncclRecv");
  });
}

namespace {

void check_layout(const char* op, Counts counts, Counts displs, int size, DataType type) {
  if (counts.size() != static_cast<std::size_t>(size) ||
      displs.size() != static_cast<std::size_t>(size)) {
    throw UsageError(std::string(op) + ": counts and displacements need one entry per rank (" +
                     std::to_string(size) + "); got " + std::to_string(counts.size()) + " and " +
                     std::to_string(displs.size()));
  }
  for (std::size_t r = 0; r < counts.size(); ++r) {
    const std::size_t max = SIZE_MAX / size_of(type);
    if (counts[r] > max || displs[r] > max - counts[r]) {
      throw UsageError(std::string(op) + ": block " + std::to_string(r) + " overflows a byte size");
    }
  }
}

// 1 when any block has elements (so a null buffer is an error), else 0.
std::size_t any_nonzero(Counts counts) {
  for (auto c : counts) {
    if (c != 0) return 1;
  }
  return 0;
}

}  // namespace

void Communicator::all_gatherv(const void* send, std::size_t send_count, void* recv,
                               Counts recv_counts, Counts displs, DataType type,
                               CUstream_st* stream) const {
  require_live("all_gatherv");
  check_type("all_gatherv", type);
  check_layout("all_gatherv", recv_counts, displs, size_, type);
  if (recv_counts[static_cast<std::size_t>(rank_)] != send_count) {
    throw UsageError("all_gatherv: send_count " + std::to_string(send_count) +
                     " differs from recv_counts[" + std::to_string(rank_) +
                     "] = " + std::to_string(recv_counts[static_cast<std::size_t>(rank_)]));
  }
  check_buffer("all_gatherv", "send", send, send_count, type);
  check_buffer("all_gatherv", "recv", recv, any_nonzero(recv_counts), type);
  const auto t = static_cast<abi::ncclDataType_t>(type);
  NCCLRT_GROUPED(for (int r = 0; r < size_; ++r) {
    const auto i = static_cast<std::size_t>(r);
    issue_(fn_->ncclBroadcast(send, at(recv, displs[i], type), recv_counts[i], t, r, comm_, stream),
           "ncclBroadcast");
  });
}

void Communicator::reduce_scatterv(const void* send, void* recv, Counts recv_counts, Counts displs,
                                   DataType type, ReduceOp op, CUstream_st* stream) const {
  require_live("reduce_scatterv");
  check_type("reduce_scatterv", type);
  check_op("reduce_scatterv", op);
  check_layout("reduce_scatterv", recv_counts, displs, size_, type);
  check_buffer("reduce_scatterv", "send", send, any_nonzero(recv_counts), type);
  check_buffer("reduce_scatterv", "recv", recv, recv_counts[static_cast<std::size_t>(rank_)], type);
  const auto t = static_cast<abi::ncclDataType_t>(type);
  const auto o = static_cast<abi::ncclRedOp_t>(op);
  NCCLRT_GROUPED(for (int r = 0; r < size_; ++r) {
    const auto i = static_cast<std::size_t>(r);
    issue_(fn_->ncclReduce(at(send, displs[i], type), r == rank_ ? recv : nullptr, recv_counts[i],
                           t, o, r, comm_, stream),
           "ncclReduce");
  });
}
#undef NCCLRT_GROUPED

// ---- handles ----

PreMulSum Communicator::create_pre_mul_sum(const void* scalar, DataType type,
                                           ScalarResidence residence) const {
  require_live("create_pre_mul_sum");
  lib_->require(Function::ncclRedOpCreatePreMulSum);
  check_type("create_pre_mul_sum", type);
  if (scalar == nullptr) throw UsageError("create_pre_mul_sum: the scalar pointer is null");
  abi::ncclRedOp_t op{};
  call_result(fn_->ncclRedOpCreatePreMulSum(
                  &op, const_cast<void*>(scalar), static_cast<abi::ncclDataType_t>(type),
                  static_cast<abi::ncclScalarResidence_t>(residence), comm_),
              "ncclRedOpCreatePreMulSum");
  PreMulSum p;
  p.state_ = handles_;
  p.op_ = static_cast<ReduceOp>(op);
  {
    std::lock_guard<std::mutex> lock(hs_->mutex);
    hs_->pre_mul_sums.push_back(static_cast<int>(op));
  }
  return p;
}

Registration Communicator::register_buffer(void* buf, std::size_t bytes,
                                           CUstream_st* stream) const {
  require_live("register_buffer");
  lib_->require(Function::ncclCommRegister);
  if (buf == nullptr || bytes == 0) {
    throw UsageError("register_buffer: needs a non-null buffer and a non-zero size");
  }
  if (detail::capture_forbids_sync(stream)) {
    throw UsageError(
        "register_buffer while a CUDA graph is being captured: registration "
        "synchronizes and would invalidate the capture. Register before capturing");
  }
  Registration r;
  call_result(fn_->ncclCommRegister(comm_, buf, bytes, &r.handle_), "ncclCommRegister");
  r.state_ = handles_;
  return r;
}

Window Communicator::register_window(void* buf, std::size_t bytes, WindowFlags flags,
                                     CUstream_st* stream) const {
  require_live("register_window");
  lib_->require(Function::ncclCommWindowRegister);
  if (buf == nullptr || bytes == 0) {
    throw UsageError("register_window: needs a non-null buffer and a non-zero size");
  }
  if (flags != WindowFlags::kDefault && flags != WindowFlags::kCollSymmetric) {
    throw UsageError("register_window: unknown flags " + std::to_string(static_cast<int>(flags)));
  }
  if (detail::capture_forbids_sync(stream)) {
    throw UsageError(
        "register_window while a CUDA graph is being captured: window "
        "registration synchronizes and would invalidate the capture (NCCL reports "
        "'unhandled cuda error'). Register windows before capturing");
  }
  Window w;
  call_result(fn_->ncclCommWindowRegister(comm_, buf, bytes, &w.win_, static_cast<int>(flags)),
              "ncclCommWindowRegister");
  w.state_ = handles_;
  return w;
}

// Each handle is released with its NCCL call while its communicator lives; after that NCCL has
// already freed it with the communicator.
#define NCCLRT_HANDLE_MOVES(Type, member, empty)          \
  Type::Type(Type&& o) noexcept { *this = std::move(o); } \
  Type& Type::operator=(Type&& o) noexcept {              \
    if (this != &o) {                                     \
      release();                                          \
      state_ = std::move(o.state_);                       \
      member = o.member;                                  \
      o.member = empty;                                   \
    }                                                     \
    return *this;                                         \
  }                                                       \
  Type::~Type() { release(); }
NCCLRT_HANDLE_MOVES(PreMulSum, op_, ReduceOp::kSum)
NCCLRT_HANDLE_MOVES(Registration, handle_, nullptr)
NCCLRT_HANDLE_MOVES(Window, win_, nullptr)
#undef NCCLRT_HANDLE_MOVES

// Runs `fn` on the communicator's handle if it still exists; releases the reference.
template <class F>
void release_handle(std::shared_ptr<detail::HandleState>& state, F&& fn) noexcept {
  if (state && !detail::g_exiting.load()) {
    std::lock_guard<std::mutex> lock(state->mutex);
    if (state->alive) fn(state->lib->raw(), state->comm);
  }
  state.reset();
}

void PreMulSum::release() noexcept {
  if (state_) {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto& live = state_->pre_mul_sums;
    live.erase(std::remove(live.begin(), live.end(), static_cast<int>(op_)), live.end());
  }
  release_handle(state_, [&](const detail::Symbols& fn, abi::ncclComm_t c) {
    fn.ncclRedOpDestroy(static_cast<abi::ncclRedOp_t>(op_), c);
  });
}

void Registration::release() noexcept {
  release_handle(state_, [&](const detail::Symbols& fn, abi::ncclComm_t c) {
    fn.ncclCommDeregister(c, handle_);
  });
}

void Window::release() noexcept {
  release_handle(state_, [&](const detail::Symbols& fn, abi::ncclComm_t c) {
    fn.ncclCommWindowDeregister(c, win_);
  });
}

// ---- group and memory ----

Group::Group(const Library& lib) : lib_(&lib) {
  detail::check(lib, lib.raw().ncclGroupStart(), "ncclGroupStart", nullptr);
}

void Group::end() {
  if (!open_) throw UsageError("Group::end called twice");
  open_ = false;
  detail::check(*lib_, lib_->raw().ncclGroupEnd(), "ncclGroupEnd", nullptr);
}

Group::~Group() {
  if (!open_) return;
  open_ = false;
  if (lib_->raw().ncclGroupEnd() != abi::ncclSuccess) {
    detail::log(LogLevel::kError,
                "ncclGroupEnd failed in ~Group; call Group::end() to get the error");
  }
}

NcclMemory NcclMemory::allocate(std::shared_ptr<const Library> lib, std::size_t bytes) {
  if (!lib) throw UsageError("NcclMemory::allocate: no Library (null shared_ptr)");
  lib->require(Function::ncclMemAlloc);
  if (bytes == 0) throw UsageError("NcclMemory::allocate: size is zero");
  NcclMemory m;
  detail::check(*lib, lib->raw().ncclMemAlloc(&m.ptr_, bytes), "ncclMemAlloc", nullptr,
                "NcclMemory::allocate");
  m.bytes_ = bytes;
  m.lib_ = std::move(lib);
  return m;
}

NcclMemory::NcclMemory(NcclMemory&& o) noexcept { *this = std::move(o); }
NcclMemory& NcclMemory::operator=(NcclMemory&& o) noexcept {
  if (this != &o) {
    release();
    lib_ = std::move(o.lib_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}
NcclMemory::~NcclMemory() { release(); }
void NcclMemory::release() noexcept {
  if (ptr_ && lib_ && !detail::g_exiting.load()) lib_->raw().ncclMemFree(ptr_);
  ptr_ = nullptr;
  lib_.reset();
}

}  // namespace ncclrt
