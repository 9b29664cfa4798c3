// The flight recorder's ring: fixed slots allocated when a communicator is made, written by the
// thread that owns the communicator (one at a time, NCCL's own rule) and read by anyone (a dump
// from the watchdog, a signal's dump thread, Communicator::trace()) without stopping the writer.
//
// An operation's entry is one 64-byte slot of 8 words (one cache line a call). What only some
// entries carry (a label, a CUDA capture id, a lifecycle call's arguments) goes into a parallel
// array of 5 words, written only for those entries (flag kTraceExtra).
//
// Entries from other threads (a handle released wherever it is dropped) never write the ring: the
// owner's push takes record numbers and slots with plain increments, and an atomic
// read-modify-write there would cost 3-4 ns a call (measured with bench/hot_path). They wait in a
// small inbox under a lock the owner takes only when something is there to move: its next push
// first moves the closed ones into the ring, giving them the next record numbers. A reader sees
// them meanwhile after the ring's entries, numbered where they will go.
//
// Two counters order writer and readers: `head_` (records begun) is raised before a slot is
// written and `records_` (records complete) after; every slot word is stored with release order
// (plain moves on x86), so no word of record r + capacity becomes visible before head_ says
// r's slot is being reused. A reader copies record r's words (acquire loads) if r < records_, and
// keeps them if head_ <= r + capacity afterwards: a consistent entry, never a torn one. Nothing
// here allocates, locks, logs or makes a system call on the hot path.
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

/// CLOCK_MONOTONIC_COARSE in nanoseconds: the clock of every entry (its resolution is the
/// kernel's tick, 1-4 ms; the record numbers give the order).
inline std::uint64_t trace_clock_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

/// trace_clock_ns() as a word that a helper thread ("ncclrt-clock") refreshes every tick of that
/// clock while some ring is being written, so that an entry's time is one load, not a call of
/// clock_gettime (about 30 instructions, and the spills around a call). 0 while nobody refreshes
/// it: the ring has been idle for a while (the thread then sleeps until woken), the process was
/// just forked, or the thread could not start. An entry's time is then read from the clock.
inline std::atomic<std::uint64_t> g_trace_now{0};
/// The clock, read now, when g_trace_now is 0; wakes or starts the helper thread.
std::uint64_t trace_now_slow() noexcept;
/// An entry's time: trace_clock_ns() as of the last tick (at most about two ticks behind).
inline std::uint64_t trace_now_ns() noexcept {
  const std::uint64_t t = g_trace_now.load(std::memory_order_relaxed);
  return __builtin_expect(t != 0, 1) ? t : trace_now_slow();
}
/// The helper thread's period: the coarse clock's resolution, kept within 1-10 ms.
std::uint64_t trace_tick_ns() noexcept;

/// What the recorder keeps per thread: its OS id and ncclrt::Group number, as the word an entry
/// stores (set once per thread and per group, not per entry), and the group's nesting.
struct TraceThread {
  std::uint64_t ctx = 0;         // OS thread id | group << 32 (the id is asked once: 0 until then)
  std::uint64_t depth_bits = 0;  // min(depth, 1023) in its place in the kind word
  std::uint32_t depth = 0;       // nesting of ncclrt::Group on this thread
  std::uint32_t groups = 0;      // groups this thread has opened (numbers them)
};
static_assert(sizeof(TraceThread) == 24, "kept small: it lives in the static TLS block");
/// Initial-exec: every push reads these words with one load from the thread pointer, also where
/// ncclrt is position-independent code loaded by dlopen (libncclrt.so, the Python extension),
/// instead of a call of __tls_get_addr. Such a module's thread-locals (88 bytes in all in the
/// Python extension, with group.cpp's list) then come from the surplus of the static TLS block that
/// glibc keeps for modules loaded later (rtld.optional_static_tls, 512 bytes by default; a module
/// of 1.5 KiB still loaded into python3.11 here); were it exhausted, loading the module would fail
/// with "cannot allocate memory in static TLS block".
__attribute__((tls_model("initial-exec"))) inline thread_local TraceThread t_trace_thread;
/// Asks the OS for this thread's id once and puts it into t_trace_thread.ctx; returns ctx.
std::uint64_t trace_thread_ctx() noexcept;

/// An entry's words, as readers copy them: the slot's 8, then the extra 5.
enum TraceWord : int {
  kWordTime = 0,  // trace_now_ns()
  kWordCount,
  kWordSend,
  kWordRecv,
  kWordStream,
  kWordKind,  // seq (40 bits) | op << 40 (6) | type << 46 (5) | flags << 51 (3) | depth << 54
  kWordPeer,  // (uint32)peer | (uint16)reduce_op << 32 | (uint8)result << 56 (3 fields in the slot)
  kWordCtx,   // thread | group << 32 (TraceThread::ctx)
  kSlotWords,
  kWordLabel = kSlotWords,  // the extra words: written only with kTraceExtra
  kWordCapture,             // CUDA's capture id
  kWordArg0,
  kWordArg1,
  kWordArg2,
  kTraceWords
};
inline constexpr int kExtraWords = kTraceWords - kSlotWords;
struct alignas(64) TraceSlot {
  std::atomic<std::uint64_t> w[kWordPeer];  // kWordTime .. kWordKind
  // kWordPeer as fields of their own, so that finish() is one store.
  std::atomic<std::int32_t> peer;
  std::atomic<std::int16_t> reduce_op;
  std::atomic<std::int8_t> result;
  std::atomic<std::uint8_t> spare;
  std::atomic<std::uint64_t> ctx;  // kWordCtx
};
static_assert(sizeof(TraceSlot) == 64, "an operation's entry is one cache line");
struct TraceExtra {
  std::atomic<std::uint64_t> w[kExtraWords];
};
using TraceWords = std::array<std::uint64_t, kTraceWords>;

/// Flags of kWordKind.
enum : std::uint64_t { kTraceCaptureKnown = 1, kTraceCaptured = 2, kTraceExtra = 4 };
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
  /// At least `capacity` slots (> 0; rounded up to a power of two), zeroed. Throws
  /// std::bad_alloc.
  explicit TraceRing(std::size_t capacity);
  ~TraceRing();
  TraceRing(const TraceRing&) = delete;  // the registry and the communicator point at it
  TraceRing& operator=(const TraceRing&) = delete;

  /// Records one entry; the owner thread only. Returns the slot, for finish(). An operation's
  /// entry (no label set, no progress mode, nothing in the inbox) writes one slot and nothing
  /// else; the rest goes through push_slow().
  __attribute__((always_inline)) TraceSlot* push(TraceOp op, const void* send, const void* recv,
                                                 std::size_t count, int type, int reduce_op,
                                                 int peer, CUstream_st* stream, std::int64_t a0 = 0,
                                                 std::int64_t a1 = 0,
                                                 std::int64_t a2 = 0) noexcept {
    if (__builtin_expect(slow_.load(std::memory_order_relaxed) != 0, 0) || !is_operation(op)) {
      return push_slow(op, send, recv, count, type, reduce_op, peer, stream, a0, a1, a2);
    }
    return write(op, send, recv, count, type, reduce_op, peer, stream, Capture{}, false, 0, 0, 0,
                 0);
  }

  /// NCCL's result for the entry `push` returned (and, in progress mode, the "completed" write).
  __attribute__((always_inline)) void finish(TraceSlot* s, int result) noexcept {
    s->result.store(static_cast<std::int8_t>(result), std::memory_order_relaxed);
    if (__builtin_expect(progress_ != nullptr, 0)) end_progress(s, result);
  }
  /// Sets one argument word of the entry `record` (in `s`) after the call (a child's id, a
  /// handle), while the ring still holds it. The owner thread only.
  void set_arg(std::uint64_t record, int index, std::int64_t value) noexcept {
    if (!holds(record)) return;
    extra_[record & mask_].w[kWordArg0 - kSlotWords + index].store(
        static_cast<std::uint64_t>(value), std::memory_order_relaxed);
  }
  /// Whether record `record`'s slot still holds it (a tiny ring may have reused it).
  bool holds(std::uint64_t record) const noexcept {
    return head_.load(std::memory_order_relaxed) - record <= capacity_;
  }

  /// The label later entries carry; returns the previous one. The owner thread only.
  std::uint32_t set_label(std::uint32_t label) noexcept {
    const std::uint32_t old = label_.load(std::memory_order_relaxed);
    label_.store(label, std::memory_order_relaxed);
    if (label != 0) {
      slow_.fetch_or(kSlowLabel, std::memory_order_relaxed);
    } else {
      slow_.fetch_and(~kSlowLabel, std::memory_order_relaxed);
    }
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
  /// Copies the entries of the inbox, oldest first; returns records() as it was then: the
  /// inbox's entries take the record numbers from there on. Any thread.
  std::uint64_t read_inbox(std::vector<TraceWords>& out) const;
  /// Inbox entries overwritten before the owner moved them into the ring.
  std::uint64_t inbox_dropped() const;
  static constexpr std::size_t kInboxSlots = 32;

  /// Turns progress mode on (the driver calls are bound by the caller).
  void set_progress(TraceProgress* progress) noexcept {
    progress_ = progress;
    if (progress != nullptr) {
      slow_.fetch_or(kSlowProgress, std::memory_order_relaxed);
    } else {
      slow_.fetch_and(~kSlowProgress, std::memory_order_relaxed);
    }
  }
  const TraceProgress* progress() const noexcept { return progress_; }

  std::size_t capacity() const noexcept { return capacity_; }
  std::uint64_t records() const noexcept { return records_.load(std::memory_order_acquire); }
  /// Records begun (records(), or one more while the owner writes one).
  std::uint64_t begun() const noexcept { return head_.load(std::memory_order_relaxed); }
  std::uint64_t collectives() const noexcept {
    return collectives_.load(std::memory_order_relaxed);
  }
  std::uint64_t point_to_point() const noexcept { return p2p_.load(std::memory_order_relaxed); }

  /// A consistent copy of one record's words, if the ring still holds it. Safe from any thread
  /// while the owner writes; never blocks it.
  bool read(std::uint64_t record, TraceWords& words) const noexcept;

 private:
  // Operations (collectives and point-to-point calls) take the fast path; lifecycle entries
  // carry arguments and go through push_slow().
  static constexpr bool is_operation(TraceOp op) noexcept {
    return is_collective(op) || is_point_to_point(op);
  }
  // An entry keeps the low 40 bits of its sequence number (10^12 collectives), so that a longer
  // life never spills into the other fields.
  static std::uint64_t kind_word(std::uint64_t seq, TraceOp op, int type,
                                 std::uint64_t flags) noexcept {
    return (seq & ((std::uint64_t{1} << 40) - 1)) | (static_cast<std::uint64_t>(op) << 40) |
           (static_cast<std::uint64_t>(type & 0x1f) << 46) | (flags << 51);
  }
  static std::uint64_t peer_word(int peer, int reduce_op, int result) noexcept {
    return static_cast<std::uint32_t>(peer) |
           (static_cast<std::uint64_t>(static_cast<std::uint16_t>(reduce_op)) << 32) |
           (static_cast<std::uint64_t>(static_cast<std::uint8_t>(result)) << 56);
  }
  // What progress mode learnt of the stream's capture (returned in registers: nothing of the
  // push's escapes to memory for it).
  struct Capture {
    std::uint64_t flags = 0;
    std::uint64_t id = 0;
  };

  // The entry itself, into the next slot (and, with `extra`, its extra words).
  __attribute__((always_inline)) TraceSlot* write(TraceOp op, const void* send, const void* recv,
                                                  std::size_t count, int type, int reduce_op,
                                                  int peer, CUstream_st* stream, Capture c,
                                                  bool extra, std::uint64_t label, std::int64_t a0,
                                                  std::int64_t a1, std::int64_t a2) noexcept {
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
    const std::uint64_t record = head_.load(std::memory_order_relaxed);
    TraceSlot& s = slots_[record & mask_];
    head_.store(record + 1, std::memory_order_relaxed);
    const TraceThread& t = t_trace_thread;
    std::uint64_t ctx = t.ctx;
    const std::uint64_t depth = t.depth_bits;
    if (__builtin_expect(static_cast<std::uint32_t>(ctx) == 0, 0)) ctx = trace_thread_ctx();
    // Release order: no word is seen before head_ says the slot is being reused.
    constexpr auto ordered = std::memory_order_release;
    s.w[kWordTime].store(trace_now_ns(), ordered);
    s.w[kWordCount].store(count, ordered);
    s.w[kWordSend].store(reinterpret_cast<std::uintptr_t>(send), ordered);
    s.w[kWordRecv].store(reinterpret_cast<std::uintptr_t>(recv), ordered);
    s.w[kWordStream].store(reinterpret_cast<std::uintptr_t>(stream), ordered);
    s.w[kWordKind].store(
        kind_word(seq, op, type,
                  c.flags | (extra ? std::uint64_t{kTraceExtra} : std::uint64_t{0})) |
            depth,
        ordered);
    s.peer.store(peer, ordered);
    s.reduce_op.store(static_cast<std::int16_t>(reduce_op), ordered);
    s.result.store(static_cast<std::int8_t>(kTracePending), ordered);
    s.ctx.store(ctx, ordered);
    if (extra) {
      TraceExtra& x = extra_[record & mask_];
      x.w[kWordLabel - kSlotWords].store(label, ordered);
      x.w[kWordCapture - kSlotWords].store(c.id, ordered);
      x.w[kWordArg0 - kSlotWords].store(static_cast<std::uint64_t>(a0), ordered);
      x.w[kWordArg1 - kSlotWords].store(static_cast<std::uint64_t>(a1), ordered);
      x.w[kWordArg2 - kSlotWords].store(static_cast<std::uint64_t>(a2), ordered);
    }
    records_.store(record + 1, std::memory_order_release);
    // The next entry's line, asked for now: it arrives while NCCL and the caller run, and the
    // next push writes into the cache rather than waiting for the line there (measured: about
    // 5 ns a call less from Python on an H100 host's Xeon, where the default ring of 128 KiB
    // lives in L2). A hint only: no fault, no effect on what readers see.
    __builtin_prefetch(&slots_[(record + 1) & mask_], 1, 3);
    TraceSlot* const slot = &s;
    if (slot == nullptr) __builtin_unreachable();  // the caller's null test after the call goes
    return slot;
  }
  // Everything but an operation's plain entry: the inbox moved in first, progress mode's capture
  // query, a label, a lifecycle call's arguments.
  __attribute__((noinline, returns_nonnull)) TraceSlot* push_slow(
      TraceOp op, const void* send, const void* recv, std::size_t count, int type, int reduce_op,
      int peer, CUstream_st* stream, std::int64_t a0, std::int64_t a1, std::int64_t a2) noexcept;
  Capture begin_progress(TraceOp op, std::uint64_t seq, CUstream_st* stream) noexcept;
  // The owner: a collective captured into `capture_id`'s graph.
  void note_graph(TraceProgress& p, CUstream_st* stream, std::uint64_t capture_id,
                  std::uint64_t seq) noexcept;
  void end_progress(TraceSlot* s, int result) noexcept;
  // The owner: moves the inbox's closed entries, oldest first, into the ring.
  void take_inbox() noexcept;

  // Entries from other threads, kept by ticket (1, 2, ...) at inbox_[(ticket - 1) % size].
  struct InboxEntry {
    TraceWords w{};
    std::uint64_t ticket = 0;
    bool closed = false;
  };
  // Under inbox_mutex_: whether the oldest entry is closed (what the owner's push looks at).
  void update_ready() noexcept;
  InboxEntry* inbox_entry(std::uint64_t ticket) noexcept;

  // Why a push must take the slow path (bits of slow_): one load and test on the fast path.
  enum : std::uint32_t { kSlowInbox = 1, kSlowProgress = 2, kSlowLabel = 4 };

  TraceSlot* slots_;
  TraceExtra* extra_;
  std::size_t capacity_;
  std::uint64_t mask_;
  std::atomic<std::uint32_t> slow_{0};
  std::atomic<std::uint32_t> label_{0};
  TraceProgress* progress_ = nullptr;
  std::atomic<std::uint64_t> head_{0};     // records begun
  std::atomic<std::uint64_t> records_{0};  // records complete
  std::atomic<std::uint64_t> collectives_{0};
  std::atomic<std::uint64_t> p2p_{0};
  // The inbox on lines of its own: other threads' locking never touches the owner's line.
  alignas(64) mutable std::mutex inbox_mutex_;
  std::unique_ptr<InboxEntry[]> inbox_;
  std::size_t inbox_size_;
  std::uint64_t inbox_first_ = 1;  // the oldest ticket kept
  std::uint64_t inbox_next_ = 1;   // the ticket the next entry takes
  std::uint64_t inbox_dropped_ = 0;
};

/// Decodes an entry's copied words (time_ns still trace_clock_ns(): see TraceClock).
void decode_slot(std::uint64_t record, const TraceWords& words, TraceEntry& out) noexcept;
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
