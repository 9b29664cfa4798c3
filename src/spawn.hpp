// Running a helper program with a deadline, safely from a multi-threaded process: posix_spawn
// (vfork + exec), never a fork that goes on running our code.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace ncclrt::detail {

struct ChildResult {
  bool started = false;
  std::string start_error;  ///< why it could not be started
  std::string output;       ///< stdout and stderr together, at most 64 KiB
  bool timed_out = false;   ///< killed at the deadline
  int signal = 0;           ///< killed by this signal (not counting our own kill at the deadline)
  int exit_code = -1;       ///< when it exited normally
  double seconds = 0;
};

/// Runs `program` (a path) with `args` in its own process group, stdin from /dev/null. Kills the
/// group at the deadline.
ChildResult run_child(const std::string& program, const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout);

}  // namespace ncclrt::detail
