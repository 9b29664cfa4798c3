// Host values of every NCCL data type, as doubles (exact for the small integers the checks use).
// Shared by `ncclrt bench` and the GPU tests. Needs the CUDA toolkit's cuda_fp16.h.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <ncclrt/types.hpp>

namespace ncclrt_tool {

inline void store_value(ncclrt::DataType t, double v, void* out) {
  using ncclrt::DataType;
  switch (t) {
    case DataType::kInt8:
      *static_cast<int8_t*>(out) = static_cast<int8_t>(v);
      break;
    case DataType::kUint8:
      *static_cast<uint8_t*>(out) = static_cast<uint8_t>(v);
      break;
    case DataType::kInt32:
      *static_cast<int32_t*>(out) = static_cast<int32_t>(v);
      break;
    case DataType::kUint32:
      *static_cast<uint32_t*>(out) = static_cast<uint32_t>(v);
      break;
    case DataType::kInt64:
      *static_cast<int64_t*>(out) = static_cast<int64_t>(v);
      break;
    case DataType::kUint64:
      *static_cast<uint64_t*>(out) = static_cast<uint64_t>(v);
      break;
    case DataType::kFloat32:
      *static_cast<float*>(out) = static_cast<float>(v);
      break;
    case DataType::kFloat64:
      *static_cast<double*>(out) = v;
      break;
    case DataType::kFloat16:
      *static_cast<__half*>(out) = __float2half(static_cast<float>(v));
      break;
    case DataType::kBfloat16: {
      const float f = static_cast<float>(v);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      const auto top = static_cast<uint16_t>(bits >> 16);  // exact for small integers
      std::memcpy(out, &top, 2);
      break;
    }
    default:
      std::memset(out, 0, ncclrt::size_of(t));
      break;
  }
}

inline double load_value(ncclrt::DataType t, const void* in) {
  using ncclrt::DataType;
  switch (t) {
    case DataType::kInt8:
      return *static_cast<const int8_t*>(in);
    case DataType::kUint8:
      return *static_cast<const uint8_t*>(in);
    case DataType::kInt32:
      return *static_cast<const int32_t*>(in);
    case DataType::kUint32:
      return *static_cast<const uint32_t*>(in);
    case DataType::kInt64:
      return static_cast<double>(*static_cast<const int64_t*>(in));
    case DataType::kUint64:
      return static_cast<double>(*static_cast<const uint64_t*>(in));
    case DataType::kFloat32:
      return *static_cast<const float*>(in);
    case DataType::kFloat64:
      return *static_cast<const double*>(in);
    case DataType::kFloat16:
      return __half2float(*static_cast<const __half*>(in));
    case DataType::kBfloat16: {
      uint16_t top;
      std::memcpy(&top, in, 2);
      const uint32_t bits = static_cast<uint32_t>(top) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    default:
      return 0;
  }
}

}  // namespace ncclrt_tool
