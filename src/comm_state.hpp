// The one record of an NCCL communicator, shared by its owner (Communicator), the handles it
// hands out and the watchdog; and what each of them needs to end it safely.
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ncclrt/abi.hpp"
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
  std::mutex mutex;                   // serializes watchdog aborts with destroy/abort/handles
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
/// (the watchdog's and synchronize's way out; in watchdog.cpp).
void abort_with_reason(CommState& state, std::exception_ptr reason) noexcept;

/// "rank 1 of 4"
std::string rank_text(int rank, int nranks);

}  // namespace ncclrt::detail
