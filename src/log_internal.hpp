#pragma once

#include <string_view>

#include "ncclrt/log.hpp"

namespace ncclrt::detail {

/// Sends one diagnostic to the hook; never throws, never on the hot path.
void log(LogLevel level, std::string_view message) noexcept;

}  // namespace ncclrt::detail
