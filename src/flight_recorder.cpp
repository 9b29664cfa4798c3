#include "flight_recorder.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "ncclrt/communicator.hpp"
#include "ncclrt/error.hpp"

namespace ncclrt {
namespace detail {
namespace {

// Words mixed into a child's id: the parent's id and what made the child.
std::uint64_t mix(std::initializer_list<std::uint64_t> words) {
  std::vector<std::uint64_t> v(words);
  return trace_hash(v.data(), v.size() * sizeof(std::uint64_t), 0x6e63636c7274ull);
}

std::uint64_t id_of_unique_id(const abi::ncclUniqueId& id, std::uint64_t seed) {
  return trace_hash(id.internal, sizeof id.internal, seed);
}

// How many communicators this process has made, as `rank`, from the same unique-id bytes: a
// launcher's NCCL_COMM_ID gives every from_environment() the same id, and the second
// communicator must not take the first one's name. Every rank counts the same.
std::uint64_t uses_of(std::uint64_t uid_hash, int rank) {
  static std::mutex m;
  static auto* seen = new std::map<std::pair<std::uint64_t, int>, std::uint64_t>;
  std::lock_guard<std::mutex> lock(m);
  return (*seen)[{uid_hash, rank}]++;
}

void settings(TraceState& t, const Config& config, const TraceState* parent) {
  if (config.trace_entries) {
    t.want_entries = std::max(0, *config.trace_entries);
  } else if (parent != nullptr && parent->want_entries) {
    t.want_entries = parent->want_entries;
  }
  if (config.trace_progress) {
    t.want_progress = config.trace_progress;
  } else if (parent != nullptr && parent->want_progress) {
    t.want_progress = parent->want_progress;
  }
}

}  // namespace

abi::ncclUniqueId process_unique_name() noexcept {
  static std::atomic<std::uint64_t> n{0};
  abi::ncclUniqueId id{};
  const std::uint64_t words[3] = {
      static_cast<std::uint64_t>(::getpid()), ++n,
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  std::memcpy(id.internal, words, sizeof words);
  return id;
}

TraceCall::TraceCall(TraceRing* ring, TraceOp op, std::int64_t a0, std::int64_t a1,
                     const void* buffer, std::size_t count, int type) noexcept
    : ring_(ring), exceptions_(std::uncaught_exceptions()) {
  if (ring_ == nullptr) return;
  slot_ = ring_->push(op, buffer, nullptr, count, type, -1, -1, nullptr, a0, a1);
  record_ = ring_->records() - 1;
}

TraceCall::TraceCall(const CommState& state, TraceOp op, std::int64_t a0) noexcept
    : ring_(state.trace.ring()), exceptions_(std::uncaught_exceptions()) {
  if (ring_ != nullptr) record_ = ring_->push_foreign(op, nullptr, 0, -1, a0, 0);
}

// The owner's slot only while it still holds this entry (a tiny ring may have reused it).
void TraceCall::arg(int index, std::int64_t value) noexcept {
  if (slot_ != nullptr) {
    ring_->set_arg(record_, index, value);
  } else if (record_ != 0) {
    ring_->set_arg_foreign(record_, index, value);
  }
}

TraceCall::~TraceCall() {
  const int r = std::uncaught_exceptions() > exceptions_ ? kTraceFailed : result_;
  if (slot_ != nullptr) {
    if (ring_->holds(record_)) ring_->finish(slot_, r);
  } else if (record_ != 0) {
    ring_->finish_foreign(record_, r);
  }
}

std::shared_ptr<CommState> traced_root(std::shared_ptr<CommState> state,
                                       const abi::ncclUniqueId& id, int rank, const Config& config,
                                       TraceOrigin origin) {
  TraceIdentity& who = state->trace.identity;
  if (origin == TraceOrigin::kJoin) {
    who.id = id_of_unique_id(id, 'j');  // what the grow's maker names as an alias
  } else {
    const std::uint64_t h = id_of_unique_id(id, 0);
    who.id = mix({h, uses_of(h, rank)});
  }
  who.origin = origin;
  who.root = who.id;
  who.root_rank = rank;
  who.lineage = std::string(to_string(origin)) + " from a unique id";
  settings(state->trace, config, nullptr);
  return state;
}

TraceChild::TraceChild(CommState& parent, TraceRing* ring, TraceOrigin origin, std::int64_t a0,
                       std::int64_t a1, const std::vector<int>* excluded,
                       const abi::ncclUniqueId* grow_id)
    : parent_(parent),
      call_(ring,
            origin == TraceOrigin::kSplit    ? TraceOp::kSplit
            : origin == TraceOrigin::kShrink ? TraceOp::kShrink
                                             : TraceOp::kGrow,
            excluded ? (excluded->empty() ? -1 : (*excluded)[0]) : a0,
            excluded ? (excluded->size() > 1 ? (*excluded)[1] : -1) : a1, nullptr,
            excluded ? excluded->size() : 0) {
  const TraceIdentity& p = parent.trace.identity;
  const std::uint64_t ordinal = ++parent.trace.children;
  identity_.parent = p.id;
  identity_.root = p.root;
  identity_.root_rank = p.root_rank;
  identity_.origin = origin;
  const std::string of = " #" + std::to_string(ordinal) + " of " + trace_id_text(p.id);
  if (origin == TraceOrigin::kSplit) {
    identity_.id = mix({p.id, 's', ordinal, static_cast<std::uint64_t>(a0)});
    identity_.lineage = "split" + of + " (color " + std::to_string(a0) + ")";
  } else if (origin == TraceOrigin::kShrink) {
    std::vector<std::uint64_t> words{p.id, 'k', ordinal};
    std::string list;
    for (int r : *excluded) {
      words.push_back(static_cast<std::uint64_t>(r));
      list += (list.empty() ? "" : ", ") + std::to_string(r);
    }
    identity_.id =
        trace_hash(words.data(), words.size() * sizeof(std::uint64_t), 0x6e63636c7274ull);
    identity_.lineage = "shrink" + of + " without [" + list + "]";
  } else {
    // Existing ranks derive the grown id from the parent; ranks that join know only the grow's
    // unique id. The rank that made that id knows both and records the joiners' name as an
    // alias, which is how the analyzer puts the two halves together.
    identity_.id = mix({p.id, 'g', ordinal, static_cast<std::uint64_t>(a0)});
    identity_.lineage = "grow" + of + " to " + std::to_string(a0) + " ranks";
    if (grow_id != nullptr) identity_.aliases.push_back(id_of_unique_id(*grow_id, 'j'));
  }
  call_.arg(2, static_cast<std::int64_t>(identity_.id));
}

std::shared_ptr<CommState> TraceChild::operator()(std::shared_ptr<CommState> child,
                                                  const Config& config) {
  TraceState& t = child->trace;
  t.identity = std::move(identity_);
  settings(t, config, &parent_.trace);
  return child;
}

TraceRing* trace_attach(CommState& state, int rank, int size, int device) noexcept {
  TraceState& t = state.trace;
  TraceIdentity& who = t.identity;
  if (who.id == 0) {  // made some other way: a name of this process only
    static std::atomic<std::uint64_t> n{0};
    const std::uint64_t words[3] = {static_cast<std::uint64_t>(::getpid()), ++n,
                                    reinterpret_cast<std::uintptr_t>(&state)};
    who.id = trace_hash(words, sizeof words, 'a');
    who.root = who.id;
    who.root_rank = rank;
  }
  if (who.root_rank < 0) {  // a child: its rank at the top of the lineage is its parent's
    who.root_rank = rank;
  }
  const std::size_t entries =
      t.want_entries ? static_cast<std::size_t>(*t.want_entries) : trace_entries_from_env();
  const bool progress = t.want_progress ? *t.want_progress : trace_progress_from_env();
  std::string version;
  try {
    version = state.lib->version().str();
  } catch (...) {
  }
  t.attach(rank, size, device, std::move(version), entries, progress);
  if (t.ring() != nullptr) trace_signal_once();
  return t.ring();
}

void trace_on_failure(CommState& state, const char* why) noexcept {
  trace_auto_dump(&state.trace, why ? why : "", TraceTrigger::kFailure);
}

void trace_on_abort(CommState& state, const char* why) noexcept {
  trace_auto_dump(&state.trace, why ? why : "", TraceTrigger::kAbort);
}

void trace_on_failure(CommState& state, const std::exception_ptr& why) noexcept {
  try {
    if (why) std::rethrow_exception(why);
    trace_on_failure(state, "");
  } catch (const std::exception& e) {
    trace_on_failure(state, e.what());
  } catch (...) {
    trace_on_failure(state, "an unknown failure");
  }
}

void trace_on_failure(const char* why) noexcept {
  trace_auto_dump(nullptr, why ? why : "", TraceTrigger::kFailure);
}

}  // namespace detail

Trace Communicator::trace() const {
  if (!shared_) throw UsageError("trace on " + std::string(state_text(state_)));
  return shared_->trace.snapshot();
}

std::uint32_t Communicator::set_trace_label(std::uint32_t label) const noexcept {
  return hot_.trace ? hot_.trace->set_label(label) : 0;
}

TraceLabel::TraceLabel(const Communicator& comm, std::string_view text)
    : comm_(&comm), previous_(comm.set_trace_label(trace_label(text))) {}

TraceLabel::~TraceLabel() { comm_->set_trace_label(previous_); }

}  // namespace ncclrt
