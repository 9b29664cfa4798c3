// The one background thread that bounds watched work (see Communicator::watch).
#pragma once

#include <chrono>

#include "ncclrt/detail/export.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// One background thread that watches work handed to it by Communicator::watch and aborts a
/// communicator whose watched work passes its deadline or which reports an error. Off by default.
class Watchdog {
 public:
  /// Starts the thread; it polls every `poll`.
  static void enable(std::chrono::milliseconds poll = std::chrono::milliseconds(100));
  /// Stops the thread and forgets what it watched.
  static void disable() noexcept;
  static bool enabled() noexcept;
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
