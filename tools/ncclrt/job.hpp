// `ncclrt bench` across processes: whether this process is one of several a launcher started,
// and how every rank's figures of a row become the one printed (nccl-tests' -a), without a GPU so
// that the rules are checked on the CPU (tests/unit/bench_job_test.cpp).
#pragma once

#include <cstddef>
#include <ncclrt/error.hpp>
#include <ncclrt/launch.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "procedure.hpp"

namespace ncclrt_tool {

/// What goes wrong in `ncclrt bench`, said to its user as it is (exit 1; 2 before any GPU work).
struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// --launcher: "auto" (the launcher's variables where they name more than one process),
/// "require" (they must be there) or "ignore" (this process alone).
inline bool launcher_mode_known(const std::string& mode) {
  return mode == "auto" || mode == "require" || mode == "ignore";
}

/// The launch this process is part of, or nullopt to run alone. A launcher's variables that are
/// there but malformed, or none under "require", throw ncclrt::UsageError naming them.
inline std::optional<ncclrt::LaunchInfo> bench_launch(const std::string& mode,
                                                      const ncclrt::EnvLookup& get) {
  if (mode == "ignore") return std::nullopt;
  bool seen = false;  // any variable found: a launcher is there, even if its set is incomplete
  const ncclrt::EnvLookup watch = [&](const char* name) {
    const char* v = get(name);
    if (v != nullptr && *v != '\0') seen = true;
    return v;
  };
  try {
    ncclrt::LaunchInfo info = ncclrt::parse_launch_environment(watch);
    if (mode == "auto" && info.size == 1) return std::nullopt;
    return info;
  } catch (const ncclrt::UsageError& e) {
    if (!seen && mode == "auto") return std::nullopt;
    throw ncclrt::UsageError(
        std::string(e.what()) +
        (mode == "auto" ? " (--launcher ignore runs this process alone)" : ""));
  }
}

/// One rank's figures of one row (half): its thread's seconds per call and its wrong elements.
struct RankTime {
  double seconds = 0;
  long long wrong = 0;
};

/// A row as printed: the ranks' times combined as nccl-tests' -a says (0 rank 0's, 1 the mean,
/// 2 the least, 3 the most), the wrong elements of every rank summed, and the slowest rank (the
/// lowest of equals).
struct RowTime {
  double seconds = 0;
  long long wrong = 0;
  int slowest = 0;
};

inline RowTime combine_ranks(const std::vector<RankTime>& ranks, int average) {
  RowTime row;
  std::vector<double> seconds;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    seconds.push_back(ranks[r].seconds);
    row.wrong += ranks[r].wrong;
    if (ranks[r].seconds > ranks[static_cast<std::size_t>(row.slowest)].seconds) {
      row.slowest = static_cast<int>(r);
    }
  }
  row.seconds = combine_threads(seconds, average);
  return row;
}

/// The ranks of process `process` when every process drives `per` of them: the job's ranks are
/// numbered process by process.
inline std::string ranks_of(int process, int per) {
  const int first = process * per;
  return per == 1 ? "rank " + std::to_string(first)
                  : "ranks " + std::to_string(first) + "-" + std::to_string(first + per - 1);
}

}  // namespace ncclrt_tool
