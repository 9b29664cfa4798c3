// A communicator's life after creation: its state, queries, finalize, revoke, suspend/resume,
// destroy, abort, and waiting on its work.
#include <algorithm>
#include <climits>
#include <optional>
#include <thread>
#include <utility>

#include "comm_state.hpp"
#include "config.hpp"
#include "cuda_driver.hpp"
#include "flight_recorder.hpp"
#include "group_state.hpp"
#include "log_internal.hpp"
#include "nccl_error.hpp"
#include "ncclrt/communicator.hpp"
#include "ncclrt/error.hpp"
#include "ncclrt/launch.hpp"

namespace ncclrt {
namespace {

using detail::Clock;

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
  hot_.nonblocking = s.nonblocking;
  s.where = detail::rank_text(hot_.rank, hot_.size) + " on GPU " + std::to_string(hot_.device);
  hot_.trace = detail::trace_attach(s, hot_.rank, hot_.size, hot_.device);
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
  if (!owns()) return;
  detail::CommState& s = *shared_;
  bool was_alive;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    was_alive = s.alive;
    s.alive = false;  // from here no other thread calls NCCL on it
  }
  if (was_alive && !detail::process_exiting()) {
    // The form that may be used from any thread: a communicator may be ended on another.
    const detail::TraceCall traced(
        s, state_ == State::kFinalized ? TraceOp::kDestroy : TraceOp::kAbort);
    // A finalized communicator is quiescent, so destroy is local; a live one is aborted
    // because destroy could wait for peers that are gone.
    if (state_ == State::kFinalized) {
      hot_.fn->ncclCommDestroy(s.comm);
    } else {
      detail::bounded_abort(s.lib, s.comm);
    }
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
    case State::kRevoked:
      return "a revoked communicator (only destroy(), abort(), split() or shrink() may follow "
             "revoke())";
    case State::kSuspended:
      return "a suspended communicator (resume() it first; memory_stats(), destroy() and abort() "
             "are allowed while suspended)";
    case State::kDestroyed:
      return "a destroyed communicator";
    case State::kAborted:
      return "an aborted communicator";
  }
  return "a communicator in an unknown state";
}

void Communicator::fail_state(const char* op) const {
  if (owns() && shared_->poisoned.load()) {
    // Aborted behind the owner's back (a deadline, the watchdog, synchronize): say why.
    const std::string o = op;
    if (o != "revoke" && o != "shrink" && o != "split") std::rethrow_exception(shared_->reason);
    std::string why;
    try {
      std::rethrow_exception(shared_->reason);
    } catch (const std::exception& e) {
      why = e.what();
    }
    throw UsageError(
        o + ": the communicator was already aborted (" + why +
        "), so it cannot be revoked, split or shrunk. To recover from a failed rank, detect the "
        "failure without aborting: synchronize(stream, deadline, OnFailure::kLeave), then "
        "revoke() and shrink(); else make a new communicator");
  }
  throw UsageError(std::string(op) + " on " + state_text(state_));
}

void Communicator::require_state(const char* op, std::initializer_list<State> allowed) const {
  if (owns() && hot_.poisoned->load()) fail_state(op);
  for (State a : allowed) {
    if (state_ == a) return;
  }
  fail_state(op);
}

void Communicator::fail(abi::ncclResult_t result, const char* call) const {
  try {
    detail::throw_nccl_error(lib(), result, call, hot_.comm, shared_->where);
  } catch (const Error& e) {
    detail::trace_on_failure(*shared_, e.what());  // NCCL reported an error: dump
    throw;
  }
}

int Communicator::rank() const {
  require_state("rank", {State::kLive, State::kRevoked, State::kSuspended});
  return hot_.rank;
}
int Communicator::size() const {
  require_state("size", {State::kLive, State::kRevoked, State::kSuspended});
  return hot_.size;
}
int Communicator::device() const {
  require_state("device", {State::kLive, State::kRevoked, State::kSuspended});
  return hot_.device;
}
abi::ncclComm_t Communicator::native() const {
  require_state("native", {State::kLive, State::kRevoked, State::kSuspended});
  return hot_.comm;
}

void Communicator::wait_finalized(std::optional<std::chrono::milliseconds> deadline) {
  lib().require(Function::ncclCommFinalize);
  if (deadline && !shared_->nonblocking) {
    throw UsageError(
        "finalize with a deadline needs a nonblocking communicator: create it with "
        "Config::timeout or Config::blocking = false");
  }
  detail::refuse_in_group("finalize",
                          "it waits for the other ranks, which NCCL starts at the group's end");
  if (detail::capture_forbids_sync()) {
    throw UsageError(
        "finalize while a CUDA graph is being captured: finalize waits for the other "
        "ranks and would invalidate the capture");
  }
  detail::TraceCall traced(hot_.trace, TraceOp::kFinalize);
  wait_quiet(hot_.fn->ncclCommFinalize(hot_.comm), "ncclCommFinalize", deadline,
             "the other ranks did not all finalize");
  state_ = State::kFinalized;
}

void Communicator::finalize(std::optional<std::chrono::milliseconds> deadline) {
  require_live("finalize");
  wait_finalized(deadline);
}

void Communicator::destroy(std::optional<std::chrono::milliseconds> deadline) {
  if (!owns()) fail_state("destroy");
  detail::CommState& s = *shared_;
  if (s.poisoned.load()) {
    release(State::kDestroyed);  // already aborted: nothing left to do in NCCL
    return;
  }
  detail::refuse_in_group("destroy", "NCCL would destroy it only at the group's end");
  // A revoked communicator is quiescent and finalized by NCCL already. A nonblocking one is
  // finalized first, within its deadline, so that destroy itself is local and cannot hang.
  if ((state_ == State::kLive || state_ == State::kSuspended) && s.nonblocking &&
      hot_.fn->ncclCommFinalize) {
    wait_finalized(deadline);
  }
  bool was_alive;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    was_alive = s.alive;
    s.alive = false;  // from here no other thread calls NCCL on it
  }
  if (!was_alive) {  // given up by another thread meanwhile, which ended it in NCCL
    state_ = State::kDestroyed;
    return;
  }
  abi::ncclResult_t r;
  {
    detail::TraceCall traced(hot_.trace, TraceOp::kDestroy);
    r = hot_.fn->ncclCommDestroy(s.comm);
    traced.result(r);
  }
  state_ = State::kDestroyed;
  if (r != abi::ncclSuccess) {
    detail::throw_nccl_error(lib(), r, "ncclCommDestroy", nullptr,
                             detail::rank_text(hot_.rank, hot_.size));
  }
}

void Communicator::abort() noexcept {
  const bool live = owns();
  release(State::kAborted);
  if (live) detail::trace_on_abort(*shared_, "abort() was called");
}

void Communicator::wait_quiet(abi::ncclResult_t first, const char* call,
                              std::optional<std::chrono::milliseconds> deadline, const char* why) {
  const auto limit = detail::deadline_of(*shared_, deadline);
  abi::ncclResult_t r = first;
  if (r == abi::ncclInProgress && !shared_->nonblocking) {
    fail(r, call);  // a blocking communicator never answers so: say what NCCL said
  }
  r = detail::wait_out(*shared_, r, Clock::now(), limit,
                       {std::string(call) + " did not complete", why ? why : ""});
  if (r != abi::ncclSuccess) fail(r, call);
}

void Communicator::revoke(std::optional<std::chrono::milliseconds> deadline) {
  require_live("revoke");
  lib().require(Function::ncclCommRevoke);
  detail::refuse_in_group("revoke", "it must stop work the group has not launched yet");
  if (detail::capture_forbids_sync()) {
    throw UsageError(
        "revoke while a CUDA graph is being captured: revoke waits for the communicator's "
        "work to stop and would invalidate the capture");
  }
  const detail::TraceCall traced(hot_.trace, TraceOp::kRevoke);
  const auto limit = detail::deadline_of(*shared_, deadline);
  if (!shared_->nonblocking) return revoke_blocking(limit);
  const abi::ncclResult_t r = hot_.fn->ncclCommRevoke(hot_.comm, abi::kRevokeDefault);
  if (r != abi::ncclSuccess && r != abi::ncclInProgress) fail(r, "ncclCommRevoke");
  // From here NCCL treats the communicator as revoked, whatever the outcome of the wait.
  state_ = State::kRevoked;
  wait_quiet(r, "ncclCommRevoke", limit, "this rank's work on the communicator did not stop");
}

// NCCL's revoke raises the communicator's abort flags (its kernels and proxy stop waiting for
// peers), then waits for this rank's own streams and proxy: local work, but run inline on a
// blocking communicator. ncclrt runs it on a helper thread and waits at most `limit`; a revoke
// that does not return by then leaves the communicator to that thread, which aborts it when NCCL
// returns.
void Communicator::revoke_blocking(std::chrono::milliseconds limit) {
  auto keep = shared_;
  const auto* fn = hot_.fn;
  const abi::ncclComm_t comm = hot_.comm;
  const auto r = detail::bounded_call(
      [keep, fn, comm] { return fn->ncclCommRevoke(comm, abi::kRevokeDefault); },
      [keep](abi::ncclResult_t) {
        if (!detail::process_exiting()) detail::bounded_abort(keep->lib, keep->comm);
      },
      limit);
  state_ = State::kRevoked;
  if (!r) {
    auto e = std::make_exception_ptr(detail::expired(
        "ncclCommRevoke did not return", limit, shared_->where + ", a blocking communicator",
        "this rank's work on it did not stop",
        "ncclrt gave the communicator up (it is aborted when NCCL returns); make a new one"));
    detail::abandon_with_reason(*shared_, e);
    std::rethrow_exception(e);
  }
  if (*r != abi::ncclSuccess) fail(*r, "ncclCommRevoke");
}

void Communicator::suspend(SuspendFlags flags) {
  require_live("suspend");
  lib().require(Function::ncclCommSuspend);
  if (flags != SuspendFlags::kNone && flags != SuspendFlags::kMemory) {
    throw UsageError("suspend: unknown flags " + std::to_string(static_cast<int>(flags)));
  }
  if (detail::capture_forbids_sync()) {
    throw UsageError(
        "suspend while a CUDA graph is being captured: suspend frees memory the captured "
        "work may use. Suspend outside the capture");
  }
  detail::refuse_in_group("suspend", "NCCL would suspend it only at the group's end");
  const detail::TraceCall traced(hot_.trace, TraceOp::kSuspend, static_cast<int>(flags));
  wait_quiet(hot_.fn->ncclCommSuspend(hot_.comm, static_cast<int>(flags)), "ncclCommSuspend",
             std::nullopt);
  state_ = State::kSuspended;
}

void Communicator::resume() {
  if (state_ == State::kLive && !hot_.poisoned->load()) {
    throw UsageError("resume on a communicator that is not suspended (call suspend() first)");
  }
  require_state("resume", {State::kSuspended});
  lib().require(Function::ncclCommResume);
  detail::refuse_in_group("resume", "NCCL would resume it only at the group's end");
  const detail::TraceCall traced(hot_.trace, TraceOp::kResume);
  wait_quiet(hot_.fn->ncclCommResume(hot_.comm), "ncclCommResume", std::nullopt);
  state_ = State::kLive;
}

MemoryStats Communicator::memory_stats() const {
  require_state("memory_stats", {State::kLive, State::kSuspended});
  lib().require(Function::ncclCommMemStats);
  auto stat = [&](abi::ncclCommMemStat_t which) {
    std::uint64_t value = 0;
    call_result(hot_.fn->ncclCommMemStats(hot_.comm, which, &value), "ncclCommMemStats");
    return value;
  };
  MemoryStats m;
  m.suspendable_bytes = stat(abi::ncclStatGpuMemSuspend);
  m.persistent_bytes = stat(abi::ncclStatGpuMemPersist);
  m.total_bytes = stat(abi::ncclStatGpuMemTotal);
  m.suspended = stat(abi::ncclStatGpuMemSuspended) != 0;
  return m;
}

SuspendGuard::SuspendGuard(Communicator& comm, SuspendFlags flags) : comm_(&comm) {
  comm.suspend(flags);
}

void SuspendGuard::resume() {
  if (comm_ == nullptr) throw UsageError("SuspendGuard::resume called twice");
  Communicator* c = std::exchange(comm_, nullptr);
  c->resume();
}

SuspendGuard::~SuspendGuard() {
  if (comm_ == nullptr || !comm_->suspended()) return;  // resumed, or destroyed/aborted meanwhile
  try {
    comm_->resume();
  } catch (const std::exception& e) {
    detail::log(LogLevel::kError, std::string("~SuspendGuard: resume failed: ") + e.what() +
                                      ". Call SuspendGuard::resume() to get the error");
  }
}

void Communicator::synchronize(CUstream_st* stream, std::chrono::milliseconds deadline,
                               OnFailure on_failure) const {
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
    if (hot_.fn->ncclCommGetAsyncError && !detail::query_async(*shared_, async)) {
      fail_state("synchronize");  // given up by another thread meanwhile: say why
    }
    if (async != abi::ncclSuccess && async != abi::ncclInProgress) {
      std::exception_ptr e;
      try {
        fail(async, "the communicator (asynchronous error while synchronizing)");
      } catch (...) {
        e = std::current_exception();  // fail() has dumped the flight recorder
      }
      if (on_failure == OnFailure::kAbort) detail::abort_with_reason(*shared_, e);
      std::rethrow_exception(e);
    }
    if (Clock::now() - start >= deadline) {
      const bool abort = on_failure == OnFailure::kAbort;
      auto e = std::make_exception_ptr(detail::expired(
          "synchronize: the work on the stream did not finish", deadline, shared_->where,
          "a peer may be missing or stuck",
          abort ? detail::kWasAborted
                : "The communicator was left as it is: revoke() it, then shrink() the failed "
                  "ranks away, or abort() it"));
      if (abort) {
        detail::abort_with_reason(*shared_, e);  // dumps the flight recorder first
      } else {
        detail::trace_on_failure(*shared_, e);
      }
      std::rethrow_exception(e);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void Communicator::check() const {
  require_live("check");
  lib().require(Function::ncclCommGetAsyncError);
  abi::ncclResult_t async = abi::ncclSuccess;
  if (!detail::query_async(*shared_, async)) fail_state("check");
  call_result(async, "the communicator (asynchronous error)");
}

}  // namespace ncclrt
