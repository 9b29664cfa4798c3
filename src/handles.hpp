// What communicator.cpp shares with its handles and the watchdog: the state of a communicator
// that outlives its owner's view of it, and aborting a communicator from outside its owner.
#pragma once

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ncclrt/communicator.hpp"

namespace ncclrt::detail {

/// What a communicator shares with its handles and the watchdog: the NCCL handle, whether it
/// still exists, and why it was aborted behind the owner's back.
struct HandleState {
  std::shared_ptr<const Library> lib;
  abi::ncclComm_t comm = nullptr;
  std::string where;                  // "rank 0 of 2 on GPU 0"
  std::mutex mutex;                   // serializes watchdog aborts with destroy/abort
  bool alive = true;                  // the NCCL communicator exists (under mutex)
  std::atomic<bool> poisoned{false};  // aborted by the watchdog or synchronize
  std::exception_ptr reason;          // what the next call throws (set before poisoned)
  std::vector<int> pre_mul_sums;      // ops of this communicator's live PreMulSum handles
};

/// ncclConfig_t as the loaded NCCL expects it: `size` and `version` of that release. Throws
/// UnsupportedError for a field it does not know.
abi::ncclConfig_t make_config(const Library& lib, const Config& config);

/// True once the process has begun to exit: NCCL may be torn down, so no NCCL call is made.
bool process_exiting() noexcept;
/// ncclCommAbort, waiting at most $NCCLRT_ABORT_TIMEOUT_MS (default 10 s) for it to return.
bool bounded_abort(const Library& lib, abi::ncclComm_t comm) noexcept;
/// Aborts the communicator behind `hs` once, recording `reason` for its owner's next call.
void abort_with_reason(HandleState& hs, std::exception_ptr reason) noexcept;

}  // namespace ncclrt::detail
