// The checks of a dump's JSON (schema: docs/debugging.md) and the parse that keeps only what
// they need: parse_dump's parts (trace_reader.cpp). Every error names the file and the place.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "trace_reader.hpp"
#include "trace_text.hpp"

namespace ncclrt_tool::detail {

using json = nlohmann::json;

/// The most ranks a dump may name.
inline constexpr int kMaxRanks = 1 << 24;

/// The checks of one file: every error names the file and the place.
class Fields {
 public:
  explicit Fields(const std::string& name) : name_(name) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw TraceFileError(name_ + ": " + (where.empty() ? "" : where + ": ") + what);
  }

  const json& member(const json& obj, const char* key, const std::string& where) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(where, std::string("missing \"") + key + "\"");
    return *it;
  }
  static std::string at(const std::string& where, const char* key) {
    return where.empty() ? key : where + "." + key;
  }
  static const char* kind(const json& v) {
    return v.is_null()      ? "null"
           : v.is_boolean() ? "a boolean"
           : v.is_number()  ? "a number"
           : v.is_string()  ? "a string"
           : v.is_array()   ? "an array"
                            : "an object";
  }
  // What errors show of a text taken from the file.
  static std::string quoted(const std::string& s) {
    return "\"" + std::string(utf8_prefix(s, 40)) + "\"";
  }

  std::uint64_t unsigned_(const json& obj, const char* key, const std::string& where) const {
    const json& v = member(obj, key, where);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0)) {
      fail(at(where, key), std::string("expected an integer >= 0, got ") + kind(v));
    }
    return v.get<std::uint64_t>();
  }
  std::int64_t signed_(const json& obj, const char* key, const std::string& where) const {
    const json& v = member(obj, key, where);
    if (!v.is_number_integer())
      fail(at(where, key), std::string("expected an integer, got ") + kind(v));
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(at(where, key), "the integer is too large");
    }
    return v.get<std::int64_t>();
  }
  int int_in(const json& obj, const char* key, const std::string& where, std::int64_t lo,
             std::int64_t hi) const {
    const std::int64_t v = signed_(obj, key, where);
    if (v < lo || v > hi) {
      fail(at(where, key),
           std::to_string(v) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return static_cast<int>(v);
  }
  std::string string_(const json& obj, const char* key, const std::string& where) const {
    const json& v = member(obj, key, where);
    if (!v.is_string()) fail(at(where, key), std::string("expected a string, got ") + kind(v));
    return v.get<std::string>();
  }
  // A string or null ("" for null).
  std::string maybe_string(const json& obj, const char* key, const std::string& where) const {
    const json& v = member(obj, key, where);
    if (v.is_null()) return "";
    if (!v.is_string())
      fail(at(where, key), std::string("expected a string or null, got ") + kind(v));
    return v.get<std::string>();
  }
  std::uint64_t pointer(const json& obj, const char* key, const std::string& where) const {
    const std::string s = string_(obj, key, where);
    if (s.size() < 3 || s.size() > 18 || s[0] != '0' || s[1] != 'x' ||
        s.find_first_not_of("0123456789abcdefABCDEF", 2) != std::string::npos) {
      fail(at(where, key), "expected a hex pointer like \"0x7f00\", got " + quoted(s));
    }
    return std::stoull(s.substr(2), nullptr, 16);
  }
  const json& array(const json& obj, const char* key, const std::string& where) const {
    const json& v = member(obj, key, where);
    if (!v.is_array()) fail(at(where, key), std::string("expected an array, got ") + kind(v));
    return v;
  }
  void comm_id(const std::string& id, const std::string& where) const {
    if (id.size() != 16 || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
      fail(where, "expected 16 lower-case hex digits, got " + quoted(id));
    }
  }

 private:
  const std::string& name_;
};

/// One entry of "entries", checked; `where` is its place ("entries[3]").
DumpEntry read_entry(const Fields& f, const json& e, const std::string& where);
/// One graph of "progress"."graphs", checked.
DumpGraph read_graph(const Fields& f, const json& g, const std::string& where);

/// A dump's JSON as the parse keeps it: the document without the lists below (each left empty,
/// so that the checks still see its type), and those lists, read and checked one item at a time.
struct Filtered {
  json doc;
  std::vector<DumpEntry> entries;
  std::vector<DumpGraph> graphs;
  std::vector<std::string> notes, aliases;
};
/// Parses `text` keeping only the fields of a dump: no tree deeper than kMaxDumpDepth is built,
/// no entry's JSON outlives its check. Throws TraceFileError.
Filtered parse_filtered(std::string_view text, const std::string& name);

}  // namespace ncclrt_tool::detail
