// The calls NCCL added from 2.28.7 on (revoke, grow, suspend/resume, memory stats, one-sided
// signals, per-call config, parameters, encryption), against the recording stand-in playing
// 2.28.9 (before most of them), 2.31.2 and 2.32.3: the exact arguments that reach NCCL, the state
// rules, and that refused calls reach NCCL zero times.
#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <map>
#include <ncclrt/ncclrt.hpp>
#include <thread>

#include "recording.hpp"
#include "test_support.hpp"
#include "util/nearest.hpp"

using namespace ncclrt;
using ncclrt_test::expect_error;
using ncclrt_test::ScopedEnv;
using namespace ncclrt_test::recording;

namespace {

auto* const kStream = reinterpret_cast<CUstream_st*>(0x5700);

// The one record `body` leaves, checked to be `fn`.
Record only(const char* lib, const char* fn, const std::function<void()>& body) {
  const auto got = records_of(lib, body);
  EXPECT_EQ(got.size(), 1u) << fn;
  if (got.empty()) return Record{};
  EXPECT_STREQ(got[0].fn, fn);
  return got[0];
}

}  // namespace

TEST(Revoke, PassesTheDefaultFlagAndThenOnlyDestroySplitShrinkFollow) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm(4, 1);
  const Record r = only(RECORDING_NCCL_22809, "ncclCommRevoke", [&] { c.revoke(); });
  EXPECT_EQ(r.op, 0);  // NCCL_REVOKE_DEFAULT
  EXPECT_EQ(r.comm, c.native());
  EXPECT_TRUE(c.revoked());
  EXPECT_FALSE(c.valid());
  EXPECT_EQ(c.rank(), 1);  // still answers: the survivors need it to shrink
  // Operations, handles and finalize are refused before NCCL.
  rejected<UsageError>(
      f, [&] { c.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, kStream); },
      {"all_reduce", "revoked"});
  rejected<UsageError>(f, [&] { c.finalize(); }, {"finalize", "revoked"});
  rejected<UsageError>(f, [&] { c.revoke(); }, {"revoke", "revoked"});
  rejected<UsageError>(f, [&] { (void)c.register_buffer(dev(), 64); }, {"revoked"});
  // The recovery path: shrink the revoked communicator to the survivors.
  Communicator smaller = c.shrink({3});
  EXPECT_EQ(smaller.size(), 3);
  const int live = f.live();
  c.destroy();
  EXPECT_EQ(f.live(), live - 1);
}

TEST(Revoke, WaitsWhileNcclReportsItInProgressAndHonoursItsDeadline) {
  Fake f(RECORDING_NCCL_22809);
  {
    Config cfg;
    cfg.timeout = std::chrono::seconds(5);
    Communicator c = f.comm(4, 0, cfg);
    ScopedEnv busy("FAKE_OP_IN_PROGRESS", "3");
    c.revoke();  // polled until NCCL says it is quiescent
    EXPECT_TRUE(c.revoked());
  }
  {
    // A blocking communicator: NCCL's revoke runs inline there, bounded by ncclrt.
    Communicator blocking = f.comm(4, 0);
    const auto recs =
        records_of(RECORDING_NCCL_22809, [&] { blocking.revoke(std::chrono::milliseconds(500)); });
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_STREQ(recs[0].fn, "ncclCommRevoke");
    EXPECT_TRUE(blocking.revoked());
    Communicator smaller = blocking.shrink({3});
    EXPECT_EQ(smaller.size(), 3);
  }
  {
    // ... and one whose revoke does not return in time is given up, not waited for.
    Communicator blocking = f.comm(4, 0);
    const int live = f.live();
    ScopedEnv slow("FAKE_REVOKE_SLEEP_MS", "400");
    const auto start = std::chrono::steady_clock::now();
    expect_error<TimeoutError>(
        [&] { blocking.revoke(std::chrono::milliseconds(50)); },
        {"ncclCommRevoke did not return within 50 ms", "blocking", "make a new one"});
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
    expect_error<UsageError>([&] { (void)blocking.shrink({3}); },
                             {"shrink", "already aborted", "OnFailure::kLeave"});
    EXPECT_EQ(f.live(), live);  // NCCL is still inside revoke: nothing freed under it
    for (int i = 0; i < 100 && f.live() == live; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(f.live(), live - 1);  // aborted once revoke returned
  }
  {
    Config cfg;
    cfg.timeout = std::chrono::milliseconds(50);
    Communicator c = f.comm(4, 0, cfg);
    ScopedEnv busy("FAKE_OP_IN_PROGRESS", "1000000");
    const int live = f.live();
    expect_error<TimeoutError>([&] { c.revoke(); }, {"ncclCommRevoke", "50 ms", "aborted"});
    EXPECT_EQ(f.live(), live - 1);
  }
}

// A blocking parent's split waits inline in NCCL until every rank has taken part, with or without
// a colour: both are bounded by the deadline, and the parent is given up, not waited for.
TEST(Split, OnABlockingParentIsBoundedWithOrWithoutAColour) {
  Fake f(RECORDING_NCCL_22809);
  for (const int color : {1, ncclrt::abi::kSplitNoColor}) {
    SCOPED_TRACE(color);
    Communicator blocking = f.comm(4, 0);
    const int live = f.live();
    ScopedEnv deadline("NCCLRT_TIMEOUT_MS", "50");
    ScopedEnv slow("FAKE_SPLIT_SLEEP_MS", "400");
    const auto start = std::chrono::steady_clock::now();
    expect_error<TimeoutError>(
        [&] { (void)blocking.split(color, 0); },
        {"ncclCommSplit did not complete within 50 ms", "blocking parent", "given up"});
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
    expect_error<UsageError>([&] { (void)blocking.shrink({3}); }, {"shrink", "aborted"});
    EXPECT_EQ(f.live(), live);  // NCCL is still inside the split: nothing freed under it
    for (int i = 0; i < 100 && f.live() >= live; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(f.live(), live - 1);  // the parent (and a child NCCL made late) aborted
  }
  // In time, a rank without a colour gets no communicator and the parent stays as it was.
  Communicator c = f.comm(4, 0);
  Communicator none = c.split(ncclrt::abi::kSplitNoColor, 0);
  EXPECT_FALSE(none.valid());
  EXPECT_TRUE(c.valid());
  {
    // Inside a group NCCL would run it at the group's end, on this thread, unbounded: refused.
    Group g(*f.lib);
    rejected<UsageError>(f, [&] { (void)c.split(ncclrt::abi::kSplitNoColor, 0); },
                         {"ncclCommSplit", "inside a group", "outside the group"});
  }
  EXPECT_TRUE(c.valid());
}

TEST(Revoke, NeedsNccl2_28_7) {
  Fake f(RECORDING_NCCL_22605);
  Communicator c = f.comm(4, 0);
  rejected<UnsupportedError>(f, [&] { c.revoke(); }, {"ncclCommRevoke", "2.28.7", "2.26.5"});
  EXPECT_TRUE(c.valid());
}

TEST(Grow, ExistingRanksPassTheIdOnlyWhereItWasMadeAndNewRanksJoin) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(2, 0);
  UniqueId id;
  {
    // Launchers set NCCL_COMM_ID for the whole job; NCCL refuses a grow id while it is set.
    ScopedEnv launcher("NCCL_COMM_ID", "127.0.0.1:29500");
    only(RECORDING_NCCL_23203, "ncclCommGetUniqueId", [&] { id = c.grow_id(); });
    EXPECT_STREQ(std::getenv("NCCL_COMM_ID"), "127.0.0.1:29500");  // put back
  }
  EXPECT_EQ(id.bytes()[0], 0x47);
  Communicator grown;
  const Record root = only(RECORDING_NCCL_23203, "ncclCommGrow", [&] { grown = c.grow(4, id); });
  EXPECT_EQ(root.comm, c.native());
  EXPECT_EQ(root.extra[0], 4);     // nranks
  EXPECT_EQ(root.extra[1], -1);    // an existing rank
  EXPECT_EQ(root.extra[2], 0x47);  // with the id
  EXPECT_EQ(grown.size(), 4);
  EXPECT_EQ(grown.rank(), 0);
  const Record other = only(RECORDING_NCCL_23203, "ncclCommGrow", [&] { (void)c.grow(4); });
  EXPECT_EQ(other.extra[2], -1);  // no id
  Communicator joined;
  const Record fresh = only(RECORDING_NCCL_23203, "ncclCommGrow",
                            [&] { joined = Communicator::join(f.lib, 4, 3, id); });
  EXPECT_EQ(fresh.comm, nullptr);  // a new rank has no communicator yet
  EXPECT_EQ(fresh.extra[1], 3);
  EXPECT_EQ(fresh.extra[2], 0x47);
  EXPECT_EQ(joined.rank(), 3);
  EXPECT_EQ(joined.size(), 4);
}

TEST(Grow, BadArgumentsAndOldReleasesNeverReachNccl) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(4, 0);
  rejected<UsageError>(f, [&] { (void)c.grow(4); }, {"grow", "more than the 4 ranks"});
  rejected<UsageError>(f, [&] { (void)c.grow(8, UniqueId()); }, {"grow", "all zeros"});
  const UniqueId id = f.lib->unique_id();
  rejected<UsageError>(f, [&] { (void)Communicator::join(f.lib, 4, 4, id); },
                       {"join", "rank 4", "outside 1..3"});
  rejected<UsageError>(f, [&] { (void)Communicator::join(f.lib, 4, 2, UniqueId()); },
                       {"join", "all zeros"});
  rejected<UsageError>(f, [&] { (void)Communicator::join(nullptr, 4, 2, id); }, {"no Library"});
  Fake old(RECORDING_NCCL_22809);
  Communicator o = old.comm(4, 0);
  rejected<UnsupportedError>(old, [&] { (void)o.grow_id(); }, {"ncclCommGetUniqueId", "2.29.2"});
  rejected<UnsupportedError>(old, [&] { (void)o.grow(8); }, {"ncclCommGrow", "2.29.2", "2.28.9"});
  rejected<UnsupportedError>(old, [&] { (void)Communicator::join(old.lib, 8, 5, id); },
                             {"ncclCommGrow", "2.29.2"});
}

TEST(Suspend, RefusesOperationsUntilResumeAndReportsEveryStatistic) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(4, 0);
  MemoryStats m = c.memory_stats();
  EXPECT_EQ(m.suspendable_bytes, 2000u);
  EXPECT_EQ(m.persistent_bytes, 1000u);
  EXPECT_EQ(m.total_bytes, 3000u);
  EXPECT_FALSE(m.suspended);
  const Record s = only(RECORDING_NCCL_23203, "ncclCommSuspend", [&] { c.suspend(); });
  EXPECT_EQ(s.op, 1);  // NCCL_SUSPEND_MEM
  EXPECT_TRUE(c.suspended());
  m = c.memory_stats();
  EXPECT_TRUE(m.suspended);
  EXPECT_EQ(m.suspendable_bytes, 0u);
  EXPECT_EQ(m.total_bytes, 1000u);
  rejected<UsageError>(
      f, [&] { c.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, kStream); },
      {"all_reduce", "suspended", "resume()"});
  rejected<UsageError>(f, [&] { c.send(dev(), 4, DataType::kFloat32, 1, kStream); },
                       {"send", "suspended"});
  rejected<UsageError>(f, [&] { c.suspend(); }, {"suspend", "suspended"});
  rejected<UsageError>(f, [&] { (void)c.split(0, 0); }, {"split", "suspended"});
  only(RECORDING_NCCL_23203, "ncclCommResume", [&] { c.resume(); });
  EXPECT_TRUE(c.valid());
  rejected<UsageError>(f, [&] { c.resume(); }, {"resume", "not suspended"});
  only(RECORDING_NCCL_23203, "ncclAllReduce",
       [&] { c.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, kStream); });
  const Record none =
      only(RECORDING_NCCL_23203, "ncclCommSuspend", [&] { c.suspend(SuspendFlags::kNone); });
  EXPECT_EQ(none.op, 0);
  c.resume();
  rejected<UsageError>(f, [&] { c.suspend(static_cast<SuspendFlags>(6)); },
                       {"suspend", "unknown flags 6"});
}

TEST(Suspend, GuardResumesAtScopeEndAndDestroyWorksWhileSuspended) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(4, 0);
  const auto got = records_of(RECORDING_NCCL_23203, [&] {
    SuspendGuard guard(c);
    EXPECT_TRUE(c.suspended());
  });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_STREQ(got[0].fn, "ncclCommSuspend");
  EXPECT_STREQ(got[1].fn, "ncclCommResume");
  EXPECT_TRUE(c.valid());
  {
    SuspendGuard guard(c);
    guard.resume();
    EXPECT_TRUE(c.valid());
    expect_error<UsageError>([&] { guard.resume(); }, {"twice"});
  }
  c.suspend();
  const int live = f.live();
  c.destroy();
  EXPECT_EQ(f.live(), live - 1);
}

TEST(Suspend, NeedsNccl2_29_7) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm(4, 0);
  rejected<UnsupportedError>(f, [&] { c.suspend(); }, {"ncclCommSuspend", "2.29.7", "2.28.9"});
  rejected<UnsupportedError>(f, [&] { (void)c.memory_stats(); }, {"ncclCommMemStats", "2.29.7"});
  EXPECT_TRUE(c.valid());
}

TEST(Signals, PutSignalWaitAndUserPointerPassExactlyTheirArguments) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(4, 1);
  Window w = c.register_window(dev(0x9000), 4096);
  const Record p = only(RECORDING_NCCL_23203, "ncclPutSignal", [&] {
    c.put_signal(dev(0x1000), 16, DataType::kFloat32, 3, w, 256, 2, 1, kStream);
  });
  EXPECT_EQ(p.send, dev(0x1000));
  EXPECT_EQ(p.recv, static_cast<void*>(w.native()));
  EXPECT_EQ(p.count, 16u);
  EXPECT_EQ(p.type, static_cast<int>(DataType::kFloat32));
  EXPECT_EQ(p.root, 3);
  EXPECT_EQ(p.extra[0], 256);  // byte offset in the peer's window
  EXPECT_EQ(p.extra[1], 2);    // signal index
  EXPECT_EQ(p.extra[2], 1);    // context
  EXPECT_EQ(p.extra[3], 0);    // flags: reserved
  EXPECT_EQ(p.comm, c.native());
  EXPECT_EQ(p.stream, kStream);
  const Record s = only(RECORDING_NCCL_23203, "ncclSignal", [&] { c.signal(0, 5, 0, kStream); });
  EXPECT_EQ(s.root, 0);
  EXPECT_EQ(s.extra[0], 5);
  const Record ws = only(RECORDING_NCCL_23203, "ncclWaitSignal", [&] {
    c.wait_signal({{3, 2, 1, 0}, {0, 5, 4, 0}}, kStream);
  });
  EXPECT_EQ(ws.count, 2u);    // two descriptors
  EXPECT_EQ(ws.extra[0], 1);  // opCnt of the first
  EXPECT_EQ(ws.extra[1], 3);  // its peer
  EXPECT_EQ(ws.extra[2], 2);  // its signal index
  EXPECT_EQ(ws.extra[4], 0);  // the second's peer
  EXPECT_EQ(ws.extra[5], 4);  // the last's opCnt
  // More descriptors than fit on the stack still arrive whole.
  std::vector<SignalWait> many(40, SignalWait{2, 0, 1, 0});
  many.back().count = 9;
  const Record big =
      only(RECORDING_NCCL_23203, "ncclWaitSignal", [&] { c.wait_signal(many, kStream); });
  EXPECT_EQ(big.count, 40u);
  EXPECT_EQ(big.extra[5], 9);
  EXPECT_EQ(w.user_pointer(), dev(0x9000));
}

TEST(Signals, BadArgumentsNeverReachNccl) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(4, 1);
  Communicator other = f.comm(4, 2);
  Window mine = c.register_window(dev(0x9000), 4096);
  Window theirs = other.register_window(dev(0xa000), 4096);
  const auto t = DataType::kFloat32;
  rejected<UsageError>(f, [&] { c.put_signal(dev(), 4, t, 1, theirs, 0, 0, 0, kStream); },
                       {"put_signal", "window", "this communicator"});
  rejected<UsageError>(f, [&] { c.put_signal(dev(), 4, t, 1, Window(), 0, 0, 0, kStream); },
                       {"put_signal", "window"});
  rejected<UsageError>(f, [&] { c.put_signal(dev(), 4, t, 4, mine, 0, 0, 0, kStream); },
                       {"put_signal", "peer 4"});
  rejected<UsageError>(f, [&] { c.put_signal(nullptr, 4, t, 1, mine, 0, 0, 0, kStream); },
                       {"put_signal", "null"});
  rejected<UsageError>(f, [&] { c.put_signal(dev(), 4, t, 1, mine, 0, -1, 0, kStream); },
                       {"put_signal", "signal index", ">= 0"});
  rejected<UsageError>(f, [&] { c.signal(-1, 0, 0, kStream); }, {"signal", "peer -1"});
  rejected<UsageError>(f, [&] { c.signal(0, 0, -2, kStream); }, {"signal", "context"});
  rejected<UsageError>(f, [&] { c.wait_signal(std::vector<SignalWait>{}, kStream); },
                       {"wait_signal", "at least one"});
  rejected<UsageError>(f,
                       [&] {
                         c.wait_signal({{0, 0, 0, 0}}, kStream);
                       },
                       {"wait_signal", "count of 0"});
  rejected<UsageError>(f,
                       [&] {
                         c.wait_signal({{7, 0, 1, 0}}, kStream);
                       },
                       {"wait_signal", "peer 7"});
  Window moved = std::move(mine);
  rejected<UsageError>(f, [&] { (void)mine.user_pointer(); }, {"user_pointer", "empty window"});
  other.abort();
  rejected<UsageError>(f, [&] { (void)theirs.user_pointer(); }, {"destroyed or aborted"});
  Fake old(RECORDING_NCCL_22809);
  Communicator o = old.comm(4, 1);
  Window ow = o.register_window(dev(0x9000), 4096);
  rejected<UnsupportedError>(old, [&] { o.put_signal(dev(), 4, t, 1, ow, 0, 0, 0, kStream); },
                             {"ncclPutSignal", "2.29.2", "2.28.9"});
  rejected<UnsupportedError>(old, [&] { o.signal(0, 0, 0, kStream); }, {"ncclSignal", "2.29.2"});
  rejected<UnsupportedError>(old,
                             [&] {
                               o.wait_signal({{0, 0, 1, 0}}, kStream);
                             },
                             {"ncclWaitSignal"});
  rejected<UnsupportedError>(old, [&] { (void)ow.user_pointer(); }, {"ncclWinGetUserPtr"});
}

TEST(CollConfigs, EveryCollectiveTakesItsOptionsSizedForTheLoadedRelease) {
  Fake f(RECORDING_NCCL_23102);
  Communicator c = f.comm(4, 2);
  CollConfig cc;
  cc.min_ctas = 4;
  cc.alg_selection = "ring";
  cc.user_profiler_tag = 77;
  const void* s = dev(0x1000);
  void* r = dev(0x2000);
  const auto h = DataType::kFloat16;
  const std::pair<const char*, std::function<void()>> calls[] = {
      {"ncclAllReduceConfig", [&] { c.all_reduce(s, r, 7, h, ReduceOp::kMax, kStream, cc); }},
      {"ncclBroadcastConfig", [&] { c.broadcast(s, r, 7, h, 3, kStream, cc); }},
      {"ncclReduceConfig", [&] { c.reduce(s, r, 7, h, ReduceOp::kMin, 1, kStream, cc); }},
      {"ncclAllGatherConfig", [&] { c.all_gather(s, r, 7, h, kStream, cc); }},
      {"ncclReduceScatterConfig",
       [&] { c.reduce_scatter(s, r, 7, h, ReduceOp::kSum, kStream, cc); }},
      {"ncclAlltoAllConfig", [&] { c.all_to_all(s, r, 7, h, kStream, cc); }},
      {"ncclGatherConfig", [&] { c.gather(s, r, 7, h, 2, kStream, cc); }},
      {"ncclScatterConfig", [&] { c.scatter(s, r, 7, h, 0, kStream, cc); }},
  };
  for (const auto& [fn, call] : calls) {
    const Record k = only(RECORDING_NCCL_23102, fn, call);
    EXPECT_EQ(k.send, s) << fn;
    EXPECT_EQ(k.count, 7u) << fn;
    EXPECT_EQ(k.type, static_cast<int>(h)) << fn;
    EXPECT_EQ(k.stream, kStream) << fn;
    EXPECT_EQ(k.extra[0], 64) << fn;   // 2.31.2's ncclCollConfig_t ends at userProfilerTag
    EXPECT_EQ(k.extra[1], 4) << fn;    // minCTAs
    EXPECT_EQ(k.extra[2], 1) << fn;    // forceAlgSelection: NCCL's default kept
    EXPECT_EQ(k.extra[3], 'r') << fn;  // algSelection
    EXPECT_EQ(k.extra[4], 77) << fn;   // userProfilerTag
    EXPECT_EQ(k.extra[5], -1) << fn;   // no launchCompletionEvent in this layout
  }
  // An empty CollConfig is the ordinary call.
  only(RECORDING_NCCL_23102, "ncclAllReduce",
       [&] { c.all_reduce(s, r, 7, h, ReduceOp::kSum, kStream, CollConfig{}); });
  // 2.32.3's launch-completion event: refused on 2.31.2, passed on 2.32.3 with the larger size.
  CollConfig ev;
  ev.launch_completion_event = reinterpret_cast<CUevent_st*>(0xe7e7);
  rejected<UnsupportedError>(f, [&] { c.all_reduce(s, r, 7, h, ReduceOp::kSum, kStream, ev); },
                             {"launch_completion_event", "2.32.3", "2.31.2"});
  Fake newest(RECORDING_NCCL_23203);
  Communicator n = newest.comm(4, 2);
  const Record k = only(RECORDING_NCCL_23203, "ncclAllReduceConfig",
                        [&] { n.all_reduce(s, r, 7, h, ReduceOp::kSum, kStream, ev); });
  EXPECT_EQ(k.extra[0], 72);
  EXPECT_EQ(k.extra[5], 0xe7e7);
  EXPECT_EQ(k.extra[1], INT_MIN);  // minCTAs unset: NCCL_CONFIG_UNDEF_INT
}

TEST(CollConfigs, OlderReleasesRefuseANonEmptyOneAndTakeAnEmptyOne) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm(4, 2);
  CollConfig cc;
  cc.max_ctas = 8;
  const auto h = DataType::kFloat16;
  rejected<UnsupportedError>(f,
                             [&] { c.all_reduce(dev(), dev(), 7, h, ReduceOp::kSum, kStream, cc); },
                             {"ncclAllReduceConfig", "2.31.2", "2.28.9"});
  rejected<UnsupportedError>(f, [&] { c.all_to_all(dev(), dev(), 7, h, kStream, cc); },
                             {"ncclAlltoAllConfig", "2.31.2"});
  only(RECORDING_NCCL_22809, "ncclBroadcast",
       [&] { c.broadcast(dev(), dev(), 7, h, 0, kStream, CollConfig{}); });
  // Bad arguments are still refused first.
  rejected<UsageError>(f, [&] { c.broadcast(dev(), dev(), 7, h, 9, kStream, cc); },
                       {"broadcast", "root 9"});
  // The grouped fallbacks of a release before 2.28.3 take no options.
  Fake older(RECORDING_NCCL_22605);
  Communicator o = older.comm(4, 2);
  rejected<UnsupportedError>(older, [&] { o.gather(dev(), dev(), 7, h, 0, kStream, cc); },
                             {"ncclGatherConfig", "2.31.2"});
}

TEST(Parameters, ListedAndReadByNameFrom2_30_4) {
  Fake f(RECORDING_NCCL_23203);
  const auto all = f.lib->parameters();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].name, "NCCL_DEBUG");
  EXPECT_EQ(all[0].value, "WARN");
  EXPECT_EQ(all[1].name, "NCCL_SOCKET_IFNAME");
  EXPECT_EQ(all[1].value, "eth0");
  EXPECT_EQ(f.lib->parameter("NCCL_NVLS_ENABLE"), std::optional<std::string>("1"));
  EXPECT_EQ(f.lib->parameter("NCCL_SOCKET_IFNAM"), std::nullopt);
  Fake old(RECORDING_NCCL_22809);
  expect_error<UnsupportedError>([&] { (void)old.lib->parameters(); },
                                 {"ncclParamGetAllParameterKeys", "2.30.4", "2.28.9"});
}

TEST(Parameters, UnknownEnvironmentVariablesComeWithTheNearestNames) {
  if (ncclrt_test::real_nccl().empty()) GTEST_SKIP() << "no real NCCL on this machine";
  auto lib = Library::open(ncclrt_test::real_nccl());
  const auto names = lib->environment_names();
  for (const char* known : {"NCCL_SOCKET_IFNAME", "NCCL_DEBUG", "NCCL_IB_HCA", "NCCL_ALGO"}) {
    EXPECT_TRUE(std::binary_search(names.begin(), names.end(), known)) << known;
  }
  ScopedEnv typo("NCCL_SOCKET_IFNAM", "eth0");
  ScopedEnv fine("NCCL_DEBUG", "WARN");
  ScopedEnv foreign("NCCL_BLOCKING_WAIT", "1");     // PyTorch's, not NCCL's
  ScopedEnv container("NCCL_VERSION", "2.28.3-1");  // set by NVIDIA's images: not a setting
  const auto unknown = lib->unknown_environment();
  std::map<std::string, std::vector<std::string>> by_name;
  for (const auto& u : unknown) by_name[u.name] = u.nearest;
  ASSERT_EQ(by_name.count("NCCL_SOCKET_IFNAM"), 1u);
  ASSERT_FALSE(by_name["NCCL_SOCKET_IFNAM"].empty());
  EXPECT_EQ(by_name["NCCL_SOCKET_IFNAM"][0], "NCCL_SOCKET_IFNAME");
  EXPECT_EQ(by_name.count("NCCL_DEBUG"), 0u);
  EXPECT_EQ(by_name.count("NCCL_BLOCKING_WAIT"), 1u);
  EXPECT_EQ(by_name.count("NCCL_VERSION"), 0u);
}

TEST(NearestNames, OrdersByDistanceKeepsTiesInOrderAndCaps) {
  using ncclrt::util::edit_distance;
  using ncclrt::util::nearest_names;
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("NCCL_SOCKET_IFNAM", "NCCL_SOCKET_IFNAME"), 1u);
  const std::vector<std::string> names{"info", "probe", "bench", "version", "inf"};
  // Nearest first: "inf" is one edit from "inof", "info" two.
  EXPECT_EQ(nearest_names("inof", names, 2, 3), (std::vector<std::string>{"inf", "info"}));
  EXPECT_EQ(nearest_names("inof", names, 2, 1), (std::vector<std::string>{"inf"}));
  EXPECT_EQ(nearest_names("inof", names, 1, 3), (std::vector<std::string>{"inf"}));
  EXPECT_EQ(nearest_names("bnech", names, 2, 3), (std::vector<std::string>{"bench"}));
  EXPECT_TRUE(nearest_names("allreduce", names, 2, 3).empty());
  // Ties keep the candidates' order: "ab" and "ba" are both one edit from "a".
  EXPECT_EQ(nearest_names("a", {"ba", "ab"}, 1, 2), (std::vector<std::string>{"ba", "ab"}));
}

TEST(Encryption, PassesTheKeyFrom2_32_3) {
  Fake f(RECORDING_NCCL_23203);
  const Record k =
      only(RECORDING_NCCL_23203, "ncclSetEncryption", [&] { f.lib->set_encryption("secret"); });
  EXPECT_EQ(k.extra[0], 32);   // the 2.32.3 struct
  EXPECT_EQ(k.extra[1], 1);    // NCCL_ENCRYPTION_MODE_PSK
  EXPECT_EQ(k.extra[2], 's');  // the key
  const Record off =
      only(RECORDING_NCCL_23203, "ncclSetEncryption", [&] { f.lib->set_encryption(""); });
  EXPECT_EQ(off.extra[1], 0);  // NCCL_ENCRYPTION_MODE_NONE
  Fake old(RECORDING_NCCL_23102);
  expect_error<UnsupportedError>([&] { old.lib->set_encryption("secret"); },
                                 {"ncclSetEncryption", "2.32.3", "2.31.2"});
}

TEST(RanksPerGpu, NeedNccl2_30_3AndTheVariable) {
  std::string why;
  ScopedEnv off("NCCL_MULTI_RANK_GPU_ENABLE", std::nullopt);
  Fake old(RECORDING_NCCL_22809);
  EXPECT_FALSE(old.lib->allows_ranks_per_gpu(&why));
  EXPECT_NE(why.find("need NCCL >= 2.30.3; loaded 2.28.9"), std::string::npos) << why;
  Fake f(RECORDING_NCCL_23102);
  EXPECT_FALSE(f.lib->allows_ranks_per_gpu(&why));
  EXPECT_NE(why.find("NCCL_MULTI_RANK_GPU_ENABLE=1"), std::string::npos) << why;
  ScopedEnv on("NCCL_MULTI_RANK_GPU_ENABLE", "1");
  EXPECT_TRUE(f.lib->allows_ranks_per_gpu(&why));
  EXPECT_EQ(why, "");
  EXPECT_FALSE(old.lib->allows_ranks_per_gpu());
}

TEST(RanksPerGpu, InitAllWithAGpuListedTwiceSaysWhyNotBeforeNcclIsCalled) {
  ScopedEnv off("NCCL_MULTI_RANK_GPU_ENABLE", std::nullopt);
  Fake old(RECORDING_NCCL_22809);
  int before = old.calls();
  expect_error<UsageError>(
      [&] {
        (void)Communicator::init_all(old.lib, {0, 1, 0});
      },
      {"GPU 0 is listed 2 times", "need NCCL >= 2.30.3; loaded 2.28.9"});
  EXPECT_EQ(old.calls(), before);
  Fake f(RECORDING_NCCL_23102);
  before = f.calls();
  expect_error<UsageError>(
      [&] {
        (void)Communicator::init_all(f.lib, {1, 1, 1});
      },
      {"GPU 1 is listed 3 times", "NCCL_MULTI_RANK_GPU_ENABLE=1"});
  EXPECT_EQ(f.calls(), before);
}

TEST(RanksPerGpu, SharedGpuCtaCapNeedsAtLeastOneRank) {
  expect_error<UsageError>([] { (void)max_ctas_for_shared_gpu(0, 0); }, {"ranks must be >= 1"});
}

TEST(RanksPerGpu, InitAllWithAConfigMakesEachRankInOneGroup) {
  // The config path picks each rank's GPU itself, so it needs the CUDA driver: where there is
  // none (CI) it says so before NCCL is called; where there is one, the stand-in records a group
  // of one ncclCommInitRankConfig per rank.
  Fake f(RECORDING_NCCL_23102);
  const int before = f.calls(), live = f.live();
  Config c;
  c.comm_name = "world";
  void* driver = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (driver == nullptr) {
    expect_error<Error>(
        [&] {
          (void)Communicator::init_all(f.lib, {0, 1}, c);
        },
        {"no CUDA driver"});
    EXPECT_EQ(f.calls(), before);
    EXPECT_EQ(f.live(), live);
    return;
  }
  ::dlclose(driver);
  std::vector<Communicator> all;
  const auto recs =
      records_of(RECORDING_NCCL_23102, [&] { all = Communicator::init_all(f.lib, {0}, c); });
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(f.live(), live + 1);
  ASSERT_EQ(recs.size(), 2u);  // creation itself is not recorded, the group around it is
  EXPECT_STREQ(recs[0].fn, "ncclGroupStart");
  EXPECT_STREQ(recs[1].fn, "ncclGroupEnd");
  EXPECT_EQ(f.config_version(), 23102u);  // the config reached NCCL
}
