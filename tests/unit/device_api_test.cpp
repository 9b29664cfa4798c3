// The device API's host side (NCCL >= 2.29.2) against the recording stand-in: the layout each
// release is asked with (2.29.2's before 2.30.7, 2.30.7's from it), what comes back, the state
// and version rules, and that refused calls reach NCCL zero times.
#include <ncclrt/ncclrt.hpp>

#include "recording.hpp"
#include "test_support.hpp"

using namespace ncclrt;
using ncclrt_test::expect_error;
using ncclrt_test::ScopedEnv;
using namespace ncclrt_test::recording;

namespace {

Record only(const char* lib, const char* fn, const std::function<void()>& body) {
  const auto got = records_of(lib, body);
  EXPECT_EQ(got.size(), 1u) << fn;
  if (got.empty()) return Record{};
  EXPECT_STREQ(got[0].fn, fn);
  return got[0];
}

}  // namespace

TEST(DeviceApi, PropertiesAreAskedWithTheLayoutOfTheLoadedRelease) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(4, 1);
  CommProperties p;
  const Record r =
      only(RECORDING_NCCL_23203, "ncclCommQueryProperties", [&] { p = c.properties(); });
  EXPECT_EQ(r.comm, c.native());
  EXPECT_EQ(r.extra[0], 56);     // size: 2.30.7's layout
  EXPECT_EQ(r.extra[1], 23007);  // version: the newest layout ncclrt declares
  EXPECT_EQ(p.rank, 1);
  EXPECT_EQ(p.size, 4);
  EXPECT_EQ(p.cuda_device, 1);
  EXPECT_EQ(p.nvml_device, 11);
  EXPECT_TRUE(p.device_api_support);
  EXPECT_FALSE(p.multimem_support);
  EXPECT_EQ(p.gin_type, 3);
  EXPECT_EQ(p.lsa_teams, 1);
  EXPECT_EQ(p.host_rma_support, true);
  EXPECT_EQ(p.railed_gin_type, 2);
  EXPECT_EQ(p.layout, (Version{2, 30, 7}));

  Fake old(RECORDING_NCCL_22907);
  Communicator o = old.comm(2, 0);
  const Record q =
      only(RECORDING_NCCL_22907, "ncclCommQueryProperties", [&] { p = o.properties(); });
  EXPECT_EQ(q.extra[0], 40);  // 2.29.2's layout, whose ginType is one byte
  EXPECT_EQ(q.extra[1], 22902);
  EXPECT_EQ(p.gin_type, 3);
  EXPECT_EQ(p.lsa_teams, std::nullopt);
  EXPECT_EQ(p.host_rma_support, std::nullopt);
  EXPECT_EQ(p.layout, (Version{2, 29, 2}));
}

TEST(DeviceApi, ADeviceCommunicatorIsMadeReadAndDestroyedOnce) {
  for (const bool newest : {true, false}) {
    const char* lib = newest ? RECORDING_NCCL_23203 : RECORDING_NCCL_22907;
    SCOPED_TRACE(lib);
    Fake f(lib);
    Communicator c = f.comm(4, 3);
    DevComm d;
    const auto made = records_of(lib, [&] { d = c.create_dev_comm(); });
    ASSERT_EQ(made.size(), 2u);
    EXPECT_STREQ(made[0].fn, "ncclCommQueryProperties");  // device-API support checked first
    const Record& r = made[1];
    EXPECT_STREQ(r.fn, "ncclDevCommCreate");
    EXPECT_EQ(r.comm, c.native());
    EXPECT_EQ(r.recv, d.data());              // NCCL writes into the handle's own memory
    EXPECT_EQ(r.extra[0], newest ? 96 : 72);  // the requirements' size
    EXPECT_EQ(r.extra[1], newest ? 23007 : 22902);
    EXPECT_EQ(r.extra[2], 4);  // ginContextCount: NCCL's initializer
    EXPECT_EQ(r.extra[3], 0);
    EXPECT_EQ(r.extra[4], newest ? ncclrt::abi::kConfigUndefInt : -1);  // ginTrafficClass unset
    EXPECT_EQ(r.extra[5], newest ? 1 : -1);                             // ginVaSignalsRequired
    EXPECT_TRUE(d.valid());
    EXPECT_EQ(d.rank(), 3);
    EXPECT_EQ(d.size(), 4);
    EXPECT_EQ(d.lsa_rank(), 3);
    EXPECT_EQ(d.lsa_size(), 4);
    EXPECT_EQ(d.bytes(), newest ? 240u : 200u);
    EXPECT_EQ(d.layout(), newest ? (Version{2, 30, 7}) : (Version{2, 29, 2}));
    const void* where = d.data();
    DevComm moved = std::move(d);
    EXPECT_FALSE(d.valid());
    EXPECT_EQ(moved.data(), where);
    const Record gone = only(lib, "ncclDevCommDestroy", [&] { moved.destroy(); });
    EXPECT_EQ(gone.send, where);
    EXPECT_FALSE(moved.valid());
    expect_error<UsageError>([&] { moved.destroy(); }, {"DevComm::destroy", "empty"});
    expect_error<UsageError>([&] { (void)moved.rank(); }, {"DevComm::rank", "empty"});
    // The destructor destroys one that is still live, once.
    const auto at_end = records_of(lib, [&] { DevComm e = c.create_dev_comm(); });
    ASSERT_EQ(at_end.size(), 3u);
    EXPECT_STREQ(at_end[2].fn, "ncclDevCommDestroy");
  }
}

TEST(DeviceApi, RequirementsArePassedAndRefusedWhereTheLayoutLacksThem) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(2, 0);
  DevCommRequirements q;
  q.barrier_count = 7;
  q.gin_context_count = 2;
  q.gin_traffic_class = 5;
  q.gin_va_signals_required = false;
  DevComm d;
  const auto made = records_of(RECORDING_NCCL_23203, [&] { d = c.create_dev_comm(q); });
  ASSERT_EQ(made.size(), 2u);
  EXPECT_EQ(made[1].extra[2], 2);
  EXPECT_EQ(made[1].extra[3], 7);
  EXPECT_EQ(made[1].extra[4], 5);
  EXPECT_EQ(made[1].extra[5], 0);

  Fake old(RECORDING_NCCL_22907);
  Communicator o = old.comm(2, 0);
  rejected<UnsupportedError>(old, [&] { (void)o.create_dev_comm(q); },
                             {"create_dev_comm", "2.30.7", "2.29.7"});
  DevCommRequirements bad;
  bad.lsa_barrier_count = -1;
  rejected<UsageError>(f, [&] { (void)c.create_dev_comm(bad); }, {"create_dev_comm", "negative"});
}

TEST(DeviceApi, RefusedWithoutDeviceApiSupportInAGroupAndOnOlderReleases) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(2, 0);
  {
    ScopedEnv no("FAKE_NO_DEVICE_API", "1");
    const auto got = records_of(RECORDING_NCCL_23203, [&] {
      expect_error<UnsupportedError>([&] { (void)c.create_dev_comm(); },
                                     {"device API", "deviceApiSupport = 0", "NCCL_CUMEM_ENABLE"});
    });
    ASSERT_EQ(got.size(), 1u);  // the properties only: nothing was made
    EXPECT_STREQ(got[0].fn, "ncclCommQueryProperties");
  }
  {
    Group g(*f.lib);
    rejected<UsageError>(f, [&] { (void)c.create_dev_comm(); }, {"create_dev_comm", "group"});
  }
  Fake old(RECORDING_NCCL_22809);
  Communicator o = old.comm(2, 0);
  rejected<UnsupportedError>(old, [&] { (void)o.properties(); },
                             {"ncclCommQueryProperties", "2.29.2", "2.28.9"});
  rejected<UnsupportedError>(old, [&] { (void)o.create_dev_comm(); },
                             {"ncclDevCommCreate", "2.29.2", "2.28.9"});
  c.destroy();
  rejected<UsageError>(f, [&] { (void)c.properties(); }, {"properties"});
}

TEST(DeviceApi, ADeviceCommunicatorOutlivedByNothingItsCommunicatorTookWithIt) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(2, 1);
  DevComm d = c.create_dev_comm();
  c.abort();  // NCCL frees the device communicator with it
  const auto after = records_of(RECORDING_NCCL_23203, [&] { d.destroy(); });
  EXPECT_TRUE(after.empty()) << "ncclDevCommDestroy reached a communicator that was aborted";
  EXPECT_FALSE(d.valid());
}

TEST(DeviceApi, WindowAddressesComeFromNcclForTheRankAsked) {
  Fake f(RECORDING_NCCL_23203);
  Communicator c = f.comm(4, 0);
  Window w = c.register_window(dev(0x90000), 1 << 20, WindowFlags::kCollSymmetric);
  const Record l = only(RECORDING_NCCL_23203, "ncclGetLsaDevicePointer", [&] {
    EXPECT_EQ(w.lsa_pointer(64, 2), reinterpret_cast<void*>(0x90000 + 64 + 2 * 0x100000));
  });
  EXPECT_EQ(l.send, static_cast<const void*>(w.native()));
  EXPECT_EQ(l.count, 64u);
  EXPECT_EQ(l.root, 2);
  EXPECT_EQ(w.peer_pointer(8, 3), reinterpret_cast<void*>(0x90000 + 8 + 3 * 0x100000));
  EXPECT_EQ(w.lsa_multimem_pointer(16), reinterpret_cast<void*>(0x90000 + 16 + 0x40000000ull));
  EXPECT_EQ(w.multimem_pointer(16, reinterpret_cast<void*>(0x1000)),
            reinterpret_cast<void*>(0x90000 + 16 + 0x1000 + 0x40000000ull));
  // NCCL's refusal is an NcclError; bad arguments and an empty window never reach NCCL.
  try {
    (void)w.lsa_pointer(0, -1);
    ADD_FAILURE() << "no error";
  } catch (const NcclError& e) {
    EXPECT_EQ(static_cast<int>(e.result()), static_cast<int>(ncclrt::abi::ncclInvalidArgument));
    EXPECT_NE(std::string(e.what()).find("ncclGetLsaDevicePointer"), std::string::npos);
  }
  rejected<UsageError>(f, [&] { (void)w.multimem_pointer(0, nullptr); }, {"multimem_base"});
  Window empty;
  rejected<UsageError>(f, [&] { (void)empty.peer_pointer(0, 0); }, {"peer_pointer", "empty"});
  c.destroy();
  rejected<UsageError>(f, [&] { (void)w.lsa_pointer(0, 0); }, {"destroyed or aborted"});

  Fake old(RECORDING_NCCL_22809);
  Communicator o = old.comm(2, 0);
  Window ow = o.register_window(dev(0x90000), 4096);
  rejected<UnsupportedError>(old, [&] { (void)ow.lsa_pointer(0, 0); },
                             {"ncclGetLsaDevicePointer", "2.29.2"});
}
