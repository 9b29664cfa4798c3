// Loading a libnccl file in a separate process, so that a damaged file cannot kill the caller.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "ncclrt/detail/export.hpp"
#include "ncclrt/version.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// What happened when a separate process loaded a file.
struct ProbeResult {
  enum class Verdict {
    kOk,          ///< loaded; version read
    kNotFound,    ///< no such file
    kNotAFile,    ///< a directory or other non-regular file
    kLoadFailed,  ///< the dynamic loader refused it (dlerror in detail)
    kNotNccl,     ///< loaded, but it has no ncclGetVersion
    kSignal,      ///< the process was killed by a signal (e.g. SIGBUS on a truncated file)
    kTimeout,     ///< it did not finish before the deadline and was killed
    kExited,      ///< it exited before reporting a version (a constructor called exit)
    kCannotRun,   ///< the probe process itself could not be started
  };
  Verdict verdict = Verdict::kCannotRun;
  std::string file;      ///< what was probed (a path, or a name for the loader to search)
  std::string resolved;  ///< the file the loader actually mapped, when known
  std::optional<Version> version;
  int signal = 0;     ///< with kSignal
  int exit_code = 0;  ///< with kExited
  std::string detail;
  double seconds = 0;   ///< wall time of the probe
  bool cached = false;  ///< the verdict came from the per-file cache

  bool ok() const noexcept { return verdict == Verdict::kOk; }
  /// One sentence: what happened to which file and why.
  std::string message() const;
};

const char* to_string(ProbeResult::Verdict verdict) noexcept;

/// Probes `file` (a path, or a bare name the dynamic loader searches for) in a separate process.
/// Verdicts for paths are cached per (path, size, mtime). Never throws for a bad file.
ProbeResult probe(const std::string& file, std::chrono::milliseconds timeout);

}  // namespace ncclrt
NCCLRT_EXPORT_END
