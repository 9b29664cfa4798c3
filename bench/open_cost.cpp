// What opening NCCL costs, as a user meets it: a first Library::open() by discovery in a fresh
// process (with the probe's own share of it), a second open of the same NCCL, and a whole
// `ncclrt version`. Each figure is a fresh process, repeated; read by a person, never asserted.
//
//   ncclrt_bench_open [--runs N] [--again M] [--tool PATH/TO/ncclrt]
//
// --again: second opens per process (default 1000; the median is reported).
//
// Run it with the PATH and environment a user has (a pyenv shim, a virtual environment): what
// discovery reads from them is part of the cost.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ncclrt/ncclrt.hpp>
#include <string>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// One fresh process's figures: "first_ms probe_ms second_us" on stdout.
int child(int opens) {
  const auto t0 = Clock::now();
  auto lib = ncclrt::Library::open();
  const double first = ms_since(t0);
  std::vector<double> again;
  for (int i = 0; i < opens; ++i) {
    const auto t = Clock::now();
    auto same = ncclrt::Library::open();
    again.push_back(ms_since(t) * 1000);
    if (same != lib) return 3;
  }
  std::sort(again.begin(), again.end());
  std::printf("%.3f %.3f %.3f %s\n", first, lib->probe_seconds().value_or(0) * 1000,
              again[again.size() / 2], lib->path().c_str());
  return 0;
}

// Runs argv, its stdout into `out`; returns the wall time in ms, or -1.
double timed_run(std::vector<std::string> args, std::string* out) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_addclose(&fa, pipefd[0]);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto t0 = Clock::now();
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    return -1;
  }
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) out->append(buf, n);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double ms = ms_since(t0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ms : -1;
}

struct Summary {
  double median, lo, hi;
};
Summary summary(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::strcmp(argv[1], "--child") == 0) return child(std::atoi(argv[2]));
  int runs = 20;
  std::string again = "1000";
  std::string tool;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--runs") == 0) runs = std::max(1, std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--again") == 0)
      again = std::to_string(std::max(1, std::atoi(argv[i + 1])));
    if (std::strcmp(argv[i], "--tool") == 0) tool = argv[i + 1];
  }
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = '\0';
  std::vector<double> first, probe, extra, second, version;
  std::string path;
  for (int r = 0; r < runs; ++r) {
    std::string out;
    if (timed_run({self, "--child", again}, &out) < 0) {
      std::fprintf(stderr, "ncclrt_bench_open: a run failed: %s\n", out.c_str());
      return 1;
    }
    double f = 0, p = 0, s = 0;
    char file[4096] = {};
    if (std::sscanf(out.c_str(), "%lf %lf %lf %4095s", &f, &p, &s, file) != 4) return 1;
    first.push_back(f);
    probe.push_back(p);
    extra.push_back(f - p);
    second.push_back(s);
    path = file;
    if (!tool.empty()) {
      std::string ignored;
      const double ms = timed_run({tool, "version"}, &ignored);
      if (ms >= 0) version.push_back(ms);
    }
  }
  auto line = [](const char* what, const std::vector<double>& v, const char* unit) {
    const Summary s = summary(v);
    std::printf("  %-44s median %8.3f %s  (%.3f-%.3f)\n", what, s.median, unit, s.lo, s.hi);
  };
  std::printf("NCCL %s, %d fresh processes\n", path.c_str(), runs);
  line("first Library::open() by discovery", first, "ms");
  line("  of which the probe", probe, "ms");
  line("  the rest (first open - probe)", extra, "ms");
  line("second Library::open() of the same NCCL", second, "us");
  if (!version.empty()) line("`ncclrt version`, whole process", version, "ms");
  return 0;
}
