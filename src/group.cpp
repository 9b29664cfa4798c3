// Groups: ncclGroupStart/End counted per thread, and the wait that makes the end of a group of
// nonblocking communicators mean what it means for blocking ones: the work is enqueued.
#include "ncclrt/group.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "flight_recorder.hpp"
#include "group_state.hpp"
#include "log_internal.hpp"
#include "nccl_error.hpp"
#include "ncclrt/error.hpp"

namespace ncclrt {
namespace detail {
namespace {

// The nonblocking communicators the current outermost group touched, each once. The depth is the
// flight recorder's (t_trace_thread), which numbers the groups its entries belong to.
// Initial-exec, as the recorder's per-thread words (trace/ring.hpp): one load from the thread
// pointer, also where ncclrt is position-independent code loaded by dlopen.
std::vector<std::shared_ptr<CommState>>& touched_in_group() {
  static thread_local std::vector<std::shared_ptr<CommState>> touched
      __attribute__((tls_model("initial-exec")));
  return touched;
}

// Waits for each communicator of `touched` to leave ncclInProgress. The clock starts at the end
// of the group, and each communicator's limit is `deadline` or its own.
void wait_touched(const std::vector<std::shared_ptr<CommState>>& touched,
                  std::optional<std::chrono::milliseconds> deadline) {
  const auto start = Clock::now();
  for (const auto& s : touched) {
    if (s->poisoned.load()) std::rethrow_exception(s->reason);
    const abi::ncclResult_t state = wait_out(
        *s, abi::ncclInProgress, start, deadline_of(*s, deadline),
        {"ncclGroupEnd: the group's work was not enqueued",
         "the nonblocking communicator kept reporting ncclInProgress; a peer may be missing",
         "Every communicator of the group was aborted; make new ones, or give the group a "
         "longer deadline"},
        touched);
    if (state != abi::ncclSuccess) {
      throw_nccl_error(*s->lib, state, "ncclGroupEnd (the group's work)", s->comm, s->where);
    }
  }
}

}  // namespace

int group_depth() noexcept { return static_cast<int>(t_trace_thread.depth); }

void note_in_group(const std::shared_ptr<CommState>& state) {
  auto& t = touched_in_group();
  if (std::find(t.begin(), t.end(), state) == t.end()) t.push_back(state);
}

void group_start(const Library& lib) {
  check(lib, lib.raw().ncclGroupStart(), "ncclGroupStart", nullptr);
  trace_group_enter();
}

void group_end(const Library& lib, std::optional<std::chrono::milliseconds> deadline) {
  if (group_depth() == 0) {
    throw UsageError("ncclGroupEnd without a matching group start on this thread");
  }
  const abi::ncclResult_t r = lib.raw().ncclGroupEnd();
  trace_group_exit();
  if (group_depth() > 0) {  // nested: NCCL acts at the outermost end
    if (r != abi::ncclInProgress) check(lib, r, "ncclGroupEnd", nullptr);
    return;
  }
  // Emptied however this ends, keeping its capacity: the next group does not allocate.
  auto& touched = touched_in_group();
  struct Clear {
    std::vector<std::shared_ptr<CommState>>& v;
    ~Clear() { v.clear(); }
  } clear{touched};
  if (r != abi::ncclInProgress) check(lib, r, "ncclGroupEnd", nullptr);
  wait_touched(touched, deadline);
}

void refuse_in_group(const char* op, const char* why) {
  if (group_depth() == 0) return;
  throw UsageError(std::string(op) + " inside a group (between a group's start and its end): " +
                   why + ". Call it outside the group");
}

}  // namespace detail

Group::Group(const Library& lib, std::optional<std::chrono::milliseconds> deadline)
    : lib_(&lib), deadline_(deadline) {
  detail::group_start(lib);
}

void Group::end() {
  if (!open_) throw UsageError("Group::end called twice");
  open_ = false;
  detail::group_end(*lib_, deadline_);
}

Group::~Group() {
  if (!open_) return;
  open_ = false;
  try {
    detail::group_end(*lib_, deadline_);
  } catch (const std::exception& e) {
    detail::log(LogLevel::kError, std::string("~Group: ") + e.what() +
                                      ". Call Group::end() to get the error as an exception");
  }
}

}  // namespace ncclrt
