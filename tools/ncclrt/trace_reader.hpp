// Reading the flight recorder's dump files (schema: docs/debugging.md). Every file is untrusted
// input: anything malformed is a TraceFileError that names the file and what is wrong in it.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ncclrt_tool {

/// A dump that cannot be read: what() names the file and the place in it.
class TraceFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DumpEntry {
  std::uint64_t record = 0;
  std::uint64_t seq = 0;
  std::string op;   // "all_reduce", "split", ...
  int op_kind = 0;  // 1 collective, 2 point-to-point, 0 lifecycle
  std::uint64_t count = 0;
  std::string type;   // "" when none
  std::string redop;  // "" when none
  int peer = -1;
  std::uint64_t send = 0, recv = 0, stream = 0;
  std::optional<int> result;  // none: NCCL had not returned
  std::uint64_t thread = 0;
  std::uint64_t group = 0;
  std::uint64_t group_depth = 0;
  std::optional<bool> captured;
  std::uint64_t capture_id = 0;
  std::string label;
  std::int64_t time_ns = 0;
  std::int64_t args[3] = {0, 0, 0};
};

struct DumpProgress {
  std::uint64_t started = 0, completed = 0;  // collectives
  std::uint64_t p2p_started = 0, p2p_completed = 0;
  std::int64_t write_failures = 0;
};

struct DumpFile {
  std::string path;
  int version = 0;
  std::string ncclrt;
  std::string host;
  std::int64_t pid = 0;
  std::string trigger;
  std::string reason;
  std::int64_t dump_time_ns = 0;
  std::string comm_id;
  int rank = -1;
  int size = 0;
  int device = -1;
  std::string nccl;
  std::string origin;
  std::string parent;  // "" when none
  std::string root;
  int root_rank = -1;
  std::string lineage;
  std::vector<std::string> aliases;
  std::uint64_t capacity = 0;
  std::uint64_t records = 0;
  std::uint64_t collectives = 0;
  std::uint64_t point_to_point = 0;
  std::optional<DumpProgress> progress;
  std::string progress_problem;
  std::vector<std::string> notes;
  std::vector<DumpEntry> entries;  // by record, oldest first
};

/// The schema version this reader understands.
inline constexpr int kTraceSchemaVersion = 1;

/// Parses one dump's text; `name` is what errors call it. Throws TraceFileError.
DumpFile parse_dump(std::string_view text, const std::string& name);
/// Reads and parses one file (at most 512 MiB). Throws TraceFileError.
DumpFile read_dump(const std::string& path);
/// The dump files in `dir` (ncclrt-trace-*.json), sorted. Throws TraceFileError.
std::vector<std::string> dump_files_in(const std::string& dir);

}  // namespace ncclrt_tool
