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

}  // namespace ncclrt
