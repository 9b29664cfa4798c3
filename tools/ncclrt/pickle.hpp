// A minimal writer of Python's pickle format (protocol 2): dicts, lists, tuples, strings,
// integers, booleans and None, which is all PyTorch's flight-recorder dumps hold. Written here so
// that `ncclrt trace export` needs no Python on the machine where the dumps are gathered.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ncclrt_tool {

class Pickle {
 public:
  Pickle() { out_ += "\x80\x02"; }  // PROTO 2

  // Containers: open, put the items (a dict's as key, value, key, value...), close.
  Pickle& dict() { return op("}(", 2); }      // EMPTY_DICT MARK
  Pickle& end_dict() { return op("u", 1); }   // SETITEMS
  Pickle& list() { return op("](", 2); }      // EMPTY_LIST MARK
  Pickle& end_list() { return op("e", 1); }   // APPENDS
  Pickle& tuple() { return op("(", 1); }      // MARK
  Pickle& end_tuple() { return op("t", 1); }  // TUPLE

  Pickle& none() { return op("N", 1); }
  Pickle& boolean(bool b) { return op(b ? "\x88" : "\x89", 1); }  // NEWTRUE / NEWFALSE
  Pickle& integer(std::int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) {
      out_ += 'J';  // BININT: 4 bytes, little endian
      put_le(static_cast<std::uint64_t>(v), 4);
      return *this;
    }
    out_ += '\x8a';  // LONG1: a length byte, then the two's complement, little endian
    out_ += static_cast<char>(8);
    put_le(static_cast<std::uint64_t>(v), 8);
    return *this;
  }
  Pickle& str(std::string_view s) {
    out_ += 'X';  // BINUNICODE: 4-byte length, UTF-8 bytes
    put_le(s.size(), 4);
    out_.append(s.data(), s.size());
    return *this;
  }
  /// The finished pickle (STOP appended once).
  const std::string& bytes() {
    if (!stopped_) {
      out_ += '.';
      stopped_ = true;
    }
    return out_;
  }

 private:
  Pickle& op(const char* code, std::size_t n) {
    out_.append(code, n);
    return *this;
  }
  void put_le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string out_;
  bool stopped_ = false;
};

}  // namespace ncclrt_tool
