#include "ncclrt/group.hpp"

#include "flight_recorder.hpp"
#include "log_internal.hpp"
#include "nccl_error.hpp"
#include "ncclrt/error.hpp"

namespace ncclrt {

Group::Group(const Library& lib) : lib_(&lib) {
  detail::check(lib, lib.raw().ncclGroupStart(), "ncclGroupStart", nullptr);
  detail::trace_group_enter();
}

void Group::end() {
  if (!open_) throw UsageError("Group::end called twice");
  open_ = false;
  detail::trace_group_exit();
  detail::check(*lib_, lib_->raw().ncclGroupEnd(), "ncclGroupEnd", nullptr);
}

Group::~Group() {
  if (!open_) return;
  open_ = false;
  detail::trace_group_exit();
  if (lib_->raw().ncclGroupEnd() != abi::ncclSuccess) {
    detail::log(LogLevel::kError,
                "ncclGroupEnd failed in ~Group; call Group::end() to get the error");
  }
}

}  // namespace ncclrt
