// What a communicator hands out (reduce ops, registrations, windows) and NCCL's own memory.
#include <algorithm>
#include <mutex>

#include "comm_state.hpp"
#include "cuda_driver.hpp"
#include "flight_recorder.hpp"
#include "group_state.hpp"
#include "log_internal.hpp"
#include "nccl_error.hpp"
#include "ncclrt/communicator.hpp"
#include "ncclrt/error.hpp"
#include "while_alive.hpp"

namespace ncclrt {

PreMulSum Communicator::create_pre_mul_sum(const void* scalar, DataType type,
                                           ScalarResidence residence) const {
  require_live("create_pre_mul_sum");
  lib().require(Function::ncclRedOpCreatePreMulSum);
  check_type("create_pre_mul_sum", type);
  if (scalar == nullptr) throw UsageError("create_pre_mul_sum: the scalar pointer is null");
  abi::ncclRedOp_t op{};
  detail::TraceCall traced(hot_.trace, TraceOp::kCreatePreMulSum, 0, 0, scalar, 0,
                           static_cast<int>(type));
  call_result(hot_.fn->ncclRedOpCreatePreMulSum(
                  &op, const_cast<void*>(scalar), static_cast<abi::ncclDataType_t>(type),
                  static_cast<abi::ncclScalarResidence_t>(residence), hot_.comm),
              "ncclRedOpCreatePreMulSum");
  traced.arg(0, static_cast<int>(op));
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->pre_mul_sums.push_back(static_cast<int>(op));
  }
  PreMulSum p;
  p.h_ = {shared_, static_cast<ReduceOp>(op)};
  return p;
}

Registration Communicator::register_buffer(void* buf, std::size_t bytes,
                                           CUstream_st* stream) const {
  require_live("register_buffer");
  lib().require(Function::ncclCommRegister);
  if (buf == nullptr || bytes == 0) {
    throw UsageError("register_buffer: needs a non-null buffer and a non-zero size");
  }
  if (detail::capture_forbids_sync(stream)) {
    throw UsageError(
        "register_buffer while a CUDA graph is being captured: registration "
        "synchronizes and would invalidate the capture. Register before capturing");
  }
  void* handle = nullptr;
  detail::TraceCall traced(hot_.trace, TraceOp::kRegister, 0, 0, buf, bytes);
  call_result(hot_.fn->ncclCommRegister(hot_.comm, buf, bytes, &handle), "ncclCommRegister");
  traced.arg(0, reinterpret_cast<std::intptr_t>(handle));
  Registration r;
  r.h_ = {shared_, handle};
  return r;
}

Window Communicator::register_window(void* buf, std::size_t bytes, WindowFlags flags,
                                     CUstream_st* stream) const {
  require_live("register_window");
  lib().require(Function::ncclCommWindowRegister);
  if (buf == nullptr || bytes == 0) {
    throw UsageError("register_window: needs a non-null buffer and a non-zero size");
  }
  if (flags != WindowFlags::kDefault && flags != WindowFlags::kCollSymmetric) {
    throw UsageError("register_window: unknown flags " + std::to_string(static_cast<int>(flags)));
  }
  if (detail::capture_forbids_sync(stream)) {
    throw UsageError(
        "register_window while a CUDA graph is being captured: window "
        "registration synchronizes and would invalidate the capture (NCCL reports "
        "'unhandled cuda error'). Register windows before capturing");
  }
  detail::refuse_in_group("register_window",
                          "NCCL registers the window at the group's end and would write its "
                          "handle after register_window has returned");
  // A nonblocking communicator's NCCL thread writes the handle later: into memory that outlives
  // a wait that gives up.
  auto slot = std::make_shared<abi::ncclWindow_t>(nullptr);
  detail::TraceCall traced(hot_.trace, TraceOp::kRegisterWindow, static_cast<int>(flags), 0, buf,
                           bytes);
  try {
    call_result(
        hot_.fn->ncclCommWindowRegister(hot_.comm, buf, bytes, slot.get(), static_cast<int>(flags)),
        "ncclCommWindowRegister");
  } catch (...) {
    if (hot_.nonblocking) detail::keep_reachable(slot);
    throw;
  }
  traced.arg(1, reinterpret_cast<std::intptr_t>(*slot));
  Window w;
  w.h_ = {shared_, *slot};
  return w;
}

namespace detail {

void release_pre_mul_sum(CommState& state, ReduceOp op) noexcept {
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    auto& live = state.pre_mul_sums;
    live.erase(std::remove(live.begin(), live.end(), static_cast<int>(op)), live.end());
  }
  while_alive(state, "ncclRedOpDestroy", [&](const Symbols& fn, abi::ncclComm_t c) {
    TraceCall traced(state, TraceOp::kDestroyPreMulSum, static_cast<int>(op));
    const abi::ncclResult_t r = fn.ncclRedOpDestroy(static_cast<abi::ncclRedOp_t>(op), c);
    traced.result(static_cast<int>(r));
    return r;
  });
}

void release_registration(CommState& state, void* handle) noexcept {
  while_alive(state, "ncclCommDeregister", [&](const Symbols& fn, abi::ncclComm_t c) {
    TraceCall traced(state, TraceOp::kDeregister, reinterpret_cast<std::intptr_t>(handle));
    const abi::ncclResult_t r = fn.ncclCommDeregister(c, handle);
    traced.result(static_cast<int>(r));
    return r;
  });
}

void release_window(CommState& state, abi::ncclWindow_t win) noexcept {
  while_alive(state, "ncclCommWindowDeregister", [&](const Symbols& fn, abi::ncclComm_t c) {
    TraceCall traced(state, TraceOp::kDeregisterWindow, reinterpret_cast<std::intptr_t>(win));
    const abi::ncclResult_t r = fn.ncclCommWindowDeregister(c, win);
    traced.result(static_cast<int>(r));
    return r;
  });
}

}  // namespace detail

void* Window::user_pointer() const {
  detail::CommState* state = h_.state();
  if (state == nullptr || h_.get() == nullptr) {
    throw UsageError("Window::user_pointer on an empty window (default-constructed or moved from)");
  }
  state->lib->require(Function::ncclWinGetUserPtr);
  void* ptr = nullptr;
  const abi::ncclWindow_t win = h_.get();
  const auto r = detail::call_while_alive(*state, "ncclWinGetUserPtr",
                                          [&](const detail::Symbols& fn, abi::ncclComm_t c) {
                                            return fn.ncclWinGetUserPtr(c, win, &ptr);
                                          });
  if (!r) {
    throw UsageError(
        "Window::user_pointer: the window's communicator was destroyed or aborted, and the "
        "window with it");
  }
  detail::check(*state->lib, *r, "ncclWinGetUserPtr", state->comm, state->where.c_str());
  return ptr;
}

NcclMemory NcclMemory::allocate(std::shared_ptr<const Library> lib, std::size_t bytes) {
  if (!lib) throw UsageError("NcclMemory::allocate: no Library (null shared_ptr)");
  lib->require(Function::ncclMemAlloc);
  if (bytes == 0) throw UsageError("NcclMemory::allocate: size is zero");
  NcclMemory m;
  detail::check(*lib, lib->raw().ncclMemAlloc(&m.ptr_, bytes), "ncclMemAlloc", nullptr,
                "NcclMemory::allocate");
  m.bytes_ = bytes;
  m.lib_ = std::move(lib);
  return m;
}

NcclMemory::NcclMemory(NcclMemory&& o) noexcept { *this = std::move(o); }
NcclMemory& NcclMemory::operator=(NcclMemory&& o) noexcept {
  if (this != &o) {
    release();
    lib_ = std::move(o.lib_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}
NcclMemory::~NcclMemory() { release(); }
void NcclMemory::release() noexcept {
  if (ptr_ && lib_ && !detail::process_exiting()) lib_->raw().ncclMemFree(ptr_);
  ptr_ = nullptr;
  lib_.reset();
}

}  // namespace ncclrt
