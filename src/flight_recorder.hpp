// How a communicator uses its flight recorder (src/trace/): the one-line pushes its operations
// and lifecycle calls make, the ids its creations derive, and the automatic dumps when ncclrt
// gives up on it. The recorder itself knows nothing of communicators.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <vector>

#include "comm_state.hpp"
#include "ncclrt/config.hpp"
#include "ncclrt/trace.hpp"
#include "ncclrt/types.hpp"
#include "trace/ring.hpp"

namespace ncclrt::detail {

/// One operation's entry: pushed when made (after the argument checks, before NCCL sees the
/// call), closed with NCCL's result by operator(). With recording off it costs a null test
/// before and after the call; it has no destructor, so the call it wraps stays a plain call.
class Traced {
 public:
  __attribute__((always_inline))
  Traced(TraceRing* ring, TraceOp op, const void* send, const void* recv, std::size_t count,
         DataType type, int reduce_op, int peer, CUstream_st* stream) noexcept
      : ring_(ring) {
    if (ring != nullptr) {
      slot_ = ring->push(op, send, recv, count, static_cast<int>(type), reduce_op, peer, stream);
    }
  }
  __attribute__((always_inline))
  Traced(TraceRing* ring, TraceOp op, const void* send, const void* recv, std::size_t count,
         DataType type, ReduceOp reduce_op, int peer, CUstream_st* stream) noexcept
      : Traced(ring, op, send, recv, count, type, static_cast<int>(reduce_op), peer, stream) {}
  Traced(const Traced&) = delete;
  Traced& operator=(const Traced&) = delete;
  /// NCCL's result, recorded and passed on.
  __attribute__((always_inline)) abi::ncclResult_t operator()(abi::ncclResult_t result) noexcept {
    if (slot_ != nullptr) ring_->finish(slot_, static_cast<int>(result));
    return result;
  }
  /// A grouped form that threw before NCCL returned: ncclrt gave up on it.
  void failed() noexcept {
    if (slot_ != nullptr) ring_->finish(slot_, kTraceFailed);
  }

 private:
  TraceRing* ring_;
  TraceSlot* slot_ = nullptr;
};

/// A lifecycle call's entry: pushed when made, closed when it goes: success, NCCL's result given
/// with result(), or kTraceFailed when an exception leaves the scope.
class TraceCall {
 public:
  /// On the thread that uses the communicator (its own calls: create, split, finalize, ...).
  TraceCall(TraceRing* ring, TraceOp op, std::int64_t a0 = 0, std::int64_t a1 = 0,
            const void* buffer = nullptr, std::size_t count = 0, int type = -1) noexcept;
  /// From any thread, beside the one using the communicator (a handle released wherever it is
  /// dropped, an abort from another thread): the entry reaches the ring through its inbox.
  TraceCall(const CommState& state, TraceOp op, std::int64_t a0 = 0) noexcept;
  TraceCall(const TraceCall&) = delete;
  TraceCall& operator=(const TraceCall&) = delete;
  ~TraceCall();
  void result(int r) noexcept { result_ = r; }
  void arg(int index, std::int64_t value) noexcept;

 private:
  TraceRing* ring_;
  TraceSlot* slot_ = nullptr;  // the owner's entry
  std::uint64_t record_ = 0;   // its record number; for an entry from another thread its ticket
  int result_ = 0;
  int exceptions_;
};

/// Names a communicator made from a unique id (init_rank, from_environment, init_all, join) and
/// takes the recorder's settings from `config`; returns `state`. The id is a hash of the unique
/// id's bytes (and of how many communicators this process made before from the same bytes as
/// this rank), so it is the same on every rank.
std::shared_ptr<CommState> traced_root(std::shared_ptr<CommState> state,
                                       const abi::ncclUniqueId& id, int rank, const Config& config,
                                       TraceOrigin origin = TraceOrigin::kInitRank);

/// Bytes no other communicator of any process has (pid, a count, the clock), for communicators
/// whose ranks all live in this process (init_all): no NCCL call.
abi::ncclUniqueId process_unique_name() noexcept;

/// A child (split, shrink, grow) being made: pushes the parent's entry before NCCL is called,
/// derives the child's id from the parent's and the lineage (the same on every rank of the
/// child), and names the child when it exists.
class TraceChild {
 public:
  /// split: a0 color, a1 key. shrink: `excluded`. grow: a0 the new size, `grow_id` when this
  /// rank passed the id.
  TraceChild(CommState& parent, TraceRing* ring, TraceOrigin origin, std::int64_t a0,
             std::int64_t a1, const std::vector<int>* excluded = nullptr,
             const abi::ncclUniqueId* grow_id = nullptr);
  TraceChild(const TraceChild&) = delete;
  TraceChild& operator=(const TraceChild&) = delete;
  /// Gives the new communicator its identity and settings; returns it.
  std::shared_ptr<CommState> operator()(std::shared_ptr<CommState> child, const Config& config);
  /// This rank takes part but gets no communicator (split with kSplitNoColor).
  void no_child() noexcept { call_.arg(2, 0); }

 private:
  CommState& parent_;
  TraceCall call_;
  TraceIdentity identity_;
};

/// Allocates the ring of a communicator that now knows its rank and records its creation; the
/// ring for the hot path (null: recording off). Never throws.
TraceRing* trace_attach(CommState& state, int rank, int size, int device) noexcept;

/// The automatic dump (into $NCCLRT_TRACE_DIR when set) when ncclrt gives up on a communicator:
/// a deadline passed, NCCL reported an error, it was aborted. Also notes `why` in its record.
/// Never throws; makes no NCCL call.
void trace_on_failure(CommState& state, const char* why) noexcept;
void trace_on_failure(CommState& state, const std::exception_ptr& why) noexcept;
/// The same for a creation that failed before a communicator existed.
void trace_on_failure(const char* why) noexcept;
/// The dump when a communicator is aborted on purpose (Communicator::abort()): trigger "abort",
/// under a budget of its own (kMaxAbortDumpSets), so that a process that aborts communicators as
/// a matter of course still has its failure dumps for a real failure. Also notes `why`. Never
/// throws; makes no NCCL call.
void trace_on_abort(CommState& state, const char* why) noexcept;
/// `throw dumped(TimeoutError(...))`: dumps with the error's text as the reason, then throws it.
template <class E>
E dumped(E e) {
  trace_on_failure(e.what());
  return e;
}
template <class E>
E dumped(E e, CommState& state) {
  trace_on_failure(state, e.what());
  return e;
}

/// ncclrt::Group's bookkeeping: which group the thread's entries belong to.
inline void trace_group_set(TraceThread& t, std::uint32_t group) noexcept {
  t.ctx = (t.ctx & 0xffffffffu) | (static_cast<std::uint64_t>(group) << 32);
  t.depth_bits = static_cast<std::uint64_t>(t.depth < 1023 ? t.depth : 1023) << 54;
}
inline void trace_group_enter() noexcept {
  TraceThread& t = t_trace_thread;
  const bool outer = t.depth++ == 0;
  trace_group_set(t, outer ? ++t.groups : static_cast<std::uint32_t>(t.ctx >> 32));
}
inline void trace_group_exit() noexcept {
  TraceThread& t = t_trace_thread;
  if (t.depth == 0) return;
  --t.depth;
  trace_group_set(t, t.depth == 0 ? 0 : static_cast<std::uint32_t>(t.ctx >> 32));
}

}  // namespace ncclrt::detail
