// Dumps and their analysis: files written safely on each trigger (also while NCCL hangs), read
// back exactly, malformed ones refused naming the file, and the analyzer's verdict with the exact
// culprit on dump sets made by stand-in communicators playing the ranks of one job.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ncclrt/ncclrt.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "recording.hpp"
#include "test_support.hpp"
#include "trace/state.hpp"
#include "trace_analysis.hpp"
#include "trace_export.hpp"
#include "trace_reader.hpp"

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

std::string run_tool(const std::string& args, int* rc) {
  const std::string cmd = std::string(NCCLRT_TOOL) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
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
