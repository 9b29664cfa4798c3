// The survivors' agreement on who failed (agree_on_failed_ranks) over a shared directory: every
// survivor gets the same list, a rank that never comes is in it, a late one is told to leave, a
// store that stops answering ends it in time, a reused scope is refused; and the directory
// store's own guarantees (one writer wins, names unique across hosts, private directories).
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <ncclrt/ncclrt.hpp>
#include <set>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "unique_name.hpp"

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

// A store that stops answering, as one whose host is gone: its calls (creates or gets) on keys
// that begin with `prefix` wait until the gate opens, or `delay` passes (a slow store). Made with
// make(), never freed: a call left running after a TimeoutError needs its store.
struct StallingStore : MemoryStore {
  enum class Kind { kCreate, kGet };
  struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
  };
  static StallingStore& make(Kind kind, std::string prefix,
                             milliseconds delay = milliseconds::max()) {
    static auto* kept = new std::vector<std::unique_ptr<StallingStore>>();
    kept->emplace_back(new StallingStore(kind, std::move(prefix), delay));
    return *kept->back();
  }
  bool create(const std::string& k, const std::string& v) override {
    if (kind == Kind::kCreate) stall(k);
    return MemoryStore::create(k, v);
  }
  std::optional<std::string> get(const std::string& k) override {
    if (kind == Kind::kGet) stall(k);
    return MemoryStore::get(k);
  }
  void open() {
    std::lock_guard<std::mutex> lock(gate.m);
    gate.open = true;
    gate.cv.notify_all();
  }

 private:
  StallingStore(Kind k, std::string p, milliseconds d) : kind(k), prefix(std::move(p)), delay(d) {}
  void stall(const std::string& key) {
    if (key.rfind(prefix, 0) != 0) return;
    std::unique_lock<std::mutex> lock(gate.m);
    if (delay == milliseconds::max()) {
      gate.cv.wait(lock, [&] { return gate.open; });
    } else {
      gate.cv.wait_for(lock, delay, [&] { return gate.open; });
    }
  }
  Kind kind;
  std::string prefix;
  milliseconds delay;
  Gate gate;
};

// Counts the gets, to show what a poll costs.
struct CountingStore : MemoryStore {
  std::optional<std::string> get(const std::string& k) override {
    ++gets;
    return MemoryStore::get(k);
  }
  std::atomic<int> gets{0};
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

TEST(Agreement, AStoreThatNeverAnswersEndsTheCallInTimeWithTimeoutError) {
  struct Case {
    StallingStore::Kind kind;
    const char* prefix;
    const char* call;
  };
  for (const Case& c : {Case{StallingStore::Kind::kGet, "job/alive/1", "get('job/alive/1')"},
                        Case{StallingStore::Kind::kCreate, "job/alive", "create('job/alive/0')"},
                        Case{StallingStore::Kind::kGet, "job/failed", "get('job/failed')"}}) {
    SCOPED_TRACE(c.call);
    StallingStore& store = StallingStore::make(c.kind, c.prefix);
    const auto start = Clock::now();
    expect_error<TimeoutError>(
        [&] { (void)agree_on_failed_ranks(store, "job", 0, 2, milliseconds(200)); },
        {c.call, "did not return within 1200 ms", "rank 0 of 2", "scope 'job'", "window (200 ms)",
         "left running"});
    const auto took = Clock::now() - start;
    EXPECT_GE(took, milliseconds(1200));
    EXPECT_LT(took, milliseconds(1700));
    store.open();  // the call left running returns; its thread then ends without another call
  }
}

TEST(Agreement, ASlowStoreIsBoundedToo) {
  // Each get takes 700 ms: the decision's read ends at 0.7 s, the first mark's at 1.4 s, past
  // the limit of 1.2 s.
  StallingStore& store = StallingStore::make(StallingStore::Kind::kGet, "job/", milliseconds(700));
  const auto start = Clock::now();
  expect_error<TimeoutError>(
      [&] { (void)agree_on_failed_ranks(store, "job", 0, 2, milliseconds(200)); },
      {"get('job/alive/1')", "1200 ms"});
  EXPECT_LT(Clock::now() - start, milliseconds(1700));
  store.open();
}

TEST(Agreement, AStoreThatThrowsEndsTheCallWithItsException) {
  struct Broken : MemoryStore {
    std::optional<std::string> get(const std::string&) override {
      throw std::runtime_error("connection reset by the store");
    }
  } store;
  try {
    (void)agree_on_failed_ranks(store, "job", 0, 2, milliseconds(200));
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "connection reset by the store");
  }
}

TEST(Agreement, APollReadsTheDecisionAndOneMissingMarkNotEveryRank) {
  // Rank 0 alone of 64 for 300 ms: each poll used to read 63 marks.
  CountingStore store;
  const auto out = agree_on_failed_ranks(store, "job", 0, 64, milliseconds(300));
  ASSERT_EQ(out.size(), 63u);
  EXPECT_EQ(out.front(), 1);
  EXPECT_EQ(out.back(), 63);
  // A poll is two reads (the decision, rank 1's mark), at most one per 5 ms; then each missing
  // mark once more and the decision.
  EXPECT_LE(store.gets.load(), 2 * 300 / 5 + 63 + 2);
}

TEST(Agreement, AReusedScopeIsRefused) {
  for (bool directory : {false, true}) {
    SCOPED_TRACE(directory ? "DirectoryStore" : "MemoryStore");
    TempDir dir;
    MemoryStore memory;
    std::unique_ptr<DirectoryStore> files;
    if (directory) files = std::make_unique<DirectoryStore>(dir.path().string());
    AgreementStore& store = directory ? static_cast<AgreementStore&>(*files) : memory;
    const auto first = run(store, 3, {2}, milliseconds(100));
    ASSERT_EQ(first[0], std::vector<int>{2});
    // The next failure must not count the last one's marks: rank 2 is lost now, 1 is alive.
    expect_error<UsageError>(
        [&] { (void)agree_on_failed_ranks(store, "job/epoch0", 1, 3, milliseconds(100)); },
        {"scope 'job/epoch0' was used before", "'job/epoch0/alive/1'", "must be new"});
    // Nothing was written: the rank can go on with a new scope.
    EXPECT_FALSE(store.get("job/epoch1/alive/1"));
    EXPECT_EQ(run(store, 3, {2}, milliseconds(100), "job/epoch1")[1], std::vector<int>{2});
  }
}

TEST(Agreement, ADecisionMadeForAnotherSizeIsRefused) {
  MemoryStore store;
  store.create("old/failed", "failed:1,5");  // an agreement of 8 ranks
  expect_error<Error>([&] { (void)agree_on_failed_ranks(store, "old", 0, 4, milliseconds(1)); },
                      {"'old/failed'", "names rank 5", "communicator of 4", "must be new"});
}

TEST(AgreementNames, UniqueAcrossHostsProcessesAndCalls) {
  using ncclrt::detail::unique_name;
  // Two hosts of a shared file system whose processes share a pid and a count (containers).
  const std::string a = unique_name("node-a", 1, 0);
  const std::string b = unique_name("node-b", 1, 0);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("node-a.1.0.", 0), 0u) << a;
  EXPECT_EQ(b.rfind("node-b.1.0.", 0), 0u) << b;
  // Even two hosts of one name: the random part differs.
  std::set<std::string> names;
  for (int i = 0; i < 100; ++i) names.insert(unique_name("node", 1, 0));
  EXPECT_EQ(names.size(), 100u);
  EXPECT_EQ(unique_name("node", 1, 0).size(), std::string("node.1.0.").size() + 16);
  // A host name cannot reach outside the directory or grow without bound.
  const std::string odd = unique_name("../x/" + std::string(100, 'h'), 7, 3);
  EXPECT_EQ(odd.find('/'), std::string::npos) << odd;
  EXPECT_EQ(odd.rfind(".._x_" + std::string(59, 'h') + ".7.3.", 0), 0u) << odd;
  // This process's own names count up.
  EXPECT_NE(unique_name(), unique_name());
}

TEST(DirectoryStoreTest, TemporaryFilesAreNamedAfterThisHostAndLeaveNothing) {
  TempDir dir;
  DirectoryStore store(dir.path().string());
  ASSERT_TRUE(store.create("k", "v"));
  ASSERT_FALSE(store.create("k", "w"));
  EXPECT_EQ(*store.get("k"), "v");
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    left.push_back(e.path().filename().string());
  }
  EXPECT_EQ(left, std::vector<std::string>{"k"});
}

namespace {
mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0);
  return st.st_mode & 07777;
}
}  // namespace

TEST(DirectoryStoreTest, APrivateStoreMakesItsDirectoryForThisUserAlone) {
  TempDir dir;
  const auto path = dir.path() / "a" / "private";
  DirectoryStore store(path.string() + "/", DirectoryStore::Access::kPrivate);
  EXPECT_EQ(store.directory(), path.string());
  EXPECT_EQ(mode_of(path), 0700u);
  EXPECT_TRUE(store.create("x/y", "1"));
  // Another rank of this user on the same machine opens the same one.
  DirectoryStore again(path.string(), DirectoryStore::Access::kPrivate);
  EXPECT_EQ(*again.get("x/y"), "1");
  EXPECT_EQ(again.access(), DirectoryStore::Access::kPrivate);
}

TEST(DirectoryStoreTest, APrivateStoreRefusesADirectoryOthersCouldHavePlanted) {
  TempDir dir;
  const auto target = dir.path() / "target";
  std::filesystem::create_directory(target);
  ::chmod(target.c_str(), 0700);
  const auto link = dir.path() / "link";
  std::filesystem::create_directory_symlink(target, link);
  for (const std::string& given : {link.string(), link.string() + "/"}) {
    expect_error<UsageError>(
        [&] { DirectoryStore s(given, DirectoryStore::Access::kPrivate); },
        {link.c_str(), "is a symbolic link", "mode 0700", "remove", "another directory"});
  }
  const auto open = dir.path() / "open";
  std::filesystem::create_directory(open);
  ::chmod(open.c_str(), 0777);
  expect_error<UsageError>(
      [&] { DirectoryStore s(open.string(), DirectoryStore::Access::kPrivate); },
      {open.c_str(), "other users may use it (mode 0777)"});
  ::chmod(open.c_str(), 0750);
  expect_error<UsageError>(
      [&] { DirectoryStore s(open.string(), DirectoryStore::Access::kPrivate); }, {"mode 0750"});
  const auto file = dir.path() / "file";
  { std::ofstream(file) << "x"; }
  expect_error<UsageError>(
      [&] { DirectoryStore s(file.string(), DirectoryStore::Access::kPrivate); },
      {"is not a directory"});
  // A shared store takes what its directory's permissions allow.
  EXPECT_NO_THROW(DirectoryStore(open.string()));
}

TEST(DirectoryStoreTest, APrivateStoreRefusesADirectoryOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to give a directory to another user";
  TempDir dir;
  const auto theirs = dir.path() / "theirs";
  std::filesystem::create_directory(theirs);
  ::chmod(theirs.c_str(), 0700);
  ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
  expect_error<UsageError>(
      [&] { DirectoryStore s(theirs.string(), DirectoryStore::Access::kPrivate); },
      {"belongs to uid 65534", "not to this user (uid 0)"});
}
