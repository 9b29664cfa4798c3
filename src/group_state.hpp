// NCCL groups opened through ncclrt on this thread: how deep, and which nonblocking communicators
// the outermost one touched, so that its end can wait for each of them.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "comm_state.hpp"
#include "ncclrt/library.hpp"

namespace ncclrt::detail {

/// How many groups ncclrt has started and not yet ended on this thread.
int group_depth() noexcept;
/// Remembers a nonblocking communicator that an operation inside the current group touched.
void note_in_group(const std::shared_ptr<CommState>& state);
/// ncclGroupStart, counted.
void group_start(const Library& lib);
/// ncclGroupEnd, counted. The outermost end waits until every nonblocking communicator touched
/// inside has enqueued its work: within `deadline`, else within each one's own deadline
/// (deadline_of). On expiry all of them are aborted and TimeoutError is thrown; an asynchronous
/// error throws NcclError.
void group_end(const Library& lib, std::optional<std::chrono::milliseconds> deadline);
/// UsageError when called inside a group: `op` cannot complete before the group ends.
void refuse_in_group(const char* op, const char* why);

}  // namespace ncclrt::detail
