// How a communicator is made: ncclConfig_t's fields as optional values.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "ncclrt/abi.hpp"
#include "ncclrt/detail/export.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// ncclConfig_t's fields; unset ones keep NCCL's defaults. Setting a field the loaded NCCL does not
/// know throws UnsupportedError rather than being dropped silently.
struct Config {
  // One std::optional per ncclConfig_t field, named in snake_case; the list, with the release
  // that first has each field, is detail/config_fields.def.
#define NCCLRT_CONFIG_FIELD(member, field, type, major, minor, patch) std::optional<type> member;
#include "ncclrt/detail/config_fields.def"
  /// A deadline for creation (init, split, shrink, grow): creation then runs nonblocking and is
  /// polled; on expiry the communicator is aborted and TimeoutError is thrown. Needs NCCL >= 2.14.
  /// The communicator stays nonblocking for life: an operation NCCL reports as in progress is
  /// polled until its work is enqueued before the call returns (bounded by this timeout; on expiry
  /// the communicator is aborted and TimeoutError thrown), and finalize/destroy/revoke use it as
  /// their deadline. A communicator made from it by split, shrink or grow inherits it (and the
  /// nonblocking mode) unless its own Config sets `timeout` or `blocking`.
  std::optional<std::chrono::milliseconds> timeout;
  /// Entries the flight recorder keeps (rounded up to a power of two; 64 bytes each, 40 more for
  /// the entries that carry a label, a capture id or arguments): default $NCCLRT_TRACE_ENTRIES,
  /// else 2048; 0 turns recording off. Children inherit it.
  std::optional<int> trace_entries;
  /// Progress mode: around each operation the GPU writes the operation's number into host memory
  /// as it starts and completes (stream memory operations, captured into CUDA graphs as nodes),
  /// so a dump says what each GPU has really done; also records whether a call was captured.
  /// Costs driver calls per operation. Default $NCCLRT_TRACE_PROGRESS (1: on), else off.
  std::optional<bool> trace_progress;

  /// Whether no NCCL field and no timeout is set (the recorder's fields do not count).
  bool empty() const noexcept;
};

/// The most CTAs (Config::max_ctas) each communicator may use when `ranks` ranks of this process
/// use `device` at once: SMs / ranks rounded down to a power of two (NCCL rounds its send/recv
/// channels up to one), at least 1. NCCL's kernels of ranks that share a GPU must
/// all be resident at once to make progress; processes time-slice the GPU, but threads of one
/// process do not, so without a cap they hang (three ranks of 64 channels on a 132-SM H100 did).
/// Set it for init_rank from threads that share a GPU; init_all does it itself. Needs the CUDA
/// driver; throws UsageError for ranks < 1.
int max_ctas_for_shared_gpu(int device, int ranks);

/// Per-call options of one collective (ncclCollConfig_t, NCCL >= 2.31.2), passed as the last
/// argument of an operation. Unset fields keep NCCL's choice. An empty CollConfig is the
/// ordinary call; a non-empty one on an older NCCL, or a field the loaded NCCL lacks, is
/// UnsupportedError. It must be the same on every rank (NCCL checks it only locally).
struct CollConfig {
#define NCCLRT_COLL_FIELD(member, field, type, unset, major, minor, patch) \
  std::optional<type> member;
#include "ncclrt/detail/coll_config_fields.def"

  bool empty() const noexcept;
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
