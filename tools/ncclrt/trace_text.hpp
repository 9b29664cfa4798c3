// What a person reads of a dump: `ncclrt trace show`, and the rules for every text `ncclrt
// trace` prints of a file (valid UTF-8, one line per line, whatever the file held).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "trace_reader.hpp"

namespace ncclrt_tool {

/// `ncclrt trace show`: one dump, readably (the last `last` entries; 0: all).
std::string dump_text(const DumpFile& d, std::size_t last);

/// `text` as valid UTF-8 with no control characters: each ill-formed byte and each control
/// character (a newline included) becomes '?'. What every line of ours shows of a file.
std::string printable(std::string_view text);
/// At most `n` bytes of `text`, cut where a character starts.
std::string_view utf8_prefix(std::string_view text, std::size_t n);
/// What an exception other than TraceFileError tells a person (std::bad_alloc: out of memory).
std::string why_text(const std::exception& e);
/// Seconds from `from_ns` to `to_ns` (any two times a file gives, without overflow).
double seconds_between(std::int64_t from_ns, std::int64_t to_ns);

}  // namespace ncclrt_tool
