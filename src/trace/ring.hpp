// The flight recorder's ring: fixed slots allocated when a communicator is made, written by the
// thread that owns the communicator (one at a time, NCCL's own rule) and read by anyone (a dump
// from the watchdog, a signal's dump thread, Communicator::trace()) without stopping the writer.
//
// Entries from other threads (a handle released wherever it is dropped) never write the ring: the
// owner's push takes record numbers and slots with plain increments, and an atomic
// read-modify-write there would cost 3-4 ns a call (measured with bench/hot_path). They wait in a
// small inbox under a lock the owner takes only when something is there to move: its next push
// first moves the closed ones into the ring, giving them the next record numbers. A reader sees
// them meanwhile after the ring's entries, numbered where they will go.
//
// A slot is 16 words (128 bytes) stored as atomics (release order: plain moves on x86): word 0
// holds the record number + 1 and is zeroed first and set last, so a reader that sees the same
// nonzero word 0 before and after copying the other words (acquire order) has a consistent entry
// (a seqlock per slot). Nothing here allocates, locks, logs or makes a system call on the hot path.
#pragma once

#include <time.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "ncclrt/trace.hpp"

namespace ncclrt::detail {

/// When an entry is made: CLOCK_MONOTONIC_COARSE, in nanoseconds. Reading it costs a few ns (a
/// load from the vDSO page); its resolution is the kernel's tick (1-4 ms), plenty to say when a
/// rank stopped, while the record numbers give the order. The TSC was measured too: rdtsc cost
/// 10-14 ns a call on this project's build machine (a VM), over the +10 ns budget by itself.
inline std::uint64_t trace_clock_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

/// What the recorder keeps per thread: its OS id (asked once) and the ncclrt::Group it is in.
struct TraceThread {
  std::uint32_t tid = 0;
  std::uint32_t group = 0;   // the current group's number, 0 outside a group
  std::uint32_t depth = 0;   // nesting of ncclrt::Group on this thread
  std::uint32_t groups = 0;  // groups this thread has opened (numbers them)
};
static_assert(sizeof(TraceThread) == 16, "kept small: it lives in the static TLS block");
/// Initial-exec: every push reads these words with one load from the thread pointer, also where
/// ncclrt is position-independent code loaded by dlopen (libncclrt.so, the Python extension),
/// instead of a call of __tls_get_addr. Such a module's thread-locals (88 bytes in all in the
/// Python extension) then come from the surplus of the static TLS block that glibc keeps for
/// modules loaded later (rtld.optional_static_tls, 512 bytes by default; a module of 1.5 KiB
/// still loaded into python3.11 here); were it exhausted, loading the module would fail with
/// "cannot allocate memory in static TLS block".
__attribute__((tls_model("initial-exec"))) inline thread_local TraceThread t_trace_thread;
/// gettid(), asked once per thread and kept in t_trace_thread.tid (the slow path of push).
std::uint32_t trace_thread_id() noexcept;

/// The slot words (see the file comment).
enum TraceWord : int {
  kWordRecord = 0,  // record + 1; 0 while being written
  kWordTime,        // trace_clock_ns()
  kWordSeq,
  kWordCount,
  kWordSend,
  kWordRecv,
  kWordStream,
  kWordCapture,  // CUDA's capture id
  kWordKind,     // op | type << 8 | flags << 16 | depth << 24 | (uint32)reduce_op << 32
  kWordPeer,     // (uint32)peer | thread << 32
  kWordGroup,    // group | label << 32
  kWordResult,   // (uint32)result
  kWordArg0,
  kWordArg1,
  kWordArg2,
  kWordSpare,
  kTraceWords
};
struct alignas(64) TraceSlot {
  std::atomic<std::uint64_t> w[kTraceWords];
};
static_assert(sizeof(TraceSlot) == 128, "a trace entry is 128 bytes");

/// Flags of kWordKind.
enum : std::uint64_t { kTraceCaptureKnown = 1, kTraceCaptured = 2 };
/// TraceEntry::result of a call ncclrt gave up on (it threw before NCCL returned success).
inline constexpr int kTraceFailed = -2;

/// Progress mode: the CUDA graphs a ring's collectives were captured into, and how often each
/// was launched. The first collective of a capture also enqueues a host function (captured as a
/// host node: it runs on every launch of the graph) that counts into its slot. A fixed table, its
/// oldest slot reused for a new capture; the host function's key carries the slot's generation,
/// so a graph whose slot was reused counts nowhere rather than into another graph's slot.
///
/// Never freed: a graph may outlive the communicator and be launched after it is gone, and its
/// host node must then still find valid memory. Tables are registered by number for the host
/// function (at most kMaxTables per process; about 1 KiB each).
struct TraceGraphs {
  static constexpr int kSlots = 32;
  static constexpr std::uint32_t kMaxTables = 4096;
  static constexpr int kLaunchBits = 40;  // a slot's count word: generation << 40 | launches
  struct Slot {
    std::atomic<std::uint64_t> capture_id{0};  // 0: unused
    std::atomic<std::uint64_t> first_seq{0};
    std::atomic<std::uint64_t> last_seq{0};
    std::atomic<std::uint64_t> count{0};
  };
  Slot slots[kSlots];
  std::uint32_t id = 0;  // the number the host function finds the table by
  // The owner's: the slot to reuse next, and the one its last captured collective used.
  int next = 0;
  int last = 0;

  /// A new table, registered; null once kMaxTables exist. Never freed (see above).
  static TraceGraphs* make() noexcept;
  /// The host function: counts one launch of the graph `key` names.
  static void count_launch(void* key) noexcept;
};

/// Progress mode: what the GPU has started and completed, written by stream memory operations
/// into pinned host memory the dump reads directly.
struct TraceProgress {
  // Indices into the pinned words.
  enum : int { kCollStarted = 0, kCollCompleted = 1, kP2pStarted = 2, kP2pCompleted = 3 };
  volatile std::uint64_t* host = nullptr;  // 4 words, written by the GPU
  std::uint64_t device = 0;                // their device address
  int (*write_value)(CUstream_st*, std::uint64_t, std::uint64_t, unsigned) = nullptr;
  int (*capture_info)(CUstream_st*, int*, unsigned long long*) = nullptr;
  int (*launch_host_func)(CUstream_st*, void (*)(void*), void*) = nullptr;
  TraceGraphs* graphs = nullptr;  // null: graph launches are not counted
  std::atomic<int> failures{0};   // device writes or host nodes refused (kept for the dump)
};

/// One captured graph of a ring, as a dump reports it.
struct TraceGraph {
  std::uint64_t capture_id = 0;
  std::uint64_t first_seq = 0;  // its first and last collective
  std::uint64_t last_seq = 0;
  std::uint64_t launches = 0;
};
/// The graphs `graphs` holds, by first collective; any thread.
std::vector<TraceGraph> trace_graphs(const TraceGraphs& graphs);

class TraceRing {
 public:
  /// `capacity` slots (> 0), zeroed. Throws std::bad_alloc.
  explicit TraceRing(std::size_t capacity);
  ~TraceRing();
  TraceRing(const TraceRing&) = delete;  // the registry and the communicator point at it
  TraceRing& operator=(const TraceRing&) = delete;

  /// Records one entry; the owner thread only. Returns the slot, for finish().
  __attribute__((always_inline)) TraceSlot* push(TraceOp op, const void* send, const void* recv,
                                                 std::size_t count, int type, int reduce_op,
                                                 int peer, CUstream_st* stream, std::int64_t a0 = 0,
                                                 std::int64_t a1 = 0,
                                                 std::int64_t a2 = 0) noexcept {
    if (__builtin_expect(inbox_ready_.load(std::memory_order_relaxed), 0)) take_inbox();
    std::uint64_t seq;
    if (is_collective(op)) {
      seq = collectives_.load(std::memory_order_relaxed) + 1;
      collectives_.store(seq, std::memory_order_relaxed);
    } else if (is_point_to_point(op)) {
      seq = p2p_.load(std::memory_order_relaxed) + 1;
      p2p_.store(seq, std::memory_order_relaxed);
    } else {
      seq = collectives_.load(std::memory_order_relaxed);
    }
    // The thread's words are read once, before any call: after a call the compiler looks the
    // thread-local up again (a call of __tls_get_addr where the module was loaded by dlopen).
    const TraceThread& t = t_trace_thread;
    std::uint64_t tid = t.tid;
    const std::uint64_t depth = t.depth & 0xff, group = t.group;
    if (__builtin_expect(tid == 0, 0)) tid = trace_thread_id();
    Capture c;
    if (__builtin_expect(progress_ != nullptr, 0)) c = begin_progress(op, seq, stream);
    const std::uint64_t record = records_.load(std::memory_order_relaxed);
    TraceSlot& s = slots_[pos_];
    if (++pos_ == capacity_) pos_ = 0;
    // Word 0 is zeroed first; each other word is stored with release order, so none becomes
    // visible before that zero (plain moves on x86; no standalone fence, which ThreadSanitizer
    // cannot see).
    s.w[kWordRecord].store(0, std::memory_order_relaxed);
    constexpr auto ordered = std::memory_order_release;
    s.w[kWordTime].store(trace_clock_ns(), ordered);
    s.w[kWordSeq].store(seq, ordered);
    s.w[kWordCount].store(count, ordered);
    s.w[kWordSend].store(reinterpret_cast<std::uintptr_t>(send), ordered);
    s.w[kWordRecv].store(reinterpret_cast<std::uintptr_t>(recv), ordered);
    s.w[kWordStream].store(reinterpret_cast<std::uintptr_t>(stream), ordered);
    s.w[kWordCapture].store(c.id, ordered);
    s.w[kWordKind].store(kind_word(op, type, c.flags, depth, reduce_op), ordered);
    s.w[kWordPeer].store(static_cast<std::uint32_t>(peer) | (tid << 32), ordered);
    s.w[kWordGroup].store(
        group | (static_cast<std::uint64_t>(label_.load(std::memory_order_relaxed)) << 32),
        ordered);
    s.w[kWordResult].store(static_cast<std::uint32_t>(kTracePending), ordered);
    s.w[kWordArg0].store(static_cast<std::uint64_t>(a0), ordered);
    s.w[kWordArg1].store(static_cast<std::uint64_t>(a1), ordered);
    s.w[kWordArg2].store(static_cast<std::uint64_t>(a2), ordered);
    s.w[kWordRecord].store(record + 1, std::memory_order_release);
    records_.store(record + 1, std::memory_order_release);
    return &s;
  }

  /// NCCL's result for the entry `push` returned (and, in progress mode, the "completed" write).
  __attribute__((always_inline)) void finish(TraceSlot* s, int result) noexcept {
    s->w[kWordResult].store(static_cast<std::uint32_t>(result), std::memory_order_relaxed);
    if (__builtin_expect(progress_ != nullptr, 0)) end_progress(s, result);
  }
  /// Sets one argument word after the call (a child's id, a handle).
  static void set_arg(TraceSlot* s, int index, std::int64_t value) noexcept {
    s->w[kWordArg0 + index].store(static_cast<std::uint64_t>(value), std::memory_order_relaxed);
  }

  /// The label later entries carry; returns the previous one. The owner thread only.
  std::uint32_t set_label(std::uint32_t label) noexcept {
    const std::uint32_t old = label_.load(std::memory_order_relaxed);
    label_.store(label, std::memory_order_relaxed);
    return old;
  }

  /// Records one entry from any thread, beside the owner: a lifecycle or handle entry (no stream,
  /// no sequence number of its own). It waits in the inbox until it is closed and the owner's
  /// next push moves it into the ring. Returns a ticket for the two calls below; 0 when nothing
  /// was recorded. The inbox keeps the newest kInboxSlots entries (or capacity(), if fewer).
  std::uint64_t push_foreign(TraceOp op, const void* buffer, std::size_t count, int type,
                             std::int64_t a0, std::int64_t a1) noexcept;
  /// Closes the entry of `ticket` with `result` (the same as finish()); any thread.
  void finish_foreign(std::uint64_t ticket, int result) noexcept;
  /// Sets one argument word of the entry of `ticket` while it is open; any thread.
  void set_arg_foreign(std::uint64_t ticket, int index, std::int64_t value) noexcept;
  /// Copies the entries of the inbox, oldest first, their record word 0; returns records() as
  /// it was then: the inbox's entries take the record numbers from there on. Any thread.
  std::uint64_t read_inbox(std::vector<std::array<std::uint64_t, kTraceWords>>& out) const;
  /// Inbox entries overwritten before the owner moved them into the ring.
  std::uint64_t inbox_dropped() const;
  static constexpr std::size_t kInboxSlots = 32;

  /// Turns progress mode on (the driver calls are bound by the caller).
  void set_progress(TraceProgress* progress) noexcept { progress_ = progress; }
  const TraceProgress* progress() const noexcept { return progress_; }

  std::size_t capacity() const noexcept { return capacity_; }
  std::uint64_t records() const noexcept { return records_.load(std::memory_order_acquire); }
  std::uint64_t collectives() const noexcept {
    return collectives_.load(std::memory_order_relaxed);
  }
  std::uint64_t point_to_point() const noexcept { return p2p_.load(std::memory_order_relaxed); }

  /// A consistent copy of one record, if the ring still holds it: `words` gets kTraceWords
  /// words. Safe from any thread while the owner writes; never blocks it.
  bool read(std::uint64_t record, std::uint64_t* words) const noexcept;

 private:
  static std::uint64_t kind_word(TraceOp op, int type, std::uint64_t flags, std::uint64_t depth,
                                 int reduce_op) noexcept {
    return static_cast<std::uint64_t>(op) | (static_cast<std::uint64_t>(type & 0xff) << 8) |
           (flags << 16) | (depth << 24) |
           (static_cast<std::uint64_t>(static_cast<std::uint32_t>(reduce_op)) << 32);
  }
  // What progress mode learnt of the stream's capture (returned in registers: nothing of the
  // push's escapes to memory for it).
  struct Capture {
    std::uint64_t flags = 0;
    std::uint64_t id = 0;
  };
  Capture begin_progress(TraceOp op, std::uint64_t seq, CUstream_st* stream) noexcept;
  // The owner: a collective captured into `capture_id`'s graph.
  void note_graph(TraceProgress& p, CUstream_st* stream, std::uint64_t capture_id,
                  std::uint64_t seq) noexcept;
  void end_progress(TraceSlot* s, int result) noexcept;
  // The owner: moves the inbox's closed entries, oldest first, into the ring.
  __attribute__((noinline, cold)) void take_inbox() noexcept;

  // Entries from other threads, kept by ticket (1, 2, ...) at inbox_[(ticket - 1) % size].
  struct InboxEntry {
    std::uint64_t w[kTraceWords];
    std::uint64_t ticket = 0;
    bool closed = false;
  };
  // Under inbox_mutex_: whether the oldest entry is closed (what the owner's push looks at).
  void update_ready() noexcept;
  InboxEntry* inbox_entry(std::uint64_t ticket) noexcept;

  TraceSlot* slots_;
  std::size_t capacity_;
  std::size_t pos_ = 0;  // the owner's next slot
  std::atomic<std::uint32_t> label_{0};
  TraceProgress* progress_ = nullptr;
  std::atomic<std::uint64_t> records_{0};
  std::atomic<std::uint64_t> collectives_{0};
  std::atomic<std::uint64_t> p2p_{0};
  std::atomic<bool> inbox_ready_{false};
  // The inbox on lines of its own: other threads' locking never touches the owner's line.
  alignas(64) mutable std::mutex inbox_mutex_;
  std::unique_ptr<InboxEntry[]> inbox_;
  std::size_t inbox_size_;
  std::uint64_t inbox_first_ = 1;  // the oldest ticket kept
  std::uint64_t inbox_next_ = 1;   // the ticket the next entry takes
  std::uint64_t inbox_dropped_ = 0;
};

/// Decodes copied slot words into an entry (time_ns still trace_clock_ns(): see TraceClock).
void decode_slot(const std::uint64_t* words, TraceEntry& out) noexcept;

/// trace_clock_ns() to nanoseconds since the Unix epoch, from both clocks read once when made.
class TraceClock {
 public:
  TraceClock() noexcept;
  std::int64_t unix_ns(std::uint64_t clock_ns) const noexcept {
    return now_unix_ns_ - static_cast<std::int64_t>(now_clock_ns_ - clock_ns);
  }

 private:
  std::uint64_t now_clock_ns_;
  std::int64_t now_unix_ns_;
};

}  // namespace ncclrt::detail
