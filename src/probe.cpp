#include "ncclrt/probe.hpp"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

#include "log_internal.hpp"
#include "spawn.hpp"

// The probe helper program (src/probe_helper.c), embedded at build time so that finding it
// depends on neither the current directory nor PATH nor where ncclrt was installed.
extern "C" const unsigned char ncclrt_probe_helper[];
extern "C" const unsigned long ncclrt_probe_helper_size;

namespace ncclrt {
namespace {

bool write_all(int fd, const unsigned char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// An executable copy of the helper: an anonymous memory file, or a private temporary file where
// memfd_create is not allowed. Made once per process; the error explains a failure.
struct HelperFile {
  std::string path;
  std::string error;
};

// memfd_create through the system call: glibc has a wrapper only from 2.27, and the wheels are
// built for glibc 2.17. A kernel without it (before 3.17) fails with ENOSYS: the fallback below.
int anonymous_file(const char* name) {
#ifdef SYS_memfd_create
  constexpr unsigned kCloseOnExec = 1U;  // MFD_CLOEXEC
  return static_cast<int>(::syscall(SYS_memfd_create, name, kCloseOnExec));
#else
  (void)name;
  errno = ENOSYS;
  return -1;
#endif
}

HelperFile make_helper_file() {
  HelperFile h;
  int fd = anonymous_file("ncclrt-probe");
  if (fd >= 0 && write_all(fd, ncclrt_probe_helper, ncclrt_probe_helper_size)) {
    // Resolved by the child while it still holds the (close-on-exec) descriptor: this is fexecve.
    h.path = "/proc/self/fd/" + std::to_string(fd);
    if (::access(("/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd)).c_str(),
                 X_OK) == 0) {
      return h;
    }
  }
  if (fd >= 0) ::close(fd);
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/ncclrt-probe-XXXXXX";
  fd = ::mkstemp(templ.data());
  if (fd < 0 || !write_all(fd, ncclrt_probe_helper, ncclrt_probe_helper_size) ||
      ::fchmod(fd, 0700) != 0) {
    h.path.clear();
    h.error = "cannot write the probe helper to " + templ + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return h;
  }
  ::close(fd);
  h.path = templ;
  // Removed at exit; a crash leaves one small file in TMPDIR.
  static std::string to_remove = templ;
  std::atexit([] { ::unlink(to_remove.c_str()); });
  return h;
}

const HelperFile& helper_file() {
  static const HelperFile h = make_helper_file();
  return h;
}

struct CacheKey {
  std::string path;
  long long size;
  long long mtime_ns;
  bool operator<(const CacheKey& o) const {
    return std::tie(path, size, mtime_ns) < std::tie(o.path, o.size, o.mtime_ns);
  }
};

std::mutex& probe_mutex() {
  static std::mutex m;
  return m;
}
std::map<CacheKey, ProbeResult>& cache() {
  static std::map<CacheKey, ProbeResult> c;
  return c;
}

// What the process printed besides our protocol lines, shortened to its end.
std::string last_lines(const std::string& text, std::size_t max_chars) {
  std::istringstream in(text);
  std::string line, t;
  while (std::getline(in, line)) {
    if (line.rfind("ncclrt-probe: ", 0) != 0) t += line + "\n";
  }
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  if (t.size() > max_chars) t = "..." + t.substr(t.size() - max_chars);
  return t;
}

std::string value_of(const std::string& output, const std::string& key) {
  std::istringstream in(output);
  std::string line;
  const std::string prefix = "ncclrt-probe: " + key + " ";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return {};
}

ProbeResult run_probe(const std::string& file, std::chrono::milliseconds timeout) {
  ProbeResult r;
  r.file = file;
  const HelperFile& helper = helper_file();
  if (helper.path.empty()) {
    r.verdict = ProbeResult::Verdict::kCannotRun;
    r.detail = helper.error;
    return r;
  }
  detail::ChildResult c = detail::run_child(helper.path, {file}, timeout);
  r.seconds = c.seconds;
  if (!c.started) {
    r.verdict = ProbeResult::Verdict::kCannotRun;
    r.detail = c.start_error;
    return r;
  }
  r.resolved = value_of(c.output, "path");
  const std::string version = value_of(c.output, "version");
  if (c.timed_out) {
    r.verdict = ProbeResult::Verdict::kTimeout;
    r.detail = last_lines(c.output, 400);
  } else if (c.signal != 0) {
    r.verdict = ProbeResult::Verdict::kSignal;
    r.signal = c.signal;
    r.detail = last_lines(c.output, 400);
  } else if (!version.empty() && c.exit_code == 0) {
    r.verdict = ProbeResult::Verdict::kOk;
    r.version = Version::from_code(std::atoi(version.c_str()));
  } else if (std::string e = value_of(c.output, "dlopen-error"); !e.empty()) {
    r.verdict = ProbeResult::Verdict::kLoadFailed;
    r.detail = e;
  } else if (!value_of(c.output, "no-symbol").empty()) {
    r.verdict = ProbeResult::Verdict::kNotNccl;
    r.detail = "no ncclGetVersion symbol";
  } else if (std::string code = value_of(c.output, "version-error"); !code.empty()) {
    r.verdict = ProbeResult::Verdict::kNotNccl;
    r.detail = "ncclGetVersion returned error " + code;
  } else {
    r.verdict = ProbeResult::Verdict::kExited;
    r.exit_code = c.exit_code;
    r.detail = last_lines(c.output, 400);
  }
  return r;
}

}  // namespace

const char* to_string(ProbeResult::Verdict verdict) noexcept {
  switch (verdict) {
    case ProbeResult::Verdict::kOk:
      return "ok";
    case ProbeResult::Verdict::kNotFound:
      return "not found";
    case ProbeResult::Verdict::kNotAFile:
      return "not a file";
    case ProbeResult::Verdict::kLoadFailed:
      return "load failed";
    case ProbeResult::Verdict::kNotNccl:
      return "not NCCL";
    case ProbeResult::Verdict::kSignal:
      return "crashed";
    case ProbeResult::Verdict::kTimeout:
      return "timed out";
    case ProbeResult::Verdict::kExited:
      return "exited";
    case ProbeResult::Verdict::kCannotRun:
      return "probe could not run";
  }
  return "?";
}

std::string ProbeResult::message() const {
  std::ostringstream m;
  switch (verdict) {
    case Verdict::kOk:
      m << file << " is NCCL " << (version ? version->str() : "?");
      if (!resolved.empty() && resolved != file) m << " (" << resolved << ")";
      m << "; it loaded cleanly in a separate process";
      break;
    case Verdict::kNotFound:
      m << file << " does not exist";
      break;
    case Verdict::kNotAFile:
      m << file << " is not a regular file (a directory?); give the path of libnccl.so.2 itself";
      break;
    case Verdict::kLoadFailed:
      // dlerror() names the file again ("FILE: invalid ELF header"): say it once.
      m << "the dynamic loader refused " << file << ": "
        << (detail.rfind(file + ": ", 0) == 0 ? detail.substr(file.size() + 2) : detail);
      break;
    case Verdict::kNotNccl:
      m << file << " loaded but is not NCCL (" << detail << ")";
      break;
    case Verdict::kSignal:
      m << "loading " << file << " in a separate process killed it with signal " << signal << " ("
        << strsignal(signal) << ")";
      if (signal == SIGBUS) m << "; the file is probably truncated";
      m << "; the file is damaged or incompatible with this system. Reinstall NCCL or choose "
           "another file";
      break;
    case Verdict::kTimeout:
      m << "loading " << file << " in a separate process did not finish within the deadline and "
        << "was killed; its initialisers hang. Raise NCCLRT_PROBE_TIMEOUT_MS if the file system is "
           "slow";
      break;
    case Verdict::kExited:
      m << "loading " << file << " in a separate process made it exit with status " << exit_code
        << " before NCCL reported a version (an initialiser called exit)";
      break;
    case Verdict::kCannotRun:
      m << "the probe process for " << file << " could not be started: " << detail
        << ". Set NCCLRT_PROBE=0 to load without probing";
      break;
  }
  if (!detail.empty() && (verdict == Verdict::kSignal || verdict == Verdict::kTimeout ||
                          verdict == Verdict::kExited)) {
    m << ". Its output: " << detail;
  }
  return m.str();
}

ProbeResult probe(const std::string& file, std::chrono::milliseconds timeout) {
  const bool is_path = file.find('/') != std::string::npos;
  struct stat st {};
  if (is_path) {
    if (::stat(file.c_str(), &st) != 0) {
      ProbeResult r;
      r.file = file;
      r.verdict = errno == ENOENT || errno == ENOTDIR ? ProbeResult::Verdict::kNotFound
                                                      : ProbeResult::Verdict::kLoadFailed;
      r.detail = std::strerror(errno);
      return r;
    }
    if (!S_ISREG(st.st_mode)) {
      ProbeResult r;
      r.file = file;
      r.verdict = ProbeResult::Verdict::kNotAFile;
      return r;
    }
  }
  // One probe at a time: many threads opening one file at once give one probe and one verdict.
  std::lock_guard<std::mutex> lock(probe_mutex());
  const CacheKey key{file, static_cast<long long>(st.st_size),
                     static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
  if (is_path) {
    auto it = cache().find(key);
    if (it != cache().end()) {
      ProbeResult r = it->second;
      r.cached = true;
      return r;
    }
  }
  ProbeResult r = run_probe(file, timeout);
  detail::log(LogLevel::kInfo, "probe of " + file + ": " + to_string(r.verdict) + " in " +
                                   std::to_string(r.seconds) + " s");
  // A timeout may be a slow file system, not the file: it is tried again next time.
  if (is_path && r.verdict != ProbeResult::Verdict::kCannotRun &&
      r.verdict != ProbeResult::Verdict::kTimeout) {
    cache()[key] = r;
  }
  return r;
}

}  // namespace ncclrt
