// The one record of an NCCL communicator, shared by its owner (Communicator), the handles it
// hands out and the watchdog; and what each of them needs to end it safely.
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ncclrt/abi.hpp"
#include "ncclrt/error.hpp"
#include "ncclrt/library.hpp"
#include "trace/state.hpp"

namespace ncclrt::detail {

using Clock = std::chrono::steady_clock;

/// An NCCL communicator as everyone who holds it sees it: the library and handle, whether the
/// handle still exists, why it was aborted behind the owner's back, and how it was made.
struct CommState {
  std::shared_ptr<const Library> lib;
  abi::ncclComm_t comm = nullptr;
  std::string where;         // "rank 0 of 2 on GPU 0"
  bool nonblocking = false;  // made with blocking = 0 (Config::timeout or blocking)
  std::optional<std::chrono::milliseconds> timeout;  // Config::timeout of the creation
  // Guards `alive` and the handle for every thread but the owner's hot path: held only across
  // NCCL calls that return without waiting for peers (ncclCommGetAsyncError, a handle's local
  // release), never across an abort, a destroy, a sleep or I/O. Whoever turns `alive` false
  // under it is the one that ends the NCCL communicator, after letting it go.
  std::mutex mutex;
  bool alive = true;                  // the NCCL communicator exists (under mutex)
  std::atomic<bool> poisoned{false};  // aborted by the watchdog or synchronize
  std::exception_ptr reason;          // what the next call throws (set before poisoned)
  std::vector<int> pre_mul_sums;      // ops of this communicator's live PreMulSum handles
  TraceState trace;                   // the flight recorder (src/trace/)
};

/// True once the process has begun to exit: NCCL may be torn down, so no NCCL call is made.
bool process_exiting() noexcept;
/// Makes process_exiting() turn true at exit (registered once).
void note_exit_once();
/// ncclCommAbort, waiting at most $NCCLRT_ABORT_TIMEOUT_MS (default 10 s) for it to return; the
/// library is kept alive by the call, which may outlive this one if NCCL hangs.
bool bounded_abort(std::shared_ptr<const Library> lib, abi::ncclComm_t comm) noexcept;
/// Aborts the communicator behind `state` once, recording `reason` for its owner's next call
/// (the way out of the watchdog, synchronize and every wait that passes its deadline).
void abort_with_reason(CommState& state, std::exception_ptr reason) noexcept;
/// The same without calling NCCL, for a communicator that a call which did not return still
/// uses (it is aborted when that call returns: see bounded_call).
void abandon_with_reason(CommState& state, std::exception_ptr reason) noexcept;

/// Keeps memory that NCCL may still write into after ncclrt stopped waiting for it (a handle
/// slot of a nonblocking call): never freed, and reachable, so not a leak.
void keep_reachable(std::shared_ptr<void> slot);

/// "rank 1 of 4"
std::string rank_text(int rank, int nranks);

/// Every deadline's error, worded one way: "<what> within <N> ms (<where>)[: <why>]. <then>",
/// e.g. "ncclCommFinalize did not complete within 250 ms (rank 0 of 2): the other ranks did not
/// all finalize. The communicator was aborted".
TimeoutError expired(const std::string& what, std::chrono::milliseconds limit,
                     const std::string& where, const std::string& why, const std::string& then);
/// `then` of a wait whose communicator ncclrt aborted.
inline constexpr const char* kWasAborted = "The communicator was aborted";

/// How long ncclrt waits for a nonblocking communicator when neither the call nor
/// Config::timeout gives a deadline: $NCCLRT_TIMEOUT_MS, default 10 minutes (PyTorch's default
/// for NCCL). So every wait has a bound.
std::chrono::milliseconds default_timeout();
/// The deadline of a wait on `state`: the call's own, else Config::timeout of its creation, else
/// default_timeout().
inline std::chrono::milliseconds deadline_of(const CommState& state,
                                             std::optional<std::chrono::milliseconds> per_call) {
  return per_call ? *per_call : state.timeout ? *state.timeout : default_timeout();
}

/// How a wait that runs out of time is worded: expired(what, limit, where, why, then).
struct Expiry {
  std::string what;  // "ncclCommFinalize did not complete"
  std::string why;   // "the other ranks did not all finalize" (may be empty)
  std::string then = kWasAborted;
};

/// ncclCommGetAsyncError on `state`'s communicator, asked under its lock. False, with nothing
/// asked, once the communicator is gone (given up by another thread, or ended by its owner).
bool query_async(CommState& state, abi::ncclResult_t& out) noexcept;

/// The one wait on a nonblocking communicator (every "wait out ncclInProgress, then give up"
/// goes through it). `first` is the answer of the call waited for. Polls with query_async, so
/// the lock is held only while NCCL is asked and never while sleeping, and stops as soon as
/// another thread (the watchdog, a handle's release, synchronize) has given the communicator
/// up: then that reason is thrown. At `start + limit` it gives up `state` and every one of
/// `also` (aborted, bounded) and throws the TimeoutError `expiry` words. Returns the final
/// result: ncclSuccess or NCCL's error, for the caller to report.
abi::ncclResult_t wait_out(CommState& state, abi::ncclResult_t first, Clock::time_point start,
                           std::chrono::milliseconds limit, const Expiry& expiry,
                           const std::vector<std::shared_ptr<CommState>>& also = {});

/// Runs `call` (a blocking NCCL call that may not return) on a helper thread and waits at most
/// `limit` for it. Returns its result, or nullopt when it did not return in time; then, when it
/// does return, `late(result)` runs on the helper thread (e.g. to abort what was left behind).
/// Whatever `call` and `late` capture must be owned by them.
std::optional<abi::ncclResult_t> bounded_call(std::function<abi::ncclResult_t()> call,
                                              std::function<void(abi::ncclResult_t)> late,
                                              std::chrono::milliseconds limit) noexcept;

}  // namespace ncclrt::detail
