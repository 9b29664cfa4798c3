// The survivors' agreement on who failed (agree_on_failed_ranks) over a shared directory: every
// survivor gets the same list, a rank that never comes is in it, a late one is told to leave.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <ncclrt/ncclrt.hpp>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace ncclrt;
using ncclrt_test::expect_error;
using ncclrt_test::TempDir;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// `size` ranks as threads; those in `absent` never call. Returns each caller's result.
std::vector<std::vector<int>> run(AgreementStore& store, int size, std::vector<int> absent,
                                  milliseconds window, const std::string& scope = "job/epoch0") {
  std::vector<std::vector<int>> out(static_cast<std::size_t>(size));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    if (std::find(absent.begin(), absent.end(), r) != absent.end()) continue;
    threads.emplace_back([&, r] {
      // Survivors notice the failure at slightly different times.
      std::this_thread::sleep_for(milliseconds(20 * r));
      out[static_cast<std::size_t>(r)] = agree_on_failed_ranks(store, scope, r, size, window);
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

// Another store, to show the protocol needs only create and get.
struct MemoryStore : AgreementStore {
  bool create(const std::string& k, const std::string& v) override {
    std::lock_guard<std::mutex> lock(m);
    return data.emplace(k, v).second;
  }
  std::optional<std::string> get(const std::string& k) override {
    std::lock_guard<std::mutex> lock(m);
    auto it = data.find(k);
    return it == data.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  std::mutex m;
  std::map<std::string, std::string> data;
};

}  // namespace

TEST(Agreement, EverySurvivorGetsTheSameFailedRanks) {
  TempDir dir;
  DirectoryStore store(dir.path().string());
  const auto start = Clock::now();
  const auto out = run(store, 8, {2, 5}, milliseconds(500));
  const auto took = Clock::now() - start;
  for (int r : {0, 1, 3, 4, 6, 7}) {
    EXPECT_EQ(out[static_cast<std::size_t>(r)], (std::vector<int>{2, 5})) << "rank " << r;
  }
  EXPECT_GE(took, milliseconds(500));  // waited out the window for the missing ones
  EXPECT_LT(took, milliseconds(1500));
}

TEST(Agreement, NobodyMissingDecidesAtOnce) {
  MemoryStore store;
  const auto start = Clock::now();
  const auto out = run(store, 4, {}, std::chrono::seconds(30));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  for (const auto& v : out) EXPECT_TRUE(v.empty());
  EXPECT_EQ(*store.get("job/epoch0/failed"), "failed:");
}

TEST(Agreement, ALateRankIsToldToLeaveAndScopesAreSeparate) {
  TempDir dir;
  DirectoryStore store(dir.path().string());
  const auto out = run(store, 3, {1}, milliseconds(100));
  EXPECT_EQ(out[0], std::vector<int>{1});
  expect_error<Error>(
      [&] { (void)agree_on_failed_ranks(store, "job/epoch0", 1, 3, milliseconds(100)); },
      {"rank 1 of 3", "counted as failed", "must leave"});
  // The next failure has its own scope: rank 1 of the shrunk communicator is someone else.
  const auto next = run(store, 2, {}, milliseconds(100), "job/epoch1");
  EXPECT_TRUE(next[0].empty() && next[1].empty());
}

TEST(Agreement, BadArgumentsAndAStoreWrittenByOthers) {
  MemoryStore store;
  expect_error<UsageError>([&] { (void)agree_on_failed_ranks(store, "s", 4, 4, milliseconds(1)); },
                           {"rank 4 of 4"});
  expect_error<UsageError>([&] { (void)agree_on_failed_ranks(store, "", 0, 4, milliseconds(1)); },
                           {"scope is empty"});
  store.create("bad/failed", "failed:one,two");
  expect_error<Error>([&] { (void)agree_on_failed_ranks(store, "bad", 0, 2, milliseconds(1)); },
                      {"bad/failed", "not a list of ranks", "one,two"});
}

TEST(DirectoryStoreTest, ExactlyOneWriterWinsAndValuesAreWhole) {
  TempDir dir;
  DirectoryStore store((dir.path() / "made" / "here").string());
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (store.create("a/key", std::string(1000, char('a' + i)))) ++wins;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
  const auto v = store.get("a/key");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->size(), 1000u);
  EXPECT_EQ(*v, std::string(1000, (*v)[0]));
  EXPECT_FALSE(store.get("a/other"));
  expect_error<UsageError>([&] { store.create("../escape", "x"); }, {"'../escape'", ".."});
  expect_error<UsageError>([&] { DirectoryStore bad("/proc/version/x"); },
                           {"/proc/version/x", "every rank can write"});
}
