// Config as the loaded NCCL reads it.
#pragma once

#include "ncclrt/abi.hpp"
#include "ncclrt/config.hpp"
#include "ncclrt/library.hpp"

namespace ncclrt::detail {

/// ncclConfig_t as the loaded NCCL expects it: `size` and `version` of that release. Throws
/// UnsupportedError for a field it does not know.
abi::ncclConfig_t make_config(const Library& lib, const Config& config);

/// ncclCollConfig_t as the loaded NCCL expects it (NCCL_COLLCONFIG_INITIALIZER's defaults for
/// unset fields). Throws UnsupportedError for a field it does not know.
abi::ncclCollConfig_t make_coll_config(const Library& lib, const CollConfig& config);

}  // namespace ncclrt::detail
