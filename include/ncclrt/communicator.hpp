// One NCCL communicator and every operation on it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ncclrt/abi.hpp"
#include "ncclrt/config.hpp"
#include "ncclrt/detail/export.hpp"
#include "ncclrt/device_api.hpp"
#include "ncclrt/group.hpp"
#include "ncclrt/handles.hpp"
#include "ncclrt/library.hpp"
#include "ncclrt/trace.hpp"
#include "ncclrt/types.hpp"
#include "ncclrt/unique_id.hpp"
#include "ncclrt/watchdog.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

namespace detail {
class TraceRing;  // the flight recorder's ring (src/trace/)
}  // namespace detail

/// One NCCL communicator. Move-only; keeps its Library alive.
///
/// Shutdown: finalize() then destroy() is the orderly way (all ranks take part); abort() stops at
/// once and never waits for peers. The destructor of a live communicator aborts it (it must not
/// hang on a peer), and at process exit it makes no NCCL call at all. A CUDA graph that captured
/// this communicator's work must be destroyed before the communicator, or abort() used.
///
/// Operations take a stream (`cudaStream_t` converts to CUstream_st*; nullptr is the default
/// stream). They check their arguments on the host, make one call through NCCL's function pointer
/// and check its result: no lock, allocation, logging or CUDA call, so they are safe to capture in
/// a CUDA graph. A bad argument throws UsageError (or UnsupportedError) with nothing enqueued.
class Communicator {
 public:
  /// An empty communicator (as after a move, or a split with no color); every use throws.
  Communicator() noexcept = default;
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;  // one owner destroys the NCCL communicator
  Communicator& operator=(const Communicator&) = delete;
  ~Communicator();

  /// ncclCommInitRank / ncclCommInitRankConfig on the current CUDA device.
  [[nodiscard]] static Communicator init_rank(std::shared_ptr<const Library> lib, int nranks,
                                              int rank, const UniqueId& id,
                                              const Config& config = {});
  /// One communicator per listed device, rank i on devices[i], driven by this process:
  /// ncclCommInitAll, or, with a config or a device listed more than once (NCCL >= 2.30.3 with
  /// NCCL_MULTI_RANK_GPU_ENABLE=1; UsageError otherwise), ncclCommInitRankConfig per rank in one
  /// group. Ranks that share a GPU get Config::max_ctas = max_ctas_for_shared_gpu(device, ranks
  /// on it) unless the config sets it: their kernels must all be resident at once. The caller's
  /// current device is kept. With Config::timeout each rank is waited for within it, and on
  /// failure every communicator made is aborted.
  [[nodiscard]] static std::vector<Communicator> init_all(std::shared_ptr<const Library> lib,
                                                          const std::vector<int>& devices,
                                                          const Config& config = {});
  /// Rank, size and local rank from the launcher (see launch.hpp), the device from the local
  /// rank, the rendezvous through NCCL_COMM_ID. Sets the current CUDA device of this thread.
  [[nodiscard]] static Communicator from_environment(std::shared_ptr<const Library> lib,
                                                     const Config& config = {});

  /// ncclCommSplit (NCCL >= 2.18). A color of kSplitNoColor gives an empty communicator.
  [[nodiscard]] Communicator split(int color, int key, const Config& config = {}) const;
  /// ncclCommShrink (NCCL >= 2.27): a new communicator without `excluded` ranks;
  /// ShrinkMode::kAbortParent aborts this communicator's pending work first.
  [[nodiscard]] Communicator shrink(const std::vector<int>& excluded, const Config& config = {},
                                    ShrinkMode mode = ShrinkMode::kDefault) const;

  /// ncclCommRevoke (NCCL >= 2.28.7): stops this rank's in-flight work on the communicator and
  /// waits until it is quiescent. With a deadline (per call, else Config::timeout) the
  /// communicator must be nonblocking; on expiry it is aborted and TimeoutError is thrown. Then
  /// only destroy(), abort(), split() and shrink() are allowed (finalize() is refused): revoke on
  /// every surviving rank, then shrink() away the failed ones — the recovery path.
  void revoke(std::optional<std::chrono::milliseconds> deadline = std::nullopt);
  /// ncclCommGetUniqueId (NCCL >= 2.29.2), on one existing rank: the id that new ranks join()
  /// with; pass it to grow() on this rank too. One id at a time: the grow uses it up.
  /// NCCL_COMM_ID, which NCCL refuses here, is unset for the duration of the call.
  [[nodiscard]] UniqueId grow_id() const;
  /// ncclCommGrow (NCCL >= 2.29.2), on every existing rank: a communicator of `nranks` ranks
  /// (more than size()) in which existing ranks keep their numbers. The rank that made the id
  /// passes it; the others pass nothing. Config::timeout bounds it as for init.
  [[nodiscard]] Communicator grow(int nranks, const std::optional<UniqueId>& id = std::nullopt,
                                  const Config& config = {}) const;
  /// ncclCommGrow on a new rank: joins, as `rank`, the communicator of `nranks` ranks that the
  /// existing ranks grow() to, with the id one of them made with grow_id().
  [[nodiscard]] static Communicator join(std::shared_ptr<const Library> lib, int nranks, int rank,
                                         const UniqueId& id, const Config& config = {});

  /// ncclCommSuspend (NCCL >= 2.29.7): with SuspendFlags::kMemory NCCL releases its dynamic GPU
  /// memory. Until resume() every operation is refused (UsageError) before NCCL sees it;
  /// memory_stats(), destroy() and abort() are allowed. See SuspendGuard.
  void suspend(SuspendFlags flags = SuspendFlags::kMemory);
  /// ncclCommResume (NCCL >= 2.29.7): takes back what suspend() released.
  void resume();
  /// ncclCommMemStats (NCCL >= 2.29.7): every statistic, named.
  MemoryStats memory_stats() const;

  /// Live: operations may be issued. revoked() / suspended(): it still owns its NCCL
  /// communicator in that state; rank(), size(), device() and native() answer in all three.
  bool valid() const noexcept { return state_ == State::kLive; }
  bool revoked() const noexcept { return state_ == State::kRevoked; }
  bool suspended() const noexcept { return state_ == State::kSuspended; }
  explicit operator bool() const noexcept { return valid(); }
  int rank() const;
  int size() const;
  int device() const;
  /// The library this communicator was made from (null for an empty or moved-from one).
  const std::shared_ptr<const Library>& library() const noexcept;
  abi::ncclComm_t native() const;

  /// ncclCommFinalize: flushes this rank's operations and waits for the other ranks. With a
  /// deadline (per call, else Config::timeout of the creation) the communicator must be
  /// nonblocking (made with Config::timeout or Config::blocking = false); on expiry it is aborted
  /// and TimeoutError is thrown. Then destroy().
  void finalize(std::optional<std::chrono::milliseconds> deadline = std::nullopt);
  /// ncclCommDestroy: frees local resources. Not finalized yet and with a deadline (per call, else
  /// Config::timeout), it is finalized within that deadline first, so destroy cannot hang.
  void destroy(std::optional<std::chrono::milliseconds> deadline = std::nullopt);
  /// ncclCommAbort: stops outstanding work and frees everything without waiting for peers. The
  /// wait for NCCL is bounded ($NCCLRT_ABORT_TIMEOUT_MS, default 10 s); past it ncclrt logs an
  /// error and goes on. Idempotent; never throws.
  void abort() noexcept;

  /// Waits for the work enqueued on `stream` while watching the communicator: an asynchronous
  /// NCCL error throws NcclError, a passed deadline TimeoutError. With OnFailure::kAbort the
  /// communicator is aborted first; with OnFailure::kLeave it is left as it is, for the caller to
  /// revoke() and shrink() away a failed rank. Refused (UsageError) on a stream being captured
  /// into a CUDA graph.
  void synchronize(CUstream_st* stream, std::chrono::milliseconds deadline,
                   OnFailure on_failure = OnFailure::kAbort) const;
  /// Hands the work enqueued on `stream` so far to the watchdog (see Watchdog): if it has not
  /// finished within `deadline`, or the communicator reports an error, the watchdog aborts the
  /// communicator and the next call on it throws the reason.
  void watch(CUstream_st* stream, std::chrono::milliseconds deadline) const;

  // Collectives. `count` is in elements of `type`.
  void all_reduce(const void* send, void* recv, std::size_t count, DataType type, ReduceOp op,
                  CUstream_st* stream) const;
  void broadcast(const void* send, void* recv, std::size_t count, DataType type, int root,
                 CUstream_st* stream) const;
  /// `recv` is used on the root only and may be null elsewhere.
  void reduce(const void* send, void* recv, std::size_t count, DataType type, ReduceOp op, int root,
              CUstream_st* stream) const;
  /// `recv` holds size() * send_count elements; in place when send == recv + rank * send_count.
  void all_gather(const void* send, void* recv, std::size_t send_count, DataType type,
                  CUstream_st* stream) const;
  /// `send` holds size() * recv_count elements.
  void reduce_scatter(const void* send, void* recv, std::size_t recv_count, DataType type,
                      ReduceOp op, CUstream_st* stream) const;
  /// `count` elements to and from every rank (native on NCCL >= 2.28.3, else grouped send/recv).
  void all_to_all(const void* send, void* recv, std::size_t count, DataType type,
                  CUstream_st* stream) const;
  /// The root's `recv` gets size() * count elements (native on >= 2.28.3, else send/recv).
  void gather(const void* send, void* recv, std::size_t count, DataType type, int root,
              CUstream_st* stream) const;
  /// The root's `send` holds size() * count elements (native on >= 2.28.3, else send/recv).
  void scatter(const void* send, void* recv, std::size_t count, DataType type, int root,
               CUstream_st* stream) const;
  /// Rank r's `send_count` elements land at recv + displs[r] (grouped broadcasts).
  void all_gatherv(const void* send, std::size_t send_count, void* recv, Counts recv_counts,
                   Counts displs, DataType type, CUstream_st* stream) const;
  /// Block r of `send` (recv_counts[r] elements at displs[r]) is reduced into rank r's `recv`
  /// (grouped reduces).
  void reduce_scatterv(const void* send, void* recv, Counts recv_counts, Counts displs,
                       DataType type, ReduceOp op, CUstream_st* stream) const;
  void send(const void* buf, std::size_t count, DataType type, int peer, CUstream_st* stream) const;
  void recv(void* buf, std::size_t count, DataType type, int peer, CUstream_st* stream) const;

  /// The same collectives with per-call options (the nccl*Config calls, NCCL >= 2.31.2). An
  /// empty `config` makes the ordinary call; a non-empty one on an older NCCL is UnsupportedError.
  /// The grouped fallbacks of all_to_all/gather/scatter take no options.
  void all_reduce(const void* send, void* recv, std::size_t count, DataType type, ReduceOp op,
                  CUstream_st* stream, const CollConfig& config) const;
  void broadcast(const void* send, void* recv, std::size_t count, DataType type, int root,
                 CUstream_st* stream, const CollConfig& config) const;
  void reduce(const void* send, void* recv, std::size_t count, DataType type, ReduceOp op, int root,
              CUstream_st* stream, const CollConfig& config) const;
  void all_gather(const void* send, void* recv, std::size_t send_count, DataType type,
                  CUstream_st* stream, const CollConfig& config) const;
  void reduce_scatter(const void* send, void* recv, std::size_t recv_count, DataType type,
                      ReduceOp op, CUstream_st* stream, const CollConfig& config) const;
  void all_to_all(const void* send, void* recv, std::size_t count, DataType type,
                  CUstream_st* stream, const CollConfig& config) const;
  void gather(const void* send, void* recv, std::size_t count, DataType type, int root,
              CUstream_st* stream, const CollConfig& config) const;
  void scatter(const void* send, void* recv, std::size_t count, DataType type, int root,
               CUstream_st* stream, const CollConfig& config) const;

  /// ncclPutSignal (NCCL >= 2.29.2): writes `count` elements from `local` into `peer`'s part of
  /// `window` at byte `offset`, then raises signal `signal_index` of context `context` there.
  /// `window` must come from this communicator's register_window(), and NCCL requires `local` to
  /// lie in a window registered with WindowFlags::kCollSymmetric as well.
  void put_signal(const void* local, std::size_t count, DataType type, int peer,
                  const Window& window, std::size_t offset, int signal_index, int context,
                  CUstream_st* stream) const;
  /// ncclSignal (NCCL >= 2.29.2): raises a signal on `peer` without data.
  void signal(int peer, int signal_index, int context, CUstream_st* stream) const;
  /// ncclWaitSignal (NCCL >= 2.29.2): the stream waits until every SignalWait is satisfied.
  void wait_signal(View<SignalWait> waits, CUstream_st* stream) const;

  // Typed forms for C++ arithmetic types.
  template <class T>
  void all_reduce(const T* send, T* recv, std::size_t count, ReduceOp op,
                  CUstream_st* stream) const {
    all_reduce(send, recv, count, data_type_of<T>(), op, stream);
  }
  template <class T>
  void broadcast(const T* send, T* recv, std::size_t count, int root, CUstream_st* stream) const {
    broadcast(send, recv, count, data_type_of<T>(), root, stream);
  }
  template <class T>
  void reduce(const T* send, T* recv, std::size_t count, ReduceOp op, int root,
              CUstream_st* stream) const {
    reduce(send, recv, count, data_type_of<T>(), op, root, stream);
  }
  template <class T>
  void all_gather(const T* send, T* recv, std::size_t send_count, CUstream_st* stream) const {
    all_gather(send, recv, send_count, data_type_of<T>(), stream);
  }
  template <class T>
  void reduce_scatter(const T* send, T* recv, std::size_t recv_count, ReduceOp op,
                      CUstream_st* stream) const {
    reduce_scatter(send, recv, recv_count, data_type_of<T>(), op, stream);
  }
  template <class T>
  void all_to_all(const T* send, T* recv, std::size_t count, CUstream_st* stream) const {
    all_to_all(send, recv, count, data_type_of<T>(), stream);
  }
  template <class T>
  void gather(const T* send, T* recv, std::size_t count, int root, CUstream_st* stream) const {
    gather(send, recv, count, data_type_of<T>(), root, stream);
  }
  template <class T>
  void scatter(const T* send, T* recv, std::size_t count, int root, CUstream_st* stream) const {
    scatter(send, recv, count, data_type_of<T>(), root, stream);
  }
  template <class T>
  void send(const T* buf, std::size_t count, int peer, CUstream_st* stream) const {
    send(buf, count, data_type_of<T>(), peer, stream);
  }
  template <class T>
  void recv(T* buf, std::size_t count, int peer, CUstream_st* stream) const {
    recv(buf, count, data_type_of<T>(), peer, stream);
  }

  /// ncclRedOpCreatePreMulSum (NCCL >= 2.11): sum after multiplying by `scalar`.
  [[nodiscard]] PreMulSum create_pre_mul_sum(const void* scalar, DataType type,
                                             ScalarResidence residence) const;
  /// ncclCommRegister (NCCL >= 2.19). Refused (UsageError) during a CUDA-graph capture that
  /// ncclrt can see: on the default streams, or on `stream` when you name the one you capture on.
  [[nodiscard]] Registration register_buffer(void* buf, std::size_t bytes,
                                             CUstream_st* stream = nullptr) const;
  /// ncclCommWindowRegister (NCCL >= 2.27). Refused during a visible capture, as register_buffer.
  [[nodiscard]] Window register_window(void* buf, std::size_t bytes,
                                       WindowFlags flags = WindowFlags::kDefault,
                                       CUstream_st* stream = nullptr) const;

  /// ncclCommQueryProperties (NCCL >= 2.29.2): what this communicator offers the device API.
  CommProperties properties() const;
  /// ncclDevCommCreate (NCCL >= 2.29.2): a device communicator for kernels written against
  /// nccl_device.h. Refused (UnsupportedError) where properties() says the device API is not
  /// supported, and (UsageError) inside a group or during a visible CUDA-graph capture.
  [[nodiscard]] DevComm create_dev_comm(const DevCommRequirements& requirements = {}) const;

  /// ncclCommGetAsyncError: throws NcclError if the communicator has failed.
  void check() const;

  /// The flight recorder's entries (oldest first) and what it knows of the GPU's progress.
  /// Allowed in every state but empty / moved-from (then UsageError); reads without blocking.
  Trace trace() const;
  /// The label (a trace_label() id, 0: none) that the entries recorded from now on carry;
  /// returns the previous one. See TraceLabel. The owner thread only, as every operation.
  std::uint32_t set_trace_label(std::uint32_t label) const noexcept;

 private:
  enum class State : unsigned char {
    kEmpty,
    kMovedFrom,
    kLive,
    kFinalized,
    kRevoked,
    kSuspended,
    kDestroyed,
    kAborted
  };

  // What the hot path reads, copied once from the shared state (fixed for the communicator's
  // life), so an operation touches no other cache line.
  struct Hot {
    const detail::Symbols* fn = nullptr;
    abi::ncclComm_t comm = nullptr;
    const std::atomic<bool>* poisoned = nullptr;  // the watchdog's flag
    detail::TraceRing* trace = nullptr;           // the flight recorder; null when off
    int rank = 0;
    int size = 0;
    int device = -1;
    unsigned type_mask = 0;  // DataTypes the loaded NCCL has
    bool has_avg = false;
    bool nonblocking = false;  // every result goes through settle()
  };

  explicit Communicator(std::shared_ptr<detail::CommState> state);
  const Library& lib() const noexcept;
  void wait_finalized(std::optional<std::chrono::milliseconds> deadline);
  // The hot path's state check: a compare and one relaxed load of the watchdog's flag.
  void require_live(const char* op) const {
    if (state_ != State::kLive || hot_.poisoned->load(std::memory_order_relaxed)) fail_state(op);
  }
  [[noreturn]] void fail_state(const char* op) const;
  // Whether this object still owns an NCCL communicator (live, finalized, revoked, suspended).
  bool owns() const noexcept {
    return state_ == State::kLive || state_ == State::kFinalized || state_ == State::kRevoked ||
           state_ == State::kSuspended;
  }
  // For the calls allowed outside the live state: throws unless the state is one of `allowed`.
  void require_state(const char* op, std::initializer_list<State> allowed) const;
  // Polls a management call that NCCL reports in progress (revoke, suspend, resume, finalize)
  // until it is done, within `deadline` (else the communicator's); on expiry aborts and throws
  // TimeoutError saying `why` ("the other ranks did not all finalize").
  void wait_quiet(abi::ncclResult_t first, const char* call,
                  std::optional<std::chrono::milliseconds> deadline, const char* why = nullptr);
  // revoke() on a blocking communicator: NCCL's revoke runs inline there; bounded on a thread.
  void revoke_blocking(std::chrono::milliseconds limit);
  // Each collective's one implementation; `config` null for the ordinary call.
  void all_reduce(const void* send, void* recv, std::size_t count, DataType type, ReduceOp op,
                  CUstream_st* stream, const CollConfig* config) const;
  void broadcast(const void* send, void* recv, std::size_t count, DataType type, int root,
                 CUstream_st* stream, const CollConfig* config) const;
  void reduce(const void* send, void* recv, std::size_t count, DataType type, ReduceOp op, int root,
              CUstream_st* stream, const CollConfig* config) const;
  void all_gather(const void* send, void* recv, std::size_t send_count, DataType type,
                  CUstream_st* stream, const CollConfig* config) const;
  void reduce_scatter(const void* send, void* recv, std::size_t recv_count, DataType type,
                      ReduceOp op, CUstream_st* stream, const CollConfig* config) const;
  void all_to_all(const void* send, void* recv, std::size_t count, DataType type,
                  CUstream_st* stream, const CollConfig* config) const;
  void gather(const void* send, void* recv, std::size_t count, DataType type, int root,
              CUstream_st* stream, const CollConfig* config) const;
  void scatter(const void* send, void* recv, std::size_t count, DataType type, int root,
               CUstream_st* stream, const CollConfig* config) const;
  const abi::ncclCollConfig_t* coll_config(const CollConfig& config, Function f,
                                           abi::ncclCollConfig_t& out) const;
  static const char* state_text(State state) noexcept;
  [[noreturn]] void fail(abi::ncclResult_t result, const char* call) const;
  // One compare on a blocking communicator's success; everything else is settle()'s.
  void call_result(abi::ncclResult_t result, const char* call) const {
    if (__builtin_expect(result != abi::ncclSuccess || hot_.nonblocking, 0)) settle(result, call);
  }
  // An error throws. On a nonblocking communicator ncclInProgress means NCCL is still enqueuing
  // the work: outside a group, wait (within the deadline) until it has, so that what the caller
  // issues next on the stream is ordered after it; inside a group, leave it to the group's end,
  // which waits for every nonblocking communicator touched inside.
  void settle(abi::ncclResult_t result, const char* call) const;
  // Issues the calls of `body` (given a recorder of each call's result) in one NCCL group that is
  // always closed, even when a call inside it fails; then throws the first failure.
  template <class Body>
  void grouped(Body&& body) const;
  // The argument checks of every operation: the test inline, the message and throw out of line
  // (bad_*), so the success path is a few compares with no frame for message building.
  void check_type(const char* op, DataType type) const {
    const auto t = static_cast<unsigned>(type);
    if (__builtin_expect(t < 32 && ((hot_.type_mask >> t) & 1u), 1)) return;
    bad_type(op, type);
  }
  void check_op(const char* op, ReduceOp rop) const {
    const auto v = static_cast<unsigned>(rop);
    if (__builtin_expect(v < static_cast<unsigned>(ReduceOp::kAvg), 1)) return;
    check_other_op(op, rop);
  }
  void check_rank(const char* op, const char* what, int r) const {
    if (__builtin_expect(static_cast<unsigned>(r) < static_cast<unsigned>(hot_.size), 1)) return;
    bad_rank(op, what, r);
  }
  void check_buffer(const char* op, const char* what, const void* p, std::size_t count,
                    DataType type, std::size_t multiple = 1) const {
    std::size_t bytes;
    if (__builtin_expect(
            count == 0 ||
                (p != nullptr && !__builtin_mul_overflow(count, size_of(type) * multiple, &bytes)),
            1)) {
      return;
    }
    bad_buffer(op, what, p, count, type, multiple);
  }
  [[noreturn]] void bad_type(const char* op, DataType type) const;
  void check_other_op(const char* op, ReduceOp rop) const;  // avg, PreMulSum, or throws
  [[noreturn]] void bad_rank(const char* op, const char* what, int r) const;
  [[noreturn]] void bad_buffer(const char* op, const char* what, const void* p, std::size_t count,
                               DataType type, std::size_t multiple) const;
  void release(State next) noexcept;

  std::shared_ptr<detail::CommState> shared_;  // the NCCL communicator, with its handles
  Hot hot_;
  State state_ = State::kEmpty;
};

/// Suspends a communicator (Communicator::suspend) for a scope and resumes it when the guard
/// goes. Call resume() to see an error: the destructor cannot throw and only logs it.
class SuspendGuard {
 public:
  explicit SuspendGuard(Communicator& comm, SuspendFlags flags = SuspendFlags::kMemory);
  SuspendGuard(const SuspendGuard&) = delete;  // exactly one resume per suspend
  SuspendGuard& operator=(const SuspendGuard&) = delete;
  ~SuspendGuard();
  void resume();

 private:
  Communicator* comm_;
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
