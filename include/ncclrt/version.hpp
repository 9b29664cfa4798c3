// NCCL version numbers and their two integer encodings.
#pragma once

#include <string>

#include "ncclrt/detail/export.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// An NCCL release number, comparable, decoded from either of NCCL's integer encodings.
struct Version {
  int major = 0;
  int minor = 0;
  int patch = 0;

  /// Decodes ncclGetVersion's code: major*1000+minor*100+patch below 2.9 (2804 -> 2.8.4),
  /// major*10000+minor*100+patch from 2.9 on (21903 -> 2.19.3, 22000 -> 2.20.0).
  static constexpr Version from_code(int code) noexcept {
    if (code >= 10000) return {code / 10000, (code % 10000) / 100, code % 100};
    return {code / 1000, (code % 1000) / 100, code % 100};
  }
  /// The code NCCL itself would report for this version (NCCL_VERSION(X, Y, Z)).
  constexpr int code() const noexcept {
    return (major <= 2 && minor <= 8) ? major * 1000 + minor * 100 + patch
                                      : major * 10000 + minor * 100 + patch;
  }
  /// "2.28.9"
  std::string str() const {
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  }

  friend constexpr bool operator==(Version a, Version b) noexcept {
    return a.major == b.major && a.minor == b.minor && a.patch == b.patch;
  }
  friend constexpr bool operator!=(Version a, Version b) noexcept { return !(a == b); }
  friend constexpr bool operator<(Version a, Version b) noexcept {
    if (a.major != b.major) return a.major < b.major;
    if (a.minor != b.minor) return a.minor < b.minor;
    return a.patch < b.patch;
  }
  friend constexpr bool operator>(Version a, Version b) noexcept { return b < a; }
  friend constexpr bool operator<=(Version a, Version b) noexcept { return !(b < a); }
  friend constexpr bool operator>=(Version a, Version b) noexcept { return !(a < b); }
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
