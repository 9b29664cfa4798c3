// A handle's NCCL call on its communicator, made only while that communicator still exists:
// what the handles a communicator hands out (handles.cpp, device_api.cpp) share.
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "comm_state.hpp"
#include "group_state.hpp"
#include "log_internal.hpp"

namespace ncclrt::detail {

// Runs `f(fn, comm)` under the communicator's lock if it still exists (else nullopt): a handle's
// release, which NCCL does locally. A nonblocking communicator may answer ncclInProgress: that is
// waited out (wait_out, the lock taken per poll only) within its deadline; on expiry the
// communicator is aborted and TimeoutError thrown.
template <class F>
inline std::optional<abi::ncclResult_t> call_while_alive(CommState& state, const char* call,
                                                         F&& f) {
  if (process_exiting()) return std::nullopt;
  abi::ncclResult_t r;
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    if (!state.alive || state.poisoned.load()) return std::nullopt;
    r = f(state.lib->raw(), state.comm);
  }
  if (r != abi::ncclInProgress || !state.nonblocking || group_depth() > 0) return r;
  return wait_out(state, r, Clock::now(), deadline_of(state, std::nullopt),
                  {std::string(call) + " did not complete", ""});
}

// A handle's release: its destructor cannot throw, so failures are logged.
template <class F>
inline void while_alive(CommState& state, const char* call, F&& release) noexcept {
  try {
    const auto r = call_while_alive(state, call, release);
    if (r && *r != abi::ncclSuccess && *r != abi::ncclInProgress) {
      log(LogLevel::kError, std::string(call) + " on " + state.where + " failed with NCCL result " +
                                std::to_string(static_cast<int>(*r)) + " (" +
                                state.lib->error_string(static_cast<int>(*r)) + ")");
    }
  } catch (const std::exception& e) {
    log(LogLevel::kError, e.what());
  }
}

}  // namespace ncclrt::detail
