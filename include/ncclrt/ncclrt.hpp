// ncclrt: NCCL loaded at run time. Include this one header for everything.
#pragma once

#include "ncclrt/abi.hpp"
#include "ncclrt/communicator.hpp"
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
inline constexpr const char* kVersionString = "0.1.0";
}  // namespace ncclrt
