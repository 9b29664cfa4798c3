// ncclrt: NCCL loaded at run time. Include this one header for everything.
#pragma once

#include "ncclrt/abi.hpp"
#include "ncclrt/agreement.hpp"
#include "ncclrt/communicator.hpp"
#include "ncclrt/detail/release.hpp"  // generated from the VERSION file
#include "ncclrt/device_api.hpp"
#include "ncclrt/error.hpp"
#include "ncclrt/launch.hpp"
#include "ncclrt/library.hpp"
#include "ncclrt/log.hpp"
#include "ncclrt/probe.hpp"
#include "ncclrt/trace.hpp"
#include "ncclrt/types.hpp"
#include "ncclrt/unique_id.hpp"
#include "ncclrt/version.hpp"

namespace ncclrt {
/// This build of ncclrt.
inline constexpr const char* kVersionString = NCCLRT_VERSION_STRING;
}  // namespace ncclrt
