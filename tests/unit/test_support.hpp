// Shared helpers for the unit tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>

#include "cuda_driver.hpp"  // src/: the core's own use of the driver
#include "ncclrt/version.hpp"

namespace ncclrt_test {

/// A shell command's exit status (-1: it did not exit) and what it printed, stderr included.
struct CommandRun {
  int code = -1;
  std::string out;
};
inline CommandRun run_command(const std::string& command) {
  CommandRun r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

/// The real libnccl of this machine, or "" (tests that need it skip, saying why): the one found at
/// build time, or $NCCLRT_TEST_REAL_NCCL on a machine whose NCCL lives elsewhere (a build run on
/// another machine), with its nccl.h in ../include/ (the PyPI layout).
inline std::string real_nccl() {
  const char* v = std::getenv("NCCLRT_TEST_REAL_NCCL");
  return v && *v ? v : REAL_NCCL;
}

/// Its version, read from its nccl.h ("2.28.9"); "" when there is none.
inline std::string real_nccl_version() {
  const char* v = std::getenv("NCCLRT_TEST_REAL_NCCL");
  if (!v || !*v) return REAL_NCCL_VERSION;
  const std::string path(v);
  std::ifstream h(path.substr(0, path.rfind('/')) + "/../include/nccl.h");
  int part[3] = {-1, -1, -1};
  const char* names[3] = {"#define NCCL_MAJOR ", "#define NCCL_MINOR ", "#define NCCL_PATCH "};
  for (std::string line; std::getline(h, line);) {
    for (int i = 0; i < 3; ++i) {
      if (line.rfind(names[i], 0) == 0) part[i] = std::atoi(line.c_str() + std::strlen(names[i]));
    }
  }
  if (part[0] < 0 || part[1] < 0 || part[2] < 0) return "";
  return std::to_string(part[0]) + "." + std::to_string(part[1]) + "." + std::to_string(part[2]);
}
inline ncclrt::Version real_version() {
  ncclrt::Version v;
  std::sscanf(real_nccl_version().c_str(), "%d.%d.%d", &v.major, &v.minor, &v.patch);
  return v;
}

#define NCCLRT_NEED_REAL_NCCL()                                                           \
  do {                                                                                    \
    if (::ncclrt_test::real_nccl().empty() || ::ncclrt_test::real_nccl_version().empty()) \
      GTEST_SKIP() << "no real libnccl with its nccl.h found at build time";              \
  } while (0)

/// GPUs the CUDA driver shows this process; 0 where there is no driver or no GPU. Tests whose
/// outcome depends on it check the outcome for the machine they run on.
inline int gpu_count() {
  try {
    return ncclrt::detail::cuda_device_count();
  } catch (const std::exception&) {
    return 0;
  }
}

/// Runs `fn`, expects exception E, and checks that its message contains every word.
template <class E>
std::string expect_error(const std::function<void()>& fn,
                         std::initializer_list<const char*> words) {
  try {
    fn();
  } catch (const E& e) {
    const std::string what = e.what();
    for (const char* w : words) {
      EXPECT_NE(what.find(w), std::string::npos) << "missing \"" << w << "\" in: " << what;
    }
    return what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type; message: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no exception thrown";
  return {};
}

/// Sets (or unsets, with nullopt) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

/// A fresh directory, removed with everything in it at scope end.
class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "ncclrt-test-XXXXXX").string();
    path_ = ::mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ncclrt_test
