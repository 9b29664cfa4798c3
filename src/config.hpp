// Config as the loaded NCCL reads it.
#pragma once

#include "ncclrt/abi.hpp"
#include "ncclrt/config.hpp"
#include "ncclrt/library.hpp"

namespace ncclrt::detail {

/// ncclConfig_t as the loaded NCCL expects it: `size` and `version` of that release. Throws
/// UnsupportedError for a field it does not know.
abi::ncclConfig_t make_config(const Library& lib, const Config& config);

}  // namespace ncclrt::detail
