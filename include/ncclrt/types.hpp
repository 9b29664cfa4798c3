// Data types and reduce operations, with NCCL's values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ncclrt/abi.hpp"
#include "ncclrt/detail/export.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// NCCL's data types (ncclDataType_t values).
enum class DataType : int {
  kInt8 = abi::ncclInt8,
  kUint8 = abi::ncclUint8,
  kInt32 = abi::ncclInt32,
  kUint32 = abi::ncclUint32,
  kInt64 = abi::ncclInt64,
  kUint64 = abi::ncclUint64,
  kFloat16 = abi::ncclFloat16,
  kFloat32 = abi::ncclFloat32,
  kFloat64 = abi::ncclFloat64,
  kBfloat16 = abi::ncclBfloat16,      ///< NCCL >= 2.10
  kFloat8e4m3 = abi::ncclFloat8e4m3,  ///< NCCL >= 2.24
  kFloat8e5m2 = abi::ncclFloat8e5m2,  ///< NCCL >= 2.24
};
inline constexpr int kNumDataTypes = abi::ncclNumTypes;

/// Bytes per element; 0 for a value that is not a DataType.
constexpr std::size_t size_of(DataType t) noexcept {
  switch (t) {
    case DataType::kInt8:
    case DataType::kUint8:
    case DataType::kFloat8e4m3:
    case DataType::kFloat8e5m2:
      return 1;
    case DataType::kFloat16:
    case DataType::kBfloat16:
      return 2;
    case DataType::kInt32:
    case DataType::kUint32:
    case DataType::kFloat32:
      return 4;
    case DataType::kInt64:
    case DataType::kUint64:
    case DataType::kFloat64:
      return 8;
  }
  return 0;
}

/// "float32", "bfloat16", ...
const char* to_string(DataType t) noexcept;

/// The DataType a name stands for, in every vocabulary a user brings: ncclrt's and PyTorch's
/// ("float32", "bfloat16", "float8_e4m3fn"), NCCL's and nccl-tests' ("float", "half", "double",
/// "int", "char", "f8e4m3", "fp8_e4m3"). "float" and "int" are 32-bit, as ncclFloat, ncclInt and
/// torch.float are (numpy's are 64-bit). nullopt for a name NCCL has no type for.
std::optional<DataType> data_type_named(std::string_view name) noexcept;
/// The names data_type_named takes, for messages: "int8 (char), uint8, int32 (int), ...".
const char* data_type_names() noexcept;

/// The DataType of a C++ arithmetic type (for the typed overloads). Half, bfloat16 and fp8 have no
/// standard C++ type: pass DataType explicitly for them.
template <class T>
constexpr DataType data_type_of() noexcept {
  using U = std::remove_cv_t<T>;
  static_assert(
      std::is_arithmetic_v<U> && !std::is_same_v<U, bool> && !std::is_same_v<U, long double>,
      "no NCCL data type for this C++ type; pass a DataType explicitly");
  if constexpr (std::is_floating_point_v<U>) {
    static_assert(sizeof(U) == 4 || sizeof(U) == 8, "no NCCL data type for this floating type");
    return sizeof(U) == 4 ? DataType::kFloat32 : DataType::kFloat64;
  } else {
    constexpr bool s = std::is_signed_v<U>;
    if constexpr (sizeof(U) == 1) return s ? DataType::kInt8 : DataType::kUint8;
    if constexpr (sizeof(U) == 4) return s ? DataType::kInt32 : DataType::kUint32;
    if constexpr (sizeof(U) == 8) return s ? DataType::kInt64 : DataType::kUint64;
    static_assert(sizeof(U) != 2, "NCCL has no 16-bit integer type");
    return DataType::kInt8;
  }
}

/// A reduce operation: one of NCCL's built-in ops, or a handle made by
/// Communicator::create_pre_mul_sum (values >= kNumBuiltinOps).
enum class ReduceOp : int {
  kSum = abi::ncclSum,
  kProd = abi::ncclProd,
  kMax = abi::ncclMax,
  kMin = abi::ncclMin,
  kAvg = abi::ncclAvg,  ///< NCCL >= 2.10
};
inline constexpr int kNumBuiltinOps = abi::ncclNumOps;

/// "sum", "prod", "max", "min", "avg", or "premulsum#N".
const char* to_string(ReduceOp op) noexcept;
/// The built-in ReduceOp a name stands for: "sum", "prod", "max", "min", "avg", in any case
/// ("SUM", as Python's ReduceOp.SUM); nullopt for another name.
std::optional<ReduceOp> reduce_op_named(std::string_view name) noexcept;

/// Where the scalar of a PreMulSum op lives.
enum class ScalarResidence : int {
  kDevice = abi::ncclScalarDevice,               ///< read while the collective runs
  kHostImmediate = abi::ncclScalarHostImmediate  ///< read once, when the op is created
};

/// A read-only view of an array argument (counts, displacements, signal waits): converts from a
/// std::vector, a brace list (no allocation) or a pointer and a length. It does not own what it
/// views: use it for the call it is passed to.
template <class T>
class View {
 public:
  View(const std::vector<T>& v) noexcept : data_(v.data()), size_(v.size()) {}
  // A brace list's array lives to the end of the full expression: the call it is passed to.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"
#endif
  View(std::initializer_list<T> l) noexcept : data_(l.begin()), size_(l.size()) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  View(const T* data, std::size_t size) noexcept : data_(data), size_(size) {}
  const T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }

 private:
  const T* data_;
  std::size_t size_;
};

/// Element counts or displacements, one per rank, for the v-variants.
using Counts = View<std::size_t>;

/// Constants of NCCL's API a caller needs, without reaching into abi::.
inline constexpr int kSplitNoColor = abi::kSplitNoColor;  ///< split(): no communicator for me
/// register_window()'s flags (ncclCommWindowRegister's winFlags).
enum class WindowFlags : int {
  kDefault = abi::kWinDefault,
  kCollSymmetric = abi::kWinCollSymmetric,  ///< the same size on every rank, for symmetric kernels
};
inline constexpr WindowFlags kWinDefault = WindowFlags::kDefault;
inline constexpr WindowFlags kWinCollSymmetric = WindowFlags::kCollSymmetric;

/// What shrink() does to the parent communicator's pending work (ncclCommShrink's flags).
enum class ShrinkMode : int {
  kDefault = abi::kShrinkDefault,  ///< the parent's work completes as usual
  kAbortParent =
      abi::kShrinkAbort,  ///< the parent's pending work is aborted first (after a failure)
};

/// What Communicator::synchronize does to the communicator when the work fails or passes its
/// deadline, before it throws.
enum class OnFailure : int {
  kAbort,  ///< abort it: every later call throws the reason
  kLeave,  ///< leave it as it is: revoke() it and shrink() the failed ranks away
};

/// suspend()'s flags (ncclCommSuspend's).
enum class SuspendFlags : int {
  kNone = 0,
  kMemory = abi::kSuspendMem,  ///< release NCCL's dynamic GPU memory until resume()
};

/// What one wait_signal() waits for: `count` signals from `peer` on a signal index and context
/// (ncclWaitSignalDesc_t).
struct SignalWait {
  int peer = 0;
  int signal_index = 0;
  int count = 1;
  int context = 0;
};

/// ncclCommMemStats (NCCL >= 2.29.7), every statistic by name.
struct MemoryStats {
  std::uint64_t suspendable_bytes = 0;  ///< GPU memory suspend() can release
  std::uint64_t persistent_bytes = 0;   ///< GPU memory that stays while suspended
  std::uint64_t total_bytes = 0;        ///< all GPU memory NCCL tracks for this communicator
  bool suspended = false;               ///< the memory is released now
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
