// The one exception hierarchy of ncclrt. Every message says what failed, where, why, and what to
// try.
#pragma once

#include <stdexcept>
#include <string>

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

  /// NCCL's ncclResult_t value.
  int result() const noexcept { return result_; }
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
