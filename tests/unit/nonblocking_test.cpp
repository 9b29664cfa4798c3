// Every public call on a nonblocking communicator: the recording stand-in answers ncclInProgress
// to every call NCCL may answer so (ncclGroupEnd included) and keeps reporting it through
// ncclCommGetAsyncError for a while, then success or an error. Each call must complete only once
// the stand-in says the work is enqueued, fail with the real error, or raise TimeoutError at its
// deadline (+10%) with the communicator aborted; or be refused up front with UsageError. None may
// surface ncclInProgress as an NcclError.
#include <dlfcn.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <ncclrt/ncclrt.hpp>
#include <set>
#include <string>
#include <vector>

#include "recording.hpp"
#include "test_support.hpp"

using namespace ncclrt;
using namespace ncclrt_test::recording;
using ncclrt_test::expect_error;
using ncclrt_test::ScopedEnv;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr int kInternalError = 3;  // what the stand-in reports after its polls, in the failing mode

int pending(const char* path) {
  void* h = ::dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  return reinterpret_cast<int (*)()>(::dlsym(h, "fake_pending"))();
}

// NCCL enqueuing: every call answers ncclInProgress, ncclCommGetAsyncError `polls` - 1 more
// times, then `final`.
struct Busy {
  explicit Busy(int polls, int final = 0)
      : a("FAKE_OP_IN_PROGRESS", std::to_string(polls)),
        b("FAKE_OP_FAILS",
          final ? std::optional<std::string>(std::to_string(final)) : std::nullopt) {}
  ScopedEnv a, b;
};

Config nonblocking(milliseconds timeout) {
  Config c;
  c.timeout = timeout;
  return c;
}

// Diagnostics captured for one scope.
struct Logs {
  Logs() {
    set_log_level(LogLevel::kError);
    set_log_handler([this](LogLevel, std::string_view m) {
      std::lock_guard<std::mutex> lock(mu);
      lines += std::string(m) + "\n";
    });
  }
  ~Logs() {
    set_log_handler({});
    set_log_level(LogLevel::kOff);
  }
  std::string text() {
    std::lock_guard<std::mutex> lock(mu);
    return lines;
  }
  std::mutex mu;
  std::string lines;
};

// One public call, made on a fresh nonblocking communicator of the given release. `prepare` runs
// before the stand-in turns busy (to make the handle a release call needs).
struct Case {
  const char* name;
  const char* lib;
  std::function<void(Communicator&, std::vector<std::function<void()>>&)> prepare;
  std::function<void(Communicator&, std::vector<std::function<void()>>&)> call;
  bool logs_instead_of_throwing = false;  // a handle's release: noexcept
  bool makes_child = false;  // waits for the new communicator, which is aborted on failure
};

using Keep = std::vector<std::function<void()>>;
void none(Communicator&, Keep&) {}

const char* kNew = RECORDING_NCCL_23203;   // every call
const char* kOld = RECORDING_NCCL_22605;   // no native all_to_all/gather/scatter: grouped forms
const char* kR289 = RECORDING_NCCL_22809;  // revoke

std::vector<Case> cases() {
  float* a = dev(0x1000);
  float* b = dev(0x9000);
  auto dt = DataType::kFloat32;
  CollConfig cc;
  cc.max_ctas = 4;
  std::vector<Case> t = {
      {"all_reduce", kNew, none,
       [=](Communicator& c, Keep&) { c.all_reduce(a, b, 8, dt, ReduceOp::kSum, nullptr); }},
      {"broadcast", kNew, none,
       [=](Communicator& c, Keep&) { c.broadcast(a, b, 8, dt, 1, nullptr); }},
      {"reduce", kNew, none,
       [=](Communicator& c, Keep&) { c.reduce(a, b, 8, dt, ReduceOp::kMax, 0, nullptr); }},
      {"all_gather", kNew, none,
       [=](Communicator& c, Keep&) { c.all_gather(a, b, 8, dt, nullptr); }},
      {"reduce_scatter", kNew, none,
       [=](Communicator& c, Keep&) { c.reduce_scatter(a, b, 8, dt, ReduceOp::kSum, nullptr); }},
      {"all_to_all", kNew, none,
       [=](Communicator& c, Keep&) { c.all_to_all(a, b, 8, dt, nullptr); }},
      {"gather", kNew, none, [=](Communicator& c, Keep&) { c.gather(a, b, 8, dt, 0, nullptr); }},
      {"scatter", kNew, none, [=](Communicator& c, Keep&) { c.scatter(a, b, 8, dt, 0, nullptr); }},
      {"all_to_all grouped", kOld, none,
       [=](Communicator& c, Keep&) { c.all_to_all(a, b, 8, dt, nullptr); }},
      {"gather grouped", kOld, none,
       [=](Communicator& c, Keep&) { c.gather(a, b, 8, dt, 2, nullptr); }},
      {"scatter grouped", kOld, none,
       [=](Communicator& c, Keep&) { c.scatter(a, b, 8, dt, 2, nullptr); }},
      {"all_gatherv", kNew, none,
       [=](Communicator& c, Keep&) {
         c.all_gatherv(a, 2, b, {1, 1, 2, 1}, {0, 1, 2, 4}, dt, nullptr);
       }},
      {"reduce_scatterv", kNew, none,
       [=](Communicator& c, Keep&) {
         c.reduce_scatterv(a, b, {1, 1, 2, 1}, {0, 1, 2, 4}, dt, ReduceOp::kSum, nullptr);
       }},
      {"send", kNew, none, [=](Communicator& c, Keep&) { c.send(a, 8, dt, 3, nullptr); }},
      {"recv", kNew, none, [=](Communicator& c, Keep&) { c.recv(b, 8, dt, 3, nullptr); }},
      {"all_reduce(CollConfig)", kNew, none,
       [=](Communicator& c, Keep&) { c.all_reduce(a, b, 8, dt, ReduceOp::kSum, nullptr, cc); }},
      {"all_gather(CollConfig)", kNew, none,
       [=](Communicator& c, Keep&) { c.all_gather(a, b, 8, dt, nullptr, cc); }},
      {"all_to_all(CollConfig)", kNew, none,
       [=](Communicator& c, Keep&) { c.all_to_all(a, b, 8, dt, nullptr, cc); }},
      {"broadcast(CollConfig)", kNew, none,
       [=](Communicator& c, Keep&) { c.broadcast(a, b, 8, dt, 1, nullptr, cc); }},
      {"reduce(CollConfig)", kNew, none,
       [=](Communicator& c, Keep&) { c.reduce(a, b, 8, dt, ReduceOp::kMax, 0, nullptr, cc); }},
      {"reduce_scatter(CollConfig)", kNew, none,
       [=](Communicator& c, Keep&) { c.reduce_scatter(a, b, 8, dt, ReduceOp::kSum, nullptr, cc); }},
      {"gather(CollConfig)", kNew, none,
       [=](Communicator& c, Keep&) { c.gather(a, b, 8, dt, 0, nullptr, cc); }},
      {"scatter(CollConfig)", kNew, none,
       [=](Communicator& c, Keep&) { c.scatter(a, b, 8, dt, 0, nullptr, cc); }},
      {"signal", kNew, none, [=](Communicator& c, Keep&) { c.signal(1, 0, 0, nullptr); }},
      {"wait_signal", kNew, none,
       [=](Communicator& c, Keep&) {
         c.wait_signal({SignalWait{1, 0, 1, 0}}, nullptr);
       }},
      {"put_signal", kNew,
       [=](Communicator& c, Keep& keep) {
         auto w = std::make_shared<Window>(c.register_window(b, 64));
         keep.push_back([w] {});
         keep.push_back(
             [w, &c, a] { c.put_signal(a, 4, DataType::kFloat32, 1, *w, 0, 0, 0, nullptr); });
       },
       [](Communicator&, Keep& keep) { keep.back()(); }},
      {"create_pre_mul_sum", kNew, none,
       [=](Communicator& c, Keep&) {
         static const float scalar = 0.5f;
         (void)c.create_pre_mul_sum(&scalar, dt, ScalarResidence::kHostImmediate);
       }},
      {"register_buffer", kNew, none,
       [=](Communicator& c, Keep&) { (void)c.register_buffer(b, 64); }},
      {"register_window", kNew, none,
       [=](Communicator& c, Keep&) { (void)c.register_window(b, 64); }},
      {"Window::user_pointer", kNew,
       [=](Communicator& c, Keep& keep) {
         auto w = std::make_shared<Window>(c.register_window(b, 64));
         keep.push_back([w] { (void)w->user_pointer(); });
       },
       [](Communicator&, Keep& keep) { keep.back()(); }},
      {"memory_stats", kNew, none, [](Communicator& c, Keep&) { (void)c.memory_stats(); }},
      {"properties", kNew, none, [](Communicator& c, Keep&) { (void)c.properties(); }},
      {"create_dev_comm", kNew, none, [](Communicator& c, Keep&) { (void)c.create_dev_comm(); }},
      {"release DevComm", kNew,
       [](Communicator& c, Keep& keep) {
         auto d = std::make_shared<DevComm>(c.create_dev_comm());
         keep.push_back([d] { *d = DevComm(); });
       },
       [](Communicator&, Keep& keep) { keep.back()(); }, true},
      {"grow_id", kNew, none, [](Communicator& c, Keep&) { (void)c.grow_id(); }},
      {"suspend", kNew, none, [](Communicator& c, Keep&) { c.suspend(); }},
      {"resume", kNew, [](Communicator& c, Keep&) { c.suspend(); },
       [](Communicator& c, Keep&) { c.resume(); }},
      {"revoke", kR289, none, [](Communicator& c, Keep&) { c.revoke(); }},
      {"destroy", kNew, none, [](Communicator& c, Keep&) { c.destroy(); }},
      {"join", kNew, none,
       [](Communicator& c, Keep&) {
         ncclrt::abi::ncclUniqueId id{};
         id.internal[0] = 'g';
         (void)Communicator::join(c.library(), 6, 5, UniqueId(id), nonblocking(milliseconds(500)));
       },
       false, true},
      {"finalize", kNew, none, [](Communicator& c, Keep&) { c.finalize(); }},
      {"split", kNew, none, [](Communicator& c, Keep&) { (void)c.split(1, 0); }, false, true},
      {"split (no color)", kNew, none,
       [](Communicator& c, Keep&) { (void)c.split(ncclrt::abi::kSplitNoColor, 0); }},
      {"shrink", kNew, none, [](Communicator& c, Keep&) { (void)c.shrink({3}); }, false, true},
      {"grow", kNew, none, [](Communicator& c, Keep&) { (void)c.grow(6); }, false, true},
      {"release PreMulSum", kNew,
       [](Communicator& c, Keep& keep) {
         static const float scalar = 0.5f;
         auto p = std::make_shared<PreMulSum>(
             c.create_pre_mul_sum(&scalar, DataType::kFloat32, ScalarResidence::kHostImmediate));
         keep.push_back([p] { *p = PreMulSum(); });
       },
       [](Communicator&, Keep& keep) { keep.back()(); }, true},
      {"release Registration", kNew,
       [=](Communicator& c, Keep& keep) {
         auto r = std::make_shared<Registration>(c.register_buffer(b, 64));
         keep.push_back([r] { *r = Registration(); });
       },
       [](Communicator&, Keep& keep) { keep.back()(); }, true},
      {"release Window", kNew,
       [=](Communicator& c, Keep& keep) {
         auto w = std::make_shared<Window>(c.register_window(b, 64));
         keep.push_back([w] { *w = Window(); });
       },
       [](Communicator&, Keep& keep) { keep.back()(); }, true},
  };
  return t;
}

}  // namespace

// Every call: completes once NCCL says its work is enqueued, and not before.
TEST(Nonblocking, EveryCallCompletesOnceEnqueued) {
  for (const Case& k : cases()) {
    SCOPED_TRACE(k.name);
    Fake f(k.lib);
    Communicator c = f.comm(4, 2, nonblocking(std::chrono::seconds(5)));
    Keep keep;
    k.prepare(c, keep);
    Busy busy(4);
    try {
      k.call(c, keep);
    } catch (const std::exception& e) {
      ADD_FAILURE() << k.name << " threw: " << e.what();
    }
    EXPECT_EQ(pending(k.lib), 0) << k.name << " returned before NCCL said its work was enqueued";
  }
}

// ... fails with the error NCCL reports once it is done, never with ncclInProgress.
TEST(Nonblocking, EveryCallReportsTheErrorNotInProgress) {
  for (const Case& k : cases()) {
    SCOPED_TRACE(k.name);
    Fake f(k.lib);
    Communicator c = f.comm(4, 2, nonblocking(std::chrono::seconds(5)));
    Keep keep;
    k.prepare(c, keep);
    Logs logs;
    Busy busy(3, kInternalError);
    if (k.logs_instead_of_throwing) {
      k.call(c, keep);
      EXPECT_NE(logs.text().find("failed with NCCL result 3"), std::string::npos) << logs.text();
      continue;
    }
    try {
      k.call(c, keep);
      ADD_FAILURE() << k.name << ": no error";
    } catch (const NcclError& e) {
      EXPECT_EQ(static_cast<int>(e.result()), kInternalError) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << k.name << ": wrong exception: " << e.what();
    }
  }
}

// ... or raises TimeoutError at its deadline (+10%) with the communicator aborted.
TEST(Nonblocking, EveryCallHonoursTheDeadline) {
  const milliseconds deadline(500);
  for (const Case& k : cases()) {
    SCOPED_TRACE(k.name);
    Fake f(k.lib);
    Communicator c = f.comm(4, 2, nonblocking(deadline));
    Keep keep;
    k.prepare(c, keep);
    const int live = f.live();
    Logs logs;
    auto busy = std::make_unique<Busy>(1000000000);
    const auto start = Clock::now();
    if (k.logs_instead_of_throwing) {
      k.call(c, keep);
      EXPECT_NE(logs.text().find("did not complete within"), std::string::npos);
    } else {
      try {
        k.call(c, keep);
        ADD_FAILURE() << k.name << ": no error";
      } catch (const TimeoutError& e) {
        EXPECT_NE(std::string(e.what()).find("500 ms"), std::string::npos) << e.what();
      } catch (const std::exception& e) {
        ADD_FAILURE() << k.name << ": wrong exception: " << e.what();
      }
    }
    const auto took = Clock::now() - start;
    busy.reset();
    EXPECT_GE(took, deadline);
    EXPECT_LE(took, deadline + deadline / 10) << k.name;
    if (k.makes_child) {  // the child was aborted; the parent goes on
      EXPECT_EQ(f.live(), live) << k.name;
      c.check();
    } else {  // the communicator was aborted, and its next call says why
      EXPECT_EQ(f.live(), live - 1) << k.name;
      expect_error<TimeoutError>([&] { c.check(); }, {"500 ms"});
    }
  }
}

// The table is checked against NCCL's functions as ncclrt's one list declares them: every
// function that takes a communicator must be reached by some case of the table (on the
// stand-in, while the case's call runs), or be named below with the reason it needs no case. A
// function added to the list therefore fails here until a case calls it on a nonblocking
// communicator.
TEST(Nonblocking, TheTableReachesEveryNcclFunctionThatTakesACommunicator) {
  struct Listed {
    const char* name;
    const char* params;
  };
  static constexpr Listed kListed[] = {
#define NCCLRT_FN(name, ret, params, major, minor, patch, required) {#name, #params},
#include "ncclrt/detail/nccl_functions.def"
  };
  const std::map<std::string, const char*> no_case_needed = {
      {"ncclCommGetAsyncError", "the poll of every wait itself"},
      {"ncclGetLastError", "reads the error text; never answers ncclInProgress"},
      {"ncclCommCount", "asked once when a communicator is made; answers at once"},
      {"ncclCommCuDevice", "asked once when a communicator is made; answers at once"},
      {"ncclCommUserRank", "asked once when a communicator is made; answers at once"},
      {"ncclCommAbort", "the way out of every wait (EveryCallHonoursTheDeadline)"},
      {"ncclCommInitRank", "makes blocking communicators only (no config)"},
      {"ncclCommInitAll", "makes blocking communicators only (no config)"},
      {"ncclCommInitRankConfig", "the creation of every case's communicator (and join)"},
      {"ncclCommInitRankScalable", "not called by ncclrt"},
      {"ncclBcast", "not called by ncclrt (ncclBroadcast, of the same releases, is)"},
  };
  std::set<std::string> reached;
  for (const Case& k : cases()) {
    Fake f(k.lib);
    Communicator c = f.comm(4, 2, nonblocking(std::chrono::seconds(5)));
    Keep keep;
    k.prepare(c, keep);
    void* h = ::dlopen(k.lib, RTLD_NOW | RTLD_NOLOAD);
    auto clear_seen = reinterpret_cast<void (*)()>(::dlsym(h, "fake_clear_seen"));
    auto was_called = reinterpret_cast<int (*)(const char*)>(::dlsym(h, "fake_was_called"));
    ASSERT_NE(was_called, nullptr);
    clear_seen();
    {
      Busy busy(4);
      k.call(c, keep);
    }
    for (const Listed& l : kListed) {
      if (was_called(l.name)) reached.insert(l.name);
    }
  }
  std::set<std::string> listed;
  for (const Listed& l : kListed) {
    listed.insert(l.name);
    if (std::string(l.params).find("ncclComm_t") == std::string::npos) continue;
    if (no_case_needed.count(l.name)) continue;
    EXPECT_TRUE(reached.count(l.name))
        << l.name << " takes a communicator, but no case of the table reaches it: add one that "
        << "calls it on a nonblocking communicator";
  }
  for (const auto& [name, why] : no_case_needed) {
    EXPECT_TRUE(listed.count(name)) << name << " (" << why << ") is not in nccl_functions.def";
  }
  EXPECT_GE(reached.size(), 30u);  // the check saw the calls at all
}

// Groups: the outermost end waits for every nonblocking communicator touched inside.
TEST(NonblockingGroup, EndWaitsForEveryCommunicatorTouched) {
  Fake f(kNew);
  Communicator c1 = f.comm(4, 0, nonblocking(std::chrono::seconds(5)));
  Communicator c2 = f.comm(4, 1, nonblocking(std::chrono::seconds(5)));
  Busy busy(5);
  const auto recs = records_of(kNew, [&] {
    Group outer(*f.lib);
    {
      Group inner(*f.lib);  // nested: NCCL acts at the outermost end
      c1.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr);
      inner.end();
    }
    c2.send(dev(), 4, DataType::kFloat32, 3, nullptr);
    c2.recv(dev(), 4, DataType::kFloat32, 3, nullptr);
    c1.all_to_all(dev(), dev(0x2000), 1, DataType::kFloat32, nullptr);
    outer.end();
    EXPECT_EQ(pending(kNew), 0) << "the group ended before its work was enqueued";
  });
  std::vector<std::string> fns;
  for (const auto& r : recs) fns.push_back(r.fn);
  EXPECT_EQ(fns, (std::vector<std::string>{"ncclGroupStart", "ncclGroupStart", "ncclAllReduce",
                                           "ncclGroupEnd", "ncclSend", "ncclRecv", "ncclAlltoAll",
                                           "ncclGroupEnd"}));
  c1.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr);  // still live
}

TEST(NonblockingGroup, GroupedFallbacksNestInACallersGroup) {
  Fake f(kOld);
  Communicator c = f.comm(4, 2, nonblocking(std::chrono::seconds(5)));
  Busy busy(3);
  const auto recs = records_of(kOld, [&] {
    Group g(*f.lib);
    c.all_to_all(dev(), dev(0x2000), 1, DataType::kFloat32, nullptr);
    c.gather(dev(), dev(0x3000), 1, DataType::kFloat32, 2, nullptr);
    g.end();
    EXPECT_EQ(pending(kOld), 0);
  });
  int starts = 0, ends = 0, sends = 0;
  for (const auto& r : recs) {
    starts += std::string(r.fn) == "ncclGroupStart";
    ends += std::string(r.fn) == "ncclGroupEnd";
    sends += std::string(r.fn) == "ncclSend";
  }
  EXPECT_EQ(starts, 3);
  EXPECT_EQ(ends, 3);
  EXPECT_EQ(sends, 5);  // 4 peers for all_to_all, 1 to the root for gather
}

TEST(NonblockingGroup, ExpiryAbortsEveryCommunicatorOfTheGroup) {
  Fake f(kNew);
  Communicator c1 = f.comm(4, 0, nonblocking(std::chrono::seconds(60)));
  Communicator c2 = f.comm(4, 1, nonblocking(std::chrono::seconds(60)));
  Communicator other = f.comm(4, 1, nonblocking(std::chrono::seconds(60)));
  const int live = f.live();
  Busy busy(1000000000);
  const milliseconds deadline(200);
  const auto start = Clock::now();
  expect_error<TimeoutError>(
      [&] {
        Group g(*f.lib, deadline);  // the group's own deadline wins over the communicators'
        c1.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr);
        c2.broadcast(dev(), dev(), 4, DataType::kFloat32, 0, nullptr);
        g.end();
      },
      {"ncclGroupEnd", "200 ms", "aborted", "rank 0 of 4"});
  const auto took = Clock::now() - start;
  EXPECT_GE(took, deadline);
  EXPECT_LE(took, deadline + deadline / 10);
  EXPECT_EQ(f.live(), live - 2);  // both of the group, not the other one
  expect_error<TimeoutError>([&] { c2.check(); }, {"ncclGroupEnd"});
}

TEST(NonblockingGroup, AnAsynchronousErrorIsAnNcclError) {
  Fake f(kNew);
  Communicator c = f.comm(4, 0, nonblocking(std::chrono::seconds(5)));
  Busy busy(3, kInternalError);
  try {
    Group g(*f.lib);
    c.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr);
    g.end();
    ADD_FAILURE() << "no error";
  } catch (const NcclError& e) {
    EXPECT_EQ(static_cast<int>(e.result()), kInternalError) << e.what();
    EXPECT_NE(std::string(e.what()).find("ncclGroupEnd"), std::string::npos) << e.what();
  }
}

TEST(NonblockingGroup, TheDestructorWaitsTooAndOnlyLogs) {
  Fake f(kNew);
  Communicator c = f.comm(4, 0, nonblocking(milliseconds(200)));
  {
    Busy busy(4);
    {
      Group g(*f.lib);
      c.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr);
    }
    EXPECT_EQ(pending(kNew), 0);
  }
  const int live = f.live();
  Logs logs;
  Busy busy(1000000000);
  {
    Group g(*f.lib);
    c.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr);
  }  // no throw
  EXPECT_NE(logs.text().find("~Group"), std::string::npos) << logs.text();
  EXPECT_NE(logs.text().find("200 ms"), std::string::npos) << logs.text();
  EXPECT_EQ(f.live(), live - 1);
}

TEST(NonblockingGroup, CallsThatCannotCompleteInsideAGroupAreRefused) {
  Fake f(kNew);
  Communicator c = f.comm(4, 2, nonblocking(std::chrono::seconds(5)));
  Group g(*f.lib);
  const std::vector<std::pair<const char*, std::function<void()>>> refused = {
      {"register_window", [&] { (void)c.register_window(dev(), 64); }},
      {"ncclCommSplit", [&] { (void)c.split(0, 0); }},
      {"ncclCommSplit", [&] { (void)c.split(ncclrt::abi::kSplitNoColor, 0); }},
      {"ncclCommShrink", [&] { (void)c.shrink({1}); }},
      {"ncclCommGrow", [&] { (void)c.grow(6); }},
      {"finalize", [&] { c.finalize(); }},
      {"destroy", [&] { c.destroy(); }},
      {"suspend", [&] { c.suspend(); }},
      {"init_all",
       [&] {
         (void)Communicator::init_all(f.lib, {0, 1});
       }},
      {"ncclCommInitRankConfig",
       [&] {
         (void)Communicator::init_rank(f.lib, 2, 0, f.lib->unique_id(),
                                       nonblocking(milliseconds(10)));
       }},
  };
  for (const auto& [name, call] : refused) {
    SCOPED_TRACE(name);
    rejected<UsageError>(f, call, {name, "inside a group", "outside the group"});
  }
  g.end();
  EXPECT_TRUE(c.valid());
  Fake r(kR289);
  Communicator rc = r.comm(4, 2, nonblocking(std::chrono::seconds(5)));
  Group rg(*r.lib);
  rejected<UsageError>(r, [&] { rc.revoke(); }, {"revoke", "inside a group"});
}

// A nonblocking communicator made without Config::timeout still has a deadline: the default.
TEST(NonblockingDeadline, WithoutATimeoutTheDefaultBoundsEveryWait) {
  Fake f(kNew);
  Config c;
  c.blocking = false;
  Communicator comm = f.comm(4, 0, c);
  ScopedEnv bound("NCCLRT_TIMEOUT_MS", "250");
  Busy busy(1000000000);
  const auto start = Clock::now();
  expect_error<TimeoutError>(
      [&] { comm.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr); },
      {"ncclAllReduce", "250 ms", "aborted"});
  EXPECT_LT(Clock::now() - start, milliseconds(400));
}

TEST(NonblockingDeadline, InitAllKeepsNonblockingAndTheTimeout) {
  if (ncclrt_test::gpu_count() == 0) {
    GTEST_SKIP() << "init_all with a Config sets each rank's device: needs the CUDA driver and a "
                    "GPU (tests/gpu checks it there)";
  }
  Fake f(kNew);
  ScopedEnv shared("NCCL_MULTI_RANK_GPU_ENABLE", "1");  // the stand-in plays 2.32.3
  std::vector<Communicator> comms =
      Communicator::init_all(f.lib, {0, 0}, nonblocking(milliseconds(200)));
  ASSERT_EQ(comms.size(), 2u);
  const int live = f.live();
  Busy busy(1000000000);
  expect_error<TimeoutError>(
      [&] { comms[1].all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr); },
      {"200 ms", "aborted"});
  EXPECT_EQ(f.live(), live - 1);
}
