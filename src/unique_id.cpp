#include "ncclrt/unique_id.hpp"

#include <cstring>

#include "ncclrt/error.hpp"

namespace ncclrt {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

UniqueId::UniqueId(const abi::ncclUniqueId& raw) noexcept {
  std::memcpy(bytes_.data(), raw.internal, kBytes);
}

abi::ncclUniqueId UniqueId::raw() const noexcept {
  abi::ncclUniqueId r;
  std::memcpy(r.internal, bytes_.data(), kBytes);
  return r;
}

std::string UniqueId::to_hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(kBytes * 2, '0');
  for (std::size_t i = 0; i < kBytes; ++i) {
    s[2 * i] = kDigits[bytes_[i] >> 4];
    s[2 * i + 1] = kDigits[bytes_[i] & 0xf];
  }
  return s;
}

UniqueId UniqueId::from_hex(std::string_view text) {
  if (text.size() != kBytes * 2) {
    throw UsageError("a unique id in text form is " + std::to_string(kBytes * 2) +
                     " hex digits; got " + std::to_string(text.size()) +
                     " characters. Pass the exact output of UniqueId::to_hex()");
  }
  UniqueId id;
  for (std::size_t i = 0; i < kBytes; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      const std::size_t at = hi < 0 ? 2 * i : 2 * i + 1;
      throw UsageError("a unique id in text form must be hex digits only; character " +
                       std::to_string(at) + " is not one");
    }
    id.bytes_[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return id;
}

}  // namespace ncclrt
