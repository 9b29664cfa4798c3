// The raw NCCL function table, expanded from nccl_functions.def. A null pointer means the loaded
// NCCL lacks that function.
#pragma once

#include <cstddef>

#include "ncclrt/abi.hpp"

namespace ncclrt::detail {

struct Symbols {
  using ncclResult_t = abi::ncclResult_t;
  using ncclDataType_t = abi::ncclDataType_t;
  using ncclRedOp_t = abi::ncclRedOp_t;
  using ncclScalarResidence_t = abi::ncclScalarResidence_t;
  using ncclComm_t = abi::ncclComm_t;
  using ncclWindow_t = abi::ncclWindow_t;
  using ncclUniqueId = abi::ncclUniqueId;
  using ncclConfig_t = abi::ncclConfig_t;
  using ncclSimInfo_t = abi::ncclSimInfo_t;
  using cudaStream_t = abi::cudaStream_t;
  using size_t = std::size_t;

#define NCCLRT_FN(name, ret, params, major, minor, patch, required) ret(*name) params = nullptr;
#include "ncclrt/detail/nccl_functions.def"
};

}  // namespace ncclrt::detail
