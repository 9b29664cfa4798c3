// The 128-byte token that names a communicator before it exists.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "ncclrt/abi.hpp"
#include "ncclrt/detail/export.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// NCCL's ncclUniqueId as a value: raw bytes, and a hex text form that round-trips through
/// files, environment variables and command lines. Made by Library::unique_id().
class UniqueId {
 public:
  static constexpr std::size_t kBytes = abi::kUniqueIdBytes;

  /// All zero bytes; not a usable id.
  UniqueId() = default;
  explicit UniqueId(const abi::ncclUniqueId& raw) noexcept;

  /// Parses the 256-character hex form of to_hex(); throws UsageError on the wrong length or a
  /// character that is not a hex digit.
  [[nodiscard]] static UniqueId from_hex(std::string_view text);
  /// 256 lower-case hex digits.
  std::string to_hex() const;

  const std::array<unsigned char, kBytes>& bytes() const noexcept { return bytes_; }
  abi::ncclUniqueId raw() const noexcept;

  friend bool operator==(const UniqueId& a, const UniqueId& b) noexcept {
    return a.bytes_ == b.bytes_;
  }
  friend bool operator!=(const UniqueId& a, const UniqueId& b) noexcept { return !(a == b); }

 private:
  std::array<unsigned char, kBytes> bytes_{};
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
