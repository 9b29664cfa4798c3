// What a communicator hands out: reduce ops, registrations, windows; and NCCL's own memory.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

#include "ncclrt/abi.hpp"
#include "ncclrt/detail/export.hpp"
#include "ncclrt/library.hpp"
#include "ncclrt/types.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

class Communicator;

namespace detail {

struct CommState;  // what a communicator shares with its handles and the watchdog (src/)

void release_pre_mul_sum(CommState& state, ReduceOp op) noexcept;
void release_registration(CommState& state, void* handle) noexcept;
void release_window(CommState& state, abi::ncclWindow_t win) noexcept;

/// One NCCL object that belongs to a communicator: released with `Release` while the
/// communicator lives; after that NCCL has already freed it with the communicator. Move-only.
template <class T, void (*Release)(CommState&, T) noexcept>
class CommHandle {
 public:
  CommHandle() = default;
  CommHandle(std::shared_ptr<CommState> state, T value) noexcept
      : state_(std::move(state)), value_(value) {}
  CommHandle(CommHandle&& o) noexcept
      : state_(std::move(o.state_)), value_(std::exchange(o.value_, T{})) {}
  CommHandle& operator=(CommHandle&& o) noexcept {
    if (this != &o) {
      reset();
      state_ = std::move(o.state_);
      value_ = std::exchange(o.value_, T{});
    }
    return *this;
  }
  CommHandle(const CommHandle&) = delete;  // one owner releases
  CommHandle& operator=(const CommHandle&) = delete;
  ~CommHandle() { reset(); }

  void reset() noexcept {
    if (state_) Release(*state_, value_);
    state_.reset();
    value_ = T{};
  }
  T get() const noexcept { return value_; }
  CommState* state() const noexcept { return state_.get(); }

 private:
  std::shared_ptr<CommState> state_;
  T value_{};
};

}  // namespace detail

/// A PreMulSum reduce op (ncclRedOpCreatePreMulSum), destroyed with ncclRedOpDestroy when this
/// handle goes, or by NCCL with its communicator if that goes first. Valid only on the
/// communicator that made it.
class PreMulSum {
 public:
  ReduceOp op() const noexcept { return h_.get(); }
  operator ReduceOp() const noexcept { return h_.get(); }

 private:
  friend class Communicator;
  detail::CommHandle<ReduceOp, detail::release_pre_mul_sum> h_;
};

/// A buffer registered with ncclCommRegister (NCCL >= 2.19); deregistered when this goes.
class Registration {
 public:
  void* handle() const noexcept { return h_.get(); }

 private:
  friend class Communicator;
  detail::CommHandle<void*, detail::release_registration> h_;
};

/// A window from ncclCommWindowRegister (NCCL >= 2.27); deregistered when this goes.
class Window {
 public:
  abi::ncclWindow_t native() const noexcept { return h_.get(); }
  /// ncclWinGetUserPtr (NCCL >= 2.29.2): the buffer this window was registered over.
  void* user_pointer() const;
  /// The device API's addresses of this window at byte `offset` (NCCL >= 2.29.2, a window
  /// registered with WindowFlags::kCollSymmetric): ncclGetLsaDevicePointer, the copy of rank
  /// `lsa_rank` of this rank's load/store-accessible team; ncclGetPeerDevicePointer, the copy of
  /// communicator rank `peer` (null when it is not load/store-accessible from here).
  void* lsa_pointer(std::size_t offset, int lsa_rank) const;
  void* peer_pointer(std::size_t offset, int peer) const;
  /// ncclGetLsaMultimemDevicePointer / ncclGetMultimemDevicePointer: the NVLink SHARP multicast
  /// address (null without multicast support); `multimem_base` is a team's multimem handle.
  void* lsa_multimem_pointer(std::size_t offset) const;
  void* multimem_pointer(std::size_t offset, void* multimem_base) const;

 private:
  friend class Communicator;
  detail::CommHandle<abi::ncclWindow_t, detail::release_window> h_;
};

/// Memory from ncclMemAlloc (NCCL >= 2.19) on the current device, suited to registration and
/// windows; freed with ncclMemFree.
class NcclMemory {
 public:
  NcclMemory() = default;
  [[nodiscard]] static NcclMemory allocate(std::shared_ptr<const Library> lib, std::size_t bytes);
  NcclMemory(NcclMemory&&) noexcept;
  NcclMemory& operator=(NcclMemory&&) noexcept;
  NcclMemory(const NcclMemory&) = delete;  // one owner frees
  NcclMemory& operator=(const NcclMemory&) = delete;
  ~NcclMemory();
  void* get() const noexcept { return ptr_; }
  std::size_t size() const noexcept { return bytes_; }

 private:
  void release() noexcept;
  std::shared_ptr<const Library> lib_;
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
