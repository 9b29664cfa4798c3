// The host side of NCCL's device API (NCCL >= 2.29.2): what a communicator can do on the GPU, and
// the device communicator a kernel written against nccl_device.h takes.
//
//   const CommProperties p = comm.properties();     // ncclCommQueryProperties
//   if (p.device_api_support) {
//     DevComm dc = comm.create_dev_comm();           // ncclDevCommCreate, empty requirements
//     my_kernel<<<...>>>(*static_cast<const ncclDevComm*>(dc.data()), ...);
//   }                                                // ncclDevCommDestroy when dc goes
//
// A window's peer addresses (Window::lsa_pointer and the others, handles.hpp) come from the same
// part of NCCL.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>

#include "ncclrt/abi.hpp"
#include "ncclrt/detail/export.hpp"
#include "ncclrt/version.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

namespace detail {
struct CommState;
struct DevCommSlot;  // the device communicator's memory (src/device_api.cpp)
}  // namespace detail

/// ncclCommQueryProperties: what this rank's communicator offers the device API.
struct CommProperties {
  int rank = 0;
  int size = 0;
  int cuda_device = -1;
  int nvml_device = -1;
  /// Device communicators can be made (NCCL's symmetric memory: every rank reachable by CUDA
  /// P2P, windows and cuMem on).
  bool device_api_support = false;
  /// NVLink SHARP multicast (multimem) across the communicator.
  bool multimem_support = false;
  /// GPU-initiated networking: abi::ncclGinType_t (0: none).
  int gin_type = 0;
  /// Filled by NCCL >= 2.29.4 (ncclrt asks with 2.29.2's layout before 2.30.7): nullopt before.
  std::optional<int> lsa_teams;
  std::optional<bool> host_rma_support;
  std::optional<int> railed_gin_type;
  /// The layout ncclrt passed (2.29.2, or 2.30.7 on NCCL >= 2.30.7).
  Version layout;
};

/// What ncclDevCommCreate is asked for; the defaults are NCCL's
/// NCCL_DEV_COMM_REQUIREMENTS_INITIALIZER (nothing beyond the communicator itself). Fields after
/// gin_counter_count exist in NCCL >= 2.30.7's layout only: set on an older NCCL, they are
/// refused (UnsupportedError).
struct DevCommRequirements {
  bool lsa_multimem = false;
  int barrier_count = 0;
  int lsa_barrier_count = 0;
  int rail_gin_barrier_count = 0;
  int lsa_ll_a2a_block_count = 0;
  int lsa_ll_a2a_slot_count = 0;
  bool gin_force_enable = false;
  int gin_context_count = 4;
  int gin_signal_count = 0;
  int gin_counter_count = 0;
  int gin_connection_type = abi::NCCL_GIN_CONNECTION_NONE;  // 2.30.7
  bool gin_exclusive_contexts = false;                      // 2.30.7
  int gin_queue_depth = 0;                                  // 2.30.7
  std::optional<int> gin_traffic_class;                     // 2.30.7; NCCL's default when unset
  int world_gin_barrier_count = 0;                          // 2.30.7
  bool gin_strong_signals_required = true;                  // 2.30.7
  bool gin_va_signals_required = true;                      // 2.30.7
};

/// A device communicator (ncclDevCommCreate), destroyed with ncclDevCommDestroy when this goes
/// or by destroy(), or by NCCL with its communicator if that goes first. Move-only.
class DevComm {
 public:
  DevComm() noexcept = default;
  DevComm(DevComm&& other) noexcept;
  DevComm& operator=(DevComm&& other) noexcept;
  DevComm(const DevComm&) = delete;  // one owner destroys it
  DevComm& operator=(const DevComm&) = delete;
  ~DevComm();

  /// The ncclDevComm NCCL wrote, to pass by value to a kernel: layout() says which layout,
  /// bytes() its size.
  const void* data() const noexcept;
  std::size_t bytes() const noexcept;
  Version layout() const noexcept;
  bool valid() const noexcept;
  /// This rank, the ranks, and this rank's place in its load/store-accessible (NVLink) team.
  int rank() const;
  int size() const;
  int lsa_rank() const;
  int lsa_size() const;
  /// ncclDevCommDestroy now; a failure throws (the destructor only logs it).
  void destroy();

 private:
  friend class Communicator;
  void release() noexcept;
  std::shared_ptr<detail::CommState> state_;
  std::shared_ptr<detail::DevCommSlot> slot_;
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
