// A communicator's life: creation (init, split, shrink), queries, finalize, destroy, abort, and
// waiting on its work.
#include <algorithm>
#include <climits>
#include <optional>
#include <thread>

#include "comm_state.hpp"
#include "config.hpp"
#include "cuda_driver.hpp"
#include "nccl_error.hpp"
#include "ncclrt/communicator.hpp"
#include "ncclrt/error.hpp"
#include "ncclrt/launch.hpp"

namespace ncclrt {
namespace {

using detail::Clock;

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
      detail::throw_nccl_error(lib, state, call, comm, where);
    } catch (...) {
      fn.ncclCommAbort(comm);
      throw;
    }
  }
}

// Runs one creation call (`start` fills the new handle) with the config as the loaded NCCL
// wants it, waits for nonblocking creation, and returns the shared state of the new
// communicator, or throws with nothing left behind.
template <class Start>
std::shared_ptr<detail::CommState> create_comm(std::shared_ptr<const Library> lib,
                                               const Config& config, const char* call,
                                               const std::string& where, Start&& start) {
  if (detail::capture_forbids_sync()) {
    throw UsageError(std::string(call) +
                     " while a CUDA graph is being captured: creating a "
                     "communicator synchronizes and would invalidate the capture. Create it "
                     "before cudaStreamBeginCapture");
  }
  abi::ncclConfig_t cfg = detail::make_config(*lib, config);
  if (config.timeout) {
    lib->require(Function::ncclCommGetAsyncError);
    lib->require(Function::ncclCommAbort);
    if (config.blocking.value_or(false)) {
      throw UsageError(
          "Config::timeout needs a nonblocking creation; leave Config::blocking unset "
          "or false");
    }
    cfg.blocking = 0;
  }
  abi::ncclComm_t comm = nullptr;
  const abi::ncclResult_t r = start(&comm, &cfg);
  if (r == abi::ncclInProgress && comm != nullptr) {
    wait_created(*lib, comm, r, config, call, where);
  } else if (r != abi::ncclSuccess) {
    detail::throw_nccl_error(*lib, r, call, comm, where);
  }
  if (comm == nullptr) {
    throw Error(std::string(call) + " succeeded but returned no communicator (" + where + ")");
  }
  auto state = std::make_shared<detail::CommState>();
  state->lib = std::move(lib);
  state->comm = comm;
  state->nonblocking = cfg.blocking == 0;
  state->timeout = config.timeout;
  return state;
}

std::shared_ptr<detail::CommState> adopt(std::shared_ptr<const Library> lib, abi::ncclComm_t comm) {
  auto state = std::make_shared<detail::CommState>();
  state->lib = std::move(lib);
  state->comm = comm;
  return state;
}

const std::shared_ptr<const Library> kNoLibrary;

}  // namespace

Communicator::Communicator(std::shared_ptr<detail::CommState> state) : shared_(std::move(state)) {
  detail::note_exit_once();
  detail::CommState& s = *shared_;
  const Library& library = *s.lib;
  hot_.fn = &library.raw();
  hot_.comm = s.comm;
  hot_.poisoned = &s.poisoned;
  state_ = State::kLive;
  const char* where = "querying a new communicator";
  try {
    detail::check(library, hot_.fn->ncclCommUserRank(s.comm, &hot_.rank), "ncclCommUserRank",
                  s.comm, where);
    detail::check(library, hot_.fn->ncclCommCount(s.comm, &hot_.size), "ncclCommCount", s.comm,
                  where);
    detail::check(library, hot_.fn->ncclCommCuDevice(s.comm, &hot_.device), "ncclCommCuDevice",
                  s.comm, where);
  } catch (...) {
    abort();
    throw;
  }
  for (int t = 0; t <= static_cast<int>(DataType::kFloat64); ++t) hot_.type_mask |= 1u << t;
  if (library.has(Feature::bfloat16)) {
    hot_.type_mask |= 1u << static_cast<int>(DataType::kBfloat16);
  }
  if (library.has(Feature::fp8)) {
    hot_.type_mask |= 1u << static_cast<int>(DataType::kFloat8e4m3);
    hot_.type_mask |= 1u << static_cast<int>(DataType::kFloat8e5m2);
  }
  hot_.has_avg = library.has(Feature::avg);
  s.where = detail::rank_text(hot_.rank, hot_.size) + " on GPU " + std::to_string(hot_.device);
}

Communicator::Communicator(Communicator&& o) noexcept { *this = std::move(o); }

Communicator& Communicator::operator=(Communicator&& o) noexcept {
  if (this == &o) return *this;
  release(State::kAborted);
  shared_ = std::move(o.shared_);
  hot_ = std::exchange(o.hot_, Hot{});
  state_ = std::exchange(o.state_, State::kMovedFrom);
  return *this;
}

Communicator::~Communicator() { release(State::kAborted); }

const Library& Communicator::lib() const noexcept { return *shared_->lib; }

const std::shared_ptr<const Library>& Communicator::library() const noexcept {
  return shared_ ? shared_->lib : kNoLibrary;
}

// Ends the NCCL communicator if this object still owns one; never throws or waits for peers.
void Communicator::release(State next) noexcept {
  if (state_ != State::kLive && state_ != State::kFinalized) return;
  detail::CommState& s = *shared_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.alive && !detail::process_exiting()) {
      // A finalized communicator is quiescent, so destroy is local; a live one is aborted
      // because destroy could wait for peers that are gone.
      if (state_ == State::kFinalized) {
        hot_.fn->ncclCommDestroy(s.comm);
      } else {
        detail::bounded_abort(s.lib, s.comm);
      }
    }
    s.alive = false;
  }
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
  if (state_ == State::kLive && shared_->poisoned.load()) {
    // Aborted behind the owner's back (watchdog, synchronize): say why, every time.
    std::rethrow_exception(shared_->reason);
  }
  throw UsageError(std::string(op) + " on " + state_text(state_));
}

void Communicator::fail(abi::ncclResult_t result, const char* call) const {
  detail::throw_nccl_error(lib(), result, call, hot_.comm, shared_->where);
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
  if (config.empty()) {
    return Communicator(create_comm(std::move(lib), config, "ncclCommInitRank", where,
                                    [&](abi::ncclComm_t* c, abi::ncclConfig_t*) {
                                      return fn.ncclCommInitRank(c, nranks, raw, rank);
                                    }));
  }
  lib->require(Function::ncclCommInitRankConfig);
  return Communicator(create_comm(std::move(lib), config, "ncclCommInitRankConfig", where,
                                  [&](abi::ncclComm_t* c, abi::ncclConfig_t* cfg) {
                                    return fn.ncclCommInitRankConfig(c, nranks, raw, rank, cfg);
                                  }));
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
  for (auto* c : raw) out.push_back(Communicator(adopt(lib, c)));
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
  lib().require(Function::ncclCommSplit);
  if (color < 0 && color != abi::kSplitNoColor) {
    throw UsageError("split: color must be >= 0 or kSplitNoColor; got " + std::to_string(color));
  }
  const auto* fn = hot_.fn;
  const abi::ncclComm_t parent = hot_.comm;
  if (color == abi::kSplitNoColor) {
    // This rank takes part in the split but gets no communicator.
    abi::ncclConfig_t cfg = detail::make_config(lib(), config);
    abi::ncclComm_t comm = nullptr;
    call_result(fn->ncclCommSplit(parent, color, key, &comm, &cfg), "ncclCommSplit");
    return Communicator();
  }
  return Communicator(create_comm(shared_->lib, config, "ncclCommSplit",
                                  detail::rank_text(hot_.rank, hot_.size),
                                  [&](abi::ncclComm_t* c, abi::ncclConfig_t* cf) {
                                    return fn->ncclCommSplit(parent, color, key, c, cf);
                                  }));
}

Communicator Communicator::shrink(const std::vector<int>& excluded, const Config& config,
                                  ShrinkMode mode) const {
  require_live("shrink");
  lib().require(Function::ncclCommShrink);
  if (excluded.empty()) {
    throw UsageError("shrink: the list of ranks to exclude is empty (NCCL requires at least one)");
  }
  std::vector<int> list = excluded;
  for (int r : list) check_rank("shrink", "excluded rank", r);
  std::sort(list.begin(), list.end());
  if (std::adjacent_find(list.begin(), list.end()) != list.end()) {
    throw UsageError("shrink: the list of ranks to exclude names a rank twice");
  }
  if (list.size() >= static_cast<std::size_t>(hot_.size)) {
    throw UsageError("shrink: excluding " + std::to_string(list.size()) + " of " +
                     std::to_string(hot_.size) + " ranks leaves none");
  }
  if (mode != ShrinkMode::kDefault && mode != ShrinkMode::kAbortParent) {
    throw UsageError("shrink: unknown mode " + std::to_string(static_cast<int>(mode)));
  }
  const int flags = static_cast<int>(mode);
  const auto* fn = hot_.fn;
  const abi::ncclComm_t parent = hot_.comm;
  return Communicator(create_comm(
      shared_->lib, config, "ncclCommShrink", detail::rank_text(hot_.rank, hot_.size),
      [&](abi::ncclComm_t* c, abi::ncclConfig_t* cf) {
        return fn->ncclCommShrink(parent, list.data(), static_cast<int>(list.size()), c, cf, flags);
      }));
}

int Communicator::rank() const {
  require_live("rank");
  return hot_.rank;
}
int Communicator::size() const {
  require_live("size");
  return hot_.size;
}
int Communicator::device() const {
  require_live("device");
  return hot_.device;
}
abi::ncclComm_t Communicator::native() const {
  require_live("native");
  return hot_.comm;
}

void Communicator::wait_finalized(std::optional<std::chrono::milliseconds> deadline) {
  lib().require(Function::ncclCommFinalize);
  if (deadline && !shared_->nonblocking) {
    throw UsageError(
        "finalize with a deadline needs a nonblocking communicator: create it with "
        "Config::timeout or Config::blocking = false");
  }
  if (detail::capture_forbids_sync()) {
    throw UsageError(
        "finalize while a CUDA graph is being captured: finalize waits for the other "
        "ranks and would invalidate the capture");
  }
  const auto start = Clock::now();
  abi::ncclResult_t r = hot_.fn->ncclCommFinalize(hot_.comm);
  while (r == abi::ncclInProgress) {
    if (deadline && Clock::now() - start >= *deadline) {
      abort();
      throw TimeoutError("finalize did not complete within " + std::to_string(deadline->count()) +
                         " ms (" + shared_->where +
                         "): the other ranks did not all finalize. The "
                         "communicator was aborted");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (hot_.fn->ncclCommGetAsyncError(hot_.comm, &r) != abi::ncclSuccess) break;
  }
  if (r != abi::ncclSuccess) fail(r, "ncclCommFinalize");
  state_ = State::kFinalized;
}

void Communicator::finalize(std::optional<std::chrono::milliseconds> deadline) {
  require_live("finalize");
  wait_finalized(deadline ? deadline : shared_->timeout);
}

void Communicator::destroy(std::optional<std::chrono::milliseconds> deadline) {
  if (state_ != State::kLive && state_ != State::kFinalized) fail_state("destroy");
  detail::CommState& s = *shared_;
  if (state_ == State::kLive && s.poisoned.load()) {
    release(State::kDestroyed);  // already aborted: nothing left to do in NCCL
    return;
  }
  if (!deadline) deadline = s.timeout;
  if (state_ == State::kLive && deadline && s.nonblocking && hot_.fn->ncclCommFinalize) {
    wait_finalized(deadline);  // so that destroy itself is local and cannot hang
  }
  abi::ncclResult_t r;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.alive = false;
    r = hot_.fn->ncclCommDestroy(s.comm);
  }
  state_ = State::kDestroyed;
  if (r != abi::ncclSuccess) {
    detail::throw_nccl_error(lib(), r, "ncclCommDestroy", nullptr,
                             detail::rank_text(hot_.rank, hot_.size));
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
  const auto start = Clock::now();
  for (;;) {
    const detail::StreamState st = detail::stream_state(stream);
    if (st == detail::StreamState::kDone) return check();
    if (st == detail::StreamState::kError) {
      throw Error("synchronize: cuStreamQuery failed (" + shared_->where +
                  "): a CUDA error on the stream, or no CUDA driver");
    }
    abi::ncclResult_t async = abi::ncclSuccess;
    if (hot_.fn->ncclCommGetAsyncError &&
        hot_.fn->ncclCommGetAsyncError(hot_.comm, &async) == abi::ncclSuccess &&
        async != abi::ncclSuccess && async != abi::ncclInProgress) {
      std::exception_ptr e;
      try {
        fail(async, "the communicator (asynchronous error while synchronizing)");
      } catch (...) {
        e = std::current_exception();
      }
      detail::abort_with_reason(*shared_, e);
      std::rethrow_exception(e);
    }
    if (Clock::now() - start >= deadline) {
      auto e = std::make_exception_ptr(
          TimeoutError("synchronize: the work on the stream did not finish within " +
                       std::to_string(deadline.count()) + " ms (" + shared_->where +
                       "); a peer may be missing or stuck. The communicator was aborted"));
      detail::abort_with_reason(*shared_, e);
      std::rethrow_exception(e);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void Communicator::check() const {
  require_live("check");
  lib().require(Function::ncclCommGetAsyncError);
  abi::ncclResult_t async = abi::ncclSuccess;
  call_result(hot_.fn->ncclCommGetAsyncError(hot_.comm, &async), "ncclCommGetAsyncError");
  call_result(async, "the communicator (asynchronous error)");
}

}  // namespace ncclrt
