#include "trace/state.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "comm_state.hpp"  // process_exiting()
#include "cuda_driver.hpp"
#include "log_internal.hpp"
#include "ncclrt/error.hpp"

namespace ncclrt::detail {

std::uint64_t trace_hash(const void* data, std::size_t bytes, std::uint64_t seed) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull ^ seed;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  // splitmix64's finalizer: nearby inputs give unrelated ids.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h == 0 ? 1 : h;  // 0 means "none"
}

std::string trace_id_text(std::uint64_t id) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(id));
  return b;
}

std::mutex& trace_registry_mutex() {
  static auto* m = new std::mutex;  // never destroyed: dumps may run at exit
  return *m;
}
std::vector<const TraceState*>& trace_registry() {
  static auto* r = new std::vector<const TraceState*>;
  return *r;
}

namespace {

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || n < 0) {
    log(LogLevel::kWarn,
        std::string(name) + "=" + v + " is not a number >= 0; using " + std::to_string(fallback));
    return fallback;
  }
  return n;
}

constexpr std::size_t kDefaultEntries = 2048;
constexpr std::size_t kMaxEntries = std::size_t{1} << 24;  // 2 GiB of ring: surely a typo above

}  // namespace

std::size_t trace_entries_from_env() noexcept {
  return static_cast<std::size_t>(
      std::min<long>(env_long("NCCLRT_TRACE_ENTRIES", static_cast<long>(kDefaultEntries)),
                     static_cast<long>(kMaxEntries)));
}

bool trace_progress_from_env() noexcept { return env_long("NCCLRT_TRACE_PROGRESS", 0) != 0; }

TraceState::~TraceState() {
  if (registered_) {
    std::lock_guard<std::mutex> lock(trace_registry_mutex());
    auto& r = trace_registry();
    r.erase(std::remove(r.begin(), r.end(), this), r.end());
  }
  if (progress_ && pinned_ && !process_exiting()) {
    host_mapped_free(const_cast<std::uint64_t*>(progress_->host));
  }
}

void TraceState::set_progress(std::unique_ptr<TraceProgress> progress) noexcept {
  progress_ = std::move(progress);
  if (ring_) ring_->set_progress(progress_.get());
}

void TraceState::attach(int r, int s, int d, std::string nccl_version, std::size_t entries,
                        bool want_gpu_progress) noexcept {
  rank = r;
  size = s;
  device = d;
  nccl = std::move(nccl_version);
  if (entries == 0) return;
  entries = std::min(entries, kMaxEntries);
  try {
    ring_ = std::make_unique<TraceRing>(entries);
  } catch (const std::bad_alloc&) {
    log(LogLevel::kWarn, "flight recorder: no memory for " + std::to_string(entries) +
                             " entries; recording is off for this communicator");
    return;
  }
  if (want_gpu_progress) {
    try {
      const CurrentContextScope keep;
      cuda_set_device(device);
      auto p = std::make_unique<TraceProgress>();
      p->write_value = stream_write_value64();
      p->capture_info = stream_capture_info();
      p->launch_host_func = launch_host_func();
      if (p->write_value == nullptr) throw Error("the CUDA driver lacks cuStreamWriteValue64");
      const HostMapped m = host_mapped_alloc(4 * sizeof(std::uint64_t));
      p->host = static_cast<volatile std::uint64_t*>(m.host);
      p->device = m.device;
      pinned_ = true;
      p->graphs = TraceGraphs::make();
      if (p->graphs == nullptr) {
        static std::once_flag once;
        std::call_once(once, [] {
          log(LogLevel::kWarn, "flight recorder: " + std::to_string(TraceGraphs::kMaxTables) +
                                   " communicators in progress mode: graph launches are no "
                                   "longer counted for the ones made from now on");
        });
      }
      progress_ = std::move(p);
      ring_->set_progress(progress_.get());
    } catch (const std::exception& e) {
      progress_problem_ = e.what();
      log(LogLevel::kWarn, std::string("flight recorder: progress mode is off for rank ") +
                               std::to_string(rank) + ": " + e.what());
    }
  }
  {
    std::lock_guard<std::mutex> lock(trace_registry_mutex());
    try {
      trace_registry().push_back(this);
      registered_ = true;
    } catch (...) {
    }
  }
  // Recorded once made: the call that made it has returned.
  TraceSlot* created = ring_->push(
      TraceOp::kCreate, nullptr, nullptr, static_cast<std::size_t>(size), -1, -1, -1, nullptr,
      static_cast<std::int64_t>(identity.origin), static_cast<std::int64_t>(identity.parent));
  ring_->finish(created, 0);
}

void TraceState::note(const std::string& text) {
  std::lock_guard<std::mutex> lock(notes_mutex_);
  if (notes_.size() == 8) notes_.erase(notes_.begin());
  notes_.push_back(text);
}

std::vector<std::string> TraceState::notes() const {
  std::lock_guard<std::mutex> lock(notes_mutex_);
  return notes_;
}

Trace TraceState::snapshot() const {
  Trace t;
  t.comm_id = identity.id;
  t.rank = rank;
  t.size = size;
  t.device = device;
  if (!ring_) return t;
  const TraceClock clock;
  t.capacity = ring_->capacity();
  const std::uint64_t n = ring_->records();
  if (progress_) {
    t.progress = true;
    t.gpu_started = progress_->host[TraceProgress::kCollStarted];
    t.gpu_completed = progress_->host[TraceProgress::kCollCompleted];
  }
  const std::uint64_t first = n > t.capacity ? n - t.capacity : 0;
  t.entries.reserve(static_cast<std::size_t>(n - first));
  auto add = [&](std::uint64_t record, const TraceWords& words) {
    TraceEntry e;
    decode_slot(record, words, e);
    e.time_ns = clock.unix_ns(static_cast<std::uint64_t>(e.time_ns));
    t.entries.push_back(e);
  };
  TraceWords words;
  for (std::uint64_t r = first; r < n; ++r) {
    if (ring_->read(r, words)) add(r, words);  // else overwritten while we read
  }
  // Entries from other threads the owner has not moved into the ring yet, numbered where they
  // will go; the ring's entries recorded meanwhile come before them.
  std::vector<TraceWords> inbox;
  const std::uint64_t now = ring_->read_inbox(inbox);
  for (std::uint64_t r = std::max(n, now > t.capacity ? now - t.capacity : 0); r < now; ++r) {
    if (ring_->read(r, words)) add(r, words);
  }
  for (std::size_t i = 0; i < inbox.size(); ++i) add(now + i, inbox[i]);
  t.records = now + inbox.size();
  t.collectives = ring_->collectives();
  t.point_to_point = ring_->point_to_point();
  return t;
}

}  // namespace ncclrt::detail
