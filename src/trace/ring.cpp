#include "trace/ring.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace ncclrt {
namespace detail {
std::uint32_t trace_thread_id() noexcept {
  TraceThread& t = t_trace_thread;
  if (t.tid == 0) t.tid = static_cast<std::uint32_t>(::syscall(SYS_gettid));
  return t.tid;
}

TraceRing::TraceRing(std::size_t capacity)
    : slots_(new TraceSlot[capacity]),
      capacity_(capacity),
      inbox_size_(std::min(capacity, kInboxSlots)) {
  for (std::size_t i = 0; i < capacity; ++i) {
    for (auto& w : slots_[i].w) w.store(0, std::memory_order_relaxed);
  }
  try {
    inbox_.reset(new InboxEntry[inbox_size_]);
  } catch (...) {
    delete[] slots_;
    throw;
  }
}

TraceRing::~TraceRing() { delete[] slots_; }

// ---- entries from other threads ----

TraceRing::InboxEntry* TraceRing::inbox_entry(std::uint64_t ticket) noexcept {
  if (ticket < inbox_first_ || ticket >= inbox_next_) return nullptr;  // dropped, or not ours
  return &inbox_[(ticket - 1) % inbox_size_];
}

void TraceRing::update_ready() noexcept {
  const bool ready = inbox_first_ < inbox_next_ && inbox_[(inbox_first_ - 1) % inbox_size_].closed;
  inbox_ready_.store(ready, std::memory_order_relaxed);  // the owner then takes the lock
}

std::uint64_t TraceRing::push_foreign(TraceOp op, const void* buffer, std::size_t count, int type,
                                      std::int64_t a0, std::int64_t a1) noexcept {
  const TraceThread& t = t_trace_thread;
  const std::uint64_t tid = t.tid != 0 ? t.tid : trace_thread_id();
  const std::uint64_t depth = t.depth & 0xff, group = t.group;
  const std::uint64_t seq = collectives_.load(std::memory_order_relaxed);
  Capture c;
  if (progress_ != nullptr) c = begin_progress(op, seq, nullptr);
  const std::uint64_t time = trace_clock_ns();
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  if (inbox_next_ - inbox_first_ == inbox_size_) {  // full: the oldest goes
    ++inbox_first_;
    ++inbox_dropped_;
  }
  const std::uint64_t ticket = inbox_next_++;
  InboxEntry& e = inbox_[(ticket - 1) % inbox_size_];
  e.ticket = ticket;
  e.closed = false;
  std::uint64_t* w = e.w;
  w[kWordRecord] = 0;
  w[kWordTime] = time;
  w[kWordSeq] = seq;
  w[kWordCount] = count;
  w[kWordSend] = reinterpret_cast<std::uintptr_t>(buffer);
  w[kWordRecv] = 0;
  w[kWordStream] = 0;
  w[kWordCapture] = c.id;
  w[kWordKind] = kind_word(op, type, c.flags, depth, -1);
  w[kWordPeer] = std::uint64_t{0xffffffffu} | (tid << 32);  // peer -1
  w[kWordGroup] =
      group | (static_cast<std::uint64_t>(label_.load(std::memory_order_relaxed)) << 32);
  w[kWordResult] = static_cast<std::uint32_t>(kTracePending);
  w[kWordArg0] = static_cast<std::uint64_t>(a0);
  w[kWordArg1] = static_cast<std::uint64_t>(a1);
  w[kWordArg2] = 0;
  w[kWordSpare] = 0;
  update_ready();
  return ticket;
}

void TraceRing::finish_foreign(std::uint64_t ticket, int result) noexcept {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  InboxEntry* e = inbox_entry(ticket);
  if (e == nullptr) return;
  e->w[kWordResult] = static_cast<std::uint32_t>(result);
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
    const std::uint64_t record = records_.load(std::memory_order_relaxed);
    TraceSlot& s = slots_[pos_];
    if (++pos_ == capacity_) pos_ = 0;
    s.w[kWordRecord].store(0, std::memory_order_relaxed);
    for (int i = 1; i < kTraceWords; ++i) s.w[i].store(e.w[i], std::memory_order_release);
    s.w[kWordRecord].store(record + 1, std::memory_order_release);
    records_.store(record + 1, std::memory_order_release);
  }
  update_ready();
}

std::uint64_t TraceRing::read_inbox(
    std::vector<std::array<std::uint64_t, kTraceWords>>& out) const {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  for (std::uint64_t t = inbox_first_; t < inbox_next_; ++t) {
    const InboxEntry& e = inbox_[(t - 1) % inbox_size_];
    std::array<std::uint64_t, kTraceWords> words;
    std::copy(std::begin(e.w), std::end(e.w), words.begin());
    out.push_back(words);
  }
  return records_.load(std::memory_order_acquire);
}

std::uint64_t TraceRing::inbox_dropped() const {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  return inbox_dropped_;
}

bool TraceRing::read(std::uint64_t record, std::uint64_t* words) const noexcept {
  const TraceSlot& s = slots_[record % capacity_];
  const std::uint64_t before = s.w[kWordRecord].load(std::memory_order_acquire);
  if (before != record + 1) return false;  // overwritten, or being written
  // Acquire loads: the second look at word 0 cannot move before them.
  for (int i = 1; i < kTraceWords; ++i) words[i] = s.w[i].load(std::memory_order_acquire);
  if (s.w[kWordRecord].load(std::memory_order_relaxed) != before) return false;
  words[kWordRecord] = before;
  return true;
}

void decode_slot(const std::uint64_t* w, TraceEntry& e) noexcept {
  e.record = w[kWordRecord] - 1;
  e.seq = w[kWordSeq];
  e.count = static_cast<std::size_t>(w[kWordCount]);
  e.send = reinterpret_cast<const void*>(static_cast<std::uintptr_t>(w[kWordSend]));
  e.recv = reinterpret_cast<const void*>(static_cast<std::uintptr_t>(w[kWordRecv]));
  e.stream = reinterpret_cast<CUstream_st*>(static_cast<std::uintptr_t>(w[kWordStream]));
  e.capture_id = w[kWordCapture];
  const std::uint64_t kind = w[kWordKind];
  e.op = static_cast<TraceOp>(kind & 0xff);
  const auto type = static_cast<int>((kind >> 8) & 0xff);
  e.type = type == 0xff ? -1 : type;
  const std::uint64_t flags = (kind >> 16) & 0xff;
  e.captured = (flags & kTraceCaptureKnown) == 0 ? TraceCapture::kUnknown
               : (flags & kTraceCaptured)        ? TraceCapture::kYes
                                                 : TraceCapture::kNo;
  e.group_depth = static_cast<std::uint32_t>((kind >> 24) & 0xff);
  e.reduce_op = static_cast<std::int32_t>(static_cast<std::uint32_t>(kind >> 32));
  e.peer = static_cast<std::int32_t>(static_cast<std::uint32_t>(w[kWordPeer]));
  e.thread = static_cast<std::uint32_t>(w[kWordPeer] >> 32);
  e.group = static_cast<std::uint32_t>(w[kWordGroup]);
  e.label = static_cast<std::uint32_t>(w[kWordGroup] >> 32);
  e.result = static_cast<std::int32_t>(static_cast<std::uint32_t>(w[kWordResult]));
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
  const auto op = static_cast<TraceOp>(s->w[kWordKind].load(std::memory_order_relaxed) & 0xff);
  auto* stream = reinterpret_cast<CUstream_st*>(
      static_cast<std::uintptr_t>(s->w[kWordStream].load(std::memory_order_relaxed)));
  if (t_trace_thread.depth != 0 || !(is_collective(op) || is_point_to_point(op))) return;
  if (result != 0 && result != 7) return;  // not enqueued (7: ncclInProgress, still enqueuing)
  TraceProgress& p = *progress_;
  const int word = is_collective(op) ? TraceProgress::kCollCompleted : TraceProgress::kP2pCompleted;
  const std::uint64_t seq = s->w[kWordSeq].load(std::memory_order_relaxed);
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
