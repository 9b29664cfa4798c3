// Dumps and their analysis: files written safely on each trigger (also while NCCL hangs), read
// back exactly, malformed ones refused naming the file, and the analyzer's verdict with the exact
// culprit on dump sets made by stand-in communicators playing the ranks of one job.
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <ncclrt/ncclrt.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "recording.hpp"
#include "test_support.hpp"
#include "trace/state.hpp"
#include "trace_analysis.hpp"
#include "trace_export.hpp"
#include "trace_reader.hpp"
#include "trace_text.hpp"

using namespace ncclrt;
using ncclrt_test::expect_error;
using ncclrt_test::ScopedEnv;
using ncclrt_test::TempDir;
using ncclrt_test::recording::dev;
using ncclrt_test::recording::Fake;
using namespace ncclrt_tool;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> dumps_in(const fs::path& dir) { return dump_files_in(dir.string()); }

// Waits (at most `limit`) until `dir` holds `n` dumps; returns how long it took.
std::chrono::milliseconds wait_for_dumps(const fs::path& dir, std::size_t n,
                                         std::chrono::milliseconds limit) {
  const auto start = Clock::now();
  while (Clock::now() - start < limit) {
    if (fs::exists(dir) && dumps_in(dir).size() >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// `n` stand-in communicators playing the ranks of one communicator (the same unique id).
struct Job {
  explicit Job(int n, const Config& config = {}) : f(RECORDING_NCCL_23203) {
    const UniqueId id = f.lib->unique_id();
    for (int r = 0; r < n; ++r) ranks.push_back(Communicator::init_rank(f.lib, n, r, id, config));
  }
  void all_reduce(int rank, std::size_t count = 256) {
    ranks[static_cast<std::size_t>(rank)].all_reduce(dev(), dev(), count, DataType::kFloat32,
                                                     ReduceOp::kSum, nullptr);
  }
  void all_reduce_all(int times) {
    for (int i = 0; i < times; ++i) {
      for (int r = 0; r < static_cast<int>(ranks.size()); ++r) all_reduce(r);
    }
  }
  Fake f;
  std::vector<Communicator> ranks;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string run_tool_cmd(const std::string& command, int* rc) {
  const std::string cmd = command + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string run_tool(const std::string& args, int* rc) {
  return run_tool_cmd(std::string(NCCLRT_TOOL) + " " + args, rc);
}

const CommVerdict& only(const Analysis& a) {
  EXPECT_EQ(a.comms.size(), 1u);
  return a.comms.front();
}

}  // namespace

TEST(TraceDump, OneFilePerCommunicatorAndRankReadBackExactly) {
  TempDir dir;
  Job job(2);
  job.ranks[0].all_reduce(dev(0x1000), dev(0x2000), 7, DataType::kBfloat16, ReduceOp::kMax,
                          reinterpret_cast<CUstream_st*>(0x77));
  {
    // Quotes, UTF-8, a stray byte, an encoded surrogate (which JSON parsers refuse).
    TraceLabel l(job.ranks[1], "layer \"3\" \xce\xbb \xff \xed\xa0\x80");
    job.all_reduce(1);
  }
  const auto files = dump_traces((dir.path() / "sub" / "dir").string());
  ASSERT_EQ(files.size(), 2u);
  for (const auto& path : files) {
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << path;
    EXPECT_NE(path.find("-p" + std::to_string(::getpid()) + "-"), std::string::npos) << path;
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);  // directories it makes are private too
  DumpFile r0 = read_dump(files[0]), r1 = read_dump(files[1]);
  if (r0.rank != 0) std::swap(r0, r1);
  EXPECT_EQ(r0.comm_id, r1.comm_id);
  EXPECT_NE(files[0].find("ncclrt-trace-" + r0.comm_id + "-r"), std::string::npos);
  EXPECT_EQ(r0.size, 2);
  EXPECT_EQ(r1.rank, 1);
  EXPECT_EQ(r0.pid, ::getpid());
  EXPECT_EQ(r0.trigger, "request");
  EXPECT_EQ(r0.nccl, "2.32.3");
  EXPECT_EQ(r0.origin, "init_rank");
  EXPECT_EQ(r0.collectives, 1u);
  ASSERT_EQ(r0.entries.size(), 2u);
  const DumpEntry& e = r0.entries[1];
  EXPECT_EQ(e.op, "all_reduce");
  EXPECT_EQ(e.seq, 1u);
  EXPECT_EQ(e.count, 7u);
  EXPECT_EQ(e.type, "bfloat16");
  EXPECT_EQ(e.redop, "max");
  EXPECT_EQ(e.send, 0x1000u);
  EXPECT_EQ(e.recv, 0x2000u);
  EXPECT_EQ(e.stream, 0x77u);
  ASSERT_TRUE(e.result.has_value());
  EXPECT_EQ(*e.result, 0);
  EXPECT_FALSE(e.captured.has_value());
  EXPECT_EQ(r0.entries[0].op, "create");
  EXPECT_EQ(r1.entries[1].label, "layer \"3\" \xce\xbb ? ???");
  // The same entries as trace() gives.
  const Trace t = job.ranks[0].trace();
  // (each read calibrates the tick rate again: within a few microseconds)
  EXPECT_NEAR(static_cast<double>(t.entries[1].time_ns), static_cast<double>(e.time_ns), 1e5);
}

TEST(TraceDump, NeverFollowsALinkNorOverwrites) {
  TempDir dir;
  Job job(1);
  const auto first = dump_traces(dir.path().string());
  ASSERT_EQ(first.size(), 1u);
  // The next dump set's names: the same but for the set number.
  const std::string name = fs::path(first[0]).filename().string();
  const auto dash = name.rfind('-');
  const long set = std::stol(name.substr(dash + 1));
  const std::string next =
      (dir.path() / name.substr(0, dash + 1)).string() + std::to_string(set + 1);
  const fs::path victim = dir.path() / "victim";
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, next + ".partial");
  expect_error<Error>([&] { (void)dump_traces(dir.path().string()); },
                      {"cannot create", ".partial", "never overwritten"});
  EXPECT_EQ(read_text(victim.string()), "precious");
  // A name taken by someone else's file: the dump takes the next free one.
  fs::remove(next + ".partial");
  const std::string taken =
      (dir.path() / name.substr(0, dash + 1)).string() + std::to_string(set + 2);
  fs::create_symlink(victim, taken + ".json");
  const auto second = dump_traces(dir.path().string());
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0], taken + "-1.json");
  EXPECT_EQ(read_text(victim.string()), "precious");
}

// The dump directory itself must be a real directory of this process's user: a link could send
// the dumps elsewhere, and another user could read or replace them. Its parents may be links.
TEST(TraceDump, RefusesADirectoryThatIsALinkOrAnotherUsers) {
  TempDir dir;
  Job job(1);
  const fs::path real = dir.path() / "real", link = dir.path() / "link";
  fs::create_directory(real);
  fs::create_directory_symlink(real, link);
  for (const std::string& name : {link.string(), link.string() + "/"}) {
    expect_error<Error>([&] { (void)dump_traces(name); },
                        {"dump_traces", link.string().c_str(), "is a symbolic link",
                         "Name the directory it points to"});
  }
  EXPECT_TRUE(fs::is_empty(real));
  // A link above the directory is fine: the directory made under it is a real one.
  const auto files = dump_traces((link / "sub").string());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(fs::exists(real / "sub" / fs::path(files[0]).filename()));
  // Another user's directory (the tests run as root, who can give one away).
  const fs::path theirs = dir.path() / "theirs";
  fs::create_directory(theirs);
  if (::chown(theirs.c_str(), 65534, 65534) != 0) {
    GTEST_SKIP() << "cannot give a directory to user 65534 (not root): " << std::strerror(errno);
  }
  expect_error<Error>([&] { (void)dump_traces(theirs.string()); },
                      {theirs.string().c_str(), "belongs to user 65534",
                       ("not to this process's user (" + std::to_string(::geteuid()) + ")").c_str(),
                       "Use another directory"});
  EXPECT_TRUE(fs::is_empty(theirs));
  // One made by this process under a directory of another user is its own, and is used.
  const auto mine = dump_traces((theirs / "mine").string());
  EXPECT_EQ(mine.size(), 1u);
}

namespace {
// A file system without hard links, as vfat is: link() fails with EPERM.
int no_link(int, const char*, int, const char*, int) {
  errno = EPERM;
  return -1;
}
// The same, and the disk fills up right then: no file may grow past 64 bytes.
int no_link_then_full(int, const char*, int, const char*, int) {
  const rlimit small{64, RLIM_INFINITY};
  ::setrlimit(RLIMIT_FSIZE, &small);
  errno = EPERM;
  return -1;
}
struct ScopedLink {
  explicit ScopedLink(detail::TraceLinkFn fn) : old(detail::trace_set_link(fn)) {}
  ~ScopedLink() { detail::trace_set_link(old); }
  ScopedLink(const ScopedLink&) = delete;
  ScopedLink& operator=(const ScopedLink&) = delete;
  detail::TraceLinkFn old;
};
}  // namespace

// Where the file system has no hard links, the dump is written straight under its final name:
// complete, mode 0600, never over another file, and removed if it could not be written whole.
TEST(TraceDump, WithoutHardLinksTheDumpIsWrittenInPlace) {
  TempDir dir;
  Job job(2);
  job.all_reduce_all(5);
  std::vector<std::string> files;
  {
    const ScopedLink fake(no_link);
    files = dump_traces(dir.path().string());
  }
  ASSERT_EQ(files.size(), 2u);
  for (const auto& path : files) {
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0) << path;
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(st.st_nlink, 1u);
    const DumpFile d = read_dump(path);  // the whole file: it parses
    EXPECT_EQ(d.trigger, "request");
    EXPECT_EQ(d.collectives, 5u);
    EXPECT_EQ(d.entries.size(), 6u);
  }
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().extension(), ".json") << e.path();  // no .partial left behind
  }
  // Names someone else took: the next free ones, their file untouched.
  const fs::path victim = dir.path() / "victim";
  std::ofstream(victim) << "precious";
  for (const auto& path : files) {
    const std::string name = fs::path(path).filename().string();
    const auto dash = name.rfind('-');
    const std::string next =
        name.substr(0, dash + 1) + std::to_string(std::stol(name.substr(dash + 1)) + 1) + ".json";
    fs::create_symlink(victim, dir.path() / next);
  }
  std::vector<std::string> second;
  {
    const ScopedLink fake(no_link);
    second = dump_traces(dir.path().string());
  }
  ASSERT_EQ(second.size(), 2u);
  for (const auto& path : second) {
    EXPECT_EQ(path.substr(path.size() - 7), "-1.json") << path;
    EXPECT_EQ(read_dump(path).collectives, 5u);
  }
  EXPECT_EQ(read_text(victim.string()), "precious");
  // A dump that cannot be written whole is removed, and the error says so.
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  const std::size_t had = dumps_in(dir.path()).size();
  {
    const ScopedLink fake(no_link_then_full);
    expect_error<Error>([&] { (void)dump_traces(dir.path().string()); }, {"cannot write", ".json"});
  }
  ::setrlimit(RLIMIT_FSIZE, &before);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(dumps_in(dir.path()).size(), had);
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_NE(e.path().extension(), ".partial") << e.path();
  }
}

TEST(TraceDump, AnUnwritablePlaceIsLoggedOnceAndTheProcessGoesOn) {
  std::vector<std::string> logged;
  set_log_handler([&](LogLevel, std::string_view m) { logged.emplace_back(m); });
  set_log_level(LogLevel::kWarn);
  ScopedEnv dir("NCCLRT_TRACE_DIR", "/proc/ncclrt-no-such-place");
  Job job(1);
  expect_error<Error>([] { (void)dump_traces("/proc/ncclrt-no-such-place"); },
                      {"cannot make the directory", "/proc/ncclrt-no-such-place", "Try"});
  job.ranks[0].abort();  // an automatic dump that cannot be written
  Job other(1);
  other.ranks[0].abort();
  int about_dumps = 0;
  for (const auto& m : logged) about_dumps += m.find("automatic dump failed") != std::string::npos;
  EXPECT_EQ(about_dumps, 1);
  set_log_handler({});
  set_log_level(LogLevel::kOff);
}

// ---- the automatic dumps: one per trigger, within a bound ----

TEST(TraceDump, AbortDumps) {
  TempDir dir;
  ScopedEnv env("NCCLRT_TRACE_DIR", dir.path().string());
  Job job(1);
  job.all_reduce(0);
  const auto start = Clock::now();
  job.ranks[0].abort();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  const auto files = dumps_in(dir.path());
  ASSERT_EQ(files.size(), 1u);
  const DumpFile d = read_dump(files[0]);
  EXPECT_EQ(d.trigger, "abort");
  EXPECT_EQ(d.reason, "abort() was called");
  EXPECT_EQ(d.entries.back().op, "abort");
}

// Deliberate aborts are dumped with trigger "abort" under a budget of their own: once it is spent
// they write nothing more, and a real failure still gets its dump.
TEST(TraceDump, DeliberateAbortsHaveABudgetOfTheirOwn) {
  using detail::TraceTrigger;
  TempDir dir;
  ScopedEnv env("NCCLRT_TRACE_DIR", dir.path().string());
  const int aborts = detail::trace_auto_dump_sets(TraceTrigger::kAbort);
  const int failures = detail::trace_auto_dump_sets(TraceTrigger::kFailure);
  if (failures == detail::kMaxFailureDumpSets) GTEST_SKIP() << "this process spent its failures";
  // One recorder per abort: a communicator is dumped at most once a second.
  std::vector<std::unique_ptr<detail::TraceState>> comms;
  for (int i = 0; i < detail::kMaxAbortDumpSets + 3; ++i) {
    comms.push_back(std::make_unique<detail::TraceState>());
    comms.back()->identity.id = 0x1000 + static_cast<std::uint64_t>(i);
    comms.back()->attach(0, 1, -1, "test", 4, false);
  }
  // The dumps that are about `t` (a set also writes the other recorders, with no reason).
  auto file_of = [&](const detail::TraceState& t) {
    const std::string id = "ncclrt-trace-" + detail::trace_id_text(t.identity.id) + "-";
    std::vector<std::string> found;
    for (const auto& f : dumps_in(dir.path())) {
      if (fs::path(f).filename().string().rfind(id, 0) == 0 && !read_dump(f).reason.empty()) {
        found.push_back(f);
      }
    }
    return found;
  };
  for (auto& c : comms)
    detail::trace_auto_dump(c.get(), "abort() was called", TraceTrigger::kAbort);
  const int written = detail::kMaxAbortDumpSets - aborts;
  for (int i = 0; i < static_cast<int>(comms.size()); ++i) {
    const auto files = file_of(*comms[static_cast<std::size_t>(i)]);
    if (i < written) {
      ASSERT_EQ(files.size(), 1u) << "abort " << i;
      const DumpFile d = read_dump(files[0]);
      EXPECT_EQ(d.trigger, "abort");
      EXPECT_EQ(d.reason, "abort() was called");
    } else {
      EXPECT_TRUE(files.empty()) << "abort " << i << " is past the budget";
    }
  }
  EXPECT_EQ(detail::trace_auto_dump_sets(TraceTrigger::kAbort), detail::kMaxAbortDumpSets);
  EXPECT_EQ(detail::trace_auto_dump_sets(TraceTrigger::kFailure), failures);  // untouched
  // The failures' budget is whole: a real failure is dumped.
  detail::TraceState failing;
  failing.identity.id = 0x2000;
  failing.attach(0, 1, -1, "test", 4, false);
  detail::trace_auto_dump(&failing, "a deadline passed", TraceTrigger::kFailure);
  const auto files = file_of(failing);
  ASSERT_EQ(files.size(), 1u);
  const DumpFile d = read_dump(files[0]);
  EXPECT_EQ(d.trigger, "failure");
  EXPECT_EQ(d.reason, "a deadline passed");
  EXPECT_EQ(detail::trace_auto_dump_sets(TraceTrigger::kFailure), failures + 1);
}

TEST(TraceDump, AnOperationNeverEnqueuedDumps) {
  TempDir dir;
  ScopedEnv env("NCCLRT_TRACE_DIR", dir.path().string());
  Config c;
  c.timeout = std::chrono::milliseconds(200);
  Job job(1, c);
  ScopedEnv stuck("FAKE_OP_IN_PROGRESS", "1000000");
  EXPECT_THROW(job.all_reduce(0), TimeoutError);
  ASSERT_EQ(dumps_in(dir.path()).size(), 1u);
  const DumpFile d = read_dump(dumps_in(dir.path())[0]);
  EXPECT_NE(d.reason.find("was not enqueued within 200 ms"), std::string::npos) << d.reason;
  EXPECT_EQ(d.entries.back().op, "all_reduce");  // dumped before the abort
  ASSERT_FALSE(d.notes.empty());
  EXPECT_NE(d.notes.back().find("not enqueued"), std::string::npos);
}

TEST(TraceDump, AnNcclErrorDumps) {
  TempDir dir;
  ScopedEnv env("NCCLRT_TRACE_DIR", dir.path().string());
  Job job(1);
  ScopedEnv error("FAKE_ASYNC_ERROR", "6");  // ncclRemoteError
  EXPECT_THROW(job.ranks[0].check(), NcclError);
  ASSERT_EQ(dumps_in(dir.path()).size(), 1u);
  const DumpFile d = read_dump(dumps_in(dir.path())[0]);
  EXPECT_EQ(d.trigger, "failure");
  EXPECT_NE(d.reason.find("asynchronous error"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("[6]"), std::string::npos) << d.reason;
}

TEST(TraceDump, FinalizeDeadlineDumps) {
  TempDir dir;
  ScopedEnv env("NCCLRT_TRACE_DIR", dir.path().string());
  Config c;
  c.timeout = std::chrono::milliseconds(150);
  Job job(1, c);
  ScopedEnv stuck("FAKE_FINALIZE_IN_PROGRESS", "1");
  EXPECT_THROW(job.ranks[0].finalize(), TimeoutError);
  ASSERT_EQ(dumps_in(dir.path()).size(), 1u);
  const DumpFile d = read_dump(dumps_in(dir.path())[0]);
  EXPECT_NE(d.reason.find("ncclCommFinalize did not complete within 150 ms"), std::string::npos);
  EXPECT_EQ(d.entries.back().op, "finalize");
  EXPECT_FALSE(d.entries.back().result.has_value());  // dumped while finalize was still waiting
}

TEST(TraceDump, CreationDeadlineDumpsTheOtherCommunicators) {
  TempDir dir;
  ScopedEnv env("NCCLRT_TRACE_DIR", dir.path().string());
  Job world(1);
  Config c;
  c.timeout = std::chrono::milliseconds(150);
  ScopedEnv stuck("FAKE_INIT_IN_PROGRESS", "1");
  EXPECT_THROW((void)Communicator::init_rank(world.f.lib, 2, 0, world.f.lib->unique_id(), c),
               TimeoutError);
  ASSERT_EQ(dumps_in(dir.path()).size(), 1u);
  const DumpFile d = read_dump(dumps_in(dir.path())[0]);
  EXPECT_NE(d.reason.find("ncclCommInitRankConfig did not complete within 150 ms"),
            std::string::npos);
}

TEST(TraceDump, SignalDumpsFromAThreadOfItsOwn) {
  TempDir dir;
  ScopedEnv env("NCCLRT_TRACE_DIR", dir.path().string());
  Job job(2);  // the first recorder with NCCLRT_TRACE_DIR set installs the handler
  job.all_reduce_all(3);
  ASSERT_EQ(std::raise(SIGUSR1), 0);
  const auto took = wait_for_dumps(dir.path(), 2, std::chrono::seconds(5));
  EXPECT_LT(took, std::chrono::seconds(2));
  ASSERT_EQ(dumps_in(dir.path()).size(), 2u);
  EXPECT_EQ(read_dump(dumps_in(dir.path())[0]).trigger, "signal");
}

TEST(TraceDump, DumpsWhileNcclHangs) {
  TempDir dir;
  ScopedEnv env("NCCLRT_TRACE_DIR", dir.path().string());
  Job job(1);
  job.all_reduce(0);
  // Every call into the stand-in sleeps 3 s from now: stuck inside "NCCL".
  void* so = ::dlopen(RECORDING_NCCL_23203, RTLD_NOW | RTLD_NOLOAD);
  const auto hang = reinterpret_cast<void (*)(int)>(::dlsym(so, "fake_set_hang_ms"));
  ASSERT_NE(hang, nullptr);
  hang(3000);
  std::thread owner([&] { job.all_reduce(0, 99); });
  while (job.ranks[0].trace().collectives < 2)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto start = Clock::now();
  const auto files = dump_traces((dir.path() / "asked").string());
  const auto asked = Clock::now() - start;
  start = Clock::now();
  ASSERT_EQ(std::raise(SIGUSR1), 0);
  const auto signalled = wait_for_dumps(dir.path(), 1, std::chrono::seconds(2));
  owner.join();
  hang(0);
  EXPECT_LT(asked, std::chrono::milliseconds(500));
  EXPECT_LT(signalled, std::chrono::seconds(2));
  ASSERT_EQ(files.size(), 1u);
  for (const auto& path : {files[0], dumps_in(dir.path()).at(0)}) {
    const DumpFile d = read_dump(path);
    EXPECT_EQ(d.entries.back().op, "all_reduce");
    EXPECT_EQ(d.entries.back().count, 99u);
    EXPECT_FALSE(d.entries.back().result.has_value()) << "NCCL had not returned";
  }
  int rc = 0;
  const std::string out = run_tool("trace show " + files[0], &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("all_reduce"), std::string::npos) << out;
}

// ---- the analyzer's verdict on dump sets of four ranks ----

TEST(TraceAnalyze, AllAgree) {
  TempDir dir;
  Job job(4);
  job.all_reduce_all(10);
  dump_traces(dir.path().string());
  const Analysis a = analyze_dir(dir.path().string());
  const CommVerdict& v = only(a);
  EXPECT_FALSE(v.problem);
  EXPECT_EQ(v.first_disagreement, 0u);
  EXPECT_EQ(v.ranks, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(v.culprits.empty());
  int rc = 0;
  const std::string out = run_tool("trace analyze " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("all ranks agree"), std::string::npos) << out;
}

TEST(TraceAnalyze, AnOperationMissingOnOneRank) {
  TempDir dir;
  Job job(4);
  job.all_reduce_all(9);
  for (int r : {0, 1, 3}) job.all_reduce(r);  // rank 2 never issues the 10th
  dump_traces(dir.path().string());
  const CommVerdict v = only(analyze_dir(dir.path().string()));
  EXPECT_TRUE(v.problem);
  EXPECT_EQ(v.first_disagreement, 10u);
  EXPECT_EQ(v.culprits, std::vector<int>{2});
  ASSERT_EQ(v.not_issued.size(), 1u);
  EXPECT_EQ(v.not_issued[0].rank, 2);
  EXPECT_NE(v.not_issued[0].what.find("all_reduce #9"), std::string::npos) << v.not_issued[0].what;
  int rc = 0;
  const std::string out = run_tool("trace analyze " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("likely culprit: rank 2 - collective #10 (all_reduce 256 x float32 sum)"),
            std::string::npos)
      << out;
  const auto j =
      nlohmann::json::parse(run_tool("trace analyze --json " + dir.path().string(), &rc));
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(j["communicators"][0]["culprits"], nlohmann::json::array({2}));
  EXPECT_EQ(j["communicators"][0]["first_disagreement"], 10);
}

TEST(TraceAnalyze, ASkippedStepShowsInTheLabels) {
  TempDir dir;
  Job job(4);
  for (int step = 0; step < 6; ++step) {
    for (int r = 0; r < 4; ++r) {
      if (r == 2 && step == 3) continue;  // rank 2 skips step 3 and goes on
      TraceLabel l(job.ranks[static_cast<std::size_t>(r)], "step " + std::to_string(step));
      job.all_reduce(r);
    }
  }
  dump_traces(dir.path().string());
  const CommVerdict v = only(analyze_dir(dir.path().string()));
  EXPECT_EQ(v.first_disagreement, 6u);
  EXPECT_EQ(v.culprits, std::vector<int>{2});
  EXPECT_EQ(v.label_seq, 4u);  // where rank 2 went off: its 4th all_reduce is step 4
  ASSERT_FALSE(v.label_odd.empty());
  EXPECT_EQ(v.label_odd[0].rank, 2);
  EXPECT_EQ(v.label_odd[0].what, "'step 4'");
}

TEST(TraceAnalyze, ADesync) {
  TempDir dir;
  Job job(4);
  job.all_reduce_all(4);
  for (int r = 0; r < 4; ++r) job.all_reduce(r, r == 1 ? 128 : 256);  // rank 1: another count
  job.all_reduce_all(2);
  dump_traces(dir.path().string());
  const CommVerdict v = only(analyze_dir(dir.path().string()));
  EXPECT_EQ(v.first_disagreement, 5u);
  EXPECT_EQ(v.culprits, std::vector<int>{1});
  ASSERT_EQ(v.desync.size(), 1u);
  EXPECT_EQ(v.desync[0].what, "all_reduce 128 x float32 sum");
  EXPECT_EQ(v.expected, "all_reduce 256 x float32 sum");
  EXPECT_TRUE(v.not_issued.empty());
}

TEST(TraceAnalyze, ARankWithNoDump) {
  TempDir dir;
  Job job(4);
  job.all_reduce_all(5);
  const auto files = dump_traces(dir.path().string());
  for (const auto& f : files) {
    if (read_dump(f).rank == 3) fs::remove(f);
  }
  const CommVerdict v = only(analyze_dir(dir.path().string()));
  EXPECT_EQ(v.missing, std::vector<int>{3});
  EXPECT_EQ(v.culprits, std::vector<int>{3});
  EXPECT_EQ(v.size, 4);  // known from the others' dumps
  EXPECT_NE(v.culprit_op.find("no dump"), std::string::npos);
}

TEST(TraceAnalyze, AGpuBehind) {
  TempDir dir;
  Job job(4);
  job.all_reduce_all(10);
  // What progress mode records on a GPU: three GPUs wait inside #10, rank 2's is idle after #9.
  for (const auto& f : dump_traces(dir.path().string())) {
    auto j = nlohmann::json::parse(read_text(f));
    const int rank = j["comm"]["rank"];
    j["progress"] = {{"collective_started", rank == 2 ? 9 : 10},
                     {"collective_completed", 9},
                     {"p2p_started", 0},
                     {"p2p_completed", 0},
                     {"write_failures", 0}};
    fs::permissions(f, fs::perms::owner_write, fs::perm_options::add);
    std::ofstream(f) << j.dump();
  }
  const CommVerdict v = only(analyze_dir(dir.path().string()));
  EXPECT_EQ(v.first_disagreement, 0u);  // the hosts agree
  EXPECT_EQ(v.gpu_culprits, std::vector<int>{2});
  EXPECT_EQ(v.culprits, std::vector<int>{2});
  EXPECT_NE(v.culprit_op.find("collective #10 (all_reduce 256 x float32 sum), which the GPUs of "
                              "ranks 0,1,3 wait in"),
            std::string::npos)
      << v.culprit_op;
}

TEST(TraceAnalyze, AGraphOneRankStoppedReplaying) {
  TempDir dir;
  Job job(4);
  job.all_reduce_all(11);  // #1 eager, #2..#11 what a captured graph replays
  // Replay 8: three GPUs wait inside the graph's first all_reduce (started #2; completed still
  // says #11, the last of replay 7); rank 3 never launched it: its GPU is idle after #11.
  for (const auto& f : dump_traces(dir.path().string())) {
    auto j = nlohmann::json::parse(read_text(f));
    const int rank = j["comm"]["rank"];
    j["progress"] = {{"collective_started", rank == 3 ? 11 : 2},
                     {"collective_completed", 11},
                     {"p2p_started", 0},
                     {"p2p_completed", 0},
                     {"write_failures", 0}};
    std::ofstream(f) << j.dump();
  }
  const CommVerdict v = only(analyze_dir(dir.path().string()));
  EXPECT_EQ(v.first_disagreement, 0u);
  EXPECT_EQ(v.culprits, std::vector<int>{3});
  EXPECT_NE(v.culprit_op.find("collective #2 "), std::string::npos) << v.culprit_op;
  std::string gpus;
  for (const auto& l : v.lines) {
    if (l.find("GPUs:") != std::string::npos) gpus = l;
  }
  EXPECT_NE(gpus.find("rank 0 inside #2"), std::string::npos) << gpus;
  EXPECT_NE(gpus.find("rank 3 idle after #11"), std::string::npos) << gpus;
}

TEST(TraceAnalyze, GrownCommunicatorIsOneWithItsJoiner) {
  TempDir dir;
  Fake f(RECORDING_NCCL_23203);
  const UniqueId id = f.lib->unique_id();
  Communicator r0 = Communicator::init_rank(f.lib, 2, 0, id);
  Communicator r1 = Communicator::init_rank(f.lib, 2, 1, id);
  const UniqueId gid = r0.grow_id();
  Communicator g0 = r0.grow(3, gid), g1 = r1.grow(3);
  Communicator g2 = Communicator::join(f.lib, 3, 2, gid);
  for (auto* c : {&g0, &g1})
    c->all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr);
  dump_traces(dir.path().string());
  const Analysis a = analyze_dir(dir.path().string());
  ASSERT_EQ(a.comms.size(), 2u);  // the first communicator, and the grown one with its joiner
  const CommVerdict& grown = a.comms[0].size == 3 ? a.comms[0] : a.comms[1];
  EXPECT_EQ(grown.ranks, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(grown.culprits, std::vector<int>{2});  // the joiner never issued the all_reduce
  EXPECT_EQ(grown.first_disagreement, 1u);
}

TEST(TraceAnalyze, EightRanksOf2048EntriesInUnderASecond) {
  TempDir dir;
  Config c;
  c.trace_entries = 2048;
  Job job(8, c);
  job.all_reduce_all(2100);
  dump_traces(dir.path().string());
  const auto start = Clock::now();
  const Analysis a = analyze_dir(dir.path().string());
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_FALSE(only(a).problem);
  EXPECT_EQ(only(a).last_seq, 2100u);
  std::printf("analyze of 8 ranks x 2048 entries: %.3f s\n", s);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  EXPECT_LT(s, 10.0);
#else
  EXPECT_LT(s, 1.0);
#endif
}

// ---- untrusted input ----

TEST(TraceFiles, MalformedDumpsAreRefusedNamingTheFile) {
  TempDir dir;
  Job job(2);
  job.all_reduce_all(3);
  const auto files = dump_traces(dir.path().string());
  const std::string good = read_text(files[0]);
  auto refused = [&](const std::string& text, std::initializer_list<const char*> words) {
    const std::string what =
        expect_error<TraceFileError>([&] { (void)parse_dump(text, "bad.json"); }, words);
    EXPECT_EQ(what.rfind("bad.json: ", 0), 0u) << what;  // names the file first
  };
  refused(good.substr(0, good.size() / 2), {"not valid JSON", "truncated"});
  refused("", {"not valid JSON"});
  refused("[1,2]", {"expected a JSON object"});
  refused(R"({"schema":"something else"})", {"not an ncclrt flight-recorder dump"});
  auto j = nlohmann::json::parse(good);
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json k = j;
    edit(k);
    return k.dump();
  };
  refused(with([](auto& k) { k["version"] = 2; }), {"schema version 2", "newer ncclrt"});
  refused(with([](auto& k) { k["entries"][1]["seq"] = "3"; }),
          {"entries[1].seq", "expected an integer"});
  refused(with([](auto& k) { k["entries"][1]["op"] = "rm -rf"; }),
          {"entries[1].op", "unknown operation"});
  refused(with([](auto& k) { k["comm"]["rank"] = 7; }), {"comm.rank", "outside 0..1"});
  refused(with([](auto& k) { k["comm"]["id"] = "../../etc"; }), {"comm.id", "16 lower-case hex"});
  refused(with([](auto& k) { k["entries"][1]["send"] = "0xZZ"; }),
          {"entries[1].send", "hex pointer"});
  refused(with([](auto& k) { k["entries"][1]["seq"] = 99; }), {"entries[1]", "outside 1..3"});
  refused(with([](auto& k) { k["entries"][2]["record"] = 0; }), {"entries[2]", "increasing order"});
  refused(with([](auto& k) { k.erase("entries"); }), {"missing \"entries\""});
  refused(with([](auto& k) { k["entries"][1]["args"] = {1}; }), {"entries[1].args", "3 numbers"});
  // In a directory: the bad file is named, the others are still analyzed, and the exit is 1.
  std::ofstream(dir.path() / "ncclrt-trace-0000000000000001-r0-p1-1.json") << good.substr(0, 100);
  const Analysis a = analyze_dir(dir.path().string());
  ASSERT_EQ(a.errors.size(), 1u);
  EXPECT_NE(a.errors[0].find("ncclrt-trace-0000000000000001-r0-p1-1.json"), std::string::npos);
  EXPECT_EQ(a.comms.size(), 1u);
  EXPECT_TRUE(a.problem());
  int rc = 0;
  const std::string out = run_tool("trace analyze " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("cannot read"), std::string::npos) << out;
  EXPECT_NE(out.find("not valid JSON"), std::string::npos) << out;
  // Usage errors are 2, as for every subcommand; a missing directory is 1.
  run_tool("trace", &rc);
  EXPECT_EQ(rc, 2);
  run_tool("trace analyze", &rc);
  EXPECT_EQ(rc, 2);
  const std::string missing = run_tool("trace analyze /nonexistent-ncclrt-dir", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(missing.find("/nonexistent-ncclrt-dir"), std::string::npos) << missing;
}

// ---- PyTorch's format ----

TEST(TraceExport, PicklesPythonReadsInPyTorchsSchema) {
  if (std::system("python3 -c 'import pickle' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no python3 to read the pickles";
  }
  TempDir dir;
  Job job(2);
  job.all_reduce_all(3);
  job.ranks[0].all_gather(dev(), dev(), 5, DataType::kInt32, nullptr);
  job.ranks[1].all_gather(dev(), dev(), 5, DataType::kInt32, nullptr);
  job.ranks[0].send(dev(), 6, DataType::kFloat32, 1, nullptr);
  dump_traces(dir.path().string());
  std::vector<DumpFile> dumps;
  for (const auto& f : dumps_in(dir.path())) dumps.push_back(read_dump(f));
  const auto out = export_torch(dumps, (dir.path() / "torch").string());
  ASSERT_EQ(out.size(), 2u);
  for (const auto& f : out) {
    struct stat st {};
    ASSERT_EQ(::stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  const std::string check = dir.path().string() + "/check.py";
  std::ofstream(check) << R"(import pickle, sys
d = pickle.load(open(sys.argv[1], "rb"))
assert d["version"] == "2.10", d["version"]
(name, cfg), = d["pg_config"].items()
assert cfg["ranks"] == "[0, 1]", cfg
e = d["entries"]
assert [x["profiling_name"] for x in e] == ["nccl:all_reduce"] * 3 + ["nccl:all_gather", "nccl:send 0->1"], e
assert e[3]["input_sizes"] == [[5]] and e[3]["output_sizes"] == [[10]], e[3]
assert e[3]["input_dtypes"] == ["Int"] and e[0]["input_dtypes"] == ["Float"]
assert [x["collective_seq_id"] for x in e] == [1, 2, 3, 4, 4] and e[4]["p2p_seq_id"] == 1
assert e[4]["is_p2p"] is True and e[0]["is_p2p"] is False
assert e[0]["process_group"] == (name, cfg["desc"]) and e[0]["state"] == "scheduled"
assert [x["record_id"] for x in e] == list(range(5))
print("ok")
)";
  const std::string cmd = "python3 " + check + " " + out[0] + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096] = "";
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, p);
  buf[n] = '\0';
  EXPECT_EQ(::pclose(p), 0) << buf;
  EXPECT_STREQ(buf, "ok\n");
  // Never over an existing export.
  expect_error<TraceFileError>([&] { (void)export_torch(dumps, (dir.path() / "torch").string()); },
                               {"never overwritten"});
}

// PyTorch's own analyzer on the export (where torch is importable: PyTorch 2.11 was the target).
TEST(TraceExport, TorchsAnalyzerNamesTheMissingRank) {
  if (std::system("python3 -c 'import torch.distributed.flight_recorder.fr_trace' "
                  ">/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3 cannot import torch.distributed.flight_recorder (torch not installed)";
  }
  TempDir dir;
  Job job(4);
  job.all_reduce_all(7);
  for (int r : {0, 1, 3}) job.all_reduce(r);  // rank 2 never issues #8
  dump_traces(dir.path().string());
  std::vector<DumpFile> dumps;
  for (const auto& f : dumps_in(dir.path())) dumps.push_back(read_dump(f));
  const std::string out = (dir.path() / "torch").string();
  ASSERT_EQ(export_torch(dumps, out).size(), 4u);
  const std::string cmd = "python3 -m torch.distributed.flight_recorder.fr_trace " + out + " -p " +
                          kTorchPrefix + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string text;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << text;
  EXPECT_NE(text.find("Not all ranks joining collective, sequence number: 8"), std::string::npos)
      << text;
  EXPECT_NE(text.find("missing ranks: {2}"), std::string::npos) << text;
}

// A dump is written with no lock held: while one waits on a slow file system (here its link()
// takes 800 ms), communicators are still made and ended on other threads at once.
int slow_link(int a, const char* b, int c, const char* d, int e) {
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  return ::linkat(a, b, c, d, e);
}

TEST(TraceDump, ASlowDumpHoldsNoLockThatCommunicatorsNeed) {
  TempDir dir;
  Job job(2);
  job.all_reduce_all(3);
  const ScopedLink slow(slow_link);
  std::thread dumper([&] { (void)dump_traces(dir.path().string()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the dump is under way
  const auto start = Clock::now();
  {
    Job another(2);  // made (its recorder registered) and ended (unregistered)
    another.all_reduce_all(1);
  }
  const auto took = Clock::now() - start;
  dumper.join();
  EXPECT_LT(took, std::chrono::milliseconds(500)) << "making a communicator waited for the dump";
}

// ---- dumps written by anyone: bounded time, memory and output, whatever they say ----

namespace {

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// Rewrites each dump of `dir` through `edit`.
void edit_dumps(const fs::path& dir, const std::function<void(nlohmann::json&)>& edit) {
  for (const auto& f : dumps_in(dir)) {
    auto j = nlohmann::json::parse(read_text(f));
    edit(j);
    write_text(f, j.dump());
  }
}

// A dump of `n` all_reduces by hand (a ring as large as the caller likes), ~300 bytes an entry.
std::string big_dump(int rank, int size, std::size_t n) {
  std::string s =
      R"({"schema":"ncclrt-trace","version":1,"ncclrt":"0.1.0","host":"h","pid":1,)"
      R"("trigger":"request","reason":null,"dump_time_ns":1700000000000000000,)"
      R"("comm":{"id":"0123456789abcdef","rank":)" +
      std::to_string(rank) + R"(,"size":)" + std::to_string(size) +
      R"(,"device":0,"nccl":"2.28.9","origin":"init_rank","parent":null,"root":null,)"
      R"("root_rank":-1,"lineage":"init_rank from a unique id","aliases":[]},"capacity":)" +
      std::to_string(n) + R"(,"records":)" + std::to_string(n) + R"(,"collectives":)" +
      std::to_string(n) +
      R"(,"point_to_point":0,"progress":null,"progress_problem":null,"notes":[],"entries":[)";
  for (std::size_t i = 0; i < n; ++i) {
    s += (i ? ",\n" : "\n");
    s += R"({"record":)" + std::to_string(i) + R"(,"seq":)" + std::to_string(i + 1) +
         R"(,"op":"all_reduce","count":256,"type":"float32","redop":"sum","peer":-1,)"
         R"("send":"0x7f0000001000","recv":"0x7f0000002000","stream":"0x0","result":0,)"
         R"("thread":12345,"group":0,"group_depth":0,"captured":null,"capture_id":0,)"
         R"("label":null,"time_ns":)" +
         std::to_string(1699999999000000000 + i) + R"(,"args":[0,0,0]})";
  }
  return s + "\n]}\n";
}

// Runs the command; its exit code, output and peak resident memory (KiB).
struct Measured {
  int rc = -1;
  std::string out;
  long max_rss_kb = 0;
};
Measured measure_tool(const std::vector<std::string>& args) {
  TempDir tmp;
  const std::string out = (tmp.path() / "out").string();
  Measured m;
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv = {const_cast<char*>(NCCLRT_TOOL)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(NCCLRT_TOOL, argv.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage ru {};
  ::wait4(pid, &status, 0, &ru);
  m.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  m.out = read_text(out);
  m.max_rss_kb = ru.ru_maxrss;
  return m;
}

bool sanitized_build() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#else
  return false;
#endif
}

std::string first_line_of(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

TEST(TraceFiles, HeaderCountsBoundNothing) {
  // Under timeout(1): the command used to loop over 1..count, for ever.
  const auto within = [](const std::string& args, int* rc) {
    return run_tool_cmd("timeout 60 " + std::string(NCCLRT_TOOL) + " " + args, rc);
  };
  TempDir dir;
  Job job(2);
  job.all_reduce_all(3);
  dump_traces(dir.path().string());
  // Counts no ring can hold: the analysis visits the collectives the files hold, not 1..count.
  edit_dumps(dir.path(), [](nlohmann::json& j) {
    j["collectives"] = j["comm"]["rank"] == 0 ? 18446744073709551615ull : 5000000000ull;
  });
  int rc = 0;
  const auto start = Clock::now();
  std::string out = within("trace analyze " + dir.path().string(), &rc);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("first disagreement: collective #5000000001"), std::string::npos) << out;
  EXPECT_NE(out.find("likely culprit: rank 1 - collective #5000000001"), std::string::npos) << out;
  out = within("trace export " + dir.path().string() + " " + (dir.path() / "torch").string(), &rc);
  EXPECT_EQ(rc, 0) << out;
  // Both ranks say 2^64-1 and hold the same three: they agree.
  edit_dumps(dir.path(), [](nlohmann::json& j) { j["collectives"] = 18446744073709551615ull; });
  out = within("trace analyze " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("issued the same 18446744073709551615 collectives"), std::string::npos) << out;
}

TEST(TraceFiles, DeepNestingIsRefusedWithoutRecursion) {
  TempDir dir;
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  // Under a field it reads, under one it ignores, inside an entry, and nothing but nesting.
  const std::string texts[] = {
      R"({"schema":)" + deep + "}",
      R"({"unknown":)" + deep + R"(,"schema":"ncclrt-trace"})",
      R"({"schema":"ncclrt-trace","entries":[{"label":)" + deep + "}]}",
      deep,
      std::string(200000, '{'),
  };
  for (const std::string& text : texts) {
    const std::string what =
        expect_error<TraceFileError>([&] { (void)parse_dump(text, "deep.json"); }, {"deep.json: "});
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  expect_error<TraceFileError>([&] { (void)parse_dump(texts[0], "deep.json"); },
                               {"nested more than 64 deep"});
  // The command, as a user runs it: one line, exit 1; show, analyze and export alike.
  const fs::path file = dir.path() / "ncclrt-trace-0123456789abcdef-r0-p1-1.json";
  write_text(file, texts[0]);
  int rc = 0;
  std::string out = run_tool("trace show " + file.string(), &rc);
  EXPECT_EQ(rc, 1) << out.substr(0, 300);
  EXPECT_NE(out.find("nested more than 64 deep"), std::string::npos) << out.substr(0, 300);
  out = run_tool("trace analyze " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 1) << out.substr(0, 300);
  EXPECT_NE(out.find("cannot read " + file.string()), std::string::npos) << out.substr(0, 300);
  out = run_tool("trace export " + dir.path().string() + " " + (dir.path() / "t").string(), &rc);
  EXPECT_EQ(rc, 1) << out.substr(0, 300);
  EXPECT_EQ(first_line_of(out), "ncclrt trace: " + file.string() +
                                    ": arrays and objects nested more than 64 deep (a dump "
                                    "nests 4)");
}

TEST(TraceFiles, EveryTextOutIsValidUtf8OnOneLine) {
  TempDir dir;
  Job job(2);
  job.all_reduce_all(2);
  {
    TraceLabel l(job.ranks[0], "step \x1b[31m1\nred");  // a terminal's escape and a line break
    job.all_reduce(0);
  }
  job.all_reduce(1);
  dump_traces(dir.path().string());
  // An error text cut inside a character ("unknown operation" quotes 40 bytes of it)...
  std::string bad_op = "a";
  for (int i = 0; i < 30; ++i) bad_op += "\xce\xbb";
  write_text(
      dir.path() / "ncclrt-trace-00000000000000aa-r0-p1-1.json",
      R"({"schema":"ncclrt-trace","version":1,"ncclrt":"x","host":"h","pid":1,)"
      R"("trigger":"request","reason":null,"dump_time_ns":0,"comm":{"id":"00000000000000aa",)"
      R"("rank":0,"size":1,"device":0,"nccl":"x","origin":"x","parent":null,"root":null,)"
      R"("root_rank":-1,"lineage":"x","aliases":[]},"capacity":1,"records":1,)"
      R"("collectives":0,"point_to_point":0,"progress":null,"progress_problem":null,)"
      R"("notes":[],"entries":[{"record":0,"seq":0,"op":")" +
          bad_op + R"("}]})");
  // ... and a file whose name is not UTF-8.
  write_text(dir.path() / "ncclrt-trace-\xff\xfe-r0.json", "{");
  int rc = 0;
  const std::string json_out = run_tool("trace analyze --json " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 1) << json_out;
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(json_out)) << json_out;
  ASSERT_EQ(j["errors"].size(), 2u) << json_out;
  std::string errors = j["errors"].dump();
  EXPECT_NE(errors.find("unknown operation"), std::string::npos) << errors;
  EXPECT_NE(errors.find("ncclrt-trace-?\?-r0.json: not valid JSON"), std::string::npos) << errors;
  EXPECT_EQ(j["communicators"].size(), 1u);
  const std::string text = run_tool("trace analyze " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 1) << text;
  EXPECT_EQ(printable(text.substr(0, text.find('\n'))), text.substr(0, text.find('\n')));
  for (const std::string& out :
       {text, run_tool("trace show " + dumps_in(dir.path())[0], &rc), json_out}) {
    EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
    EXPECT_EQ(out.find('\xff'), std::string::npos) << out;
    std::size_t at = 0;
    while (at < out.size()) {  // every line is printable as it is
      const std::size_t end = std::min(out.find('\n', at), out.size());
      EXPECT_EQ(printable(out.substr(at, end - at)), out.substr(at, end - at));
      at = end + 1;
    }
  }
  EXPECT_NE(text.find("labels differ from collective #3: rank 0 says 'step ?[31m1?red'"),
            std::string::npos)
      << text;
  // The helpers: characters are cut whole; ill-formed bytes and controls become '?'.
  EXPECT_EQ(utf8_prefix("a\xce\xbb", 2), "a");
  EXPECT_EQ(utf8_prefix("a\xce\xbb", 3), "a\xce\xbb");
  EXPECT_EQ(printable("\xce\xbb \xff \xed\xa0\x80 \xc2\x9b \t\xe2\x82"), "\xce\xbb ? ?\?? ? ?\??");
}

TEST(TraceFiles, MemoryStaysInProportionToTheInput) {
  TempDir dir;
  // ~18 MB a dump (a sanitizer's build reads a small one: only that nothing fails is checked).
  const std::size_t n = sanitized_build() ? 3000 : 60000;
  const fs::path one = dir.path() / "ncclrt-trace-0123456789abcdef-r0-p1-1.json";
  write_text(one, big_dump(0, 3, n));
  write_text(dir.path() / "ncclrt-trace-0123456789abcdef-r1-p1-1.json", big_dump(1, 3, n));
  write_text(dir.path() / "ncclrt-trace-0123456789abcdef-r2-p1-1.json", big_dump(2, 3, n));
  const auto bytes = static_cast<long>(fs::file_size(one));
  const Measured show = measure_tool({"trace", "show", "--last", "1", one.string()});
  EXPECT_EQ(show.rc, 0) << show.out.substr(0, 300);
  const Measured analyze = measure_tool({"trace", "analyze", dir.path().string()});
  EXPECT_EQ(analyze.rc, 0) << analyze.out;
  EXPECT_NE(analyze.out.find("all ranks with a dump issued the same " + std::to_string(n) +
                             " collectives"),
            std::string::npos)
      << analyze.out;
  std::printf("peak RSS for a %ld MB dump: show %ld MB, analyze of three %ld MB\n", bytes >> 20,
              show.max_rss_kb >> 10, analyze.max_rss_kb >> 10);
  if (sanitized_build()) return;  // a sanitizer's own memory would be measured too
  // About the text once and its entries once (not 9 times the text); analyze reads one dump at
  // a time (not all three at once).
  EXPECT_LT(show.max_rss_kb * 1024, 3 * bytes + (32l << 20));
  EXPECT_LT(analyze.max_rss_kb * 1024, 3 * bytes + (32l << 20));
}

TEST(TraceFiles, OutOfMemoryIsOneLineNamingTheFile) {
  if (sanitized_build()) GTEST_SKIP() << "a sanitizer needs more address space than the limit";
  TempDir dir;
  const fs::path file = dir.path() / "ncclrt-trace-0123456789abcdef-r0-p1-1.json";
  write_text(file, big_dump(0, 1, 60000));  // ~18 MB: more than 24 MB of address space holds
  int rc = 0;
  for (const std::string& args :
       {"trace show " + file.string(), "trace analyze " + dir.path().string(),
        "trace export " + dir.path().string() + " " + (dir.path() / "t").string()}) {
    const std::string out =
        run_tool_cmd("ulimit -v 24000; " + std::string(NCCLRT_TOOL) + " " + args, &rc);
    EXPECT_EQ(rc, 1) << args << "\n" << out;
    EXPECT_NE(out.find(file.string() + ": "), std::string::npos) << args << "\n" << out;
    EXPECT_NE(out.find("out of memory"), std::string::npos) << args << "\n" << out;
    EXPECT_EQ(out.find("terminate"), std::string::npos) << args << "\n" << out;
  }
}

TEST(TraceFiles, AFifoIsRefusedNotWaitedOn) {
  TempDir dir;
  const fs::path fifo = dir.path() / "ncclrt-trace-0123456789abcdef-r0-p1-1.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int rc = 0;
  const std::string out =
      run_tool_cmd("timeout 20 " + std::string(NCCLRT_TOOL) + " trace show " + fifo.string(), &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_EQ(first_line_of(out), "ncclrt trace: " + fifo.string() + ": is not a regular file");
}

TEST(TraceFiles, ShapesThatCostMoreThanTheirBytesAreRefusedEarly) {
  // 20 million "{}" entries took 2 GB to build before their first was checked.
  std::string dense = R"({"schema":"ncclrt-trace","entries":[)";
  for (int i = 0; i < 1000; ++i) dense += "{},";
  dense += "{}]}";
  expect_error<TraceFileError>([&] { (void)parse_dump(dense, "d.json"); },
                               {"d.json: entries[0]: missing \"record\""});
  std::string notes = R"({"schema":"ncclrt-trace","notes":[)";
  for (int i = 0; i < 1100; ++i) notes += "\"\",";
  notes += "\"\"]}";
  expect_error<TraceFileError>([&] { (void)parse_dump(notes, "n.json"); },
                               {"n.json: notes: more than 1024 notes"});
  expect_error<TraceFileError>(
      [&] { (void)parse_dump(R"({"schema":"ncclrt-trace","notes":[{}]})", "n.json"); },
      {"n.json: notes: expected strings"});
  expect_error<TraceFileError>(
      [&] {
        (void)parse_dump(R"({"schema":"ncclrt-trace","entries":[{"args":[1,2,3,4]}]})", "a.json");
      },
      {"a.json: entries[0].args: expected 3 numbers, got more"});
  expect_error<TraceFileError>([&] { (void)parse_dump("[1,2]", "x.json"); },
                               {"x.json: expected a JSON object, got an array"});
}

TEST(TraceFiles, CapsPerFileAndPerDirectory) {
  TempDir dir;
  // Sparse files: their size is all that is read before they are refused.
  const fs::path big = dir.path() / "ncclrt-trace-0123456789abcdef-r0-p1-1.json";
  write_text(big, "");
  fs::resize_file(big, kMaxDumpBytes + 1);
  expect_error<TraceFileError>(
      [&] { (void)read_dump(big.string()); },
      {big.string().c_str(), "more than ncclrt trace reads of one dump", "64 MiB"});
  for (int r = 1; r < 17; ++r) {
    const fs::path f =
        dir.path() / ("ncclrt-trace-0123456789abcdef-r" + std::to_string(r) + "-p1-1.json");
    write_text(f, "");
    fs::resize_file(f, kMaxDumpBytes);
  }
  int rc = 0;
  const std::string out = run_tool("trace analyze " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find(dir.path().string() + ": "), std::string::npos) << out;
  EXPECT_NE(out.find("more than ncclrt trace reads of one directory (1 GiB). Try"),
            std::string::npos)
      << out;
}

TEST(TraceFiles, ADirectoryOrAMissingOneSaysWhatToTry) {
  TempDir dir;
  int rc = 0;
  std::string out = run_tool("trace show " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_EQ(first_line_of(out), "ncclrt trace: " + dir.path().string() +
                                    ": is a directory, not a dump. Try `ncclrt trace analyze " +
                                    dir.path().string() + "` for the dumps in it");
  out = run_tool("trace analyze /nonexistent-ncclrt-dir", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_EQ(first_line_of(out),
            "ncclrt trace: /nonexistent-ncclrt-dir: cannot open the directory: No such file or "
            "directory. Try the directory NCCLRT_TRACE_DIR named for the job, or the one given to "
            "ncclrt::dump_traces");
  const std::string analyzed = run_tool("trace analyze " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 1);
  const std::string exported =
      run_tool("trace export " + dir.path().string() + " " + (dir.path() / "t").string(), &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(exported, analyzed);  // the same hint
  EXPECT_NE(exported.find("no ncclrt-trace-*.json files (set NCCLRT_TRACE_DIR for the job"),
            std::string::npos)
      << exported;
  EXPECT_FALSE(fs::exists(dir.path() / "t"));
}

TEST(TraceFiles, AnalyzeAndExportGroupCommunicatorsAlike) {
  TempDir dir;
  Job job(3);
  job.all_reduce_all(2);
  dump_traces(dir.path().string());
  // Three names of one communicator, chained: rank 0's lists rank 1's, rank 1's lists rank 2's.
  const std::string ids[] = {"00000000000000a0", "00000000000000a1", "00000000000000a2"};
  edit_dumps(dir.path(), [&](nlohmann::json& j) {
    const int r = j["comm"]["rank"];
    j["comm"]["id"] = ids[r];
    j["comm"]["aliases"] = r < 2 ? nlohmann::json::array({ids[r + 1]}) : nlohmann::json::array();
  });
  const Analysis a = analyze_dir(dir.path().string());
  ASSERT_EQ(a.comms.size(), 1u);
  EXPECT_EQ(a.comms[0].id, ids[0]);
  EXPECT_EQ(a.comms[0].ranks, (std::vector<int>{0, 1, 2}));
  EXPECT_FALSE(a.comms[0].problem);
  std::vector<DumpFile> dumps;
  for (const auto& f : dumps_in(dir.path())) dumps.push_back(read_dump(f));
  const auto pickles = export_torch(dumps, (dir.path() / "torch").string());
  ASSERT_EQ(pickles.size(), 3u);
  for (const auto& p : pickles) {  // one process group, named as analyze names it
    const std::string bytes = read_text(p);
    EXPECT_NE(bytes.find(ids[0]), std::string::npos) << p;
    EXPECT_EQ(bytes.find(ids[1]), std::string::npos) << p;
    EXPECT_EQ(bytes.find(ids[2]), std::string::npos) << p;
  }
}

TEST(TraceFiles, ACommunicatorsSizeListsNoMoreThanTheInputHolds) {
  TempDir dir;
  Job job(1);
  job.all_reduce_all(1);
  dump_traces(dir.path().string());
  edit_dumps(dir.path(), [](nlohmann::json& j) { j["comm"]["size"] = 16777216; });
  const Analysis a = analyze_dir(dir.path().string());
  const CommVerdict& v = only(a);
  EXPECT_EQ(v.missing_count, 16777215u);
  EXPECT_EQ(v.missing.size(), kMaxListedRanks);
  EXPECT_EQ(v.lines.back(),
            "  likely culprit: ranks 1-16777215 - no dump: it may have died "
            "(killed, crashed) or hung before it could write one");
  std::vector<DumpFile> dumps;
  for (const auto& f : dumps_in(dir.path())) dumps.push_back(read_dump(f));
  expect_error<TraceFileError>([&] { (void)export_torch(dumps, (dir.path() / "torch").string()); },
                               {"of 16777216 ranks: the pickles would list 16777216 ranks", "Try"});
  EXPECT_FALSE(fs::exists(dir.path() / "torch"));  // nothing half-made
}

// ---- which dump speaks for a rank, and graphs replayed ----

TEST(TraceAnalyze, TheDumpWrittenAtTheFailureSpeaksForItsRank) {
  TempDir dir;
  Job job(2);
  job.all_reduce_all(4);
  job.all_reduce(0);  // rank 0 issues #5; rank 1 has not when the job fails
  const auto at_failure = dump_traces(dir.path().string());
  for (const auto& f : at_failure) {
    auto j = nlohmann::json::parse(read_text(f));
    j["trigger"] = "failure";
    write_text(f, j.dump());
  }
  job.all_reduce(1);  // later (while the job is torn down, say) rank 1 issues #5 too
  const auto later = dump_traces(dir.path().string());
  int rc = 0;
  const std::string out = run_tool("trace analyze " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("likely culprit: rank 1 - collective #5"), std::string::npos) << out;
  for (int r = 0; r < 2; ++r) {
    const std::string& used = read_dump(at_failure[0]).rank == r ? at_failure[0] : at_failure[1];
    EXPECT_NE(out.find("rank " + std::to_string(r) + " has 2 dumps: used " +
                       fs::path(used).filename().string() + " (the first written at a failure)"),
              std::string::npos)
        << out;
  }
  const auto j =
      nlohmann::json::parse(run_tool("trace analyze --json " + dir.path().string(), &rc));
  ASSERT_EQ(j["communicators"][0]["dumps_used"].size(), 2u);
  EXPECT_EQ(j["communicators"][0]["dumps_used"][0]["trigger"], "failure");
  EXPECT_EQ(j["communicators"][0]["dumps_used"][0]["dumps"], 2);
  // No dump written at a failure: the latest speaks, and there all agree.
  for (const auto& f : at_failure) {
    auto k = nlohmann::json::parse(read_text(f));
    k["trigger"] = "signal";
    write_text(f, k.dump());
  }
  const std::string latest = run_tool("trace analyze " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 0) << latest;
  EXPECT_NE(latest.find("has 2 dumps: used " + fs::path(later[0]).filename().string()),
            std::string::npos)
      << latest;
  EXPECT_NE(latest.find("(the latest)"), std::string::npos) << latest;
}

TEST(TraceAnalyze, OfTwoFailuresTheEarlierSpeaks) {
  std::vector<DumpFile> dumps(3);
  for (std::size_t i = 0; i < 3; ++i) {
    DumpHeader& d = dumps[i];
    d.path = "d" + std::to_string(i);
    d.comm_id = "0123456789abcdef";
    d.rank = 0;
    d.size = 1;
    d.trigger = i == 2 ? "exit" : "failure";
    d.dump_time_ns = 100 - static_cast<std::int64_t>(i) * 10;  // d1 is the earlier failure
  }
  const auto groups = group_dumps({&dumps[0], &dumps[1], &dumps[2]});
  ASSERT_EQ(groups.size(), 1u);
  ASSERT_EQ(groups[0].ranks.size(), 1u);
  EXPECT_EQ(groups[0].ranks[0].used, 1u);
  EXPECT_EQ(groups[0].ranks[0].of, 3u);
}

namespace {

// Progress mode's record on each rank: where its GPU is, and the replays of a graph that holds
// collectives #3-#12.
void set_progress(const fs::path& dir, const std::map<int, std::array<std::uint64_t, 3>>& at) {
  edit_dumps(dir, [&](nlohmann::json& j) {
    const auto& [started, completed, launches] = at.at(j["comm"]["rank"].get<int>());
    j["progress"] = {
        {"collective_started", started},
        {"collective_completed", completed},
        {"p2p_started", 0},
        {"p2p_completed", 0},
        {"write_failures", 0},
        {"graphs",
         {{{"capture_id", 7}, {"first_seq", 3}, {"last_seq", 12}, {"launches", launches}}}}};
  });
}

}  // namespace

TEST(TraceAnalyze, ARankBehindInAGraphsReplays) {
  TempDir dir;
  Job job(4);
  job.all_reduce_all(12);  // #1, #2 eager; #3..#12 what a captured graph replays
  dump_traces(dir.path().string());
  // Replay 6 has begun on ranks 0-2 (their GPUs idle after its #3, say, waiting for the next
  // launch of their stream's work); rank 3's GPU finished replay 5 and never began 6.
  set_progress(dir.path(), {{0, {3, 3, 6}}, {1, {3, 3, 6}}, {2, {3, 3, 6}}, {3, {12, 12, 5}}});
  const CommVerdict v = only(analyze_dir(dir.path().string()));
  EXPECT_TRUE(v.problem);
  EXPECT_EQ(v.first_disagreement, 0u);
  EXPECT_TRUE(v.gpu_culprits.empty());  // every GPU is idle: progress alone says nothing
  EXPECT_EQ(v.culprits, std::vector<int>{3});
  ASSERT_EQ(v.replays.size(), 1u);
  EXPECT_EQ(v.replays[0].behind, std::vector<int>{3});
  EXPECT_EQ(v.replays[0].what,
            "rank 3 stopped after replay 5 of the graph holding collectives #3-#12; ranks 0-2 "
            "are in replay 6");
  int rc = 0;
  const std::string out = run_tool("trace analyze " + dir.path().string(), &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("GPUs: rank 0 idle after #3 in replay 6;"), std::string::npos) << out;
  EXPECT_NE(out.find("rank 3 idle after #12 in replay 5"), std::string::npos) << out;
  EXPECT_NE(out.find("likely culprit: rank 3 - stopped after replay 5 of the graph holding "
                     "collectives #3-#12; ranks 0-2 are in replay 6"),
            std::string::npos)
      << out;
  const auto j =
      nlohmann::json::parse(run_tool("trace analyze --json " + dir.path().string(), &rc));
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(j["communicators"][0]["culprits"], nlohmann::json::array({3}));
  EXPECT_EQ(j["communicators"][0]["replays"][0]["behind"], nlohmann::json::array({3}));
  EXPECT_EQ(j["communicators"][0]["replays"][0]["launches"][3]["launches"], 5);
  // Inside the graph, still in an earlier replay: behind too.
  set_progress(dir.path(), {{0, {4, 3, 6}}, {1, {4, 3, 6}}, {2, {4, 3, 6}}, {3, {8, 7, 5}}});
  const CommVerdict inside = only(analyze_dir(dir.path().string()));
  EXPECT_EQ(inside.culprits, std::vector<int>{3});
  EXPECT_EQ(inside.replays.at(0).what,
            "rank 3 is still in replay 5 of the graph holding collectives #3-#12; ranks 0-2 are "
            "in replay 6");
  // The same replays everywhere: nothing to say.
  set_progress(dir.path(),
               {{0, {12, 12, 6}}, {1, {12, 12, 6}}, {2, {12, 12, 6}}, {3, {12, 12, 6}}});
  const CommVerdict same = only(analyze_dir(dir.path().string()));
  EXPECT_FALSE(same.problem);
  EXPECT_TRUE(same.replays.empty());
}

TEST(TraceAnalyze, GpusOrderedByReplayThenCollective) {
  TempDir dir;
  Job job(4);
  job.all_reduce_all(12);
  dump_traces(dir.path().string());
  // What progress mode shows in the graph scenario (scripts/trace_scenarios.sh), graphs known:
  // ranks 0-2 wait inside #3 of replay 8; rank 3's GPU finished replay 7. The GPUs' rule speaks
  // as without graphs; the replays are said too.
  set_progress(dir.path(), {{0, {3, 12, 8}}, {1, {3, 12, 8}}, {2, {3, 12, 8}}, {3, {12, 12, 7}}});
  const CommVerdict v = only(analyze_dir(dir.path().string()));
  EXPECT_EQ(v.gpu_culprits, std::vector<int>{3});
  EXPECT_EQ(v.culprits, std::vector<int>{3});
  EXPECT_EQ(v.culprit_op.rfind("collective #3 (all_reduce 256 x float32 sum), which the GPUs of "
                               "ranks 0-2 wait in",
                               0),
            0u)
      << v.culprit_op;
  ASSERT_EQ(v.replays.size(), 1u);
  EXPECT_EQ(v.replays[0].behind, std::vector<int>{3});
  // Rank 3 waits inside #7 of replay 5; ranks 0-2 are idle in replay 6: idle, but ahead.
  set_progress(dir.path(), {{0, {3, 3, 6}}, {1, {3, 3, 6}}, {2, {3, 3, 6}}, {3, {7, 6, 5}}});
  const CommVerdict ahead = only(analyze_dir(dir.path().string()));
  EXPECT_TRUE(ahead.gpu_culprits.empty());
  EXPECT_EQ(ahead.culprits, std::vector<int>{3});
  EXPECT_EQ(ahead.culprit_op,
            "still in replay 5 of the graph holding collectives #3-#12; ranks 0-2 are in replay 6");
}

TEST(TraceFiles, MalformedGraphsAreRefused) {
  TempDir dir;
  Job job(1);
  job.all_reduce_all(3);
  const std::string good = read_text(dump_traces(dir.path().string())[0]);
  auto with_graphs = [&](const nlohmann::json& graphs) {
    auto j = nlohmann::json::parse(good);
    j["progress"] = {{"collective_started", 3}, {"collective_completed", 3}, {"p2p_started", 0},
                     {"p2p_completed", 0},      {"write_failures", 0},       {"graphs", graphs}};
    return j.dump();
  };
  const DumpFile d = parse_dump(
      with_graphs(
          nlohmann::json::parse(R"([{"capture_id":9,"first_seq":2,"last_seq":3,"launches":4}])")),
      "g.json");
  ASSERT_TRUE(d.progress.has_value());
  ASSERT_EQ(d.progress->graphs.size(), 1u);
  EXPECT_EQ(d.progress->graphs[0].capture_id, 9u);
  EXPECT_EQ(d.progress->graphs[0].launches, 4u);
  EXPECT_NE(dump_text(d, 0).find("CUDA graph 9: collectives #2-#3, replay began 4 time(s)"),
            std::string::npos);
  auto refused = [&](const std::string& graphs, std::initializer_list<const char*> words) {
    expect_error<TraceFileError>(
        [&] { (void)parse_dump(with_graphs(nlohmann::json::parse(graphs)), "g.json"); }, words);
  };
  refused("5", {"g.json: progress.graphs: expected an array, got a number"});
  refused("[5]", {"progress.graphs[0]: expected an object, got a number"});
  refused(R"([{"capture_id":1,"first_seq":3,"last_seq":2,"launches":1}])",
          {"progress.graphs[0]", "not a range"});
  refused(R"([{"capture_id":1,"first_seq":2,"last_seq":99,"launches":1}])",
          {"progress.graphs[0]", "collective #99 is outside 1..3"});
  refused(R"([{"capture_id":1,"first_seq":2,"last_seq":3}])",
          {"progress.graphs[0]: missing \"launches\""});
}

TEST(TraceExport, ADumpWithoutEntries) {
  TempDir dir;
  Job job(2);
  job.all_reduce_all(2);
  dump_traces(dir.path().string());
  edit_dumps(dir.path(), [](nlohmann::json& j) {
    if (j["comm"]["rank"] == 1) j["entries"] = nlohmann::json::array();
  });
  int rc = 0;
  const std::string out =
      run_tool("trace export " + dir.path().string() + " " + (dir.path() / "t").string(), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("2 pickle(s) written"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir.path() / "t" / (std::string(kTorchPrefix) + "1")));
}

TEST(TraceAnalyze, TimeInProportionToTheEntriesWhateverTheirNumbers) {
  // 1000 ranks, each holding every 1000th of 100,000 collectives: the walk visits each number
  // with the ranks that hold it, not every rank at every number.
  const int ranks = 1000;
  const std::uint64_t per_rank = 100;
  std::vector<DumpFile> dumps(ranks);
  for (int r = 0; r < ranks; ++r) {
    DumpFile& d = dumps[static_cast<std::size_t>(r)];
    d.path = "r" + std::to_string(r);
    d.comm_id = "0123456789abcdef";
    d.rank = r;
    d.size = ranks;
    d.trigger = "request";
    d.collectives = d.records = per_rank * ranks;
    for (std::uint64_t k = 0; k < per_rank; ++k) {
      DumpEntry e;
      e.seq = static_cast<std::uint64_t>(r) + 1 + k * ranks;
      e.record = e.seq - 1;
      e.op = "all_reduce";
      e.op_kind = 1;
      e.count = 8;
      e.result = 0;
      d.entries.push_back(e);
    }
  }
  const auto start = Clock::now();
  const Analysis a = analyze_dumps(dumps);
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_FALSE(only(a).problem);
  EXPECT_EQ(only(a).last_seq, 100000u);
  std::printf("analyze of 1000 ranks x 100 interleaved entries: %.3f s\n", s);
  EXPECT_LT(s, sanitized_build() ? 20.0 : 2.0);
}
