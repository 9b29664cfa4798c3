// The API's names in C++ and in Python, in one table. The library writes each message once, in
// C++'s spelling ("leave LoadOptions::path unset", "raise Config::timeout"); the Python module
// shows it to a Python caller in Python's ("Library.open(path)", "Config(timeout=...)") through
// in_python(). Header-only, as nearest.hpp: not part of the library's public interface.
//
// Adding a name to a message: write it in C++ spelling; if it has no row here and Python spells
// it differently, add one (tests/unit/spelling_test.cpp checks every message it knows).
#pragma once

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

namespace ncclrt::util {

struct Spelling {
  std::string_view cpp;
  std::string_view python;  // "{}" stands for the identifier that follows a prefix row's "::"
};

// Longer rows first where one begins another ("Config::blocking = false" before "Config::").
// A row whose C++ side ends in "::" is a prefix: it carries the identifier after it over.
inline constexpr Spelling kSpellings[] = {
    {"leave LoadOptions::path unset", "call Library.open() without a path"},
    {"LoadOptions::path", "Library.open(path)"},
    {"LoadOptions::", "Library.open({}=...)"},
    {"Config::blocking = false", "Config(blocking=False)"},
    {"CollConfig::", "CollConfig({}=...)"},
    {"Config::", "Config({}=...)"},
    {"synchronize(stream, deadline, OnFailure::kLeave)",
     "synchronize(stream, timeout, abort=False)"},
    {"give the group a longer deadline", "give group() a longer timeout"},
    {"OnFailure::kLeave", "abort=False"},
    {"OnFailure::kAbort", "abort=True"},
    {"kSplitNoColor", "ncclrt.SPLIT_NOCOLOR"},
    {"Library::unique_id()", "Library.unique_id()"},
    {"UniqueId::to_hex()", "UniqueId.hex()"},
    {"ncclrt::Watchdog::enable()", "ncclrt.Watchdog.enable()"},
    {"Watchdog::enable", "Watchdog.enable"},
    {"Window::", "Window.{}"},
    {"DevComm::", "DevComm.{}"},
    {"NcclMemory::allocate", "NcclMemory.allocate"},
};

namespace detail {
inline bool identifier_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}
}  // namespace detail

/// `message` with every C++ name of kSpellings in Python's spelling. One pass, left to right,
/// whole names only ("CollConfig::x" is never read as "Config::x").
inline std::string in_python(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 16);
  std::size_t at = 0;
  while (at < message.size()) {
    const bool starts_name = at == 0 || (!detail::identifier_char(message[at - 1]) &&
                                         message[at - 1] != ':' && message[at - 1] != '.');
    const Spelling* hit = nullptr;
    std::size_t end = at;
    if (starts_name) {
      for (const Spelling& s : kSpellings) {
        if (message.substr(at, s.cpp.size()) != s.cpp) continue;
        end = at + s.cpp.size();
        const bool prefix = s.cpp.size() >= 2 && s.cpp.substr(s.cpp.size() - 2) == "::";
        if (prefix) {
          while (end < message.size() && detail::identifier_char(message[end])) ++end;
          if (end == at + s.cpp.size()) continue;  // "Config::" with no name after it
        } else if (end < message.size() && detail::identifier_char(message[end]) &&
                   detail::identifier_char(s.cpp.back())) {
          continue;  // a longer name that merely begins the same way
        }
        hit = &s;
        break;
      }
    }
    if (hit == nullptr) {
      out += message[at++];
      continue;
    }
    const std::string_view name = message.substr(at + hit->cpp.size(), end - at - hit->cpp.size());
    const std::size_t slot = hit->python.find("{}");
    if (slot == std::string_view::npos) {
      out += hit->python;
    } else {
      out += hit->python.substr(0, slot);
      out += name;
      out += hit->python.substr(slot + 2);
    }
    at = end;
  }
  return out;
}

}  // namespace ncclrt::util
