// ncclrt's own NCCLRT_* variables: the values each takes (src/environment.cpp holds the table).
#pragma once

#include <optional>
#include <string>

#include "ncclrt/log.hpp"

namespace ncclrt::detail {

/// A flag's value: 1/true/on/yes or 0/false/off/no (any case); nullopt for anything else.
std::optional<bool> flag_value(const std::string& value);
/// NCCLRT_LOG's levels: off, error, warn, info, debug, or 0-4; nullopt for anything else.
std::optional<LogLevel> log_level_named(const std::string& value);
/// The NCCL function ncclrt knows nearest to `name` ("ncclAllReduce" for "ncclAllreduce"), or "".
std::string nearest_function(const std::string& name);
/// The NCCLRT_* variable `name`, nullopt when unset or empty. A value it does not take is a
/// LoadError that names the variable, the value and what it takes.
std::optional<std::string> variable(const char* name);

}  // namespace ncclrt::detail
