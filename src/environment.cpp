// ncclrt's own NCCLRT_* variables: one table of their names and the values each takes, read by
// Library::open (which refuses a value it cannot use) and by `ncclrt info` (which flags typos in
// names and values, as it does for NCCL's own variables).
#include "environment.hpp"

#include <cctype>
#include <cstdlib>
#include <cstring>

#include "ncclrt/error.hpp"
#include "ncclrt/library.hpp"
#include "util/nearest.hpp"

extern char** environ;

namespace ncclrt {
namespace {

enum class Kind {
  kText,          // a path or a directory: anything
  kFlag,          // 0/1, true/false, on/off, yes/no
  kMilliseconds,  // a whole number > 0
  kCount,         // a whole number >= 0
  kLevel,         // NCCLRT_LOG's levels
  kFunctions,     // comma-separated NCCL function names
};

struct Variable {
  const char* name;
  Kind kind;
};

// Every variable ncclrt reads (the README's table).
constexpr Variable kVariables[] = {
    {"NCCLRT_NCCL_LIB", Kind::kText},
    {"NCCLRT_PROBE", Kind::kFlag},
    {"NCCLRT_PROBE_TIMEOUT_MS", Kind::kMilliseconds},
    {"NCCLRT_ALLOW_MISSING_FUNCTIONS", Kind::kFlag},
    {"NCCLRT_DISABLE_FUNCTIONS", Kind::kFunctions},
    {"NCCLRT_TIMEOUT_MS", Kind::kMilliseconds},
    {"NCCLRT_ABORT_TIMEOUT_MS", Kind::kMilliseconds},
    {"NCCLRT_RANK", Kind::kCount},
    {"NCCLRT_WORLD_SIZE", Kind::kCount},
    {"NCCLRT_LOCAL_RANK", Kind::kCount},
    {"NCCLRT_TRACE_ENTRIES", Kind::kCount},
    {"NCCLRT_TRACE_PROGRESS", Kind::kCount},
    {"NCCLRT_TRACE_DIR", Kind::kText},
    {"NCCLRT_TRACE_SIGNAL", Kind::kCount},
    {"NCCLRT_LOG", Kind::kLevel},
};

const char* kFunctionNames[] = {
#define NCCLRT_FN(name, ret, params, major, minor, patch, required) #name,
#include "ncclrt/detail/nccl_functions.def"
};

bool whole_number(const std::string& v, bool positive) {
  if (v.empty() || v.size() > 18) return false;
  for (char c : v) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return !positive || std::strtoll(v.c_str(), nullptr, 10) > 0;
}

// What is wrong with `value` for a variable of this kind; empty when nothing is.
std::string problem_with(const Variable& var, const std::string& value) {
  const std::string name = var.name;
  switch (var.kind) {
    case Kind::kText:
      return {};
    case Kind::kFlag:
      return detail::flag_value(value) ? std::string()
                                       : name + " takes 1 or 0 (also true/false, on/off, yes/no)";
    case Kind::kMilliseconds:
      return whole_number(value, true) ? std::string()
                                       : name + " takes a whole number of milliseconds > 0";
    case Kind::kCount:
      return whole_number(value, false) ? std::string() : name + " takes a whole number >= 0";
    case Kind::kLevel:
      return detail::log_level_named(value)
                 ? std::string()
                 : name + " takes off, error, warn, info or debug (or 0-4)";
    case Kind::kFunctions: {
      for (std::size_t at = 0; at <= value.size();) {
        std::size_t end = value.find(',', at);
        if (end == std::string::npos) end = value.size();
        std::string f = value.substr(at, end - at);
        f.erase(0, f.find_first_not_of(" \t"));
        f.erase(f.find_last_not_of(" \t") + 1);
        at = end + 1;
        if (f.empty()) continue;
        bool known = false;
        for (const char* n : kFunctionNames) known |= f == n;
        if (!known) {
          const std::string near = detail::nearest_function(f);
          return "'" + f + "' is not an NCCL function ncclrt knows" +
                 (near.empty() ? "" : "; did you mean " + near + "?");
        }
      }
      return {};
    }
  }
  return {};
}

}  // namespace

namespace detail {

std::optional<bool> flag_value(const std::string& v) {
  std::string low;
  for (char c : v) low += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* yes : {"1", "true", "on", "yes"}) {
    if (low == yes) return true;
  }
  for (const char* no : {"0", "false", "off", "no"}) {
    if (low == no) return false;
  }
  return std::nullopt;
}

std::optional<LogLevel> log_level_named(const std::string& v) {
  static const std::pair<const char*, LogLevel> levels[] = {
      {"off", LogLevel::kOff},   {"0", LogLevel::kOff},     {"error", LogLevel::kError},
      {"1", LogLevel::kError},   {"warn", LogLevel::kWarn}, {"2", LogLevel::kWarn},
      {"info", LogLevel::kInfo}, {"3", LogLevel::kInfo},    {"debug", LogLevel::kDebug},
      {"4", LogLevel::kDebug}};
  for (const auto& [name, level] : levels) {
    if (v == name) return level;
  }
  return std::nullopt;
}

std::string nearest_function(const std::string& name) {
  const std::vector<std::string> names(std::begin(kFunctionNames), std::end(kFunctionNames));
  const auto near = util::nearest_names(name, names, std::max<std::size_t>(2, name.size() / 3), 1);
  return near.empty() ? std::string() : near.front();
}

std::optional<std::string> variable(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  for (const Variable& var : kVariables) {
    if (std::strcmp(var.name, name) != 0) continue;
    const std::string problem = problem_with(var, v);
    if (!problem.empty()) {
      throw LoadError(std::string(name) + "=" + v + " cannot be used: " + problem +
                      ". Try: correct it, or unset it for the default");
    }
  }
  return std::string(v);
}

}  // namespace detail

std::vector<VariableProblem> ncclrt_environment_problems() {
  std::vector<std::string> names;
  for (const Variable& var : kVariables) names.emplace_back(var.name);
  std::vector<VariableProblem> out;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "NCCLRT_", 7) != 0) continue;
    const char* eq = std::strchr(*e, '=');
    if (eq == nullptr) continue;
    const std::string name(*e, static_cast<std::size_t>(eq - *e)), value(eq + 1);
    const Variable* var = nullptr;
    for (const Variable& v : kVariables) var = name == v.name ? &v : var;
    if (var == nullptr) {
      out.push_back(
          {name, value, "not ncclrt's",
           util::nearest_names(name, names, std::max<std::size_t>(2, name.size() / 3), 2)});
    } else if (!value.empty()) {
      if (std::string p = problem_with(*var, value); !p.empty())
        out.push_back({name, value, p, {}});
    }
  }
  return out;
}

}  // namespace ncclrt
