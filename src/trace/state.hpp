// A communicator's recorder as its shared state holds it: who the communicator is (an id the same
// on every rank, derived from the unique id and the split / shrink / grow lineage), its ring, its
// progress memory, and the registry of live recorders that dumps walk. Knows entries and ids,
// never communicators.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ncclrt/trace.hpp"
#include "trace/ring.hpp"

namespace ncclrt::detail {

/// Who a communicator is, the same on every rank that made it the same way.
struct TraceIdentity {
  std::uint64_t id = 0;
  std::uint64_t parent = 0;  // 0 for a communicator made from a unique id
  std::uint64_t root = 0;    // the communicator at the top of the lineage
  int root_rank = -1;        // this rank's rank there (the "global" rank of an export)
  TraceOrigin origin = TraceOrigin::kInitRank;
  std::string lineage;                 // for a person: "split #1 of <parent> (color 0)"
  std::vector<std::uint64_t> aliases;  // other ids ranks of it know it by (see grow)
};

/// The 64-bit hash ids are made of (FNV-1a, then a finalizer that spreads the bits).
std::uint64_t trace_hash(const void* data, std::size_t bytes, std::uint64_t seed = 0) noexcept;
/// "0123456789abcdef"
std::string trace_id_text(std::uint64_t id);

/// The recorder of one communicator: made with its shared state, attached (ring allocated,
/// registered for dumps) once the communicator knows its rank, unregistered when it goes.
class TraceState {
 public:
  TraceState() = default;
  ~TraceState();
  TraceState(const TraceState&) = delete;  // the registry points at it
  TraceState& operator=(const TraceState&) = delete;

  /// Allocates the ring (`entries` slots; 0: recording off) and, with `progress`, the pinned
  /// words the GPU writes (needs the CUDA driver; without it progress stays off and the dump
  /// says why). Registers for dumps and records the creation. Never throws.
  void attach(int rank, int size, int device, std::string nccl_version, std::size_t entries,
              bool progress) noexcept;

  /// Progress mode on words and driver calls made elsewhere (tests: stand-ins for the GPU), after
  /// attach; the words stay the caller's. The owner thread, before any push.
  void set_progress(std::unique_ptr<TraceProgress> progress) noexcept;

  TraceRing* ring() const noexcept { return ring_.get(); }
  const TraceProgress* progress() const noexcept { return progress_.get(); }
  const std::string& progress_problem() const noexcept { return progress_problem_; }

  /// Something said about the communicator from outside its owner thread (the watchdog's abort,
  /// a failure's reason); kept (the last 8) for later dumps.
  void note(const std::string& text);
  std::vector<std::string> notes() const;

  /// A snapshot of the record, oldest first (times in Unix nanoseconds).
  Trace snapshot() const;

  // Fixed once attached; read by dumps.
  TraceIdentity identity;
  int rank = -1;
  int size = 0;
  int device = -1;
  std::string nccl;
  // Asked for at creation (Config), before attach.
  std::optional<int> want_entries;
  std::optional<bool> want_progress;
  // Children made so far (split, shrink, grow): part of a child's id. The owner thread only.
  std::uint32_t children = 0;
  // When an automatic dump last included this communicator (rate limit).
  std::atomic<std::int64_t> last_auto_dump_ns{0};

 private:
  std::unique_ptr<TraceRing> ring_;
  std::unique_ptr<TraceProgress> progress_;
  bool pinned_ = false;  // progress_->host came from host_mapped_alloc
  std::string progress_problem_;
  mutable std::mutex notes_mutex_;
  std::vector<std::string> notes_;
  bool registered_ = false;
};

/// Calls `fn(const TraceState&)` for every attached recorder, under the registry's lock (held
/// while a dump reads them, so none goes away meanwhile; creation and destruction wait).
template <class Fn>
void for_each_trace(Fn&& fn);

/// The registry itself (for for_each_trace).
std::mutex& trace_registry_mutex();
std::vector<const TraceState*>& trace_registry();

template <class Fn>
void for_each_trace(Fn&& fn) {
  std::lock_guard<std::mutex> lock(trace_registry_mutex());
  for (const TraceState* t : trace_registry()) fn(*t);
}

/// Environment: NCCLRT_TRACE_ENTRIES (default 2048; 0 off), NCCLRT_TRACE_PROGRESS (0/1),
/// NCCLRT_TRACE_DIR (automatic dumps), NCCLRT_TRACE_SIGNAL (default SIGUSR1; 0 off).
std::size_t trace_entries_from_env() noexcept;
bool trace_progress_from_env() noexcept;

/// Writes the dumps of every recorder into `dir` (see dump_traces); `failing`, when given, gets
/// `why` as the reason of its dump. Throws Error.
std::vector<std::string> write_traces(const std::string& dir, const char* trigger,
                                      const TraceState* failing, const std::string& why,
                                      bool only_failing = false);
/// How a dump written under a temporary name is linked into place: linkat(), unless a test puts
/// a stand-in for a file system without hard links. Returns the previous one.
using TraceLinkFn = int (*)(int, const char*, int, const char*, int);
TraceLinkFn trace_set_link(TraceLinkFn fn) noexcept;

/// What made an automatic dump (its "trigger": "failure", "abort").
enum class TraceTrigger { kFailure, kAbort };
/// Automatic dump sets a process writes at most, per trigger: deliberate aborts have a smaller
/// budget of their own and never use up the failures'.
inline constexpr int kMaxFailureDumpSets = 32;
inline constexpr int kMaxAbortDumpSets = 8;
/// The automatic dump into $NCCLRT_TRACE_DIR, when set: ncclrt gave up on a communicator
/// (kFailure: `failing`, or none for a failed creation), or one was aborted on purpose (kAbort).
/// Never throws; logs a failure once.
void trace_auto_dump(TraceState* failing, const std::string& why, TraceTrigger trigger) noexcept;
/// How many of `trigger`'s dump sets this process has written (at most its budget).
int trace_auto_dump_sets(TraceTrigger trigger) noexcept;
/// Installs the SIGUSR1 (NCCLRT_TRACE_SIGNAL) request once, when NCCLRT_TRACE_DIR is set.
void trace_signal_once() noexcept;

}  // namespace ncclrt::detail
