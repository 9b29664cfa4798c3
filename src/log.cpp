#include "ncclrt/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "environment.hpp"
#include "log_internal.hpp"

namespace ncclrt {
namespace {

// A value that is no level still asked for diagnostics: warnings and errors, the first of which
// (Library::open's) says what was wrong with it.
LogLevel level_from_environment() noexcept {
  const char* v = std::getenv("NCCLRT_LOG");
  if (v == nullptr || *v == '\0') return LogLevel::kOff;
  try {
    return detail::log_level_named(v).value_or(LogLevel::kWarn);
  } catch (...) {
    return LogLevel::kWarn;
  }
}

std::atomic<int>& level_storage() noexcept {
  static std::atomic<int> level{static_cast<int>(level_from_environment())};
  return level;
}

std::mutex& handler_mutex() {
  static std::mutex m;
  return m;
}

LogHandler& handler_storage() {
  static LogHandler h;
  return h;
}

const char* level_name(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kOff:
      break;
  }
  return "off";
}

}  // namespace

void set_log_handler(LogHandler handler) {
  std::lock_guard<std::mutex> lock(handler_mutex());
  handler_storage() = std::move(handler);
}

void set_log_level(LogLevel level) { level_storage().store(static_cast<int>(level)); }

LogLevel log_level() noexcept { return static_cast<LogLevel>(level_storage().load()); }

namespace detail {
namespace {

bool log_enabled(LogLevel level) noexcept {
  return level != LogLevel::kOff && static_cast<int>(level) <= level_storage().load();
}

}  // namespace

void log(LogLevel level, std::string_view message) noexcept {
  if (!log_enabled(level)) return;
  try {
    std::lock_guard<std::mutex> lock(handler_mutex());
    if (handler_storage()) {
      handler_storage()(level, message);
    } else {
      std::fprintf(stderr, "ncclrt %s: %.*s\n", level_name(level), static_cast<int>(message.size()),
                   message.data());
    }
  } catch (...) {
    // A diagnostic must never become a failure of its own.
  }
}

}  // namespace detail
}  // namespace ncclrt
