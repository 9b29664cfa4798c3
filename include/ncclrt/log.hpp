// The one diagnostics hook. ncclrt never writes to stdout; by default it says nothing at all.
#pragma once

#include <functional>
#include <string_view>

#include "ncclrt/detail/export.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

enum class LogLevel { kOff = 0, kError = 1, kWarn = 2, kInfo = 3, kDebug = 4 };

/// Receives every diagnostic whose level is at or below the current level.
using LogHandler = std::function<void(LogLevel, std::string_view)>;

/// Replaces the handler (default: one line to stderr). An empty handler restores the default.
void set_log_handler(LogHandler handler);
/// Sets the level; the initial level comes from NCCLRT_LOG (off|error|warn|info|debug), default
/// off.
void set_log_level(LogLevel level);
LogLevel log_level() noexcept;

}  // namespace ncclrt
NCCLRT_EXPORT_END
