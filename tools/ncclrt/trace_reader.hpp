// Reading the flight recorder's dump files (schema: docs/debugging.md). Every file is untrusted
// input: anything malformed is a TraceFileError that names the file and what is wrong in it.
// Nothing recurses on the input, every number taken from a file is bounded by what the file
// holds, and memory stays in proportion to the bytes read (at most the caps below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ncclrt_tool {

/// A dump that cannot be read: what() names the file and the place in it, on one line of valid
/// UTF-8 (whatever the file name or the file held).
class TraceFileError : public std::runtime_error {
 public:
  explicit TraceFileError(const std::string& what);
};

/// The most `ncclrt trace` reads of one dump: 64 MiB (a ring of about 200,000 entries).
inline constexpr std::size_t kMaxDumpBytes = std::size_t{64} << 20;
/// The most `ncclrt trace analyze` and `export` read of one directory's dumps: 1 GiB.
inline constexpr std::uint64_t kMaxDirBytes = std::uint64_t{1} << 30;
/// The deepest nesting of arrays and objects a dump may have (one nests 4 levels).
inline constexpr int kMaxDumpDepth = 64;

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

/// A CUDA graph captured on the communicator in progress mode: the collectives it holds and how
/// many times its replay began on the GPU.
struct DumpGraph {
  std::uint64_t capture_id = 0;
  std::uint64_t first_seq = 0, last_seq = 0;
  std::uint64_t launches = 0;
};

struct DumpProgress {
  std::uint64_t started = 0, completed = 0;  // collectives
  std::uint64_t p2p_started = 0, p2p_completed = 0;
  std::int64_t write_failures = 0;
  std::vector<DumpGraph> graphs;  // none when the dump has no "graphs"
};

/// Everything of a dump but its entries.
struct DumpHeader {
  std::string path;
  std::uint64_t bytes = 0;  // the size of the text read
  int version = 0;
  std::string ncclrt;
  std::string host;
  std::int64_t pid = 0;
  std::string trigger;  // "failure", "abort", "signal", "request", "exit", ...
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
};

struct DumpFile : DumpHeader {
  std::vector<DumpEntry> entries;  // by record, oldest first
};

/// The schema version this reader understands.
inline constexpr int kTraceSchemaVersion = 1;

/// Parses one dump's text; `name` is what errors call it. Throws TraceFileError.
DumpFile parse_dump(std::string_view text, const std::string& name);
/// Reads and parses one regular file of at most kMaxDumpBytes. Throws TraceFileError.
DumpFile read_dump(const std::string& path);
/// The dump files in `dir` (ncclrt-trace-*.json), sorted. Throws TraceFileError.
std::vector<std::string> dump_files_in(const std::string& dir);
/// The dump files `analyze` and `export` read from `dir`: at least one, at most kMaxDirBytes in
/// all. Throws TraceFileError saying what to try.
std::vector<std::string> dump_set(const std::string& dir);
/// Adds a dump's bytes to what has been read of a directory; throws TraceFileError past
/// kMaxDirBytes (files can grow while they are read).
void count_dir_bytes(const std::string& dir, const DumpHeader& d, std::uint64_t& total);

/// The dumps of one communicator, as analyze and export both see them: its ids joined through
/// aliases (a grown communicator and its joiners are one), and per rank the dump that speaks for
/// it: the earliest written at a failure (trigger "failure") where there is one, else the latest.
struct CommDumps {
  std::string id;                    // a dump's id that no other dump of it lists as an alias
  std::vector<std::string> aliases;  // its other ids, sorted
  std::vector<std::size_t> members;  // every dump of it (indexes into the list given)
  struct Rank {
    int rank = -1;
    std::size_t used = 0;  // the dump that speaks for it
    std::size_t of = 1;    // how many dumps of this rank there were
  };
  std::vector<Rank> ranks;  // by rank
};
/// Groups `dumps` by communicator, sorted by id.
std::vector<CommDumps> group_dumps(const std::vector<const DumpHeader*>& dumps);

}  // namespace ncclrt_tool
