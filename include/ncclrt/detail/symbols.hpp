// The raw NCCL function table, expanded from nccl_functions.def. A null pointer means the loaded
// NCCL lacks that function.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ncclrt/abi.hpp"
#include "ncclrt/detail/export.hpp"

NCCLRT_EXPORT_BEGIN
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
  using ncclParamHandle_t = abi::ncclParamHandle_t;
  using ncclCollConfig_t = abi::ncclCollConfig_t;
  using ncclWaitSignalDesc_t = abi::ncclWaitSignalDesc_t;
  using ncclCommMemStat_t = abi::ncclCommMemStat_t;
  using ncclEncryptionConfig_t = abi::ncclEncryptionConfig_t;
  using ncclCommProperties_t = abi::ncclCommProperties_t;
  using ncclDevCommRequirements_t = abi::ncclDevCommRequirements_t;
  using ncclDevComm_t = abi::ncclDevComm_t;
  using ncclMultimemHandle_t = abi::ncclMultimemHandle_t;
  using size_t = std::size_t;
  using int8_t = std::int8_t;
  using int16_t = std::int16_t;
  using int32_t = std::int32_t;
  using int64_t = std::int64_t;
  using uint8_t = std::uint8_t;
  using uint16_t = std::uint16_t;
  using uint32_t = std::uint32_t;
  using uint64_t = std::uint64_t;

#define NCCLRT_FN(name, ret, params, major, minor, patch, required) ret(*name) params = nullptr;
#include "ncclrt/detail/nccl_functions.def"
};

}  // namespace ncclrt::detail
NCCLRT_EXPORT_END
