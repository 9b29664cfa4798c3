// `ncclrt trace analyze`: what the dumps of all ranks say went wrong, per communicator.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "trace_reader.hpp"

namespace ncclrt_tool {

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
  std::vector<int> missing;              // ranks without one
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
  std::vector<Gpu> gpu;            // progress, where recorded
  std::vector<int> gpu_culprits;   // ranks whose GPU is idle or behind while others wait
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

/// Analyzes dumps already read (the latest dump per communicator and rank counts).
Analysis analyze_dumps(const std::vector<DumpFile>& dumps);
/// Reads every ncclrt-trace-*.json in `dir` and analyzes them; unreadable files become errors.
Analysis analyze_dir(const std::string& dir);

/// The few lines `ncclrt trace analyze` prints.
std::string analysis_text(const Analysis& a);
nlohmann::json analysis_json(const Analysis& a);

}  // namespace ncclrt_tool
