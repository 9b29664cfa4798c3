// Communicators on the CPU: the real NCCL failing without a GPU, and a recording stand-in that
// makes communicators without one, to show argument checks (nothing reaches NCCL), config sizing
// per release, the grouped fallbacks, state rules and that nothing leaks.
#include <dlfcn.h>

#include <climits>
#include <cstdio>
#include <functional>
#include <ncclrt/ncclrt.hpp>
#include <sstream>
#include <vector>

#include "config.hpp"  // detail::make_config, not part of the installed API (src/)
#include "recording.hpp"
#include "test_support.hpp"

using namespace ncclrt;
using ncclrt_test::expect_error;
using ncclrt_test::ScopedEnv;
using namespace ncclrt_test::recording;

TEST(CommunicatorRealNccl, InitWithoutGpuFailsWithNcclsText) {
  NCCLRT_NEED_REAL_NCCL();
  auto lib = Library::open(ncclrt_test::real_nccl());
  if (ncclrt_test::gpu_count() > 0) {  // the other outcome: a working communicator of one
    Communicator c = Communicator::init_rank(lib, 1, 0, lib->unique_id());
    EXPECT_EQ(c.rank(), 0);
    EXPECT_EQ(c.size(), 1);
    c.destroy();
    return;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      (void)Communicator::init_rank(lib, 1, 0, lib->unique_id());
      ADD_FAILURE() << "init succeeded on a machine without a GPU";
    } catch (const NcclError& e) {
      EXPECT_EQ(e.result(), Result::kUnhandledCudaError);
      EXPECT_NE(e.result_string().find("unhandled cuda error"), std::string::npos);
      EXPECT_FALSE(e.last_error().empty());
      EXPECT_EQ(e.call(), "ncclCommInitRank");
      EXPECT_EQ(e.version(), ncclrt_test::real_nccl_version());
      const std::string what = e.what();
      for (const char* w : {"ncclCommInitRank failed", "rank 0 of 1", "unhandled cuda error",
                            "NCCL's last error", "Try:"}) {
        EXPECT_NE(what.find(w), std::string::npos) << w << " missing in: " << what;
      }
      // What to try names what ncclrt knows: no driver, rather than NCCL's "driver version is
      // insufficient".
      if (::dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD) == nullptr &&
          ::dlopen("libcuda.so.1", RTLD_NOW) == nullptr) {
        EXPECT_NE(what.find("Try: run on a machine with an NVIDIA GPU and its driver; here: no "
                            "CUDA driver (libcuda.so.1 could not be loaded)"),
                  std::string::npos)
            << what;
      }
    }
  }
  // The process goes on: the library still works.
  EXPECT_NE(lib->unique_id(), UniqueId());
}

TEST(CommunicatorRealNccl, InitWithConfigAndTimeoutFailsCleanly) {
  NCCLRT_NEED_REAL_NCCL();
  auto lib = Library::open(ncclrt_test::real_nccl());
  Config c;
  c.timeout = std::chrono::milliseconds(2000);
  c.comm_name = "cpu-test";
  if (ncclrt_test::gpu_count() > 0) {  // the other outcome: created within its deadline
    Communicator comm = Communicator::init_rank(lib, 1, 0, lib->unique_id(), c);
    EXPECT_EQ(comm.size(), 1);
    comm.destroy();
    return;
  }
  expect_error<NcclError>([&] { (void)Communicator::init_rank(lib, 1, 0, lib->unique_id(), c); },
                          {"ncclCommInitRankConfig", "unhandled cuda error"});
}

TEST(CommunicatorArgs, InitRejectsBadArguments) {
  Fake f(RECORDING_NCCL_22809);
  const int live = f.live();
  const UniqueId id = f.lib->unique_id();
  expect_error<UsageError>([&] { (void)Communicator::init_rank(f.lib, 0, 0, id); },
                           {"nranks", ">= 1"});
  expect_error<UsageError>([&] { (void)Communicator::init_rank(f.lib, 2, 2, id); },
                           {"rank 2", "outside 0..1"});
  expect_error<UsageError>([&] { (void)Communicator::init_rank(f.lib, 2, -1, id); }, {"rank -1"});
  expect_error<UsageError>([&] { (void)Communicator::init_rank(f.lib, 2, 0, UniqueId()); },
                           {"all zeros", "unique_id"});
  expect_error<UsageError>([&] { (void)Communicator::init_rank(nullptr, 2, 0, id); },
                           {"no Library"});
  expect_error<UsageError>([&] { (void)Communicator::init_all(f.lib, {}); }, {"empty"});
  expect_error<UsageError>([&] { (void)Communicator::init_all(f.lib, {0, -1}); }, {"negative"});
  EXPECT_EQ(f.live(), live);
}

TEST(CommunicatorArgs, LiveCommunicatorReportsItself) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm(4, 2);
  EXPECT_TRUE(c.valid());
  EXPECT_EQ(c.rank(), 2);
  EXPECT_EQ(c.size(), 4);
  EXPECT_EQ(c.device(), 2);
  EXPECT_EQ(c.library(), f.lib);
  EXPECT_NE(c.native(), nullptr);
}

TEST(CommunicatorArgs, GoodCallsReachNcclOnce) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm();
  const int before = f.calls();
  c.all_reduce(dev(), dev(), 16, DataType::kFloat32, ReduceOp::kSum, nullptr);
  c.all_reduce(dev(), dev(), 16, ReduceOp::kMax, nullptr);  // typed: float
  c.broadcast(dev(), dev(), 16, DataType::kBfloat16, 0, nullptr);
  c.reduce(dev(), nullptr, 16, DataType::kFloat8e4m3, ReduceOp::kSum, 0, nullptr);  // not root
  c.all_gather(dev(), dev(), 16, DataType::kInt64, nullptr);
  c.reduce_scatter(dev(), dev(), 16, DataType::kFloat16, ReduceOp::kAvg, nullptr);
  c.send(dev(), 16, DataType::kUint8, 3, nullptr);
  c.recv(dev(), 16, DataType::kUint8, 0, nullptr);
  c.all_to_all(dev(), dev(), 16, DataType::kInt32, nullptr);
  c.gather(dev(), nullptr, 16, DataType::kInt32, 0, nullptr);
  c.scatter(nullptr, dev(), 16, DataType::kInt32, 0, nullptr);
  c.all_reduce(nullptr, nullptr, 0, DataType::kFloat32, ReduceOp::kSum, nullptr);  // count 0
  EXPECT_EQ(f.calls() - before, 12);
}

TEST(CommunicatorArgs, BadArgumentsNeverReachNccl) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm(4, 2);
  auto f32 = DataType::kFloat32;
  rejected<UsageError>(f, [&] { c.all_reduce(nullptr, dev(), 8, f32, ReduceOp::kSum, nullptr); },
                       {"all_reduce", "send buffer is null", "count of 8", "rank 2 of 4"});
  rejected<UsageError>(f, [&] { c.all_reduce(dev(), nullptr, 8, f32, ReduceOp::kSum, nullptr); },
                       {"recv buffer is null"});
  rejected<UsageError>(
      f, [&] { c.all_reduce(dev(), dev(), SIZE_MAX / 2, f32, ReduceOp::kSum, nullptr); },
      {"overflow a byte size"});
  rejected<UsageError>(f, [&] { c.all_gather(dev(), dev(), SIZE_MAX / 8, f32, nullptr); },
                       {"overflow"});
  rejected<UsageError>(
      f, [&] { c.all_reduce(dev(), dev(), 8, static_cast<DataType>(99), ReduceOp::kSum, nullptr); },
      {"99 is not an NCCL data type"});
  rejected<UsageError>(
      f, [&] { c.all_reduce(dev(), dev(), 8, static_cast<DataType>(-1), ReduceOp::kSum, nullptr); },
      {"not an NCCL data type"});
  rejected<UsageError>(
      f, [&] { c.all_reduce(dev(), dev(), 8, f32, static_cast<ReduceOp>(-3), nullptr); },
      {"-3 is not a reduce op"});
  rejected<UsageError>(f, [&] { c.broadcast(dev(), dev(), 8, f32, 4, nullptr); },
                       {"broadcast", "root 4 is outside 0..3"});
  rejected<UsageError>(f, [&] { c.reduce(dev(), dev(), 8, f32, ReduceOp::kSum, -1, nullptr); },
                       {"root -1"});
  rejected<UsageError>(f, [&] { c.reduce(dev(), nullptr, 8, f32, ReduceOp::kSum, 2, nullptr); },
                       {"recv buffer is null"});
  rejected<UsageError>(f, [&] { c.send(dev(), 8, f32, 7, nullptr); }, {"send", "peer 7"});
  rejected<UsageError>(f, [&] { c.recv(dev(), 8, f32, -2, nullptr); }, {"recv", "peer -2"});
  rejected<UsageError>(f, [&] { c.gather(dev(), nullptr, 8, f32, 2, nullptr); },
                       {"gather", "recv buffer is null"});
  rejected<UsageError>(f, [&] { c.scatter(nullptr, dev(), 8, f32, 2, nullptr); },
                       {"scatter", "send buffer is null"});
  rejected<UsageError>(f, [&] { c.all_to_all(dev(), nullptr, 8, f32, nullptr); },
                       {"all_to_all", "recv buffer is null"});
  rejected<UsageError>(f,
                       [&] {
                         c.all_gatherv(dev(), 8, dev(), {8, 8}, {0, 8}, f32, nullptr);
                       },
                       {"one entry per rank (4)", "got 2 and 2"});
  rejected<UsageError>(f,
                       [&] {
                         c.all_gatherv(dev(), 5, dev(), {8, 8, 8, 8}, {0, 8, 16, 24}, f32, nullptr);
                       },
                       {"send_count 5", "recv_counts[2] = 8"});
  rejected<UsageError>(f,
                       [&] {
                         c.reduce_scatterv(dev(), dev(), {1, 1, 1, 1}, {0, 1, SIZE_MAX - 1, 3}, f32,
                                           ReduceOp::kSum, nullptr);
                       },
                       {"block 2 overflows"});
  rejected<UsageError>(
      f, [&] { (void)c.create_pre_mul_sum(nullptr, f32, ScalarResidence::kHostImmediate); },
      {"scalar pointer is null"});
  rejected<UsageError>(f, [&] { (void)c.register_buffer(nullptr, 64); }, {"non-null buffer"});
  rejected<UsageError>(f, [&] { (void)c.register_window(dev(), 0); }, {"non-zero size"});
  rejected<UsageError>(f, [&] { (void)c.shrink({1}, {}, static_cast<ShrinkMode>(5)); },
                       {"unknown mode 5"});
  rejected<UsageError>(f, [&] { (void)c.register_window(dev(), 64, static_cast<WindowFlags>(7)); },
                       {"unknown flags 7"});
  rejected<UsageError>(f, [&] { (void)c.shrink({9}); }, {"excluded rank 9"});
  rejected<UsageError>(f, [&] { (void)c.shrink({0, 1, 2, 3}); }, {"leaves none"});
  rejected<UsageError>(f, [&] { (void)c.shrink({}); }, {"exclude is empty"});
  rejected<UsageError>(f, [&] { (void)c.shrink({1, 1}); }, {"names a rank twice"});
  rejected<UsageError>(f, [&] { (void)c.split(-5, 0); }, {"color must be >= 0"});
  // Still usable afterwards.
  c.all_reduce(dev(), dev(), 8, f32, ReduceOp::kSum, nullptr);
}

TEST(CommunicatorArgs, TypesAndOpsFollowTheLoadedVersion) {
  Fake old(RECORDING_NCCL_20906);
  Communicator c = old.comm();
  rejected<UnsupportedError>(
      old, [&] { c.all_reduce(dev(), dev(), 8, DataType::kBfloat16, ReduceOp::kSum, nullptr); },
      {"bfloat16", "needs NCCL >= 2.10.0", "loaded 2.9.6"});
  rejected<UnsupportedError>(
      old, [&] { c.all_reduce(dev(), dev(), 8, DataType::kFloat32, ReduceOp::kAvg, nullptr); },
      {"avg", "needs NCCL >= 2.10.0"});
  rejected<UnsupportedError>(
      old, [&] { c.broadcast(dev(), dev(), 8, DataType::kFloat8e5m2, 0, nullptr); },
      {"fp8", "needs NCCL >= 2.24.0", "loaded 2.9.6"});
  Fake mid(RECORDING_NCCL_21703);
  Communicator m = mid.comm();
  m.all_reduce(dev(), dev(), 8, DataType::kBfloat16, ReduceOp::kAvg, nullptr);
  rejected<UnsupportedError>(
      mid, [&] { m.all_reduce(dev(), dev(), 8, DataType::kFloat8e4m3, ReduceOp::kSum, nullptr); },
      {"fp8", "loaded 2.17.3"});
}

TEST(CommunicatorArgs, FunctionsTheLoadedNcclLacks) {
  Fake f(RECORDING_NCCL_21203);
  Communicator c = f.comm();
  rejected<UnsupportedError>(f, [&] { (void)c.split(0, 0); },
                             {"ncclCommSplit needs NCCL >= 2.18.0"});
  rejected<UnsupportedError>(f, [&] { (void)c.shrink({1}); },
                             {"ncclCommShrink needs NCCL >= 2.27.0"});
  rejected<UnsupportedError>(f, [&] { (void)c.register_buffer(dev(), 64); },
                             {"ncclCommRegister needs NCCL >= 2.19.0", "loaded 2.12.3"});
  rejected<UnsupportedError>(f, [&] { (void)c.register_window(dev(), 4096); },
                             {"ncclCommWindowRegister needs NCCL >= 2.27.0"});
  rejected<UnsupportedError>(f, [&] { c.finalize(); }, {"ncclCommFinalize needs NCCL >= 2.14.0"});
  expect_error<UnsupportedError>([&] { (void)NcclMemory::allocate(f.lib, 64); },
                                 {"ncclMemAlloc needs NCCL >= 2.19.0"});
  Config cfg;
  cfg.blocking = false;
  expect_error<UnsupportedError>([&] { f.comm(2, 0, cfg); },
                                 {"ncclCommInitRankConfig needs NCCL >= 2.14.0"});
}

TEST(CommunicatorArgs, GroupedFallbacksBeforeNative) {
  Fake f(RECORDING_NCCL_22605);  // no ncclAlltoAll / ncclGather / ncclScatter
  Communicator c = f.comm(4, 1);
  int before = f.calls();
  c.all_to_all(dev(), dev(), 8, DataType::kFloat32, nullptr);
  EXPECT_EQ(f.calls() - before, 2 + 2 * 4);  // group start/end + a send and a recv per peer
  before = f.calls();
  c.gather(dev(), dev(), 8, DataType::kFloat32, 1, nullptr);  // root: a send + 4 receives
  EXPECT_EQ(f.calls() - before, 2 + 1 + 4);
  before = f.calls();
  c.gather(dev(), nullptr, 8, DataType::kFloat32, 0, nullptr);  // not root: one send
  EXPECT_EQ(f.calls() - before, 2 + 1);
  before = f.calls();
  c.scatter(dev(), dev(), 8, DataType::kFloat32, 1, nullptr);  // root: 4 sends + a receive
  EXPECT_EQ(f.calls() - before, 2 + 4 + 1);
  before = f.calls();
  c.all_gatherv(dev(), 2, dev(), {1, 2, 3, 4}, {0, 1, 3, 6}, DataType::kFloat32, nullptr);
  EXPECT_EQ(f.calls() - before, 2 + 4);  // a broadcast per rank
  before = f.calls();
  c.reduce_scatterv(dev(), dev(), {1, 2, 3, 4}, {0, 1, 3, 6}, DataType::kFloat32, ReduceOp::kSum,
                    nullptr);
  EXPECT_EQ(f.calls() - before, 2 + 4);  // a reduce per rank
  Fake n(RECORDING_NCCL_22809);
  Communicator native = n.comm(4, 1);
  before = n.calls();
  native.all_to_all(dev(), dev(), 8, DataType::kFloat32, nullptr);
  native.gather(dev(), dev(), 8, DataType::kFloat32, 1, nullptr);
  native.scatter(dev(), dev(), 8, DataType::kFloat32, 1, nullptr);
  EXPECT_EQ(n.calls() - before, 3);
}

TEST(CommunicatorArgs, DisabledNativeCallsUseTheGroupedForms) {
  LoadOptions o;
  o.path = RECORDING_NCCL_22809;
  o.disabled_functions = {"ncclScatter", "ncclAlltoAll", "ncclGather", "ncclAlltoAll"};
  Fake f(o);
  EXPECT_NE(f.lib, Library::open(RECORDING_NCCL_22809));  // another Library over the same file
  EXPECT_EQ(Library::open(o), f.lib);
  EXPECT_EQ(f.lib->disabled_functions(),
            (std::vector<std::string>{"ncclAlltoAll", "ncclGather", "ncclScatter"}));
  EXPECT_FALSE(f.lib->has(Function::ncclAlltoAll));
  EXPECT_TRUE(f.lib->has(Function::ncclAllReduce));
  expect_error<UnsupportedError>(
      [&] { f.lib->require(Function::ncclGather); },
      {"ncclGather is turned off", "NCCLRT_DISABLE_FUNCTIONS", "2.28.9"});
  Communicator c = f.comm(4, 1);
  int before = f.calls();
  c.all_to_all(dev(), dev(), 8, DataType::kFloat32, nullptr);
  EXPECT_EQ(f.calls() - before, 2 + 2 * 4);
  before = f.calls();
  c.gather(dev(), dev(), 8, DataType::kFloat32, 1, nullptr);
  EXPECT_EQ(f.calls() - before, 2 + 1 + 4);
  before = f.calls();
  c.scatter(dev(), dev(), 8, DataType::kFloat32, 1, nullptr);
  EXPECT_EQ(f.calls() - before, 2 + 4 + 1);
  {
    ScopedEnv env("NCCLRT_DISABLE_FUNCTIONS", " ncclGather , ncclScatter,");
    auto lib = Library::open(RECORDING_NCCL_22809);
    EXPECT_EQ(lib->disabled_functions(), (std::vector<std::string>{"ncclGather", "ncclScatter"}));
    EXPECT_TRUE(lib->has(Function::ncclAlltoAll));
    ScopedEnv typo("NCCLRT_DISABLE_FUNCTIONS", "ncclAllToAll");
    expect_error<LoadError>([] { (void)Library::open(RECORDING_NCCL_22809); },
                            {"NCCLRT_DISABLE_FUNCTIONS names 'ncclAllToAll'", "Try:"});
    // A typo is answered with the nearest name, not with an example.
    ScopedEnv near("NCCLRT_DISABLE_FUNCTIONS", "ncclAllreduce");
    const std::string m =
        expect_error<LoadError>([] { (void)Library::open(RECORDING_NCCL_22809); },
                                {"'ncclAllreduce'", "did you mean ncclAllReduce?", "Try:"});
    EXPECT_EQ(m.find("ncclAlltoAll"), std::string::npos) << m;
  }
  o.disabled_functions = {"ncclCommInitRank"};
  expect_error<LoadError>([&] { (void)Library::open(o); },
                          {"LoadOptions::disabled_functions", "cannot be turned off"});
}

TEST(CommunicatorConfig, SizedForTheLoadedRelease) {
  struct Case {
    const char* path;
    std::size_t size;
  } cases[] = {{RECORDING_NCCL_21203, 0},
               {RECORDING_NCCL_21703, 40},
               {RECORDING_NCCL_22605, 48},
               {RECORDING_NCCL_22809, 80}};
  for (const auto& k : cases) {
    auto lib = Library::open(k.path);
    const ncclrt::abi::ncclConfig_t cfg = detail::make_config(*lib, {});
    EXPECT_EQ(cfg.size, k.size) << lib->version().str();
    EXPECT_EQ(cfg.magic, ncclrt::abi::kConfigMagic);
    EXPECT_EQ(cfg.version, static_cast<unsigned>(lib->version().code()));
    EXPECT_EQ(cfg.blocking, ncclrt::abi::kConfigUndefInt);
    EXPECT_EQ(cfg.nvlinkCentricSched, ncclrt::abi::kConfigUndefInt);
  }
  EXPECT_EQ(sizeof(ncclrt::abi::ncclConfig_t), 120u);  // the 2.32.3 layout
}

TEST(CommunicatorConfig, PassedToNcclWithItsSize) {
  Fake f(RECORDING_NCCL_21703);
  Config c;
  c.cga_cluster_size = 2;
  c.net_name = "IB";
  Communicator comm = f.comm(2, 0, c);
  EXPECT_EQ(f.config_size(), 40u);
  EXPECT_EQ(f.config_version(), 21703u);
  EXPECT_EQ(f.config_blocking(), ncclrt::abi::kConfigUndefInt);
  Config t;
  t.timeout = std::chrono::seconds(5);
  Communicator timed = f.comm(2, 0, t);
  EXPECT_EQ(f.config_blocking(), 0);  // a deadline makes creation nonblocking
  Config bad = t;
  bad.blocking = true;
  expect_error<UsageError>([&] { f.comm(2, 0, bad); }, {"timeout needs a nonblocking creation"});
}

TEST(CommunicatorConfig, FieldsTheReleaseLacksAreRefused) {
  Fake f(RECORDING_NCCL_21703);
  const int live = f.live();
  Config c;
  c.traffic_class = 3;
  expect_error<UnsupportedError>([&] { f.comm(2, 0, c); },
                                 {"Config::traffic_class needs NCCL >= 2.26.0", "loaded 2.17.3"});
  Config n;
  n.nvlink_centric_sched = true;
  expect_error<UnsupportedError>([&] { f.comm(2, 0, n); },
                                 {"Config::nvlink_centric_sched needs NCCL >= 2.28.0"});
  EXPECT_EQ(f.live(), live);
}

TEST(CommunicatorState, MovedFromDestroyedAbortedFinalized) {
  Fake f(RECORDING_NCCL_22809);
  const int live = f.live();
  Communicator a = f.comm();
  Communicator b = std::move(a);
  EXPECT_FALSE(a.valid());
  expect_error<UsageError>(
      [&] { a.all_reduce(dev(), dev(), 1, DataType::kFloat32, ReduceOp::kSum, nullptr); },
      {"all_reduce on a moved-from communicator"});
  expect_error<UsageError>([&] { a.rank(); }, {"rank on a moved-from"});
  b.destroy();
  expect_error<UsageError>([&] { b.send(dev(), 1, DataType::kFloat32, 0, nullptr); },
                           {"send on a destroyed communicator"});
  expect_error<UsageError>([&] { b.destroy(); }, {"destroy on a destroyed communicator"});
  Communicator c = f.comm();
  c.abort();
  c.abort();  // idempotent
  expect_error<UsageError>([&] { (void)c.split(0, 0); }, {"split on an aborted communicator"});
  Communicator d = f.comm();
  d.finalize();
  expect_error<UsageError>(
      [&] { d.all_reduce(dev(), dev(), 1, DataType::kFloat32, ReduceOp::kSum, nullptr); },
      {"finalized communicator"});
  d.destroy();
  Communicator e;
  expect_error<UsageError>([&] { e.check(); }, {"empty communicator"});
  EXPECT_EQ(f.live(), live);
}

TEST(CommunicatorState, DestructorsReleaseEverything) {
  Fake f(RECORDING_NCCL_22809);
  const int live = f.live();
  {
    Communicator a = f.comm();
    Communicator s = a.split(1, 0);
    Communicator none = a.split(kSplitNoColor, 0);
    EXPECT_FALSE(none.valid());
    expect_error<UsageError>([&] { none.size(); }, {"empty communicator"});
    Communicator k = a.shrink({3});
    EXPECT_EQ(k.size(), 3);
    auto all = Communicator::init_all(f.lib, {0, 1, 2});
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[1].rank(), 1);
    EXPECT_EQ(all[2].size(), 3);
    EXPECT_EQ(f.live(), live + 6);
    Communicator moved;
    moved = std::move(all[0]);  // move-assign over an empty one
    moved = std::move(all[1]);  // over a live one: that one is released
    EXPECT_EQ(f.live(), live + 5);
  }
  EXPECT_EQ(f.live(), live);
}

TEST(CommunicatorHandles, ReleasedWithTheirNcclCallWhileTheCommunicatorLives) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm();
  const float scale = 0.5f;
  int before = f.calls();
  {
    PreMulSum op =
        c.create_pre_mul_sum(&scale, DataType::kFloat32, ScalarResidence::kHostImmediate);
    Registration r = c.register_buffer(dev(), 1024);
    Window w = c.register_window(dev(), 4096, kWinCollSymmetric);
    c.all_reduce(dev(), dev(), 4, DataType::kFloat32, op, nullptr);
    PreMulSum moved = std::move(op);
  }
  // create, register, window, all_reduce, then three releases.
  EXPECT_EQ(f.calls() - before, 7);
  before = f.calls();
  {
    Registration r = c.register_buffer(dev(), 1024);
    Communicator other = std::move(c);
    other.destroy();  // NCCL frees the registration with its communicator
  }
  EXPECT_EQ(f.calls() - before, 1);
}

TEST(CommunicatorGroup, GuardEndsTheGroup) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm(2, 0);
  const int before = f.calls();
  {
    Group g(*f.lib);
    c.send(dev(), 4, DataType::kFloat32, 0, nullptr);
    c.recv(dev(), 4, DataType::kFloat32, 0, nullptr);
    g.end();
    expect_error<UsageError>([&] { g.end(); }, {"called twice"});
  }
  { Group g(*f.lib); }  // the destructor ends it
  EXPECT_EQ(f.calls() - before, 6);
}

TEST(DataTypes, OfCppTypes) {
  static_assert(data_type_of<float>() == DataType::kFloat32);
  static_assert(data_type_of<double>() == DataType::kFloat64);
  static_assert(data_type_of<std::int8_t>() == DataType::kInt8);
  static_assert(data_type_of<std::uint8_t>() == DataType::kUint8);
  static_assert(data_type_of<std::int32_t>() == DataType::kInt32);
  static_assert(data_type_of<std::uint32_t>() == DataType::kUint32);
  static_assert(data_type_of<std::int64_t>() == DataType::kInt64);
  static_assert(data_type_of<const std::uint64_t>() == DataType::kUint64);
  EXPECT_EQ(size_of(DataType::kBfloat16), 2u);
  EXPECT_EQ(size_of(DataType::kFloat8e5m2), 1u);
  EXPECT_EQ(size_of(static_cast<DataType>(42)), 0u);
  EXPECT_STREQ(to_string(DataType::kFloat8e4m3), "float8e4m3");
  EXPECT_STREQ(to_string(ReduceOp::kAvg), "avg");
  EXPECT_STREQ(to_string(static_cast<ReduceOp>(9)), "premulsum");
}

TEST(CommunicatorHandles, PreMulSumOpsAreValidOnlyOnTheirCommunicatorWhileTheyLive) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm();
  Communicator other = f.comm();
  const float scale = 0.5f;
  ReduceOp gone;
  {
    PreMulSum op =
        c.create_pre_mul_sum(&scale, DataType::kFloat32, ScalarResidence::kHostImmediate);
    c.all_reduce(dev(), dev(), 4, DataType::kFloat32, op, nullptr);  // its own: accepted
    rejected<UsageError>(
        f, [&] { other.all_reduce(dev(), dev(), 4, DataType::kFloat32, op, nullptr); },
        {"not a reduce op of this communicator"});
    gone = op;
  }
  rejected<UsageError>(
      f, [&] { c.all_reduce(dev(), dev(), 4, DataType::kFloat32, gone, nullptr); },
      {std::to_string(static_cast<int>(gone)).c_str(), "not a reduce op of this communicator"});
  rejected<UsageError>(f,
                       [&] {
                         c.all_reduce(dev(), dev(), 4, DataType::kFloat32,
                                      static_cast<ReduceOp>(17), nullptr);
                       },
                       {"17", "create_pre_mul_sum"});
}

// Every operation hands NCCL exactly its arguments: buffers, count, type, op, root or peer, the
// communicator and the stream.
TEST(CommunicatorArguments, EveryOperationPassesExactlyItsArguments) {
  Fake f(RECORDING_NCCL_22809);
  Communicator c = f.comm(4, 2);
  void* comm = c.native();
  auto* st = reinterpret_cast<CUstream_st*>(0x5700);
  const void* s = dev(0x1000);
  void* r = dev(0x2000);
  const auto f16 = DataType::kFloat16;
  const int t = static_cast<int>(f16);
  struct Case {
    const char* name;
    std::function<void()> call;
    std::vector<std::string> want;  // str() of each record
  };
  auto rec = [&](const char* fn, const void* send, void* recv, std::size_t n, int type, int op,
                 int root) {
    Record x{};
    std::snprintf(x.fn, sizeof x.fn, "%s", fn);
    x.send = send;
    x.recv = recv;
    x.count = n;
    x.type = type;
    x.op = op;
    x.root = root;
    x.comm = comm;
    x.stream = st;
    return str(x);
  };
  const Case cases[] = {
      {"all_reduce",
       [&] { c.all_reduce(s, r, 7, f16, ReduceOp::kMax, st); },
       {rec("ncclAllReduce", s, r, 7, t, 2, -1)}},
      {"broadcast",
       [&] { c.broadcast(s, r, 7, f16, 3, st); },
       {rec("ncclBroadcast", s, r, 7, t, 0, 3)}},
      {"reduce",
       [&] { c.reduce(s, r, 7, f16, ReduceOp::kMin, 1, st); },
       {rec("ncclReduce", s, r, 7, t, 3, 1)}},
      {"all_gather",
       [&] { c.all_gather(s, r, 7, f16, st); },
       {rec("ncclAllGather", s, r, 7, t, 0, -1)}},
      {"reduce_scatter",
       [&] { c.reduce_scatter(s, r, 7, f16, ReduceOp::kProd, st); },
       {rec("ncclReduceScatter", s, r, 7, t, 1, -1)}},
      {"all_to_all",
       [&] { c.all_to_all(s, r, 7, f16, st); },
       {rec("ncclAlltoAll", s, r, 7, t, 0, -1)}},
      {"gather", [&] { c.gather(s, r, 7, f16, 2, st); }, {rec("ncclGather", s, r, 7, t, 0, 2)}},
      {"scatter", [&] { c.scatter(s, r, 7, f16, 0, st); }, {rec("ncclScatter", s, r, 7, t, 0, 0)}},
      {"send", [&] { c.send(s, 7, f16, 1, st); }, {rec("ncclSend", s, nullptr, 7, t, 0, 1)}},
      {"recv", [&] { c.recv(r, 7, f16, 3, st); }, {rec("ncclRecv", nullptr, r, 7, t, 0, 3)}},
  };
  for (const auto& k : cases) {
    const auto got = records_of(RECORDING_NCCL_22809, k.call);
    std::vector<std::string> seen;
    for (const auto& g : got) seen.push_back(str(g));
    EXPECT_EQ(seen, k.want) << k.name;
  }
  // The v-variants: one grouped broadcast / reduce per rank at its displacement (float16: 2 B).
  const auto gv = records_of(RECORDING_NCCL_22809, [&] {
    c.all_gatherv(s, 3, r, {1, 0, 3, 2}, {0, 1, 1, 4}, f16, st);
  });
  ASSERT_EQ(gv.size(), 6u);
  EXPECT_STREQ(gv[0].fn, "ncclGroupStart");
  EXPECT_STREQ(gv[5].fn, "ncclGroupEnd");
  const std::size_t counts[] = {1, 0, 3, 2}, displs[] = {0, 1, 1, 4};
  for (int k = 0; k < 4; ++k) {
    void* at = static_cast<char*>(r) + displs[k] * 2;
    EXPECT_EQ(str(gv[1 + k]), rec("ncclBroadcast", s, at, counts[k], t, 0, k)) << k;
  }
  const auto rv = records_of(RECORDING_NCCL_22809, [&] {
    c.reduce_scatterv(s, r, {1, 0, 3, 2}, {0, 1, 1, 4}, f16, ReduceOp::kSum, st);
  });
  ASSERT_EQ(rv.size(), 6u);
  for (int k = 0; k < 4; ++k) {
    const void* at = static_cast<const char*>(s) + displs[k] * 2;
    EXPECT_EQ(str(rv[1 + k]), rec("ncclReduce", at, k == 2 ? r : nullptr, counts[k], t, 0, k)) << k;
  }
}
