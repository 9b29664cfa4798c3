#include "trace/ring.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ncclrt {
namespace detail {

// ---- time: the word the helper thread refreshes ----

namespace {

struct Ticker {
  std::mutex m;
  std::condition_variable wake_cv;
  bool running = false;  // a helper thread exists (in this process: fork clears it)
  bool wake = false;     // a push found the word at 0 while the thread slept
  bool failed = false;   // the thread could not be started: pushes read the clock themselves
  std::vector<const TraceRing*> rings;  // whose activity keeps the thread ticking
};
// Never destroyed: the detached thread and late pushes may use it during exit.
Ticker& ticker() {
  static auto* t = new Ticker;
  return *t;
}

// The thread parks after this long without a new entry in any ring.
constexpr std::uint64_t kIdleNs = 100'000'000;

void tick_loop() noexcept {
  ::pthread_setname_np(::pthread_self(), "ncclrt-clock");
  const auto period = std::chrono::nanoseconds(trace_tick_ns());
  const std::uint64_t idle_ticks = kIdleNs / trace_tick_ns() + 1;
  Ticker& k = ticker();
  std::unique_lock<std::mutex> lock(k.m);
  std::uint64_t last = ~std::uint64_t{0}, idle = 0;
  for (;;) {
    std::uint64_t sum = k.rings.size();
    for (const TraceRing* r : k.rings) sum += r->begun();
    if (sum != last) {
      last = sum;
      idle = 0;
    } else if (++idle >= idle_ticks) {
      // Nobody is recording: sleep until a push finds the word at 0 and wakes us.
      g_trace_now.store(0, std::memory_order_relaxed);
      k.wake_cv.wait(lock, [&] { return k.wake; });
      k.wake = false;
      idle = 0;
    }
    g_trace_now.store(trace_clock_ns(), std::memory_order_relaxed);
    lock.unlock();
    std::this_thread::sleep_for(period);
    lock.lock();
  }
}

// fork(): the child has no helper thread; its pushes read the clock until one starts there.
void before_fork() noexcept { ticker().m.lock(); }
void after_fork_parent() noexcept { ticker().m.unlock(); }
void after_fork_child() noexcept {
  Ticker& k = ticker();
  new (&k.m) std::mutex;  // the parent's lock, held across fork(), is not the child's to undo
  new (&k.wake_cv) std::condition_variable;
  k.running = false;
  k.wake = false;
  g_trace_now.store(0, std::memory_order_relaxed);
}

}  // namespace

std::uint64_t trace_tick_ns() noexcept {
  static const std::uint64_t tick = [] {
    timespec res{};
    std::uint64_t ns = 4'000'000;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0) {
      ns = static_cast<std::uint64_t>(res.tv_sec) * 1000000000u +
           static_cast<std::uint64_t>(res.tv_nsec);
    }
    return std::min<std::uint64_t>(std::max<std::uint64_t>(ns, 1'000'000), 10'000'000);
  }();
  return tick;
}

std::uint64_t trace_now_slow() noexcept {
  static std::atomic<bool> no_thread{false};
  const std::uint64_t now = trace_clock_ns();
  if (no_thread.load(std::memory_order_relaxed)) return now;
  std::uint64_t expected = 0;
  // One push (the first to see 0) wakes or starts the thread; the others use its reading.
  if (!g_trace_now.compare_exchange_strong(expected, now, std::memory_order_relaxed)) {
    return now;
  }
  Ticker& k = ticker();
  std::lock_guard<std::mutex> lock(k.m);
  if (k.running) {
    k.wake = true;
    k.wake_cv.notify_one();
  } else if (!k.failed) {
    try {
      static std::once_flag at_fork;
      std::call_once(at_fork,
                     [] { ::pthread_atfork(before_fork, after_fork_parent, after_fork_child); });
      std::thread(tick_loop).detach();
      k.running = true;
    } catch (...) {
      k.failed = true;  // e.g. a limit on threads: every entry reads the clock from now on
      no_thread.store(true, std::memory_order_relaxed);
    }
  }
  if (!k.running) g_trace_now.store(0, std::memory_order_relaxed);
  return now;
}

std::uint64_t trace_thread_ctx() noexcept {
  TraceThread& t = t_trace_thread;
  if (static_cast<std::uint32_t>(t.ctx) == 0) {
    t.ctx |= static_cast<std::uint32_t>(::syscall(SYS_gettid));
  }
  return t.ctx;
}

TraceRing::TraceRing(std::size_t capacity)
    : slots_(nullptr),
      extra_(nullptr),
      capacity_(std::size_t{1} << (capacity <= 1 ? 0 : 64 - __builtin_clzll(capacity - 1))),
      mask_(capacity_ - 1),
      inbox_size_(std::min(capacity_, kInboxSlots)) {
  try {
    slots_ = new TraceSlot[capacity_];
    extra_ = new TraceExtra[capacity_];
    inbox_.reset(new InboxEntry[inbox_size_]);
    std::lock_guard<std::mutex> lock(ticker().m);
    ticker().rings.push_back(this);
  } catch (...) {
    delete[] slots_;
    delete[] extra_;
    throw;
  }
  for (std::size_t i = 0; i < capacity_; ++i) {
    TraceSlot& s = slots_[i];
    for (auto& w : s.w) w.store(0, std::memory_order_relaxed);
    s.peer.store(0, std::memory_order_relaxed);
    s.reduce_op.store(0, std::memory_order_relaxed);
    s.result.store(0, std::memory_order_relaxed);
    s.spare.store(0, std::memory_order_relaxed);
    s.ctx.store(0, std::memory_order_relaxed);
    for (auto& w : extra_[i].w) w.store(0, std::memory_order_relaxed);
  }
}

TraceRing::~TraceRing() {
  {
    Ticker& k = ticker();
    std::lock_guard<std::mutex> lock(k.m);
    k.rings.erase(std::remove(k.rings.begin(), k.rings.end(), this), k.rings.end());
  }
  delete[] slots_;
  delete[] extra_;
}

// ---- the slow path of push ----

TraceSlot* TraceRing::push_slow(TraceOp op, const void* send, const void* recv, std::size_t count,
                                int type, int reduce_op, int peer, CUstream_st* stream,
                                std::int64_t a0, std::int64_t a1, std::int64_t a2) noexcept {
  if (slow_.load(std::memory_order_relaxed) & kSlowInbox) take_inbox();
  Capture c;
  if (progress_ != nullptr) {
    const std::uint64_t next = is_collective(op) ? collectives_.load(std::memory_order_relaxed) + 1
                               : is_point_to_point(op)
                                   ? p2p_.load(std::memory_order_relaxed) + 1
                                   : collectives_.load(std::memory_order_relaxed);
    c = begin_progress(op, next, stream);
  }
  const std::uint32_t label = label_.load(std::memory_order_relaxed);
  const bool extra = label != 0 || c.id != 0 || !is_operation(op) || (a0 | a1 | a2) != 0;
  return write(op, send, recv, count, type, reduce_op, peer, stream, c, extra, label, a0, a1, a2);
}

// ---- entries from other threads ----

TraceRing::InboxEntry* TraceRing::inbox_entry(std::uint64_t ticket) noexcept {
  if (ticket < inbox_first_ || ticket >= inbox_next_) return nullptr;  // dropped, or not ours
  return &inbox_[(ticket - 1) % inbox_size_];
}

void TraceRing::update_ready() noexcept {
  const bool ready = inbox_first_ < inbox_next_ && inbox_[(inbox_first_ - 1) % inbox_size_].closed;
  // The owner's next push then takes the lock.
  if (ready) {
    slow_.fetch_or(kSlowInbox, std::memory_order_relaxed);
  } else {
    slow_.fetch_and(~kSlowInbox, std::memory_order_relaxed);
  }
}

std::uint64_t TraceRing::push_foreign(TraceOp op, const void* buffer, std::size_t count, int type,
                                      std::int64_t a0, std::int64_t a1) noexcept {
  const TraceThread& t = t_trace_thread;
  const std::uint64_t ctx = static_cast<std::uint32_t>(t.ctx) != 0 ? t.ctx : trace_thread_ctx();
  const std::uint64_t seq = collectives_.load(std::memory_order_relaxed);
  const std::uint64_t time = trace_now_ns();
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  if (inbox_next_ - inbox_first_ == inbox_size_) {  // full: the oldest goes
    ++inbox_first_;
    ++inbox_dropped_;
  }
  const std::uint64_t ticket = inbox_next_++;
  InboxEntry& e = inbox_[(ticket - 1) % inbox_size_];
  e.ticket = ticket;
  e.closed = false;
  TraceWords& w = e.w;
  w[kWordTime] = time;
  w[kWordCount] = count;
  w[kWordSend] = reinterpret_cast<std::uintptr_t>(buffer);
  w[kWordRecv] = 0;
  w[kWordStream] = 0;
  w[kWordKind] = kind_word(seq, op, type, kTraceExtra) | t.depth_bits;
  w[kWordPeer] = peer_word(-1, -1, kTracePending);
  w[kWordCtx] = ctx;
  w[kWordLabel] = label_.load(std::memory_order_relaxed);
  w[kWordCapture] = 0;
  w[kWordArg0] = static_cast<std::uint64_t>(a0);
  w[kWordArg1] = static_cast<std::uint64_t>(a1);
  w[kWordArg2] = 0;
  update_ready();
  return ticket;
}

void TraceRing::finish_foreign(std::uint64_t ticket, int result) noexcept {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  InboxEntry* e = inbox_entry(ticket);
  if (e == nullptr) return;
  e->w[kWordPeer] = (e->w[kWordPeer] & ~(std::uint64_t{0xff} << 56)) |
                    (static_cast<std::uint64_t>(static_cast<std::uint8_t>(result)) << 56);
  e->closed = true;
  update_ready();
}

void TraceRing::set_arg_foreign(std::uint64_t ticket, int index, std::int64_t value) noexcept {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  InboxEntry* e = inbox_entry(ticket);
  if (e != nullptr && !e->closed) e->w[kWordArg0 + index] = static_cast<std::uint64_t>(value);
}

void TraceRing::take_inbox() noexcept {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  for (; inbox_first_ < inbox_next_; ++inbox_first_) {
    const InboxEntry& e = inbox_[(inbox_first_ - 1) % inbox_size_];
    if (!e.closed) break;  // in order: an open entry holds back the ones after it
    const std::uint64_t record = head_.load(std::memory_order_relaxed);
    TraceSlot& s = slots_[record & mask_];
    TraceExtra& x = extra_[record & mask_];
    head_.store(record + 1, std::memory_order_relaxed);
    constexpr auto ordered = std::memory_order_release;
    for (int i = 0; i < kWordPeer; ++i) s.w[i].store(e.w[i], ordered);
    s.peer.store(static_cast<std::int32_t>(static_cast<std::uint32_t>(e.w[kWordPeer])), ordered);
    s.reduce_op.store(static_cast<std::int16_t>(e.w[kWordPeer] >> 32), ordered);
    s.result.store(static_cast<std::int8_t>(e.w[kWordPeer] >> 56), ordered);
    s.ctx.store(e.w[kWordCtx], ordered);
    for (int i = 0; i < kExtraWords; ++i) {
      x.w[i].store(e.w[kSlotWords + i], std::memory_order_release);
    }
    records_.store(record + 1, std::memory_order_release);
  }
  update_ready();
}

std::uint64_t TraceRing::read_inbox(std::vector<TraceWords>& out) const {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  for (std::uint64_t t = inbox_first_; t < inbox_next_; ++t) {
    out.push_back(inbox_[(t - 1) % inbox_size_].w);
  }
  return records_.load(std::memory_order_acquire);
}

std::uint64_t TraceRing::inbox_dropped() const {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  return inbox_dropped_;
}

bool TraceRing::read(std::uint64_t record, TraceWords& words) const noexcept {
  if (record >= records_.load(std::memory_order_acquire)) return false;  // not written yet
  const TraceSlot& s = slots_[record & mask_];
  // Acquire loads: the look at head_ below cannot move before them.
  constexpr auto acquire = std::memory_order_acquire;
  for (int i = 0; i < kWordPeer; ++i) words[i] = s.w[i].load(acquire);
  words[kWordPeer] =
      peer_word(s.peer.load(acquire), s.reduce_op.load(acquire), s.result.load(acquire));
  words[kWordCtx] = s.ctx.load(acquire);
  if ((words[kWordKind] >> 51) & kTraceExtra) {
    const TraceExtra& x = extra_[record & mask_];
    for (int i = 0; i < kExtraWords; ++i) {
      words[kSlotWords + i] = x.w[i].load(std::memory_order_acquire);
    }
  } else {
    for (int i = kSlotWords; i < kTraceWords; ++i) words[i] = 0;
  }
  return head_.load(std::memory_order_relaxed) - record <= capacity_;  // else reused meanwhile
}

void decode_slot(std::uint64_t record, const TraceWords& w, TraceEntry& e) noexcept {
  e.record = record;
  const std::uint64_t kind = w[kWordKind];
  e.seq = kind & ((std::uint64_t{1} << 40) - 1);
  e.op = static_cast<TraceOp>((kind >> 40) & 0x3f);
  const auto type = static_cast<int>((kind >> 46) & 0x1f);
  e.type = type == 0x1f ? -1 : type;
  const std::uint64_t flags = (kind >> 51) & 0x7;
  e.captured = (flags & kTraceCaptureKnown) == 0 ? TraceCapture::kUnknown
               : (flags & kTraceCaptured)        ? TraceCapture::kYes
                                                 : TraceCapture::kNo;
  e.group_depth = static_cast<std::uint32_t>(kind >> 54);
  e.count = static_cast<std::size_t>(w[kWordCount]);
  e.send = reinterpret_cast<const void*>(static_cast<std::uintptr_t>(w[kWordSend]));
  e.recv = reinterpret_cast<const void*>(static_cast<std::uintptr_t>(w[kWordRecv]));
  e.stream = reinterpret_cast<CUstream_st*>(static_cast<std::uintptr_t>(w[kWordStream]));
  const std::uint64_t peer = w[kWordPeer];
  e.peer = static_cast<std::int32_t>(static_cast<std::uint32_t>(peer));
  e.reduce_op = static_cast<std::int16_t>(static_cast<std::uint16_t>(peer >> 32));  // -1: none
  e.result = static_cast<std::int8_t>(static_cast<std::uint8_t>(peer >> 56));
  e.thread = static_cast<std::uint32_t>(w[kWordCtx]);
  e.group = static_cast<std::uint32_t>(w[kWordCtx] >> 32);
  e.label = static_cast<std::uint32_t>(w[kWordLabel]);
  e.capture_id = w[kWordCapture];
  e.args[0] = static_cast<std::int64_t>(w[kWordArg0]);
  e.args[1] = static_cast<std::int64_t>(w[kWordArg1]);
  e.args[2] = static_cast<std::int64_t>(w[kWordArg2]);
  e.time_ns = static_cast<std::int64_t>(w[kWordTime]);  // trace_clock_ns() until converted
}

// ---- progress mode: the device writes around an operation ----

TraceRing::Capture TraceRing::begin_progress(TraceOp op, std::uint64_t seq,
                                             CUstream_st* stream) noexcept {
  TraceProgress& p = *progress_;
  Capture c;
  if (p.capture_info) {
    int status = 0;
    unsigned long long id = 0;
    if (p.capture_info(stream, &status, &id) == 0) {
      c.flags |= kTraceCaptureKnown;
      if (status == 1) {  // CU_STREAM_CAPTURE_STATUS_ACTIVE
        c.flags |= kTraceCaptured;
        c.id = id;
        if (p.graphs != nullptr && is_collective(op)) note_graph(p, stream, id, seq);
      }
    }
  }
  // Inside a group NCCL launches nothing until the group ends: a write here would run before
  // the work it describes. The next operation outside a group covers it (stream order).
  if (t_trace_thread.depth != 0 || !(is_collective(op) || is_point_to_point(op))) return c;
  const int word = is_collective(op) ? TraceProgress::kCollStarted : TraceProgress::kP2pStarted;
  if (p.write_value(stream, p.device + 8u * static_cast<unsigned>(word), seq, 0) != 0) {
    p.failures.fetch_add(1, std::memory_order_relaxed);
  }
  return c;
}

// ---- progress mode: graph launches ----

namespace {

constexpr std::uint64_t kGenerations = std::uint64_t{1} << (64 - TraceGraphs::kLaunchBits);
constexpr std::uint64_t kLaunchMask = (std::uint64_t{1} << TraceGraphs::kLaunchBits) - 1;

// The tables by number (0 unused), for the host function. Never freed, like the tables.
std::atomic<TraceGraphs*>* graph_tables() {
  static auto* t = new std::atomic<TraceGraphs*>[TraceGraphs::kMaxTables]();
  return t;
}
std::atomic<std::uint32_t> g_graph_tables{0};

// A host function's key: table number (12 bits), slot (8 bits), generation (24 bits).
void* graph_key(std::uint32_t table, int slot, std::uint64_t generation) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(
      table | (static_cast<std::uint64_t>(slot) << 12) | (generation << 20)));
}

}  // namespace

TraceGraphs* TraceGraphs::make() noexcept {
  const std::uint32_t id = g_graph_tables.fetch_add(1) + 1;
  if (id >= kMaxTables) return nullptr;
  auto* g = new (std::nothrow) TraceGraphs;
  if (g == nullptr) return nullptr;
  g->id = id;
  graph_tables()[id].store(g, std::memory_order_release);
  return g;
}

void TraceGraphs::count_launch(void* key) noexcept {
  const auto k = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(key));
  const auto id = static_cast<std::uint32_t>(k & 0xfff);
  const int slot = static_cast<int>((k >> 12) & 0xff);
  const std::uint64_t generation = k >> 20;
  TraceGraphs* g = id < kMaxTables ? graph_tables()[id].load(std::memory_order_acquire) : nullptr;
  if (g == nullptr || slot >= kSlots) return;
  std::atomic<std::uint64_t>& count = g->slots[slot].count;
  std::uint64_t w = count.load(std::memory_order_relaxed);
  do {
    if ((w >> kLaunchBits) != generation) return;  // the slot holds a newer capture now
  } while (!count.compare_exchange_weak(w, w + 1, std::memory_order_relaxed));
}

void TraceRing::note_graph(TraceProgress& p, CUstream_st* stream, std::uint64_t capture_id,
                           std::uint64_t seq) noexcept {
  TraceGraphs& g = *p.graphs;
  if (g.slots[g.last].capture_id.load(std::memory_order_relaxed) != capture_id) {
    int found = -1;
    for (int i = 0; i < TraceGraphs::kSlots && found < 0; ++i) {
      if (g.slots[i].capture_id.load(std::memory_order_relaxed) == capture_id) found = i;
    }
    if (found < 0) {
      // A new capture: the oldest slot, under a new generation; its host node counts from here.
      const int i = g.next;
      g.next = (g.next + 1) % TraceGraphs::kSlots;
      TraceGraphs::Slot& s = g.slots[i];
      const std::uint64_t generation =
          ((s.count.load(std::memory_order_relaxed) >> TraceGraphs::kLaunchBits) + 1) %
          kGenerations;
      s.capture_id.store(0, std::memory_order_relaxed);
      s.count.store(generation << TraceGraphs::kLaunchBits, std::memory_order_release);
      s.first_seq.store(seq, std::memory_order_relaxed);
      s.last_seq.store(seq, std::memory_order_relaxed);
      if (p.launch_host_func == nullptr ||
          p.launch_host_func(stream, &TraceGraphs::count_launch, graph_key(g.id, i, generation)) !=
              0) {
        p.failures.fetch_add(1, std::memory_order_relaxed);
        return;  // the slot stays unused; the capture's next collective tries again
      }
      s.capture_id.store(capture_id, std::memory_order_release);
      g.last = i;
      return;
    }
    g.last = found;
  }
  g.slots[g.last].last_seq.store(seq, std::memory_order_relaxed);
}

std::vector<TraceGraph> trace_graphs(const TraceGraphs& g) {
  std::vector<TraceGraph> out;
  for (const TraceGraphs::Slot& s : g.slots) {
    const std::uint64_t before = s.count.load(std::memory_order_acquire);
    TraceGraph t;
    t.capture_id = s.capture_id.load(std::memory_order_acquire);
    t.first_seq = s.first_seq.load(std::memory_order_relaxed);
    t.last_seq = s.last_seq.load(std::memory_order_relaxed);
    const std::uint64_t after = s.count.load(std::memory_order_acquire);
    if (t.capture_id == 0 ||
        (before >> TraceGraphs::kLaunchBits) != (after >> TraceGraphs::kLaunchBits)) {
      continue;  // unused, or reused while read
    }
    t.launches = after & kLaunchMask;
    out.push_back(t);
  }
  std::sort(out.begin(), out.end(),
            [](const TraceGraph& a, const TraceGraph& b) { return a.first_seq < b.first_seq; });
  return out;
}

void TraceRing::end_progress(TraceSlot* s, int result) noexcept {
  const std::uint64_t kind = s->w[kWordKind].load(std::memory_order_relaxed);
  const auto op = static_cast<TraceOp>((kind >> 40) & 0x3f);
  auto* stream = reinterpret_cast<CUstream_st*>(
      static_cast<std::uintptr_t>(s->w[kWordStream].load(std::memory_order_relaxed)));
  if (t_trace_thread.depth != 0 || !is_operation(op)) return;
  if (result != 0 && result != 7) return;  // not enqueued (7: ncclInProgress, still enqueuing)
  TraceProgress& p = *progress_;
  const int word = is_collective(op) ? TraceProgress::kCollCompleted : TraceProgress::kP2pCompleted;
  const std::uint64_t seq = kind & ((std::uint64_t{1} << 40) - 1);
  if (p.write_value(stream, p.device + 8u * static_cast<unsigned>(word), seq, 0) != 0) {
    p.failures.fetch_add(1, std::memory_order_relaxed);
  }
}

// ---- time ----

// The two coarse clocks move on the same kernel tick: read within one tick, their difference is
// the wall-clock offset exactly, so every reading converts a time the same way.
TraceClock::TraceClock() noexcept {
  for (int i = 0; i < 100; ++i) {
    now_clock_ns_ = trace_clock_ns();
    timespec wall;
    clock_gettime(CLOCK_REALTIME_COARSE, &wall);
    now_unix_ns_ = static_cast<std::int64_t>(wall.tv_sec) * 1000000000 + wall.tv_nsec;
    if (trace_clock_ns() == now_clock_ns_) break;
  }
}

namespace {

// ---- labels: a bounded table, so that labels made per step ("decode step 42") never grow
// memory without end. An id is slot | generation << 12; an old id whose slot was reused reads
// as "(label overwritten)".

constexpr std::uint32_t kLabelSlots = 4096;

struct Labels {
  std::mutex m;
  std::vector<std::string> text = std::vector<std::string>(kLabelSlots);
  std::vector<std::uint32_t> id = std::vector<std::uint32_t>(kLabelSlots, 0);
  std::unordered_map<std::string, std::uint32_t> by_text;
  std::uint32_t next = 0;   // next slot to use
  std::uint32_t round = 1;  // generation of the slots being filled
};
Labels& labels() {
  static auto* l = new Labels;  // never destroyed: labels may be read at exit
  return *l;
}

}  // namespace

}  // namespace detail

std::uint32_t trace_label(std::string_view text) {
  if (text.empty()) return 0;
  auto& l = detail::labels();
  std::lock_guard<std::mutex> lock(l.m);
  std::string key(text);
  if (auto it = l.by_text.find(key); it != l.by_text.end()) return it->second;
  const std::uint32_t slot = l.next;
  if (!l.text[slot].empty()) l.by_text.erase(l.text[slot]);
  const std::uint32_t id = slot | (l.round << 12);
  l.text[slot] = key;
  l.id[slot] = id;
  l.by_text.emplace(std::move(key), id);
  if (++l.next == detail::kLabelSlots) {
    l.next = 0;
    l.round = (l.round + 1) & 0xfffffu;
    if (l.round == 0) l.round = 1;  // id 0 stays "no label"
  }
  return id;
}

std::string trace_label_text(std::uint32_t id) {
  if (id == 0) return "";
  auto& l = detail::labels();
  std::lock_guard<std::mutex> lock(l.m);
  const std::uint32_t slot = id & (detail::kLabelSlots - 1);
  if (l.id[slot] != id) return "(label overwritten)";
  return l.text[slot];
}

namespace {
constexpr const char* kOpNames[kNumTraceOps] = {"none",
                                                "all_reduce",
                                                "broadcast",
                                                "reduce",
                                                "all_gather",
                                                "reduce_scatter",
                                                "all_to_all",
                                                "gather",
                                                "scatter",
                                                "all_gatherv",
                                                "reduce_scatterv",
                                                "send",
                                                "recv",
                                                "put_signal",
                                                "signal",
                                                "wait_signal",
                                                "create",
                                                "split",
                                                "shrink",
                                                "grow",
                                                "revoke",
                                                "finalize",
                                                "destroy",
                                                "abort",
                                                "suspend",
                                                "resume",
                                                "register",
                                                "deregister",
                                                "register_window",
                                                "deregister_window",
                                                "create_pre_mul_sum",
                                                "destroy_pre_mul_sum"};
}  // namespace

const char* to_string(TraceOp op) noexcept {
  const auto i = static_cast<int>(op);
  return i >= 0 && i < kNumTraceOps ? kOpNames[i] : "unknown";
}

TraceOp trace_op_from_string(std::string_view name) noexcept {
  for (int i = 1; i < kNumTraceOps; ++i) {
    if (name == kOpNames[i]) return static_cast<TraceOp>(i);
  }
  return TraceOp::kNone;
}

const char* to_string(TraceOrigin origin) noexcept {
  switch (origin) {
    case TraceOrigin::kInitRank:
      return "init_rank";
    case TraceOrigin::kInitAll:
      return "init_all";
    case TraceOrigin::kSplit:
      return "split";
    case TraceOrigin::kShrink:
      return "shrink";
    case TraceOrigin::kGrow:
      return "grow";
    case TraceOrigin::kJoin:
      return "join";
  }
  return "unknown";
}

}  // namespace ncclrt
