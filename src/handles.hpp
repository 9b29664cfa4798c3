// What communicator.cpp shares with the watchdog: aborting a communicator from outside its owner.
#pragma once

#include <exception>

#include "ncclrt/communicator.hpp"

namespace ncclrt::detail {

/// True once the process has begun to exit: NCCL may be torn down, so no NCCL call is made.
bool process_exiting() noexcept;
/// ncclCommAbort, waiting at most $NCCLRT_ABORT_TIMEOUT_MS (default 10 s) for it to return.
bool bounded_abort(const Library& lib, abi::ncclComm_t comm) noexcept;
/// Aborts the communicator behind `hs` once, recording `reason` for its owner's next call.
void abort_with_reason(HandleState& hs, std::exception_ptr reason) noexcept;

}  // namespace ncclrt::detail
