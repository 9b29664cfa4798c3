// recover(): the whole recovery from a lost rank in one call, over the recording stand-in with
// ranks as threads (the stand-in's communicators need no peers). Revoked everywhere: shrink (or
// split when nobody failed); an NCCL without revoke: a shrink that aborts the old work. NCCL
// refusing to revoke on one survivor (it latched the failure: FAKE_REVOKE_RESULT=6,
// ncclRemoteError): every survivor learns it through the store, aborts, and joins a new
// communicator made from the first survivor's unique id. A missing id ends in time with
// TimeoutError; bad input is refused before anything happens.
#include <dlfcn.h>

#include <chrono>
#include <map>
#include <mutex>
#include <ncclrt/ncclrt.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "recording.hpp"
#include "test_support.hpp"

using namespace ncclrt;
using ncclrt_test::expect_error;
using ncclrt_test::ScopedEnv;
using ncclrt_test::TempDir;
using ncclrt_test::recording::Fake;
using std::chrono::milliseconds;

namespace {

// Ranks `who` of `comms` call recover() at once, each on its own thread; the others are lost.
std::map<int, Recovery> recover_all(std::vector<Communicator>& comms, AgreementStore& store,
                                    const std::vector<int>& who, const std::string& scope,
                                    milliseconds window = milliseconds(300)) {
  std::map<int, Recovery> out;
  std::map<int, std::string> errors;
  std::mutex m;
  std::vector<std::thread> threads;
  for (int r : who) {
    threads.emplace_back([&, r] {
      try {
        Recovery got = recover(comms[static_cast<std::size_t>(r)], store, scope, window);
        std::lock_guard<std::mutex> lock(m);
        out.emplace(r, std::move(got));
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(m);
        errors.emplace(r, e.what());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& [r, e] : errors) ADD_FAILURE() << "rank " << r << ": " << e;
  return out;
}

std::vector<Communicator> ranks(const Fake& f, int n) {
  const UniqueId id = f.lib->unique_id();
  std::vector<Communicator> comms;
  for (int r = 0; r < n; ++r) comms.push_back(Communicator::init_rank(f.lib, n, r, id));
  return comms;
}

}  // namespace

TEST(Recover, RevokedEverywhereTheFailedRankIsShrunkAway) {
  Fake f(RECORDING_NCCL_22809);
  TempDir dir;
  DirectoryStore store(dir.path());
  auto comms = ranks(f, 4);
  auto got = recover_all(comms, store, {0, 1, 3}, "job/epoch0");  // rank 2 is lost
  ASSERT_EQ(got.size(), 3u);
  for (const auto& [r, rec] : got) {
    EXPECT_EQ(rec.failed, std::vector<int>({2})) << "rank " << r;
    EXPECT_TRUE(rec.revoked);
    EXPECT_FALSE(rec.rebuilt);
    EXPECT_EQ(rec.comm.size(), 3);
    EXPECT_EQ(rec.comm.rank(), r < 2 ? r : 2);  // the old order, renumbered
    EXPECT_TRUE(comms[static_cast<std::size_t>(r)].revoked());
  }
  EXPECT_FALSE(store.get("job/epoch0/unique_id")) << "a shrink needs no new id";
}

TEST(Recover, NobodyFailedGivesEveryRankAFreshCommunicator) {
  Fake f(RECORDING_NCCL_22809);
  TempDir dir;
  DirectoryStore store(dir.path());
  auto comms = ranks(f, 3);
  auto got = recover_all(comms, store, {0, 1, 2}, "job/epoch0");
  ASSERT_EQ(got.size(), 3u);
  for (const auto& [r, rec] : got) {
    EXPECT_TRUE(rec.failed.empty());
    EXPECT_FALSE(rec.rebuilt);
    EXPECT_EQ(rec.comm.size(), 3);
    EXPECT_EQ(rec.comm.rank(), r);
  }
}

TEST(Recover, OneSurvivorsRefusedRevokeMakesEveryoneRebuildFromOneNewId) {
  Fake f(RECORDING_NCCL_22809);
  TempDir dir;
  DirectoryStore store(dir.path());
  auto comms = ranks(f, 4);
  comms[2].revoke();  // ranks 2 and 3 revoked before NCCL latched anything
  comms[3].revoke();
  std::map<int, Recovery> got;
  {
    // NCCL refuses the revoke of rank 1 (a peer's socket closed: ncclRemoteError).
    ScopedEnv refuse("FAKE_REVOKE_RESULT", "6");
    got = recover_all(comms, store, {1, 2, 3}, "job/epoch0");  // rank 0 is lost
  }
  ASSERT_EQ(got.size(), 3u);
  const auto hex = store.get("job/epoch0/unique_id");
  ASSERT_TRUE(hex) << "the first survivor (rank 1) publishes the id";
  EXPECT_EQ(hex->size(), 2 * UniqueId::kBytes);
  EXPECT_TRUE(store.get("job/epoch0/latched/1"));
  EXPECT_FALSE(store.get("job/epoch0/latched/2"));
  for (const auto& [r, rec] : got) {
    EXPECT_EQ(rec.failed, std::vector<int>({0})) << "rank " << r;
    EXPECT_EQ(rec.revoked, r != 1) << "rank " << r;
    EXPECT_TRUE(rec.rebuilt) << "rank " << r << ": every survivor must take the same path";
    EXPECT_EQ(rec.comm.size(), 3);
    EXPECT_EQ(rec.comm.rank(), r - 1);
    EXPECT_TRUE(rec.comm.valid());
    const auto& old = comms[static_cast<std::size_t>(r)];
    EXPECT_FALSE(old.valid() || old.revoked()) << "rank " << r << ": the old one is aborted";
  }
  // The new communicators are one: made from the same id, they get the same recorder id.
  EXPECT_EQ(got.at(1).comm.trace().comm_id, got.at(2).comm.trace().comm_id);
  EXPECT_EQ(got.at(1).comm.trace().comm_id, got.at(3).comm.trace().comm_id);
}

TEST(Recover, WithoutRevokeInThisNcclTheShrinkAbortsTheOldWork) {
  Fake f(RECORDING_NCCL_22703);  // NCCL 2.27.3: ncclCommShrink, no ncclCommRevoke
  void* h = ::dlopen(RECORDING_NCCL_22703, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr);
  auto last_flags = reinterpret_cast<int (*)()>(::dlsym(h, "fake_last_shrink_flags"));
  ASSERT_NE(last_flags, nullptr);
  TempDir dir;
  DirectoryStore store(dir.path());
  auto comms = ranks(f, 3);
  auto got = recover_all(comms, store, {0, 2}, "job/epoch0");  // rank 1 is lost
  ASSERT_EQ(got.size(), 2u);
  for (const auto& [r, rec] : got) {
    EXPECT_EQ(rec.failed, std::vector<int>({1})) << "rank " << r;
    EXPECT_FALSE(rec.revoked);
    EXPECT_FALSE(rec.rebuilt) << "no revoke in this NCCL is not a latched failure";
    EXPECT_EQ(rec.comm.size(), 2);
  }
  EXPECT_EQ(last_flags(), 1) << "NCCL_SHRINK_ABORT";
  EXPECT_FALSE(store.get("job/epoch0/latched/0"));
  ::dlclose(h);
}

// A store that loses every unique id written to it: the survivors after the first wait for one.
struct LosesIds : AgreementStore {
  explicit LosesIds(AgreementStore& inner) : inner_(inner) {}
  bool create(const std::string& k, const std::string& v) override {
    if (k.find("/unique_id") != std::string::npos) return true;
    return inner_.create(k, v);
  }
  std::optional<std::string> get(const std::string& k) override {
    if (k.find("/unique_id") != std::string::npos) return std::nullopt;
    return inner_.get(k);
  }
  AgreementStore& inner_;
};

TEST(Recover, ASurvivorWithoutTheNewIdEndsInTimeSayingWhy) {
  Fake f(RECORDING_NCCL_22809);
  TempDir dir;
  DirectoryStore directory(dir.path());
  LosesIds store(directory);
  auto comms = ranks(f, 2);
  ScopedEnv refuse("FAKE_REVOKE_RESULT", "6");
  std::optional<Recovery> first;
  std::thread leader([&] { first = recover(comms[0], store, "job/epoch0", milliseconds(300)); });
  const auto start = std::chrono::steady_clock::now();
  expect_error<TimeoutError>(
      [&] { (void)recover(comms[1], store, "job/epoch0", milliseconds(300)); },
      {"no unique id to join", "rank 1 of 2", "first survivor (rank 0)", "job/epoch0/unique_id"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  leader.join();
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->rebuilt);
  EXPECT_EQ(first->comm.size(), 2);
}

TEST(Recover, AnIdInTheStoreThatIsNotOneIsRefusedNotUsed) {
  Fake f(RECORDING_NCCL_22809);
  TempDir dir;
  DirectoryStore store(dir.path());
  // Another program wrote the scope's id first, and it is no id: 1 MiB of invalid UTF-8.
  ASSERT_TRUE(store.create("job/epoch0/unique_id", std::string(1 << 20, '\xff')));
  auto comms = ranks(f, 2);
  ScopedEnv refuse("FAKE_REVOKE_RESULT", "6");
  std::string first_error;
  std::thread leader([&] {
    try {
      (void)recover(comms[0], store, "job/epoch0", milliseconds(300));
    } catch (const UsageError& e) {
      first_error = e.what();
    }
  });
  expect_error<UsageError>(
      [&] { (void)recover(comms[1], store, "job/epoch0", milliseconds(300)); },
      {"recover", "job/epoch0/unique_id", "is no unique id", "unique id in text form"});
  leader.join();
  EXPECT_NE(first_error.find("was written before"), std::string::npos) << first_error;
  EXPECT_NE(first_error.find("scope must be new"), std::string::npos) << first_error;
}

TEST(Recover, BadInputIsRefusedBeforeAnythingHappens) {
  Fake f(RECORDING_NCCL_22809);
  TempDir dir;
  DirectoryStore store(dir.path());
  Communicator c = f.comm(2, 0);
  expect_error<UsageError>([&] { (void)recover(c, store, "", milliseconds(10)); },
                           {"recover", "scope is empty"});
  expect_error<UsageError>([&] { (void)recover(c, store, "s", milliseconds(-1)); },
                           {"recover", "window is negative"});
  EXPECT_TRUE(c.valid()) << "nothing was revoked";
  c.destroy();
  expect_error<UsageError>([&] { (void)recover(c, store, "s", milliseconds(10)); },
                           {"recover", "not live", "OnFailure::kLeave"});
}
