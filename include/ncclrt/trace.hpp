// The flight recorder: every communicator keeps a ring of its last operations and lifecycle
// calls, readable with Communicator::trace() and written as JSON by dump_traces(). The analyzer
// (`ncclrt trace analyze`) reads those files; docs/debugging.md documents their schema.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ncclrt/detail/export.hpp"

struct CUstream_st;

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

class Communicator;

/// What one recorded entry is. Collectives and point-to-point calls are numbered (TraceEntry::seq)
/// in two sequences of their own; lifecycle entries carry the collective number reached so far.
enum class TraceOp : std::uint8_t {
  kNone = 0,
  // Collectives: every rank of the communicator issues them in the same order.
  kAllReduce,
  kBroadcast,
  kReduce,
  kAllGather,
  kReduceScatter,
  kAllToAll,
  kGather,
  kScatter,
  kAllGatherv,
  kReduceScatterv,
  // Point-to-point and one-sided: between two ranks.
  kSend,
  kRecv,
  kPutSignal,
  kSignal,
  kWaitSignal,
  // Lifecycle and handles.
  kCreate,  ///< the communicator came to be (args[0]: how, a TraceOrigin)
  kSplit,   ///< on the parent: args color, key, child id
  kShrink,  ///< on the parent: count excluded ranks, args first two of them, child id
  kGrow,    ///< on the parent: args new size, whether this rank passed the id, child id
  kRevoke,
  kFinalize,
  kDestroy,
  kAbort,
  kSuspend,  ///< args[0]: flags
  kResume,
  kRegister,          ///< send: buffer, count: bytes, args[0]: handle
  kDeregister,        ///< args[0]: handle
  kRegisterWindow,    ///< send: buffer, count: bytes, args: flags, window
  kDeregisterWindow,  ///< args[0]: window
  kCreatePreMulSum,   ///< type, args[0]: the reduce op made
  kDestroyPreMulSum,  ///< args[0]: the reduce op
};
/// How many TraceOp values there are.
inline constexpr int kNumTraceOps = static_cast<int>(TraceOp::kDestroyPreMulSum) + 1;

/// "all_reduce", "split", ... (the names the dumps use); "unknown" outside the enum.
const char* to_string(TraceOp op) noexcept;
/// The TraceOp of a name to_string() gives; kNone when there is none.
TraceOp trace_op_from_string(std::string_view name) noexcept;
/// Operations every rank issues in the same order (numbered in the collective sequence).
constexpr bool is_collective(TraceOp op) noexcept {
  return op >= TraceOp::kAllReduce && op <= TraceOp::kReduceScatterv;
}
/// Operations between two ranks (numbered in the point-to-point sequence).
constexpr bool is_point_to_point(TraceOp op) noexcept {
  return op >= TraceOp::kSend && op <= TraceOp::kWaitSignal;
}

/// How a communicator came to be (TraceEntry::args[0] of its kCreate entry).
enum class TraceOrigin : std::uint8_t { kInitRank, kInitAll, kSplit, kShrink, kGrow, kJoin };
const char* to_string(TraceOrigin origin) noexcept;

/// Whether an operation was captured into a CUDA graph. Asking CUDA costs a driver call, so it is
/// known only in progress mode (Config::trace_progress).
enum class TraceCapture : std::uint8_t { kUnknown = 0, kNo = 1, kYes = 2 };

/// TraceEntry::result before NCCL has returned (or for a call that never reached NCCL).
inline constexpr int kTracePending = -1;

/// One recorded operation or lifecycle call, as Communicator::trace() returns it. Pointers and
/// sizes only: the recorder never reads buffer contents.
struct TraceEntry {
  std::uint64_t record = 0;  ///< its number in this communicator's recorder, from 0
  std::uint64_t seq = 0;     ///< collective or point-to-point number (from 1); see TraceOp
  TraceOp op = TraceOp::kNone;
  int type = -1;       ///< the DataType's value, -1 when the operation has none
  int reduce_op = -1;  ///< the ReduceOp's value, -1 when the operation has none
  int peer = -1;       ///< root of a rooted collective, or the peer of a point-to-point call
  std::size_t count = 0;
  const void* send = nullptr;
  const void* recv = nullptr;
  CUstream_st* stream = nullptr;
  int result = kTracePending;  ///< NCCL's result (0: success)
  std::uint32_t thread = 0;    ///< the calling thread's OS id
  std::uint32_t group = 0;     ///< 0 outside an ncclrt::Group, else the thread's group number
  std::uint32_t group_depth = 0;
  TraceCapture captured = TraceCapture::kUnknown;
  std::uint64_t capture_id = 0;      ///< CUDA's id of the capture, when captured
  std::uint32_t label = 0;           ///< a trace_label() id; 0: none
  std::int64_t time_ns = 0;          ///< when it was issued: nanoseconds since the Unix epoch
  std::int64_t args[3] = {0, 0, 0};  ///< what else the operation takes (see TraceOp)
};

/// A communicator's record (Communicator::trace()).
struct Trace {
  std::uint64_t comm_id = 0;  ///< the same on every rank of the communicator
  int rank = -1;
  int size = 0;
  int device = -1;
  std::size_t capacity = 0;          ///< entries the ring keeps (0: recording is off)
  std::uint64_t records = 0;         ///< entries recorded over the communicator's life
  std::uint64_t collectives = 0;     ///< collectives issued (the last collective seq)
  std::uint64_t point_to_point = 0;  ///< point-to-point calls issued
  bool progress = false;             ///< progress mode is on (Config::trace_progress)
  std::uint64_t gpu_started = 0;     ///< progress: the last seq the GPU has started
  std::uint64_t gpu_completed = 0;   ///< progress: the last seq the GPU has completed
  std::vector<TraceEntry> entries;   ///< oldest first
};

/// The id of a label for trace entries (interned: the same text gives the same id while it is
/// among the last 4096 distinct labels). Takes a lock: call it outside the hot loop, or use
/// TraceLabel.
std::uint32_t trace_label(std::string_view text);
/// The text of a label id ("" for 0; "(label overwritten)" for one no longer kept).
std::string trace_label_text(std::uint32_t id);

/// Writes one JSON file per communicator and rank of this process into `dir` (created if
/// missing), named ncclrt-trace-<comm id>-r<rank>-p<pid>-<n>.json, mode 0600, never
/// overwriting a file. Makes no NCCL or CUDA call. Returns the paths written; throws Error when
/// `dir` cannot be used or a file cannot be written.
std::vector<std::string> dump_traces(const std::string& dir);

/// Labels the entries a communicator records while it lives (`with comm.trace_label(...)` in
/// Python); the previous label comes back when it goes.
class TraceLabel {
 public:
  TraceLabel(const Communicator& comm, std::string_view text);
  TraceLabel(const TraceLabel&) = delete;  // exactly one restore per label
  TraceLabel& operator=(const TraceLabel&) = delete;
  ~TraceLabel();

 private:
  const Communicator* comm_;
  std::uint32_t previous_;
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
