// A group of NCCL calls issued together.
#pragma once

#include <chrono>
#include <optional>

#include "ncclrt/detail/export.hpp"
#include "ncclrt/library.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// A group of NCCL calls (ncclGroupStart / ncclGroupEnd), ended when the guard goes. Groups nest;
/// NCCL acts at the outermost end. On nonblocking communicators (Config::timeout or blocking =
/// false) the outermost end waits until each communicator touched inside the group on this
/// thread has enqueued its work: within `deadline` if given, else within each communicator's
/// own deadline (Config::timeout, else $NCCLRT_TIMEOUT_MS, 10 minutes by default). On expiry
/// every communicator of the group is aborted and TimeoutError thrown; an error NCCL reports
/// throws NcclError. Call end() to see an error: the destructor ends the group the same way but
/// cannot throw, and only logs it.
class Group {
 public:
  explicit Group(const Library& lib,
                 std::optional<std::chrono::milliseconds> deadline = std::nullopt);
  Group(const Group&) = delete;  // exactly one ncclGroupEnd per start
  Group& operator=(const Group&) = delete;
  ~Group();
  void end();

 private:
  const Library* lib_;
  std::optional<std::chrono::milliseconds> deadline_;
  bool open_ = true;
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
