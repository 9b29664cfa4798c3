// A communicator's operations: the host-side argument checks, the collectives and
// point-to-point calls, and the grouped forms NCCL lacks or that older releases lack.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <vector>

#include "comm_state.hpp"
#include "config.hpp"
#include "flight_recorder.hpp"
#include "group_state.hpp"
#include "nccl_error.hpp"
#include "ncclrt/communicator.hpp"
#include "ncclrt/error.hpp"

namespace ncclrt {

using detail::Clock;

// Each collective's one implementation is inlined into both public forms, so the one without
// per-call options costs what it did before they existed.
#define NCCLRT_INLINE __attribute__((always_inline)) inline

void Communicator::settle(abi::ncclResult_t result, const char* call) const {
  if (!hot_.nonblocking) fail(result, call);
  if (detail::group_depth() > 0) {
    detail::note_in_group(shared_);  // the group's end waits for it
    if (result == abi::ncclSuccess || result == abi::ncclInProgress) return;
    fail(result, call);
  }
  if (result == abi::ncclSuccess) return;
  if (result != abi::ncclInProgress) fail(result, call);
  const abi::ncclResult_t state = detail::wait_out(
      *shared_, result, Clock::now(), detail::deadline_of(*shared_, std::nullopt),
      {std::string(call) + " was not enqueued",
       "the nonblocking communicator kept reporting ncclInProgress; a peer may be missing"});
  if (state != abi::ncclSuccess) fail(state, call);
}

// ---- argument checks: host-side only, before anything is enqueued ----

[[noreturn]] void Communicator::bad_type(const char* op, DataType type) const {
  if (static_cast<unsigned>(type) < static_cast<unsigned>(kNumDataTypes)) {
    lib().require(type == DataType::kBfloat16 ? Feature::bfloat16 : Feature::fp8);
  }
  throw UsageError(std::string(op) + ": " + std::to_string(static_cast<int>(type)) +
                   " is not an NCCL data type");
}

void Communicator::check_other_op(const char* op, ReduceOp rop) const {
  const int v = static_cast<int>(rop);
  if (v == static_cast<int>(ReduceOp::kAvg)) {
    if (!hot_.has_avg) lib().require(Feature::avg);
    return;
  }
  // A PreMulSum op is valid only on the communicator that made it, while its handle lives.
  const auto& live = shared_->pre_mul_sums;
  if (v >= kNumBuiltinOps && std::find(live.begin(), live.end(), v) != live.end()) return;
  throw UsageError(std::string(op) + ": " + std::to_string(v) +
                   " is not a reduce op of this communicator (built-in ops are 0..4; others "
                   "come from create_pre_mul_sum and are valid on that communicator until the "
                   "PreMulSum handle goes)");
}

[[noreturn]] void Communicator::bad_rank(const char* op, const char* what, int r) const {
  throw UsageError(std::string(op) + ": " + what + " " + std::to_string(r) + " is outside 0.." +
                   std::to_string(hot_.size - 1) + " (" + detail::rank_text(hot_.rank, hot_.size) +
                   ")");
}

[[noreturn]] void Communicator::bad_buffer(const char* op, const char* what, const void* p,
                                           std::size_t count, DataType type,
                                           std::size_t multiple) const {
  if (p != nullptr || count > SIZE_MAX / size_of(type) / multiple) {
    throw UsageError(std::string(op) + ": " + std::to_string(count) + " elements of " +
                     to_string(type) + " overflow a byte size");
  }
  throw UsageError(std::string(op) + ": the " + what + " buffer is null with a count of " +
                   std::to_string(count) + " (" + detail::rank_text(hot_.rank, hot_.size) + ")");
}

// ---- collectives ----

NCCLRT_INLINE void Communicator::all_reduce(const void* send, void* recv, std::size_t count,
                                            DataType type, ReduceOp op, CUstream_st* stream,
                                            const CollConfig* config) const {
  require_live("all_reduce");
  check_type("all_reduce", type);
  check_op("all_reduce", op);
  check_buffer("all_reduce", "send", send, count, type);
  check_buffer("all_reduce", "recv", recv, count, type);
  detail::Traced traced(hot_.trace, TraceOp::kAllReduce, send, recv, count, type, op, -1, stream);
  if (__builtin_expect(config == nullptr, 1)) {
    call_result(
        traced(hot_.fn->ncclAllReduce(send, recv, count, static_cast<abi::ncclDataType_t>(type),
                                      static_cast<abi::ncclRedOp_t>(op), hot_.comm, stream)),
        "ncclAllReduce");
  } else {
    abi::ncclCollConfig_t c;
    call_result(traced(hot_.fn->ncclAllReduceConfig(
                    send, recv, count, static_cast<abi::ncclDataType_t>(type),
                    static_cast<abi::ncclRedOp_t>(op), hot_.comm, stream,
                    coll_config(*config, Function::ncclAllReduceConfig, c))),
                "ncclAllReduceConfig");
  }
}

NCCLRT_INLINE void Communicator::broadcast(const void* send, void* recv, std::size_t count,
                                           DataType type, int root, CUstream_st* stream,
                                           const CollConfig* config) const {
  require_live("broadcast");
  check_type("broadcast", type);
  check_rank("broadcast", "root", root);
  if (hot_.rank == root) check_buffer("broadcast", "send", send, count, type);
  check_buffer("broadcast", "recv", recv, count, type);
  detail::Traced traced(hot_.trace, TraceOp::kBroadcast, send, recv, count, type, -1, root, stream);
  if (__builtin_expect(config == nullptr, 1)) {
    call_result(
        traced(hot_.fn->ncclBroadcast(send, recv, count, static_cast<abi::ncclDataType_t>(type),
                                      root, hot_.comm, stream)),
        "ncclBroadcast");
  } else {
    abi::ncclCollConfig_t c;
    call_result(traced(hot_.fn->ncclBroadcastConfig(
                    send, recv, count, static_cast<abi::ncclDataType_t>(type), root, hot_.comm,
                    stream, coll_config(*config, Function::ncclBroadcastConfig, c))),
                "ncclBroadcastConfig");
  }
}

NCCLRT_INLINE void Communicator::reduce(const void* send, void* recv, std::size_t count,
                                        DataType type, ReduceOp op, int root, CUstream_st* stream,
                                        const CollConfig* config) const {
  require_live("reduce");
  check_type("reduce", type);
  check_op("reduce", op);
  check_rank("reduce", "root", root);
  check_buffer("reduce", "send", send, count, type);
  if (hot_.rank == root) check_buffer("reduce", "recv", recv, count, type);
  detail::Traced traced(hot_.trace, TraceOp::kReduce, send, recv, count, type, op, root, stream);
  if (__builtin_expect(config == nullptr, 1)) {
    call_result(
        traced(hot_.fn->ncclReduce(send, recv, count, static_cast<abi::ncclDataType_t>(type),
                                   static_cast<abi::ncclRedOp_t>(op), root, hot_.comm, stream)),
        "ncclReduce");
  } else {
    abi::ncclCollConfig_t c;
    call_result(
        traced(hot_.fn->ncclReduceConfig(send, recv, count, static_cast<abi::ncclDataType_t>(type),
                                         static_cast<abi::ncclRedOp_t>(op), root, hot_.comm, stream,
                                         coll_config(*config, Function::ncclReduceConfig, c))),
        "ncclReduceConfig");
  }
}

NCCLRT_INLINE void Communicator::all_gather(const void* send, void* recv, std::size_t send_count,
                                            DataType type, CUstream_st* stream,
                                            const CollConfig* config) const {
  require_live("all_gather");
  check_type("all_gather", type);
  check_buffer("all_gather", "send", send, send_count, type);
  check_buffer("all_gather", "recv", recv, send_count, type, static_cast<std::size_t>(hot_.size));
  detail::Traced traced(hot_.trace, TraceOp::kAllGather, send, recv, send_count, type, -1, -1,
                        stream);
  if (__builtin_expect(config == nullptr, 1)) {
    call_result(
        traced(hot_.fn->ncclAllGather(send, recv, send_count,
                                      static_cast<abi::ncclDataType_t>(type), hot_.comm, stream)),
        "ncclAllGather");
  } else {
    abi::ncclCollConfig_t c;
    call_result(traced(hot_.fn->ncclAllGatherConfig(
                    send, recv, send_count, static_cast<abi::ncclDataType_t>(type), hot_.comm,
                    stream, coll_config(*config, Function::ncclAllGatherConfig, c))),
                "ncclAllGatherConfig");
  }
}

NCCLRT_INLINE void Communicator::reduce_scatter(const void* send, void* recv,
                                                std::size_t recv_count, DataType type, ReduceOp op,
                                                CUstream_st* stream,
                                                const CollConfig* config) const {
  require_live("reduce_scatter");
  check_type("reduce_scatter", type);
  check_op("reduce_scatter", op);
  check_buffer("reduce_scatter", "send", send, recv_count, type,
               static_cast<std::size_t>(hot_.size));
  check_buffer("reduce_scatter", "recv", recv, recv_count, type);
  detail::Traced traced(hot_.trace, TraceOp::kReduceScatter, send, recv, recv_count, type, op, -1,
                        stream);
  if (__builtin_expect(config == nullptr, 1)) {
    call_result(traced(hot_.fn->ncclReduceScatter(
                    send, recv, recv_count, static_cast<abi::ncclDataType_t>(type),
                    static_cast<abi::ncclRedOp_t>(op), hot_.comm, stream)),
                "ncclReduceScatter");
  } else {
    abi::ncclCollConfig_t c;
    call_result(traced(hot_.fn->ncclReduceScatterConfig(
                    send, recv, recv_count, static_cast<abi::ncclDataType_t>(type),
                    static_cast<abi::ncclRedOp_t>(op), hot_.comm, stream,
                    coll_config(*config, Function::ncclReduceScatterConfig, c))),
                "ncclReduceScatterConfig");
  }
}

// Without per-call options; with them (empty ones are the ordinary call).
void Communicator::all_reduce(const void* send, void* recv, std::size_t count, DataType type,
                              ReduceOp op, CUstream_st* stream) const {
  all_reduce(send, recv, count, type, op, stream, static_cast<const CollConfig*>(nullptr));
}
void Communicator::all_reduce(const void* send, void* recv, std::size_t count, DataType type,
                              ReduceOp op, CUstream_st* stream, const CollConfig& config) const {
  all_reduce(send, recv, count, type, op, stream, config.empty() ? nullptr : &config);
}

void Communicator::broadcast(const void* send, void* recv, std::size_t count, DataType type,
                             int root, CUstream_st* stream) const {
  broadcast(send, recv, count, type, root, stream, static_cast<const CollConfig*>(nullptr));
}
void Communicator::broadcast(const void* send, void* recv, std::size_t count, DataType type,
                             int root, CUstream_st* stream, const CollConfig& config) const {
  broadcast(send, recv, count, type, root, stream, config.empty() ? nullptr : &config);
}

void Communicator::reduce(const void* send, void* recv, std::size_t count, DataType type,
                          ReduceOp op, int root, CUstream_st* stream) const {
  reduce(send, recv, count, type, op, root, stream, static_cast<const CollConfig*>(nullptr));
}
void Communicator::reduce(const void* send, void* recv, std::size_t count, DataType type,
                          ReduceOp op, int root, CUstream_st* stream,
                          const CollConfig& config) const {
  reduce(send, recv, count, type, op, root, stream, config.empty() ? nullptr : &config);
}

void Communicator::all_gather(const void* send, void* recv, std::size_t send_count, DataType type,
                              CUstream_st* stream) const {
  all_gather(send, recv, send_count, type, stream, static_cast<const CollConfig*>(nullptr));
}
void Communicator::all_gather(const void* send, void* recv, std::size_t send_count, DataType type,
                              CUstream_st* stream, const CollConfig& config) const {
  all_gather(send, recv, send_count, type, stream, config.empty() ? nullptr : &config);
}

void Communicator::reduce_scatter(const void* send, void* recv, std::size_t recv_count,
                                  DataType type, ReduceOp op, CUstream_st* stream) const {
  reduce_scatter(send, recv, recv_count, type, op, stream, static_cast<const CollConfig*>(nullptr));
}
void Communicator::reduce_scatter(const void* send, void* recv, std::size_t recv_count,
                                  DataType type, ReduceOp op, CUstream_st* stream,
                                  const CollConfig& config) const {
  reduce_scatter(send, recv, recv_count, type, op, stream, config.empty() ? nullptr : &config);
}

void Communicator::all_to_all(const void* send, void* recv, std::size_t count, DataType type,
                              CUstream_st* stream) const {
  all_to_all(send, recv, count, type, stream, static_cast<const CollConfig*>(nullptr));
}
void Communicator::all_to_all(const void* send, void* recv, std::size_t count, DataType type,
                              CUstream_st* stream, const CollConfig& config) const {
  all_to_all(send, recv, count, type, stream, config.empty() ? nullptr : &config);
}

void Communicator::gather(const void* send, void* recv, std::size_t count, DataType type, int root,
                          CUstream_st* stream) const {
  gather(send, recv, count, type, root, stream, static_cast<const CollConfig*>(nullptr));
}
void Communicator::gather(const void* send, void* recv, std::size_t count, DataType type, int root,
                          CUstream_st* stream, const CollConfig& config) const {
  gather(send, recv, count, type, root, stream, config.empty() ? nullptr : &config);
}

void Communicator::scatter(const void* send, void* recv, std::size_t count, DataType type, int root,
                           CUstream_st* stream) const {
  scatter(send, recv, count, type, root, stream, static_cast<const CollConfig*>(nullptr));
}
void Communicator::scatter(const void* send, void* recv, std::size_t count, DataType type, int root,
                           CUstream_st* stream, const CollConfig& config) const {
  scatter(send, recv, count, type, root, stream, config.empty() ? nullptr : &config);
}

void Communicator::send(const void* buf, std::size_t count, DataType type, int peer,
                        CUstream_st* stream) const {
  require_live("send");
  if (!hot_.fn->ncclSend) lib().require(Function::ncclSend);
  check_type("send", type);
  check_rank("send", "peer", peer);
  check_buffer("send", "send", buf, count, type);
  detail::Traced traced(hot_.trace, TraceOp::kSend, buf, nullptr, count, type, -1, peer, stream);
  call_result(traced(hot_.fn->ncclSend(buf, count, static_cast<abi::ncclDataType_t>(type), peer,
                                       hot_.comm, stream)),
              "ncclSend");
}

void Communicator::recv(void* buf, std::size_t count, DataType type, int peer,
                        CUstream_st* stream) const {
  require_live("recv");
  if (!hot_.fn->ncclRecv) lib().require(Function::ncclRecv);
  check_type("recv", type);
  check_rank("recv", "peer", peer);
  check_buffer("recv", "recv", buf, count, type);
  detail::Traced traced(hot_.trace, TraceOp::kRecv, nullptr, buf, count, type, -1, peer, stream);
  call_result(traced(hot_.fn->ncclRecv(buf, count, static_cast<abi::ncclDataType_t>(type), peer,
                                       hot_.comm, stream)),
              "ncclRecv");
}

namespace {

const char* at(const void* base, std::size_t elements, DataType type) {
  return static_cast<const char*>(base) + elements * size_of(type);
}
char* at(void* base, std::size_t elements, DataType type) {
  return static_cast<char*>(base) + elements * size_of(type);
}

}  // namespace

// The grouped forms: arguments are all checked first, then one NCCL group is issued.
// The grouped forms: arguments are all checked first, then one NCCL group is issued. The group
// is always ended (and, on a nonblocking communicator, waited for) before a failure inside it
// is thrown; nested in a caller's group, NCCL acts at the caller's end.
template <class Body>
void Communicator::grouped(Body&& body) const {
  detail::group_start(lib());
  abi::ncclResult_t first = abi::ncclSuccess;
  const char* first_call = "";
  if (hot_.nonblocking) detail::note_in_group(shared_);
  try {
    body([&](abi::ncclResult_t r, const char* call) {
      if (first == abi::ncclSuccess && r != abi::ncclSuccess &&
          !(r == abi::ncclInProgress && hot_.nonblocking)) {
        first = r;
        first_call = call;
      }
    });
  } catch (...) {
    try {
      detail::group_end(lib(), std::nullopt);
    } catch (...) {  // the first failure is the one to report
    }
    throw;
  }
  if (first != abi::ncclSuccess) {
    try {
      detail::group_end(lib(), std::nullopt);
    } catch (...) {  // NCCL fails the group's end for the call that failed: report the call
    }
    fail(first, first_call);
  }
  detail::group_end(lib(), std::nullopt);
}

NCCLRT_INLINE void Communicator::all_to_all(const void* send, void* recv, std::size_t count,
                                            DataType type, CUstream_st* stream,
                                            const CollConfig* config) const {
  require_live("all_to_all");
  check_type("all_to_all", type);
  const auto n = static_cast<std::size_t>(hot_.size);
  check_buffer("all_to_all", "send", send, count, type, n);
  check_buffer("all_to_all", "recv", recv, count, type, n);
  detail::Traced traced(hot_.trace, TraceOp::kAllToAll, send, recv, count, type, -1, -1, stream);
  const auto t = static_cast<abi::ncclDataType_t>(type);
  if (hot_.fn->ncclAlltoAll) {
    if (__builtin_expect(config == nullptr, 1)) {
      call_result(traced(hot_.fn->ncclAlltoAll(send, recv, count, t, hot_.comm, stream)),
                  "ncclAlltoAll");
    } else {
      abi::ncclCollConfig_t c;
      call_result(traced(hot_.fn->ncclAlltoAllConfig(
                      send, recv, count, t, hot_.comm, stream,
                      coll_config(*config, Function::ncclAlltoAllConfig, c))),
                  "ncclAlltoAllConfig");
    }
    return;
  }
  if (config != nullptr)
    lib().require(Function::ncclAlltoAllConfig);  // older than the *Config calls
  lib().require(Function::ncclSend);
  try {
    grouped([&](auto&& issue) {
      for (int p = 0; p < hot_.size; ++p) {
        const auto off = static_cast<std::size_t>(p) * count;
        issue(hot_.fn->ncclSend(at(send, off, type), count, t, p, hot_.comm, stream), "ncclSend");
        issue(hot_.fn->ncclRecv(at(recv, off, type), count, t, p, hot_.comm, stream), "ncclRecv");
      }
    });
  } catch (...) {
    traced.failed();
    throw;
  }
  traced(abi::ncclSuccess);
}

NCCLRT_INLINE void Communicator::gather(const void* send, void* recv, std::size_t count,
                                        DataType type, int root, CUstream_st* stream,
                                        const CollConfig* config) const {
  require_live("gather");
  check_type("gather", type);
  check_rank("gather", "root", root);
  check_buffer("gather", "send", send, count, type);
  if (hot_.rank == root)
    check_buffer("gather", "recv", recv, count, type, static_cast<std::size_t>(hot_.size));
  detail::Traced traced(hot_.trace, TraceOp::kGather, send, recv, count, type, -1, root, stream);
  const auto t = static_cast<abi::ncclDataType_t>(type);
  if (hot_.fn->ncclGather) {
    if (__builtin_expect(config == nullptr, 1)) {
      call_result(traced(hot_.fn->ncclGather(send, recv, count, t, root, hot_.comm, stream)),
                  "ncclGather");
    } else {
      abi::ncclCollConfig_t c;
      call_result(
          traced(hot_.fn->ncclGatherConfig(send, recv, count, t, root, hot_.comm, stream,
                                           coll_config(*config, Function::ncclGatherConfig, c))),
          "ncclGatherConfig");
    }
    return;
  }
  if (config != nullptr) lib().require(Function::ncclGatherConfig);  // older than the *Config calls
  lib().require(Function::ncclSend);
  try {
    grouped([&](auto&& issue) {
      issue(hot_.fn->ncclSend(send, count, t, root, hot_.comm, stream), "ncclSend");
      if (hot_.rank == root) {
        for (int p = 0; p < hot_.size; ++p) {
          issue(hot_.fn->ncclRecv(at(recv, static_cast<std::size_t>(p) * count, type), count, t, p,
                                  hot_.comm, stream),
                "ncclRecv");
        }
      }
    });
  } catch (...) {
    traced.failed();
    throw;
  }
  traced(abi::ncclSuccess);
}

NCCLRT_INLINE void Communicator::scatter(const void* send, void* recv, std::size_t count,
                                         DataType type, int root, CUstream_st* stream,
                                         const CollConfig* config) const {
  require_live("scatter");
  check_type("scatter", type);
  check_rank("scatter", "root", root);
  if (hot_.rank == root)
    check_buffer("scatter", "send", send, count, type, static_cast<std::size_t>(hot_.size));
  check_buffer("scatter", "recv", recv, count, type);
  detail::Traced traced(hot_.trace, TraceOp::kScatter, send, recv, count, type, -1, root, stream);
  const auto t = static_cast<abi::ncclDataType_t>(type);
  if (hot_.fn->ncclScatter) {
    if (__builtin_expect(config == nullptr, 1)) {
      call_result(traced(hot_.fn->ncclScatter(send, recv, count, t, root, hot_.comm, stream)),
                  "ncclScatter");
    } else {
      abi::ncclCollConfig_t c;
      call_result(
          traced(hot_.fn->ncclScatterConfig(send, recv, count, t, root, hot_.comm, stream,
                                            coll_config(*config, Function::ncclScatterConfig, c))),
          "ncclScatterConfig");
    }
    return;
  }
  if (config != nullptr)
    lib().require(Function::ncclScatterConfig);  // older than the *Config calls
  lib().require(Function::ncclSend);
  try {
    grouped([&](auto&& issue) {
      if (hot_.rank == root) {
        for (int p = 0; p < hot_.size; ++p) {
          issue(hot_.fn->ncclSend(at(send, static_cast<std::size_t>(p) * count, type), count, t, p,
                                  hot_.comm, stream),
                "ncclSend");
        }
      }
      issue(hot_.fn->ncclRecv(recv, count, t, root, hot_.comm, stream), "ncclRecv");
    });
  } catch (...) {
    traced.failed();
    throw;
  }
  traced(abi::ncclSuccess);
}

namespace {

void check_layout(const char* op, Counts counts, Counts displs, int size, DataType type) {
  if (counts.size() != static_cast<std::size_t>(size) ||
      displs.size() != static_cast<std::size_t>(size)) {
    throw UsageError(std::string(op) + ": counts and displacements need one entry per rank (" +
                     std::to_string(size) + "); got " + std::to_string(counts.size()) + " and " +
                     std::to_string(displs.size()));
  }
  for (std::size_t r = 0; r < counts.size(); ++r) {
    const std::size_t max = SIZE_MAX / size_of(type);
    if (counts[r] > max || displs[r] > max - counts[r]) {
      throw UsageError(std::string(op) + ": block " + std::to_string(r) + " overflows a byte size");
    }
  }
}

// 1 when any block has elements (so a null buffer is an error), else 0.
std::size_t any_nonzero(Counts counts) {
  for (auto c : counts) {
    if (c != 0) return 1;
  }
  return 0;
}

}  // namespace

void Communicator::all_gatherv(const void* send, std::size_t send_count, void* recv,
                               Counts recv_counts, Counts displs, DataType type,
                               CUstream_st* stream) const {
  require_live("all_gatherv");
  check_type("all_gatherv", type);
  check_layout("all_gatherv", recv_counts, displs, hot_.size, type);
  if (recv_counts[static_cast<std::size_t>(hot_.rank)] != send_count) {
    throw UsageError("all_gatherv: send_count " + std::to_string(send_count) +
                     " differs from recv_counts[" + std::to_string(hot_.rank) +
                     "] = " + std::to_string(recv_counts[static_cast<std::size_t>(hot_.rank)]));
  }
  check_buffer("all_gatherv", "send", send, send_count, type);
  check_buffer("all_gatherv", "recv", recv, any_nonzero(recv_counts), type);
  detail::Traced traced(hot_.trace, TraceOp::kAllGatherv, send, recv, send_count, type, -1, -1,
                        stream);
  const auto t = static_cast<abi::ncclDataType_t>(type);
  try {
    grouped([&](auto&& issue) {
      for (int r = 0; r < hot_.size; ++r) {
        const auto i = static_cast<std::size_t>(r);
        issue(hot_.fn->ncclBroadcast(send, at(recv, displs[i], type), recv_counts[i], t, r,
                                     hot_.comm, stream),
              "ncclBroadcast");
      }
    });
  } catch (...) {
    traced.failed();
    throw;
  }
  traced(abi::ncclSuccess);
}

void Communicator::reduce_scatterv(const void* send, void* recv, Counts recv_counts, Counts displs,
                                   DataType type, ReduceOp op, CUstream_st* stream) const {
  require_live("reduce_scatterv");
  check_type("reduce_scatterv", type);
  check_op("reduce_scatterv", op);
  check_layout("reduce_scatterv", recv_counts, displs, hot_.size, type);
  check_buffer("reduce_scatterv", "send", send, any_nonzero(recv_counts), type);
  check_buffer("reduce_scatterv", "recv", recv, recv_counts[static_cast<std::size_t>(hot_.rank)],
               type);
  detail::Traced traced(hot_.trace, TraceOp::kReduceScatterv, send, recv,
                        recv_counts[static_cast<std::size_t>(hot_.rank)], type, op, -1, stream);
  const auto t = static_cast<abi::ncclDataType_t>(type);
  const auto o = static_cast<abi::ncclRedOp_t>(op);
  try {
    grouped([&](auto&& issue) {
      for (int r = 0; r < hot_.size; ++r) {
        const auto i = static_cast<std::size_t>(r);
        issue(hot_.fn->ncclReduce(at(send, displs[i], type), r == hot_.rank ? recv : nullptr,
                                  recv_counts[i], t, o, r, hot_.comm, stream),
              "ncclReduce");
      }
    });
  } catch (...) {
    traced.failed();
    throw;
  }
  traced(abi::ncclSuccess);
}

// ---- one-sided ----

namespace {

void check_signal(const char* op, int signal_index, int context) {
  if (signal_index < 0 || context < 0) {
    throw UsageError(std::string(op) + ": the signal index and context must be >= 0; got " +
                     std::to_string(signal_index) + " and " + std::to_string(context));
  }
}

}  // namespace

void Communicator::put_signal(const void* local, std::size_t count, DataType type, int peer,
                              const Window& window, std::size_t offset, int signal_index,
                              int context, CUstream_st* stream) const {
  require_live("put_signal");
  if (!hot_.fn->ncclPutSignal) lib().require(Function::ncclPutSignal);
  check_type("put_signal", type);
  check_rank("put_signal", "peer", peer);
  check_buffer("put_signal", "local", local, count, type);
  if (window.h_.state() != shared_.get() || window.native() == nullptr) {
    throw UsageError(
        "put_signal: the window is not one of this communicator's live windows; register it "
        "with this communicator's register_window()");
  }
  check_signal("put_signal", signal_index, context);
  detail::Traced traced(hot_.trace, TraceOp::kPutSignal, local, window.native(), count, type, -1,
                        peer, stream);
  call_result(traced(hot_.fn->ncclPutSignal(local, count, static_cast<abi::ncclDataType_t>(type),
                                            peer, window.native(), offset, signal_index, context,
                                            0u, hot_.comm, stream)),
              "ncclPutSignal");
}

void Communicator::signal(int peer, int signal_index, int context, CUstream_st* stream) const {
  require_live("signal");
  if (!hot_.fn->ncclSignal) lib().require(Function::ncclSignal);
  check_rank("signal", "peer", peer);
  check_signal("signal", signal_index, context);
  detail::Traced traced(hot_.trace, TraceOp::kSignal, nullptr, nullptr, 0,
                        static_cast<DataType>(-1), -1, peer, stream);
  call_result(traced(hot_.fn->ncclSignal(peer, signal_index, context, 0u, hot_.comm, stream)),
              "ncclSignal");
}

void Communicator::wait_signal(View<SignalWait> waits, CUstream_st* stream) const {
  require_live("wait_signal");
  if (!hot_.fn->ncclWaitSignal) lib().require(Function::ncclWaitSignal);
  if (waits.size() == 0 || waits.size() > static_cast<std::size_t>(INT_MAX)) {
    throw UsageError("wait_signal: needs at least one SignalWait; got " +
                     std::to_string(waits.size()));
  }
  // NCCL's descriptors, on the stack for the usual few waits.
  constexpr std::size_t kInline = 16;
  abi::ncclWaitSignalDesc_t inline_descs[kInline];
  std::vector<abi::ncclWaitSignalDesc_t> heap;
  abi::ncclWaitSignalDesc_t* descs = inline_descs;
  if (waits.size() > kInline) {
    heap.resize(waits.size());
    descs = heap.data();
  }
  for (std::size_t i = 0; i < waits.size(); ++i) {
    const SignalWait& w = waits[i];
    check_rank("wait_signal", "peer", w.peer);
    check_signal("wait_signal", w.signal_index, w.context);
    if (w.count < 1) {
      throw UsageError("wait_signal: wait " + std::to_string(i) + " has a count of " +
                       std::to_string(w.count) + "; it must be >= 1");
    }
    descs[i] = abi::ncclWaitSignalDesc_t{w.count, w.peer, w.signal_index, w.context};
  }
  detail::Traced traced(hot_.trace, TraceOp::kWaitSignal, nullptr, nullptr, waits.size(),
                        static_cast<DataType>(-1), -1, waits[0].peer, stream);
  call_result(
      traced(hot_.fn->ncclWaitSignal(static_cast<int>(waits.size()), descs, hot_.comm, stream)),
      "ncclWaitSignal");
}

const abi::ncclCollConfig_t* Communicator::coll_config(const CollConfig& config, Function f,
                                                       abi::ncclCollConfig_t& out) const {
  lib().require(f);
  out = detail::make_coll_config(lib(), config);
  return &out;
}

}  // namespace ncclrt
