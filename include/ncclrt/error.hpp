// The one exception hierarchy of ncclrt. Every message says what failed, where, why, and what to
// try.
#pragma once

#include <iosfwd>
#include <stdexcept>
#include <string>

#include "ncclrt/detail/export.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// Base of every exception ncclrt throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A libnccl file could not be found, probed, opened or resolved.
class LoadError : public Error {
 public:
  using Error::Error;
};

/// The loaded NCCL lacks what was asked for (a function, data type or config field).
class UnsupportedError : public Error {
 public:
  using Error::Error;
};

/// A deadline passed while waiting on NCCL or a peer.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

/// A bad argument or an operation on an object in the wrong state; nothing reached NCCL.
class UsageError : public Error {
 public:
  using Error::Error;
};

/// NCCL's result codes (ncclResult_t values).
enum class Result : int {
  kSuccess = 0,
  kUnhandledCudaError = 1,
  kSystemError = 2,
  kInternalError = 3,
  kInvalidArgument = 4,
  kInvalidUsage = 5,
  kRemoteError = 6,  ///< NCCL >= 2.13
  kInProgress = 7,   ///< NCCL >= 2.14
  kTimeout = 8,      ///< NCCL >= 2.30.3
};
/// NCCL's name for it: "ncclRemoteError"; "ncclResult(N)" for a value NCCL has not defined.
const char* to_string(Result result) noexcept;
std::ostream& operator<<(std::ostream& out, Result result);

/// An NCCL call returned an error.
class NcclError : public Error {
 public:
  NcclError(std::string message, int result, std::string result_string, std::string last_error,
            std::string call, std::string version)
      : Error(std::move(message)),
        result_(result),
        result_string_(std::move(result_string)),
        last_error_(std::move(last_error)),
        call_(std::move(call)),
        version_(std::move(version)) {}

  /// NCCL's result code; prints as its NCCL name.
  Result result() const noexcept { return static_cast<Result>(result_); }
  /// ncclGetErrorString(result).
  const std::string& result_string() const noexcept { return result_string_; }
  /// ncclGetLastError() text, empty where the loaded NCCL has none.
  const std::string& last_error() const noexcept { return last_error_; }
  /// The NCCL function that failed, e.g. "ncclCommInitRank".
  const std::string& call() const noexcept { return call_; }
  /// The loaded NCCL version, e.g. "2.28.9".
  const std::string& version() const noexcept { return version_; }

 private:
  int result_;
  std::string result_string_;
  std::string last_error_;
  std::string call_;
  std::string version_;
};

}  // namespace ncclrt
NCCLRT_EXPORT_END
