// The flight recorder, through the recording stand-in: every operation and lifecycle call records
// exactly what it passed, the ring wraps, communicators keep their own rings and ids, children's
// ids agree across ranks, labels and groups land in the entries, and threads record side by side.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <ncclrt/ncclrt.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "recording.hpp"
#include "test_support.hpp"
#include "trace/state.hpp"

using namespace ncclrt;
using ncclrt_test::ScopedEnv;
using ncclrt_test::TempDir;
using ncclrt_test::recording::dev;
using ncclrt_test::recording::Fake;

namespace {

const TraceEntry& last_op(const Trace& t) {
  EXPECT_FALSE(t.entries.empty());
  return t.entries.back();
}

Config entries(int n) {
  Config c;
  c.trace_entries = n;
  return c;
}

// Every collective of a rank: what it recorded, against what it was given.
struct Expect {
  TraceOp op;
  const void* send;
  const void* recv;
  std::size_t count;
  int type;
  int redop;
  int peer;
};

void expect_entry(const TraceEntry& e, const Expect& x, std::uint64_t seq, CUstream_st* stream) {
  EXPECT_EQ(e.op, x.op) << to_string(e.op);
  EXPECT_EQ(e.seq, seq) << to_string(e.op);
  EXPECT_EQ(e.send, x.send) << to_string(e.op);
  EXPECT_EQ(e.recv, x.recv) << to_string(e.op);
  EXPECT_EQ(e.count, x.count) << to_string(e.op);
  EXPECT_EQ(e.type, x.type) << to_string(e.op);
  EXPECT_EQ(e.reduce_op, x.redop) << to_string(e.op);
  EXPECT_EQ(e.peer, x.peer) << to_string(e.op);
  EXPECT_EQ(e.stream, stream) << to_string(e.op);
  EXPECT_EQ(e.result, 0) << to_string(e.op);
  EXPECT_EQ(e.group, 0u);
  EXPECT_EQ(e.captured, TraceCapture::kUnknown);  // progress mode is off
  EXPECT_GT(e.thread, 0u);
}

}  // namespace

TEST(Trace, EveryOperationRecordsItsExactArguments) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(4, 2);
  auto* s = reinterpret_cast<CUstream_st*>(0x5000);
  const auto f32 = static_cast<int>(DataType::kFloat32);
  const auto i64 = static_cast<int>(DataType::kInt64);
  const auto sum = static_cast<int>(ReduceOp::kSum);
  const auto mx = static_cast<int>(ReduceOp::kMax);
  c.all_reduce(dev(0x1000), dev(0x2000), 10, DataType::kFloat32, ReduceOp::kSum, s);
  c.broadcast(dev(0x1100), dev(0x2100), 11, DataType::kInt64, 1, s);
  c.reduce(dev(0x1200), dev(0x2200), 12, DataType::kFloat32, ReduceOp::kMax, 3, s);
  c.all_gather(dev(0x1300), dev(0x2300), 13, DataType::kFloat32, s);
  c.reduce_scatter(dev(0x1400), dev(0x2400), 14, DataType::kFloat32, ReduceOp::kSum, s);
  c.all_to_all(dev(0x1500), dev(0x2500), 15, DataType::kFloat32, s);
  c.gather(dev(0x1600), dev(0x2600), 16, DataType::kFloat32, 0, s);
  c.scatter(dev(0x1700), dev(0x2700), 17, DataType::kFloat32, 2, s);
  const std::vector<std::size_t> counts{1, 2, 3, 4}, displs{0, 1, 3, 6};
  c.all_gatherv(dev(0x1800), 3, dev(0x2800), counts, displs, DataType::kFloat32, s);
  c.reduce_scatterv(dev(0x1900), dev(0x2900), counts, displs, DataType::kFloat32, ReduceOp::kSum,
                    s);
  CollConfig cc;
  cc.min_ctas = 2;
  c.all_reduce(dev(0x1a00), dev(0x2a00), 20, DataType::kFloat32, ReduceOp::kSum, s, cc);
  c.send(dev(0x1b00), 21, DataType::kFloat32, 3, s);
  c.recv(dev(0x2c00), 22, DataType::kFloat32, 1, s);
  const Trace t = c.trace();
  ASSERT_EQ(t.entries.size(), 14u);  // the creation, then the 13 calls
  EXPECT_EQ(t.entries[0].op, TraceOp::kCreate);
  const Expect want[] = {
      {TraceOp::kAllReduce, dev(0x1000), dev(0x2000), 10, f32, sum, -1},
      {TraceOp::kBroadcast, dev(0x1100), dev(0x2100), 11, i64, -1, 1},
      {TraceOp::kReduce, dev(0x1200), dev(0x2200), 12, f32, mx, 3},
      {TraceOp::kAllGather, dev(0x1300), dev(0x2300), 13, f32, -1, -1},
      {TraceOp::kReduceScatter, dev(0x1400), dev(0x2400), 14, f32, sum, -1},
      {TraceOp::kAllToAll, dev(0x1500), dev(0x2500), 15, f32, -1, -1},
      {TraceOp::kGather, dev(0x1600), dev(0x2600), 16, f32, -1, 0},
      {TraceOp::kScatter, dev(0x1700), dev(0x2700), 17, f32, -1, 2},
      {TraceOp::kAllGatherv, dev(0x1800), dev(0x2800), 3, f32, -1, -1},
      {TraceOp::kReduceScatterv, dev(0x1900), dev(0x2900), 3, f32, sum, -1},  // rank 2's count
      {TraceOp::kAllReduce, dev(0x1a00), dev(0x2a00), 20, f32, sum, -1},
  };
  for (std::size_t i = 0; i < 11; ++i) expect_entry(t.entries[1 + i], want[i], i + 1, s);
  // Point-to-point calls are numbered on their own.
  expect_entry(t.entries[12], {TraceOp::kSend, dev(0x1b00), nullptr, 21, f32, -1, 3}, 1, s);
  expect_entry(t.entries[13], {TraceOp::kRecv, nullptr, dev(0x2c00), 22, f32, -1, 1}, 2, s);
  EXPECT_EQ(t.collectives, 11u);
  EXPECT_EQ(t.point_to_point, 2u);
  EXPECT_EQ(t.records, 14u);
  EXPECT_EQ(t.rank, 2);
  EXPECT_EQ(t.size, 4);
  EXPECT_EQ(t.capacity, 2048u);  // the default
  // Records are numbered from 0 and timed in order, in this process's wall-clock time.
  const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  for (std::size_t i = 0; i < t.entries.size(); ++i) {
    EXPECT_EQ(t.entries[i].record, i);
    if (i > 0) {
      EXPECT_GE(t.entries[i].time_ns, t.entries[i - 1].time_ns);
    }
    EXPECT_LT(std::llabs(now - t.entries[i].time_ns), 10'000'000'000LL);
  }
}

TEST(Trace, OneSidedCallsRecordTheirPeer) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(4, 2);
  Window w = c.register_window(dev(0x4000), 4096, WindowFlags::kCollSymmetric);
  c.put_signal(dev(0x1000), 8, DataType::kFloat32, 3, w, 64, 1, 0, nullptr);
  c.signal(1, 2, 0, nullptr);
  c.wait_signal({SignalWait{0, 1, 2, 0}}, nullptr);
  const Trace t = c.trace();
  ASSERT_GE(t.entries.size(), 4u);
  const auto& reg = t.entries[t.entries.size() - 4];
  EXPECT_EQ(reg.op, TraceOp::kRegisterWindow);
  EXPECT_EQ(reg.send, dev(0x4000));
  EXPECT_EQ(reg.count, 4096u);
  EXPECT_EQ(reg.args[0], static_cast<int>(WindowFlags::kCollSymmetric));
  EXPECT_EQ(reg.args[1], reinterpret_cast<std::intptr_t>(w.native()));
  const auto& put = t.entries[t.entries.size() - 3];
  EXPECT_EQ(put.op, TraceOp::kPutSignal);
  EXPECT_EQ(put.peer, 3);
  EXPECT_EQ(put.count, 8u);
  EXPECT_EQ(put.recv, w.native());
  EXPECT_EQ(put.seq, 1u);
  EXPECT_EQ(t.entries[t.entries.size() - 2].op, TraceOp::kSignal);
  EXPECT_EQ(t.entries[t.entries.size() - 2].peer, 1);
  EXPECT_EQ(t.entries.back().op, TraceOp::kWaitSignal);
  EXPECT_EQ(t.entries.back().count, 1u);
  EXPECT_EQ(t.entries.back().seq, 3u);
  EXPECT_EQ(t.collectives, 0u);
}

TEST(Trace, LifecycleCallsAreRecorded) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(4, 2);
  {
    Registration r = c.register_buffer(dev(0x8000), 1 << 20);
    const Trace t = c.trace();
    const auto& e = last_op(t);
    EXPECT_EQ(e.op, TraceOp::kRegister);
    EXPECT_EQ(e.send, dev(0x8000));
    EXPECT_EQ(e.count, 1u << 20);
    EXPECT_EQ(e.args[0], reinterpret_cast<std::intptr_t>(r.handle()));
    EXPECT_EQ(e.result, 0);
  }
  EXPECT_EQ(last_op(c.trace()).op, TraceOp::kDeregister);
  const float scalar = 0.5f;
  {
    PreMulSum p =
        c.create_pre_mul_sum(&scalar, DataType::kFloat32, ScalarResidence::kHostImmediate);
    EXPECT_EQ(last_op(c.trace()).op, TraceOp::kCreatePreMulSum);
    EXPECT_EQ(last_op(c.trace()).args[0], static_cast<int>(p.op()));
    c.all_reduce(dev(), dev(), 4, DataType::kFloat32, p.op(), nullptr);
    EXPECT_EQ(last_op(c.trace()).reduce_op, static_cast<int>(p.op()));
  }
  EXPECT_EQ(last_op(c.trace()).op, TraceOp::kDestroyPreMulSum);
  c.suspend();
  EXPECT_EQ(last_op(c.trace()).op, TraceOp::kSuspend);
  EXPECT_EQ(last_op(c.trace()).args[0], static_cast<int>(SuspendFlags::kMemory));
  c.resume();
  EXPECT_EQ(last_op(c.trace()).op, TraceOp::kResume);
  Communicator child = c.split(0, 2);
  EXPECT_EQ(last_op(c.trace()).op, TraceOp::kSplit);
  EXPECT_EQ(last_op(c.trace()).args[0], 0);  // color
  EXPECT_EQ(last_op(c.trace()).args[1], 2);  // key
  EXPECT_EQ(static_cast<std::uint64_t>(last_op(c.trace()).args[2]), child.trace().comm_id);
  Communicator smaller = c.shrink({0, 3});
  const TraceEntry shrink = last_op(c.trace());
  EXPECT_EQ(shrink.op, TraceOp::kShrink);
  EXPECT_EQ(shrink.count, 2u);
  EXPECT_EQ(shrink.args[0], 0);
  EXPECT_EQ(shrink.args[1], 3);
  EXPECT_EQ(static_cast<std::uint64_t>(shrink.args[2]), smaller.trace().comm_id);
  c.revoke();
  EXPECT_EQ(last_op(c.trace()).op, TraceOp::kRevoke);
  c.destroy();
  const Trace t = c.trace();  // still readable after destroy
  EXPECT_EQ(last_op(t).op, TraceOp::kDestroy);
  EXPECT_EQ(last_op(t).result, 0);
  // Lifecycle entries carry the collective number reached, and take none of their own.
  EXPECT_EQ(t.collectives, 1u);
  EXPECT_EQ(last_op(t).seq, 1u);
  child.finalize();
  EXPECT_EQ(last_op(child.trace()).op, TraceOp::kFinalize);
  smaller.abort();
  EXPECT_EQ(last_op(smaller.trace()).op, TraceOp::kAbort);
  const Trace ct = child.trace();
  EXPECT_EQ(ct.entries.front().op, TraceOp::kCreate);
  EXPECT_EQ(ct.entries.front().args[0], static_cast<int>(TraceOrigin::kSplit));
  EXPECT_EQ(static_cast<std::uint64_t>(ct.entries.front().args[1]), t.comm_id);
}

TEST(Trace, RejectedCallsAreNotRecorded) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm(4, 2);
  const Trace before = c.trace();
  EXPECT_THROW(c.broadcast(dev(), dev(), 4, DataType::kFloat32, 9, nullptr), UsageError);
  EXPECT_THROW(c.all_reduce(nullptr, dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr),
               UsageError);
  const Trace after = c.trace();
  EXPECT_EQ(after.records, before.records);  // checked on the host, never issued: no entry
  EXPECT_EQ(after.collectives, 0u);
}

TEST(Trace, TheRingWrapsAndKeepsTheNewest) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm(4, 2, entries(8));
  for (int i = 0; i < 20; ++i) {
    c.all_reduce(dev(), dev(), static_cast<std::size_t>(i + 1), DataType::kFloat32, ReduceOp::kSum,
                 nullptr);
  }
  const Trace t = c.trace();
  EXPECT_EQ(t.capacity, 8u);
  EXPECT_EQ(t.records, 21u);  // creation + 20
  ASSERT_EQ(t.entries.size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(t.entries[i].record, 13 + i);
    EXPECT_EQ(t.entries[i].seq, 13 + i);
    EXPECT_EQ(t.entries[i].count, 13 + i);
  }
}

TEST(Trace, RingsHoldAPowerOfTwoOfEntries) {
  EXPECT_EQ(detail::TraceRing(1).capacity(), 1u);
  EXPECT_EQ(detail::TraceRing(5).capacity(), 8u);
  EXPECT_EQ(detail::TraceRing(2048).capacity(), 2048u);
  EXPECT_EQ(detail::TraceRing(2049).capacity(), 4096u);
  Fake f(RECORDING_NCCL_22809);
  EXPECT_EQ(f.comm(4, 2, entries(100)).trace().capacity, 128u);
}

TEST(Trace, GroupsNestedAndEndedLeaveTheThreadsWordsAsTheyWere) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm(4, 2);
  {
    Group outer(*f.lib);
    {
      Group inner(*f.lib);
      c.all_reduce(dev(), dev(), 1, DataType::kFloat32, ReduceOp::kSum, nullptr);
      inner.end();
    }
    c.all_reduce(dev(), dev(), 2, DataType::kFloat32, ReduceOp::kSum, nullptr);
    outer.end();
  }
  c.all_reduce(dev(), dev(), 3, DataType::kFloat32, ReduceOp::kMax, nullptr);
  const Trace t = c.trace();
  ASSERT_EQ(t.entries.size(), 4u);
  EXPECT_EQ(t.entries[1].group_depth, 2u);
  EXPECT_EQ(t.entries[2].group_depth, 1u);
  EXPECT_NE(t.entries[1].group, 0u);
  EXPECT_EQ(t.entries[1].group, t.entries[2].group);  // one outermost group
  EXPECT_EQ(t.entries[3].group, 0u);
  EXPECT_EQ(t.entries[3].group_depth, 0u);
  EXPECT_EQ(t.entries[3].reduce_op, static_cast<int>(ReduceOp::kMax));
  EXPECT_EQ(t.entries[3].thread, t.entries[1].thread);
  EXPECT_NE(t.entries[3].thread, 0u);
}

namespace {

std::uint64_t clock_resolution_ns() {
  timespec res{};
  clock_getres(CLOCK_MONOTONIC_COARSE, &res);
  return static_cast<std::uint64_t>(res.tv_sec) * 1000000000u +
         static_cast<std::uint64_t>(res.tv_nsec);
}

// One all_reduce entry pushed on `ring`; returns its time (trace_clock_ns()).
std::uint64_t pushed_time(detail::TraceRing& ring) {
  detail::TraceSlot* s = ring.push(TraceOp::kAllReduce, dev(), dev(), 1, 0, 0, -1, nullptr);
  ring.finish(s, 0);
  detail::TraceWords w{};
  EXPECT_TRUE(ring.read(ring.records() - 1, w));
  return w[detail::kWordTime];
}

}  // namespace

// An entry's time is a word the clock thread refreshes every tick while entries come: within two
// ticks (and the clock's resolution) of when the entry was made. After a quiet spell the thread
// sleeps, and the first entry reads the clock itself (not a stale word) and wakes it.
TEST(TraceClock, EntriesCarryTheTimeTheyWereMade) {
  detail::TraceRing ring(64);
  const std::uint64_t slack = 2 * detail::trace_tick_ns() + clock_resolution_ns();
  auto steady = [&](int entries) {
    for (int i = 0; i < entries; ++i) {
      const std::uint64_t before = detail::trace_clock_ns();
      const std::uint64_t t = pushed_time(ring);
      EXPECT_LE(t, detail::trace_clock_ns());
      EXPECT_GE(t + slack, before) << "entry " << i << " is " << (before - t) / 1000 << " us old";
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  steady(150);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(detail::g_trace_now.load(), 0u) << "the clock thread should sleep when nothing comes";
  const std::uint64_t before = detail::trace_clock_ns();
  EXPECT_GE(pushed_time(ring), before);
  steady(50);  // the thread ticks again
  EXPECT_NE(detail::g_trace_now.load(), 0u);
}

// fork(): the child has no clock thread, so it must not keep the parent's last word.
TEST(TraceClock, AForkedChildsEntriesCarryItsOwnTime) {
  detail::TraceRing ring(64);
  for (int i = 0; i < 5; ++i) {
    pushed_time(ring);
    std::this_thread::sleep_for(std::chrono::nanoseconds(detail::trace_tick_ns()));
  }
  ASSERT_NE(detail::g_trace_now.load(), 0u);  // the thread runs and the word is set
  const std::uint64_t slack = 2 * detail::trace_tick_ns() + clock_resolution_ns();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int bad = 0;
    for (int i = 0; i < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const std::uint64_t before = detail::trace_clock_ns();
      if (pushed_time(ring) + slack < before) ++bad;
    }
    _exit(bad);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "entries made in the child carried a stale time";
}

TEST(Trace, ZeroEntriesTurnsRecordingOff) {
  Fake f(RECORDING_NCCL_22809);
  Communicator off = f.comm(4, 2, entries(0));
  off.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr);
  const Trace t = off.trace();
  EXPECT_EQ(t.capacity, 0u);
  EXPECT_TRUE(t.entries.empty());
  EXPECT_NE(t.comm_id, 0u);  // still named
  {
    ScopedEnv env("NCCLRT_TRACE_ENTRIES", "0");
    EXPECT_EQ(f.comm(4, 2).trace().capacity, 0u);
  }
  ScopedEnv env("NCCLRT_TRACE_ENTRIES", "16");
  EXPECT_EQ(f.comm(4, 2).trace().capacity, 16u);
  EXPECT_EQ(f.comm(4, 2, entries(4)).trace().capacity, 4u);  // Config wins over the variable
}

TEST(Trace, TwoCommunicatorsKeepSeparateRingsAndIds) {
  Fake f(RECORDING_NCCL_22809);
  Communicator a = f.comm(4, 2);
  Communicator b = f.comm(4, 2);
  a.all_reduce(dev(0xa000), dev(0xa000), 1, DataType::kFloat32, ReduceOp::kSum, nullptr);
  b.broadcast(dev(0xb000), dev(0xb000), 2, DataType::kFloat32, 0, nullptr);
  b.broadcast(dev(0xb000), dev(0xb000), 3, DataType::kFloat32, 0, nullptr);
  const Trace ta = a.trace(), tb = b.trace();
  EXPECT_NE(ta.comm_id, tb.comm_id);
  EXPECT_EQ(ta.collectives, 1u);
  EXPECT_EQ(tb.collectives, 2u);
  EXPECT_EQ(last_op(ta).op, TraceOp::kAllReduce);
  EXPECT_EQ(last_op(tb).op, TraceOp::kBroadcast);
  EXPECT_EQ(last_op(tb).seq, 2u);
}

TEST(Trace, RanksOfOneCommunicatorShareItsIdAndChildrenAgree) {
  // Two stand-in communicators play ranks 0 and 1 of one communicator: the same unique id.
  Fake f(RECORDING_NCCL_23203);
  const UniqueId id = f.lib->unique_id();
  Communicator r0 = Communicator::init_rank(f.lib, 2, 0, id);
  Communicator r1 = Communicator::init_rank(f.lib, 2, 1, id);
  EXPECT_EQ(r0.trace().comm_id, r1.trace().comm_id);
  // Splits: ranks with the same color get the same child id, another color another id.
  Communicator a0 = r0.split(7, 0), a1 = r1.split(7, 1);
  EXPECT_EQ(a0.trace().comm_id, a1.trace().comm_id);
  Communicator b0 = r0.split(1, 0), b1 = r1.split(2, 0);
  EXPECT_NE(b0.trace().comm_id, b1.trace().comm_id);
  EXPECT_NE(b0.trace().comm_id, a0.trace().comm_id);  // the second split is another child
  // Shrinks: the same excluded list on every rank.
  Communicator s0 = r0.shrink({1}), s1 = r1.shrink({1});
  EXPECT_EQ(s0.trace().comm_id, s1.trace().comm_id);
  // Grow: the existing ranks derive one id; the joiner knows the grow's id, which the rank that
  // made it records as an alias (the analyzer joins the two).
  const UniqueId gid = r0.grow_id();
  Communicator g0 = r0.grow(3, gid), g1 = r1.grow(3);
  EXPECT_EQ(g0.trace().comm_id, g1.trace().comm_id);
  const TraceEntry grow0 = r0.trace().entries.back(), grow1 = r1.trace().entries.back();
  EXPECT_EQ(grow0.op, TraceOp::kGrow);
  EXPECT_EQ(grow0.args[0], 3);  // the new size
  EXPECT_EQ(grow0.args[1], 1);  // this rank passed the id
  EXPECT_EQ(grow1.args[1], 0);
  EXPECT_EQ(static_cast<std::uint64_t>(grow0.args[2]), g0.trace().comm_id);
  EXPECT_EQ(g0.trace().entries.front().args[0], static_cast<int>(TraceOrigin::kGrow));
  Communicator joined = Communicator::join(f.lib, 3, 2, gid);
  EXPECT_NE(joined.trace().comm_id, g0.trace().comm_id);
  // A second communicator from the same id (NCCL_COMM_ID gives every one the same) is another.
  Communicator again0 = Communicator::init_rank(f.lib, 2, 0, id);
  Communicator again1 = Communicator::init_rank(f.lib, 2, 1, id);
  EXPECT_EQ(again0.trace().comm_id, again1.trace().comm_id);
  EXPECT_NE(again0.trace().comm_id, r0.trace().comm_id);
}

TEST(Trace, InitAllNamesAllItsRanksAlike) {
  Fake f(RECORDING_NCCL_22809);
  auto comms = Communicator::init_all(f.lib, {0, 1, 2});
  ASSERT_EQ(comms.size(), 3u);
  EXPECT_EQ(comms[0].trace().comm_id, comms[1].trace().comm_id);
  EXPECT_EQ(comms[0].trace().comm_id, comms[2].trace().comm_id);
  EXPECT_EQ(comms[2].trace().rank, 2);
  auto other = Communicator::init_all(f.lib, {0, 1});
  EXPECT_NE(other[0].trace().comm_id, comms[0].trace().comm_id);
}

TEST(Trace, LabelsAndGroupsLandInTheEntries) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm(4, 2);
  {
    TraceLabel step(c, "decode step 42");
    c.all_reduce(dev(), dev(), 1, DataType::kFloat32, ReduceOp::kSum, nullptr);
    {
      Group g(*f.lib);
      c.all_reduce(dev(), dev(), 2, DataType::kFloat32, ReduceOp::kSum, nullptr);
      c.all_reduce(dev(), dev(), 3, DataType::kFloat32, ReduceOp::kSum, nullptr);
      g.end();
    }
  }
  c.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr);
  const Trace t = c.trace();
  ASSERT_EQ(t.entries.size(), 5u);
  EXPECT_EQ(trace_label_text(t.entries[1].label), "decode step 42");
  EXPECT_EQ(t.entries[1].group, 0u);
  EXPECT_NE(t.entries[2].group, 0u);
  EXPECT_EQ(t.entries[2].group, t.entries[3].group);
  EXPECT_EQ(t.entries[2].group_depth, 1u);
  EXPECT_EQ(t.entries[2].label, t.entries[1].label);
  EXPECT_EQ(t.entries[4].label, 0u);  // the label went with its scope
  EXPECT_EQ(t.entries[4].group, 0u);
  // The same text is the same id; labels stay bounded however many are made.
  EXPECT_EQ(trace_label("decode step 42"), t.entries[1].label);
  std::uint32_t first = trace_label("step 0");
  for (int i = 1; i < 5000; ++i) trace_label("step " + std::to_string(i));
  EXPECT_EQ(trace_label_text(first), "(label overwritten)");
  EXPECT_EQ(trace_label_text(trace_label("step 4999")), "step 4999");
  EXPECT_EQ(trace_label_text(0), "");
}

TEST(Trace, ProgressModeWithoutADriverSaysWhy) {
  if (ncclrt_test::gpu_count() > 0) GTEST_SKIP() << "a GPU is here: progress mode works";
  Fake f(RECORDING_NCCL_22809);
  Config c;
  c.trace_progress = true;
  Communicator comm = f.comm(4, 2, c);
  comm.all_reduce(dev(), dev(), 4, DataType::kFloat32, ReduceOp::kSum, nullptr);
  const Trace t = comm.trace();
  EXPECT_FALSE(t.progress);
  EXPECT_EQ(last_op(t).op, TraceOp::kAllReduce);  // recording goes on without it
  EXPECT_EQ(last_op(t).captured, TraceCapture::kUnknown);
}

TEST(Trace, NamesOfOperations) {
  for (int i = 1; i < kNumTraceOps; ++i) {
    const auto op = static_cast<TraceOp>(i);
    EXPECT_EQ(trace_op_from_string(to_string(op)), op) << to_string(op);
  }
  EXPECT_STREQ(to_string(TraceOp::kAllReduce), "all_reduce");
  EXPECT_EQ(trace_op_from_string("no_such_op"), TraceOp::kNone);
  EXPECT_TRUE(is_collective(TraceOp::kReduceScatterv));
  EXPECT_FALSE(is_collective(TraceOp::kSend));
  EXPECT_TRUE(is_point_to_point(TraceOp::kWaitSignal));
  EXPECT_FALSE(is_point_to_point(TraceOp::kCreate));
}

// Threads on their own communicators record side by side while another thread reads every ring
// (what a dump does): run under ThreadSanitizer by the tsan preset.
TEST(TraceConcurrency, ThreadsRecordWhileRingsAreRead) {
  Fake f(RECORDING_NCCL_22809);
  constexpr int kThreads = 4, kCalls = 3000;
  std::vector<Communicator> comms;
  for (int i = 0; i < kThreads; ++i) comms.push_back(f.comm(kThreads, i, entries(256)));
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      for (const auto& c : comms) {
        const Trace t = c.trace();
        // Every entry read is whole: a count the owner wrote with its own sequence number.
        for (const auto& e : t.entries) {
          if (e.op == TraceOp::kAllReduce && e.count != e.seq) ADD_FAILURE() << "torn entry";
        }
      }
      reads.fetch_add(1);
    }
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 1; k <= kCalls; ++k) {
        comms[static_cast<std::size_t>(i)].all_reduce(dev(), dev(), static_cast<std::size_t>(k),
                                                      DataType::kFloat32, ReduceOp::kSum, nullptr);
      }
    });
  }
  for (auto& t : threads) t.join();
  done.store(true);
  reader.join();
  EXPECT_GT(reads.load(), 0);
  for (const auto& c : comms) {
    const Trace t = c.trace();
    EXPECT_EQ(t.collectives, static_cast<std::uint64_t>(kCalls));
    ASSERT_EQ(t.entries.size(), 256u);
    EXPECT_EQ(t.entries.back().count, static_cast<std::size_t>(kCalls));
    for (const auto& e : t.entries) EXPECT_NE(e.thread, 0u);
  }
  // Each thread's entries carry its own id.
  EXPECT_NE(comms[0].trace().entries.back().thread, comms[1].trace().entries.back().thread);
}

// The owner pushes collectives while another thread records lifecycle entries into the same ring
// (what a handle released on another thread does) and a third reads it: every record number is
// taken once, every entry read is whole, the other thread's entries keep their order, and each
// one either reaches the ring or is counted as dropped from the inbox.
TEST(TraceConcurrency, EntriesFromAnotherThreadTakeTheirOwnRecordNumbers) {
  detail::TraceState state;
  state.attach(0, 1, -1, "test", 32768, false);  // room for every entry: none is overwritten
  detail::TraceRing& ring = *state.ring();
  constexpr int kOwn = 20000, kForeign = 2000;
  std::atomic<int> foreign_done{0};
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  // Checks one snapshot; returns the number of the other thread's entries in it.
  auto check = [](const Trace& t) {
    int foreign = 0;
    std::int64_t last_foreign = -1;
    for (std::size_t i = 0; i < t.entries.size(); ++i) {
      const TraceEntry& e = t.entries[i];
      if (i > 0 && e.record <= t.entries[i - 1].record) {
        ADD_FAILURE() << "record " << e.record << " after " << t.entries[i - 1].record;
      }
      if (e.op == TraceOp::kAllReduce) {
        if (e.count != e.seq) ADD_FAILURE() << "torn entry: count " << e.count << " seq " << e.seq;
      } else if (e.op == TraceOp::kDeregister) {
        ++foreign;
        // Whole once closed; while open its second argument may not be set yet.
        const bool closed = e.result != kTracePending;
        if (e.args[1] != 7 * e.args[0] + 1 && (closed || e.args[1] != 0)) {
          ADD_FAILURE() << "torn entry from the other thread";
        }
        if (closed && e.result != e.args[0] % 5) ADD_FAILURE() << "result";
        if (e.args[0] <= last_foreign) ADD_FAILURE() << "out of order: " << e.args[0];
        last_foreign = e.args[0];
      }
    }
    return foreign;
  };
  std::thread reader([&] {
    while (!stop.load()) {
      check(state.snapshot());
      reads.fetch_add(1);
    }
  });
  std::thread other([&] {
    for (int i = 0; i < kForeign; ++i) {
      const std::uint64_t ticket = ring.push_foreign(TraceOp::kDeregister, nullptr, 0, -1, i, 0);
      ASSERT_NE(ticket, 0u);
      ring.set_arg_foreign(ticket, 1, 7 * i + 1);
      ring.finish_foreign(ticket, i % 5);
      foreign_done.store(i + 1);
    }
  });
  auto own = [&](int k) {
    detail::TraceSlot* s = ring.push(TraceOp::kAllReduce, dev(), dev(), static_cast<std::size_t>(k),
                                     0, 0, -1, nullptr);
    ring.finish(s, 0);
  };
  for (int k = 1; k <= kOwn / 2; ++k) own(k);
  // Some of the other thread's entries land between the halves, and a read happens meanwhile.
  const int read_before = reads.load();
  while (foreign_done.load() == 0 || reads.load() < read_before + 2) std::this_thread::yield();
  for (int k = kOwn / 2 + 1; k <= kOwn; ++k) own(k);
  other.join();
  own(kOwn + 1);  // moves what is left in the inbox into the ring
  stop.store(true);
  reader.join();
  const Trace t = state.snapshot();
  const int foreign = check(t);
  EXPECT_EQ(static_cast<std::uint64_t>(foreign) + ring.inbox_dropped(),
            static_cast<std::uint64_t>(kForeign));
  EXPECT_GT(foreign, 0);
  // Every number from 0 on is taken exactly once: the creation, the owner's, the other thread's.
  ASSERT_EQ(t.records, static_cast<std::uint64_t>(1 + kOwn + 1 + foreign));
  ASSERT_EQ(t.entries.size(), t.records);
  for (std::size_t i = 0; i < t.entries.size(); ++i) EXPECT_EQ(t.entries[i].record, i);
  EXPECT_EQ(t.collectives, static_cast<std::uint64_t>(kOwn + 1));
  // The other thread's entries carry its thread id and the collective number reached.
  const auto first = std::find_if(t.entries.begin(), t.entries.end(),
                                  [](const TraceEntry& e) { return e.op == TraceOp::kDeregister; });
  ASSERT_NE(first, t.entries.end());
  EXPECT_NE(first->thread, t.entries.back().thread);
  EXPECT_LE(first->seq, static_cast<std::uint64_t>(kOwn / 2));  // pushed during the first half
  // It was closed before the second half began, so the owner moved it in among its own.
  const auto second_half = std::find_if(t.entries.begin(), t.entries.end(), [](const auto& e) {
    return e.op == TraceOp::kAllReduce && e.seq == kOwn / 2 + 1;
  });
  ASSERT_NE(second_half, t.entries.end());
  EXPECT_LT(first->record, second_half->record);
}

// Before the owner records again, a dump shows the other thread's entries after the ring's, with
// the numbers they then take; an open entry holds back the ones after it, so the order stays.
TEST(TraceConcurrency, EntriesFromAnotherThreadWaitInOrderForTheOwner) {
  detail::TraceState state;
  state.attach(0, 1, -1, "test", 64, false);
  detail::TraceRing& ring = *state.ring();
  std::uint64_t open = 0, closed = 0;
  std::thread([&] {
    open = ring.push_foreign(TraceOp::kDeregister, nullptr, 0, -1, 1, 0);
    closed = ring.push_foreign(TraceOp::kDeregisterWindow, nullptr, 0, -1, 2, 0);
    ring.finish_foreign(closed, 0);
  }).join();
  Trace t = state.snapshot();
  ASSERT_EQ(t.entries.size(), 3u);  // the creation, then the two waiting
  EXPECT_EQ(t.records, 3u);
  EXPECT_EQ(t.entries[1].op, TraceOp::kDeregister);
  EXPECT_EQ(t.entries[1].record, 1u);
  EXPECT_EQ(t.entries[1].result, kTracePending);
  EXPECT_EQ(t.entries[2].op, TraceOp::kDeregisterWindow);
  EXPECT_EQ(t.entries[2].record, 2u);
  EXPECT_EQ(t.entries[2].result, 0);
  // The owner records: the open entry keeps both waiting; its own entry takes number 1.
  ring.finish(ring.push(TraceOp::kAllReduce, dev(), dev(), 1, 0, 0, -1, nullptr), 0);
  t = state.snapshot();
  ASSERT_EQ(t.entries.size(), 4u);
  EXPECT_EQ(t.entries[1].op, TraceOp::kAllReduce);
  EXPECT_EQ(t.entries[2].record, 2u);
  EXPECT_EQ(t.entries[2].op, TraceOp::kDeregister);
  ring.finish_foreign(open, 6);
  ring.finish(ring.push(TraceOp::kAllReduce, dev(), dev(), 2, 0, 0, -1, nullptr), 0);
  t = state.snapshot();
  ASSERT_EQ(t.entries.size(), 5u);
  EXPECT_EQ(t.entries[2].op, TraceOp::kDeregister);
  EXPECT_EQ(t.entries[2].result, 6);
  EXPECT_EQ(t.entries[3].op, TraceOp::kDeregisterWindow);
  EXPECT_EQ(t.entries[4].op, TraceOp::kAllReduce);
  EXPECT_EQ(t.entries[4].count, 2u);
  for (std::size_t i = 0; i < t.entries.size(); ++i) EXPECT_EQ(t.entries[i].record, i);
  // A full inbox drops its oldest entry; a closing call for a dropped ticket does nothing.
  std::vector<std::uint64_t> tickets;
  for (std::size_t i = 0; i < detail::TraceRing::kInboxSlots + 1; ++i) {
    tickets.push_back(ring.push_foreign(TraceOp::kDeregister, nullptr, 0, -1,
                                        static_cast<std::int64_t>(100 + i), 0));
  }
  EXPECT_EQ(ring.inbox_dropped(), 1u);
  ring.finish_foreign(tickets[0], 3);
  for (std::size_t i = 1; i < tickets.size(); ++i) ring.finish_foreign(tickets[i], 0);
  ring.finish(ring.push(TraceOp::kAllReduce, dev(), dev(), 3, 0, 0, -1, nullptr), 0);
  t = state.snapshot();
  ASSERT_EQ(t.entries.size(), 5u + detail::TraceRing::kInboxSlots + 1);
  EXPECT_EQ(t.entries[5].args[0], 101);  // 100 was dropped
  EXPECT_EQ(t.entries.back().op, TraceOp::kAllReduce);
}

// Handles released on another thread while the owner issues collectives: each release is
// recorded once, with its handle and result, in the order released (run under ThreadSanitizer by
// the tsan preset).
TEST(TraceConcurrency, HandlesReleasedOnAnotherThreadWhileCollectivesRun) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(4, 2, entries(4096));
  constexpr int kHandles = 20;  // fewer than the inbox holds: none can be dropped
  std::vector<Registration> regs;
  std::vector<std::int64_t> handles;
  for (int i = 0; i < kHandles; ++i) {
    regs.push_back(c.register_buffer(dev(0x10000 * (i + 1)), 4096));
    handles.push_back(reinterpret_cast<std::intptr_t>(regs.back().handle()));
  }
  std::atomic<bool> started{false};
  std::thread other([&, r = std::move(regs)]() mutable {
    started.store(true);
    for (auto& reg : r) reg = Registration();  // released here, one by one
  });
  while (!started.load()) std::this_thread::yield();
  for (int k = 1; k <= 2000; ++k) {
    c.all_reduce(dev(), dev(), static_cast<std::size_t>(k), DataType::kFloat32, ReduceOp::kSum,
                 nullptr);
  }
  other.join();
  c.all_reduce(dev(), dev(), 1, DataType::kFloat32, ReduceOp::kSum, nullptr);
  const Trace t = c.trace();
  std::vector<std::int64_t> released;
  for (std::size_t i = 0; i < t.entries.size(); ++i) {
    const TraceEntry& e = t.entries[i];
    EXPECT_EQ(e.record, i);
    if (e.op == TraceOp::kAllReduce && i + 1 < t.entries.size()) {
      EXPECT_EQ(e.count, e.seq);
    }
    if (e.op == TraceOp::kDeregister) {
      released.push_back(e.args[0]);
      EXPECT_EQ(e.result, 0);
    }
  }
  EXPECT_EQ(released, handles);
}

// ---- progress mode's graph launches, with the GPU played by stand-ins ----

namespace {

// What CUDA would say and do: the capture the stream is in, and the host nodes captured (a
// graph's launch runs each of its host nodes once: the test calls them).
struct FakeGpu {
  static inline int status = 0;  // 1: capturing
  static inline unsigned long long capture = 0;
  static inline int host_func_error = 0;
  static inline std::vector<std::pair<void (*)(void*), void*>> host_nodes;
  static inline std::uint64_t words[4] = {0, 0, 0, 0};
  static int write_value(CUstream_st*, std::uint64_t, std::uint64_t, unsigned) { return 0; }
  static int capture_info(CUstream_st*, int* s, unsigned long long* id) {
    *s = status;
    *id = capture;
    return 0;
  }
  static int launch_host_func(CUstream_st*, void (*fn)(void*), void* data) {
    if (host_func_error != 0) return host_func_error;
    host_nodes.emplace_back(fn, data);
    return 0;
  }
  static void launch(std::size_t node, int times) {
    for (int i = 0; i < times; ++i) host_nodes.at(node).first(host_nodes.at(node).second);
  }
  // A recorder in progress mode on these stand-ins.
  static std::unique_ptr<detail::TraceState> recorder(std::uint64_t id) {
    status = 0;
    capture = 0;
    host_func_error = 0;
    host_nodes.clear();
    auto t = std::make_unique<detail::TraceState>();
    t->identity.id = id;
    t->attach(0, 1, 0, "test", 256, false);
    auto p = std::make_unique<detail::TraceProgress>();
    p->host = words;
    p->device = 0x7000;
    p->write_value = write_value;
    p->capture_info = capture_info;
    p->launch_host_func = launch_host_func;
    p->graphs = detail::TraceGraphs::make();
    EXPECT_NE(p->graphs, nullptr);
    t->set_progress(std::move(p));
    return t;
  }
};

void collective(detail::TraceRing& ring, unsigned long long capture) {
  FakeGpu::status = capture != 0 ? 1 : 0;
  FakeGpu::capture = capture;
  ring.finish(ring.push(TraceOp::kAllReduce, dev(), dev(), 4, 0, 0, -1, nullptr), 0);
}

}  // namespace

TEST(TraceProgressGraphs, EachCaptureCountsTheLaunchesOfItsGraph) {
  TempDir dir;
  const auto state = FakeGpu::recorder(0x3000);
  detail::TraceRing& ring = *state->ring();
  collective(ring, 0);  // #1 eager: no graph
  EXPECT_TRUE(FakeGpu::host_nodes.empty());
  for (int i = 0; i < 3; ++i) collective(ring, 7);  // #2..#4 captured into graph 7
  ASSERT_EQ(FakeGpu::host_nodes.size(), 1u);        // one host node, with the first
  collective(ring, 9);                              // #5, #6 into graph 9
  collective(ring, 9);
  FakeGpu::status = 1;
  FakeGpu::capture = 9;
  ring.finish(ring.push(TraceOp::kSend, dev(), nullptr, 4, 0, -1, 1, nullptr), 0);  // no seq
  collective(ring, 7);  // #7: graph 7 again (captures on two streams at once)
  ASSERT_EQ(FakeGpu::host_nodes.size(), 2u);
  FakeGpu::launch(0, 5);  // graph 7 launched 5 times, graph 9 twice
  FakeGpu::launch(1, 2);
  const auto graphs = detail::trace_graphs(*state->progress()->graphs);
  ASSERT_EQ(graphs.size(), 2u);
  EXPECT_EQ(graphs[0].capture_id, 7u);
  EXPECT_EQ(graphs[0].first_seq, 2u);
  EXPECT_EQ(graphs[0].last_seq, 7u);
  EXPECT_EQ(graphs[0].launches, 5u);
  EXPECT_EQ(graphs[1].capture_id, 9u);
  EXPECT_EQ(graphs[1].first_seq, 5u);
  EXPECT_EQ(graphs[1].last_seq, 6u);
  EXPECT_EQ(graphs[1].launches, 2u);
  // The entries say which capture they went into.
  const Trace t = state->snapshot();
  EXPECT_EQ(t.entries[1].captured, TraceCapture::kNo);
  EXPECT_EQ(t.entries[2].captured, TraceCapture::kYes);
  EXPECT_EQ(t.entries[2].capture_id, 7u);
  // The dump's "progress" object lists them.
  const auto files = dump_traces(dir.path().string());
  std::string text;
  for (const auto& f : files) {
    if (f.find(detail::trace_id_text(0x3000)) != std::string::npos) {
      std::ifstream in(f);
      text.assign(std::istreambuf_iterator<char>(in), {});
    }
  }
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["progress"]["graphs"],
            nlohmann::json::parse(R"([{"capture_id": 7, "first_seq": 2, "last_seq": 7,
                                       "launches": 5},
                                      {"capture_id": 9, "first_seq": 5, "last_seq": 6,
                                       "launches": 2}])"));
}

TEST(TraceProgressGraphs, AReusedSlotNeverCountsAnotherGraphsLaunches) {
  const auto state = FakeGpu::recorder(0x3001);
  detail::TraceRing& ring = *state->ring();
  const int slots = detail::TraceGraphs::kSlots;
  for (int c = 0; c <= slots; ++c) collective(ring, 100 + static_cast<unsigned long long>(c));
  ASSERT_EQ(FakeGpu::host_nodes.size(), static_cast<std::size_t>(slots + 1));
  // The oldest capture's slot now holds the newest: the old graph's launches count nowhere.
  FakeGpu::launch(0, 3);
  FakeGpu::launch(static_cast<std::size_t>(slots), 1);
  FakeGpu::launch(1, 4);
  auto graphs = detail::trace_graphs(*state->progress()->graphs);
  ASSERT_EQ(graphs.size(), static_cast<std::size_t>(slots));
  EXPECT_EQ(graphs.front().capture_id, 101u);
  EXPECT_EQ(graphs.front().launches, 4u);
  EXPECT_EQ(graphs.back().capture_id, 100u + static_cast<unsigned>(slots));
  EXPECT_EQ(graphs.back().launches, 1u);
  // A host node CUDA refuses: counted as a failure, and the capture's next collective tries
  // again, counting from there.
  const int failures = state->progress()->failures.load();
  FakeGpu::host_func_error = 700;
  collective(ring, 500);
  EXPECT_EQ(state->progress()->failures.load(), failures + 1);
  FakeGpu::host_func_error = 0;
  collective(ring, 500);
  graphs = detail::trace_graphs(*state->progress()->graphs);
  const auto it = std::find_if(graphs.begin(), graphs.end(),
                               [](const detail::TraceGraph& g) { return g.capture_id == 500; });
  ASSERT_NE(it, graphs.end());
  EXPECT_EQ(it->first_seq, static_cast<std::uint64_t>(slots + 3));
  EXPECT_EQ(it->launches, 0u);
  FakeGpu::launch(FakeGpu::host_nodes.size() - 1, 2);
  graphs = detail::trace_graphs(*state->progress()->graphs);
  EXPECT_EQ(std::find_if(graphs.begin(), graphs.end(),
                         [](const detail::TraceGraph& g) { return g.capture_id == 500; })
                ->launches,
            2u);
}
