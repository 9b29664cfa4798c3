#include "ncclrt/types.hpp"

#include <ostream>
#include <string>

#include "ncclrt/error.hpp"

namespace ncclrt {

const char* to_string(Result result) noexcept {
  switch (result) {
    case Result::kSuccess:
      return "ncclSuccess";
    case Result::kUnhandledCudaError:
      return "ncclUnhandledCudaError";
    case Result::kSystemError:
      return "ncclSystemError";
    case Result::kInternalError:
      return "ncclInternalError";
    case Result::kInvalidArgument:
      return "ncclInvalidArgument";
    case Result::kInvalidUsage:
      return "ncclInvalidUsage";
    case Result::kRemoteError:
      return "ncclRemoteError";
    case Result::kInProgress:
      return "ncclInProgress";
    case Result::kTimeout:
      return "ncclTimeout";
  }
  return "ncclResult(?)";
}

std::ostream& operator<<(std::ostream& out, Result result) {
  const int v = static_cast<int>(result);
  if (v >= 0 && v <= static_cast<int>(Result::kTimeout)) return out << to_string(result);
  return out << "ncclResult(" << v << ")";
}

const char* to_string(DataType t) noexcept {
  switch (t) {
    case DataType::kInt8:
      return "int8";
    case DataType::kUint8:
      return "uint8";
    case DataType::kInt32:
      return "int32";
    case DataType::kUint32:
      return "uint32";
    case DataType::kInt64:
      return "int64";
    case DataType::kUint64:
      return "uint64";
    case DataType::kFloat16:
      return "float16";
    case DataType::kFloat32:
      return "float32";
    case DataType::kFloat64:
      return "float64";
    case DataType::kBfloat16:
      return "bfloat16";
    case DataType::kFloat8e4m3:
      return "float8e4m3";
    case DataType::kFloat8e5m2:
      return "float8e5m2";
  }
  return "not a data type";
}

const char* to_string(ReduceOp op) noexcept {
  switch (op) {
    case ReduceOp::kSum:
      return "sum";
    case ReduceOp::kProd:
      return "prod";
    case ReduceOp::kMax:
      return "max";
    case ReduceOp::kMin:
      return "min";
    case ReduceOp::kAvg:
      return "avg";
  }
  return static_cast<int>(op) >= kNumBuiltinOps ? "premulsum" : "not a reduce op";
}

namespace {

struct TypeName {
  const char* name;
  DataType type;
};
// Canonical names first; then NCCL's (ncclChar, ncclInt, ncclHalf, ncclFloat, ncclDouble),
// nccl-tests' and ncclrt bench's names for the fp8 types, and ncclrt's own to_string.
constexpr TypeName kTypeNames[] = {
    {"int8", DataType::kInt8},
    {"uint8", DataType::kUint8},
    {"int32", DataType::kInt32},
    {"uint32", DataType::kUint32},
    {"int64", DataType::kInt64},
    {"uint64", DataType::kUint64},
    {"float16", DataType::kFloat16},
    {"bfloat16", DataType::kBfloat16},
    {"float32", DataType::kFloat32},
    {"float64", DataType::kFloat64},
    {"float8_e4m3fn", DataType::kFloat8e4m3},
    {"float8_e5m2", DataType::kFloat8e5m2},
    {"char", DataType::kInt8},
    {"int", DataType::kInt32},
    {"half", DataType::kFloat16},
    {"float", DataType::kFloat32},
    {"double", DataType::kFloat64},
    {"float8_e4m3", DataType::kFloat8e4m3},
    {"float8e4m3", DataType::kFloat8e4m3},
    {"float8e5m2", DataType::kFloat8e5m2},
    {"fp8_e4m3", DataType::kFloat8e4m3},
    {"fp8_e5m2", DataType::kFloat8e5m2},
    {"f8e4m3", DataType::kFloat8e4m3},
    {"f8e5m2", DataType::kFloat8e5m2},
};

}  // namespace

std::optional<DataType> data_type_named(std::string_view name) noexcept {
  for (const auto& t : kTypeNames) {
    if (name == t.name) return t.type;
  }
  return std::nullopt;
}

const char* data_type_names() noexcept {
  return "int8 (char), uint8, int32 (int), uint32, int64, uint64, float16 (half), bfloat16, "
         "float32 (float), float64 (double), float8_e4m3fn (fp8_e4m3, f8e4m3), float8_e5m2 "
         "(fp8_e5m2, f8e5m2)";
}

std::optional<ReduceOp> reduce_op_named(std::string_view name) noexcept {
  auto same = [](std::string_view a, std::string_view lower) {
    if (a.size() != lower.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const char c = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
      if (c != lower[i]) return false;
    }
    return true;
  };
  for (ReduceOp op :
       {ReduceOp::kSum, ReduceOp::kProd, ReduceOp::kMax, ReduceOp::kMin, ReduceOp::kAvg}) {
    if (same(name, to_string(op))) return op;
  }
  return std::nullopt;
}

}  // namespace ncclrt
