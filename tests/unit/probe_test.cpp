#include <chrono>
#include <csignal>
#include <fstream>
#include <ncclrt/ncclrt.hpp>
#include <thread>

#include "test_support.hpp"

using namespace ncclrt;
using ncclrt_test::expect_error;
using ncclrt_test::TempDir;
using Clock = std::chrono::steady_clock;

namespace {

std::shared_ptr<const Library> open_with_timeout(const std::string& path, int ms) {
  LoadOptions o;
  o.path = path;
  o.probe_timeout = std::chrono::milliseconds(ms);
  return Library::open(o);
}

}  // namespace

TEST(Probe, CrashingInitialiserIsReportedAndWeSurvive) {
  expect_error<LoadError>([] { (void)Library::open(FAKE_NCCL_CRASH); },
                          {"cannot load NCCL from LoadOptions::path", "fake_nccl_crash",
                           "signal 11", "Segmentation fault", "damaged"});
  ProbeResult p = probe(FAKE_NCCL_CRASH, std::chrono::seconds(10));
  EXPECT_EQ(p.verdict, ProbeResult::Verdict::kSignal);
  EXPECT_EQ(p.signal, SIGSEGV);
}

TEST(Probe, HangingInitialiserIsKilledAtTheDeadline) {
  const auto start = Clock::now();
  expect_error<LoadError>([] { open_with_timeout(FAKE_NCCL_HANG, 500); },
                          {"fake_nccl_hang", "did not finish within the deadline", "killed",
                           "Raise LoadOptions::probe_timeout"});
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
}

TEST(Probe, HangingTimeoutComesFromEnvironment) {
  ncclrt_test::ScopedEnv t("NCCLRT_PROBE_TIMEOUT_MS", "300");
  const auto start = Clock::now();
  expect_error<LoadError>([] { (void)Library::open(FAKE_NCCL_HANG); },
                          {"deadline", "Raise NCCLRT_PROBE_TIMEOUT_MS"});
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
}

TEST(Probe, ExitingInitialiserIsReported) {
  expect_error<LoadError>([] { (void)Library::open(FAKE_NCCL_EXIT); },
                          {"fake_nccl_exit", "exit with status 3", "called exit"});
}

TEST(Probe, TruncatedRealLibraryIsCaught) {
  NCCLRT_NEED_REAL_NCCL();
  TempDir dir;
  const auto path = dir.path() / "libnccl.so.2";
  {
    std::ifstream in(ncclrt_test::real_nccl(), std::ios::binary);
    std::ofstream out(path, std::ios::binary);
    std::vector<char> buf(1 << 20);
    const auto size = std::filesystem::file_size(ncclrt_test::real_nccl());
    std::size_t left = size / 3;
    while (left > 0 && in) {
      in.read(buf.data(), static_cast<std::streamsize>(std::min(left, buf.size())));
      out.write(buf.data(), in.gcount());
      left -= static_cast<std::size_t>(in.gcount());
    }
  }
  const std::string what =
      expect_error<LoadError>([&] { (void)Library::open(path.string()); }, {path.string().c_str()});
  ProbeResult p = probe(path.string(), std::chrono::seconds(10));
  EXPECT_FALSE(p.ok());
  // glibc either maps it and the first touch past the end raises SIGBUS, or refuses it outright.
  if (p.verdict == ProbeResult::Verdict::kSignal) {
    EXPECT_EQ(p.signal, SIGBUS);
    EXPECT_NE(what.find("truncated"), std::string::npos) << what;
  } else {
    EXPECT_EQ(p.verdict, ProbeResult::Verdict::kLoadFailed) << p.message();
  }
}

TEST(Probe, LibraryThatIsNotNccl) {
  expect_error<LoadError>([] { (void)Library::open("/lib/x86_64-linux-gnu/libm.so.6"); },
                          {"libm.so.6", "not NCCL", "ncclGetVersion"});
}

TEST(Probe, PathThatDoesNotExist) {
  expect_error<LoadError>([] { (void)Library::open("/nonexistent/dir/libnccl.so.2"); },
                          {"no such file", "/nonexistent/dir/libnccl.so.2"});
  EXPECT_EQ(probe("/nonexistent/x.so", std::chrono::seconds(1)).verdict,
            ProbeResult::Verdict::kNotFound);
}

TEST(Probe, Directory) {
  TempDir dir;
  expect_error<LoadError>([&] { (void)Library::open(dir.path().string()); },
                          {"not a regular file", "directory"});
}

TEST(Probe, EmptyFile) {
  TempDir dir;
  const auto path = dir.path() / "libnccl.so.2";
  std::ofstream(path).close();
  expect_error<LoadError>([&] { (void)Library::open(path.string()); },
                          {"dynamic loader refused", path.string().c_str(), "too short"});
}

TEST(Probe, VerdictIsCachedPerFile) {
  TempDir dir;
  const auto path = dir.path() / "copy.so";
  std::filesystem::copy_file(FAKE_NCCL_OLD, path);
  ProbeResult first = probe(path.string(), std::chrono::seconds(10));
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_FALSE(first.cached);
  EXPECT_EQ(first.version, (Version{2, 12, 3}));
  EXPECT_GT(first.seconds, 0.0);
  EXPECT_TRUE(probe(path.string(), std::chrono::seconds(10)).cached);
  // A different file at the same path (new size) is probed again.
  std::filesystem::remove(path);
  std::filesystem::copy_file(FAKE_NCCL_CRASH, path);
  ProbeResult changed = probe(path.string(), std::chrono::seconds(10));
  EXPECT_FALSE(changed.cached);
  EXPECT_EQ(changed.verdict, ProbeResult::Verdict::kSignal);
}

TEST(Probe, CanBeTurnedOff) {
  ncclrt_test::ScopedEnv off("NCCLRT_PROBE", "0");
  TempDir dir;
  const auto path = dir.path() / "unprobed.so";
  std::filesystem::copy_file(FAKE_NCCL_OLD, path);
  auto lib = Library::open(path.string());
  EXPECT_FALSE(lib->probe_seconds().has_value());
  EXPECT_EQ(lib->version(), (Version{2, 12, 3}));
}

TEST(Probe, ReportsItsTime) {
  TempDir dir;
  const auto path = dir.path() / "timed.so";
  std::filesystem::copy_file(FAKE_NCCL_OLD, path);
  auto lib = Library::open(path.string());
  ASSERT_TRUE(lib->probe_seconds().has_value());
  EXPECT_GT(*lib->probe_seconds(), 0.0);
  EXPECT_LT(*lib->probe_seconds(), 10.0);
}

TEST(Probe, SafeFromManyThreads) {
  TempDir dir;
  const auto path = dir.path() / "threads.so";
  std::filesystem::copy_file(FAKE_NCCL_OLD, path);
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<const Library>> seen(16);
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] { seen[i] = Library::open(path.string()); });
  }
  for (auto& t : threads) t.join();
  for (auto& p : seen) EXPECT_EQ(p.get(), seen[0].get());
  // One probe ran: the library that all threads share timed it.
  EXPECT_TRUE(seen[0]->probe_seconds().has_value());
}
