// `ncclrt trace analyze`: what the dumps of all ranks say went wrong, per communicator.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "trace_reader.hpp"

namespace ncclrt_tool {

/// The most ranks without a dump an analysis lists one by one (in all its communicators; the
/// text gives them all as ranges): a communicator's size comes from a file.
inline constexpr std::size_t kMaxListedRanks = std::size_t{1} << 20;

/// What one rank did at the first collective where the ranks disagree.
struct RankAt {
  int rank = -1;
  std::string what;  // "all_reduce 256 x float32 sum" or "never issued it (last: ...)"
};

/// The verdict on one communicator.
struct CommVerdict {
  std::string id;
  std::vector<std::string> aliases;
  std::string lineage;
  int size = 0;
  std::vector<int> ranks;                // ranks with a dump
  std::vector<int> missing;              // ranks without one (see kMaxListedRanks)
  std::uint64_t missing_count = 0;       // all of them
  std::uint64_t last_seq = 0;            // the most collectives any rank issued
  std::uint64_t first_disagreement = 0;  // 0: none
  std::string expected;                  // what most ranks issued there
  std::vector<RankAt> not_issued;        // ranks that never issued it, with their last operation
  std::vector<RankAt> desync;            // ranks that issued something else there
  std::uint64_t label_seq = 0;           // first collective whose labels differ (0: none)
  std::vector<RankAt> label_odd;         // ranks whose label differs there
  std::vector<RankAt> host_blocked;      // ranks inside an NCCL call that has not returned
  struct Gpu {
    int rank;
    std::uint64_t started, completed;
  };
  std::vector<Gpu> gpu;           // progress, where recorded
  std::vector<int> gpu_culprits;  // ranks whose GPU is idle or behind while others wait
  /// A CUDA graph (the same collectives on several ranks) whose replays began a different
  /// number of times: the ranks with the fewest are behind.
  struct Replay {
    std::uint64_t first_seq = 0, last_seq = 0;
    std::vector<std::pair<int, std::uint64_t>> launches;  // rank, replays begun; by rank
    std::vector<int> behind;
    std::string what;  // "rank 3 stopped after replay 5 of the graph holding ..."
  };
  std::vector<Replay> replays;
  /// A rank with several dumps of this communicator: the one that speaks for it.
  struct Used {
    int rank = -1;
    std::string file;
    std::string trigger;
    std::size_t of = 0;  // dumps of that rank
  };
  std::vector<Used> used;
  std::vector<int> culprits;       // the likely culprit rank(s)
  std::string culprit_op;          // and the operation
  std::vector<std::string> lines;  // the verdict for a person, a few lines
  bool problem = false;
};

struct Analysis {
  std::vector<CommVerdict> comms;
  std::vector<std::string> errors;  // files that could not be read (each names its file)
  std::size_t files = 0;
  bool problem() const;
};

/// Analyzes dumps already read (per communicator and rank, the dump group_dumps picks).
Analysis analyze_dumps(const std::vector<DumpFile>& dumps);
/// Reads the ncclrt-trace-*.json in `dir` one at a time, keeping of each only what the verdict
/// needs, and analyzes them; unreadable files become errors. Throws TraceFileError for the
/// directory (missing, no dumps, more than kMaxDirBytes).
Analysis analyze_dir(const std::string& dir);

/// The few lines `ncclrt trace analyze` prints.
std::string analysis_text(const Analysis& a);
/// `ncclrt trace analyze --json` (dump it with error_handler_t::replace).
nlohmann::json analysis_json(const Analysis& a);

}  // namespace ncclrt_tool
