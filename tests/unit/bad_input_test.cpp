// The bad-input matrix: every case must throw the right error type with the key words of its
// message, reach NCCL not at all (the recording stand-in counts calls), leave no communicator
// behind, and leave the process able to go on. The command's bad flags are in tool_test.cpp.
#include <dlfcn.h>

#include <climits>
#include <fstream>
#include <map>
#include <ncclrt/ncclrt.hpp>

#include "test_support.hpp"

using namespace ncclrt;

namespace {

enum class Kind { kUsage, kUnsupported, kLoad, kTimeout };

struct Counters {
  int (*calls)();
  int (*live)();
  explicit Counters(const char* path) {
    (void)Library::open(path);
    void* h = ::dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    calls = reinterpret_cast<int (*)()>(::dlsym(h, "fake_calls"));
    live = reinterpret_cast<int (*)()>(::dlsym(h, "fake_live_comms"));
  }
};

struct Ctx {
  std::shared_ptr<const Library> lib(const char* path = RECORDING_NCCL_22809) {
    return Library::open(path);
  }
  Communicator comm(const char* path = RECORDING_NCCL_22809, int n = 4, int r = 1) {
    auto l = lib(path);
    return Communicator::init_rank(l, n, r, l->unique_id());
  }
  ncclrt_test::TempDir dir;
};

float* dev() { return reinterpret_cast<float*>(0x1000); }
constexpr auto f32 = DataType::kFloat32;
constexpr auto kSum = ReduceOp::kSum;

struct Case {
  std::string name;
  Kind kind;
  std::vector<const char*> words;
  std::function<void(Ctx&)> run;
  int setup_calls = 0;  // good calls the case makes before the bad one
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::string env_parse(const std::map<std::string, std::string>& env) {
  auto info = parse_launch_environment([&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  return info.comm_id;
}

std::vector<Case> cases() {
  return {
      // ---- paths of every odd kind ----
      {"path_missing",
       Kind::kLoad,
       {"no such file"},
       [](Ctx&) { (void)Library::open("/no/such/libnccl.so.2"); }},
      {"path_directory",
       Kind::kLoad,
       {"not a regular file"},
       [](Ctx& c) { (void)Library::open(c.dir.path().string()); }},
      {"path_empty_file",
       Kind::kLoad,
       {"too short"},
       [](Ctx& c) {
         auto p = c.dir.path() / "empty.so";
         std::ofstream(p).close();
         (void)Library::open(p.string());
       }},
      {"path_not_nccl",
       Kind::kLoad,
       {"not NCCL", "ncclGetVersion"},
       [](Ctx&) { (void)Library::open("/lib/x86_64-linux-gnu/libm.so.6"); }},
      {"path_text_file",
       Kind::kLoad,
       {"dynamic loader refused"},
       [](Ctx& c) {
         auto p = c.dir.path() / "text.so";
         std::ofstream(p) << "not an ELF file\n";
         (void)Library::open(p.string());
       }},
      {"path_trailing_slash",
       Kind::kLoad,
       {"no such file"},
       [](Ctx&) { (void)Library::open(std::string(FAKE_NCCL_OLD) + "/"); }},
      {"path_too_long",
       Kind::kLoad,
       {"no such file"},
       [](Ctx&) { (void)Library::open("/" + std::string(PATH_MAX + 10, 'x')); }},
      {"path_symlink_loop",
       Kind::kLoad,
       {"no such file", "symbolic links"},
       [](Ctx& c) {
         auto a = c.dir.path() / "a.so", b = c.dir.path() / "b.so";
         std::filesystem::create_symlink(b, a);
         std::filesystem::create_symlink(a, b);
         (void)Library::open(a.string());
       }},
      {"path_bare_name_unknown",
       Kind::kLoad,
       {"dynamic loader refused", "libdoesnotexist"},
       [](Ctx&) { (void)Library::open("libdoesnotexist.so.7"); }},
      {"path_crashing_initialiser",
       Kind::kLoad,
       {"signal 11"},
       [](Ctx&) { (void)Library::open(FAKE_NCCL_CRASH); }},
      {"path_exiting_initialiser",
       Kind::kLoad,
       {"exit with status 3"},
       [](Ctx&) { (void)Library::open(FAKE_NCCL_EXIT); }},
      {"path_hanging_initialiser",
       Kind::kLoad,
       {"deadline"},
       [](Ctx&) {
         LoadOptions o;
         o.path = FAKE_NCCL_HANG;
         o.probe_timeout = std::chrono::milliseconds(200);
         (void)Library::open(o);
       }},
      {"path_missing_required",
       Kind::kLoad,
       {"ncclAllReduce", "ncclBcast"},
       [](Ctx&) { (void)Library::open(FAKE_NCCL_NO_REQUIRED); }},
      {"path_claims_missing",
       Kind::kLoad,
       {"ncclCommShrink", "NCCLRT_ALLOW_MISSING_FUNCTIONS"},
       [](Ctx&) { (void)Library::open(FAKE_NCCL_CLAIMS); }},
      // ---- environment values ----
      {"env_lib_garbage",
       Kind::kLoad,
       {"$NCCLRT_NCCL_LIB", "::garbage::"},
       [](Ctx&) {
         ncclrt_test::ScopedEnv e("NCCLRT_NCCL_LIB", "::garbage::");
         (void)Library::open();
       }},
      {"env_rank_not_a_number",
       Kind::kUsage,
       {"RANK='two'"},
       [](Ctx&) {
         env_parse(
             {{"RANK", "two"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "0"}, {"NCCL_COMM_ID", "h:1"}});
       }},
      {"env_rank_too_large",
       Kind::kUsage,
       {"RANK='4'", "0 to 3"},
       [](Ctx&) {
         env_parse(
             {{"RANK", "4"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "0"}, {"NCCL_COMM_ID", "h:1"}});
       }},
      {"env_world_size_zero",
       Kind::kUsage,
       {"WORLD_SIZE='0'"},
       [](Ctx&) {
         env_parse(
             {{"RANK", "0"}, {"WORLD_SIZE", "0"}, {"LOCAL_RANK", "0"}, {"NCCL_COMM_ID", "h:1"}});
       }},
      {"env_slurm_missing_localid",
       Kind::kUsage,
       {"SLURM_LOCALID is not set"},
       [](Ctx&) {
         env_parse({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"NCCL_COMM_ID", "h:1"}});
       }},
      {"env_comm_id_no_port",
       Kind::kUsage,
       {"not a host:port"},
       [](Ctx&) {
         env_parse(
             {{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"LOCAL_RANK", "0"}, {"NCCL_COMM_ID", "host"}});
       }},
      {"env_master_port_garbage",
       Kind::kUsage,
       {"MASTER_PORT='99999'"},
       [](Ctx&) {
         env_parse({{"RANK", "0"},
                    {"WORLD_SIZE", "1"},
                    {"LOCAL_RANK", "0"},
                    {"MASTER_ADDR", "h"},
                    {"MASTER_PORT", "99999"}});
       }},
      // ---- ids ----
      {"id_empty_text", Kind::kUsage, {"got 0"}, [](Ctx&) { (void)UniqueId::from_hex(""); }},
      {"id_one_short",
       Kind::kUsage,
       {"got 255"},
       [](Ctx&) { (void)UniqueId::from_hex(std::string(255, 'a')); }},
      {"id_not_hex",
       Kind::kUsage,
       {"hex digits only"},
       [](Ctx&) { (void)UniqueId::from_hex(std::string(255, 'a') + "z"); }},
      {"id_all_zero",
       Kind::kUsage,
       {"all zeros"},
       [](Ctx& c) { (void)Communicator::init_rank(c.lib(), 2, 0, UniqueId()); }},
      // ---- ranks ----
      {"nranks_zero",
       Kind::kUsage,
       {"nranks must be >= 1"},
       [](Ctx& c) { (void)Communicator::init_rank(c.lib(), 0, 0, c.lib()->unique_id()); }},
      {"rank_negative",
       Kind::kUsage,
       {"rank -1"},
       [](Ctx& c) { (void)Communicator::init_rank(c.lib(), 2, -1, c.lib()->unique_id()); }},
      {"rank_equals_nranks",
       Kind::kUsage,
       {"rank 2 is outside 0..1"},
       [](Ctx& c) { (void)Communicator::init_rank(c.lib(), 2, 2, c.lib()->unique_id()); }},
      {"root_out_of_range",
       Kind::kUsage,
       {"root 9"},
       [](Ctx& c) { c.comm().broadcast(dev(), dev(), 4, f32, 9, nullptr); }},
      {"peer_out_of_range",
       Kind::kUsage,
       {"peer -1"},
       [](Ctx& c) { c.comm().send(dev(), 4, f32, -1, nullptr); }},
      {"init_all_negative_device",
       Kind::kUsage,
       {"negative"},
       [](Ctx& c) { (void)Communicator::init_all(c.lib(), {-3}); }},
      // ---- sizes and buffers ----
      {"count_overflows_bytes",
       Kind::kUsage,
       {"overflow"},
       [](Ctx& c) { c.comm().all_reduce(dev(), dev(), SIZE_MAX / 2, f32, kSum, nullptr); }},
      {"null_send_buffer",
       Kind::kUsage,
       {"send buffer is null"},
       [](Ctx& c) { c.comm().all_reduce(nullptr, dev(), 4, f32, kSum, nullptr); }},
      {"null_recv_buffer_on_root",
       Kind::kUsage,
       {"recv buffer is null"},
       [](Ctx& c) { c.comm().reduce(dev(), nullptr, 4, f32, kSum, 1, nullptr); }},
      {"all_gather_total_overflows",
       Kind::kUsage,
       {"overflow"},
       [](Ctx& c) { c.comm().all_gather(dev(), dev(), SIZE_MAX / 8, f32, nullptr); }},
      {"gatherv_counts_per_rank",
       Kind::kUsage,
       {"one entry per rank"},
       [](Ctx& c) { c.comm().all_gatherv(dev(), 1, dev(), {1}, {0}, f32, nullptr); }},
      {"scatterv_displacement_overflows",
       Kind::kUsage,
       {"overflows"},
       [](Ctx& c) {
         c.comm().reduce_scatterv(dev(), dev(), {1, 1, 1, 1}, {0, SIZE_MAX, 2, 3}, f32, kSum,
                                  nullptr);
       }},
      // ---- types and ops per version ----
      {"bfloat16_before_2_10",
       Kind::kUnsupported,
       {"bfloat16", "2.10.0"},
       [](Ctx& c) {
         c.comm(RECORDING_NCCL_20906)
             .all_reduce(dev(), dev(), 4, DataType::kBfloat16, kSum, nullptr);
       }},
      {"fp8_before_2_24",
       Kind::kUnsupported,
       {"fp8", "2.24.0"},
       [](Ctx& c) {
         c.comm(RECORDING_NCCL_21703)
             .all_reduce(dev(), dev(), 4, DataType::kFloat8e4m3, kSum, nullptr);
       }},
      {"avg_before_2_10",
       Kind::kUnsupported,
       {"avg"},
       [](Ctx& c) {
         c.comm(RECORDING_NCCL_20906).all_reduce(dev(), dev(), 4, f32, ReduceOp::kAvg, nullptr);
       }},
      {"type_not_a_type",
       Kind::kUsage,
       {"not an NCCL data type"},
       [](Ctx& c) {
         c.comm().all_reduce(dev(), dev(), 4, static_cast<DataType>(12), kSum, nullptr);
       }},
      {"op_negative",
       Kind::kUsage,
       {"not a reduce op"},
       [](Ctx& c) {
         c.comm().all_reduce(dev(), dev(), 4, f32, static_cast<ReduceOp>(-1), nullptr);
       }},
      // ---- configs ----
      {"config_field_too_new",
       Kind::kUnsupported,
       {"Config::traffic_class", "2.26.0"},
       [](Ctx& c) {
         Config cf;
         cf.traffic_class = 1;
         auto l = c.lib(RECORDING_NCCL_21703);
         (void)Communicator::init_rank(l, 2, 0, l->unique_id(), cf);
       }},
      {"config_before_2_14",
       Kind::kUnsupported,
       {"ncclCommInitRankConfig needs NCCL >= 2.14.0"},
       [](Ctx& c) {
         Config cf;
         cf.min_ctas = 4;
         auto l = c.lib(RECORDING_NCCL_21203);
         (void)Communicator::init_rank(l, 2, 0, l->unique_id(), cf);
       }},
      {"config_timeout_but_blocking",
       Kind::kUsage,
       {"needs a nonblocking creation"},
       [](Ctx& c) {
         Config cf;
         cf.timeout = std::chrono::seconds(1);
         cf.blocking = true;
         auto l = c.lib();
         (void)Communicator::init_rank(l, 2, 0, l->unique_id(), cf);
       }},
      // ---- communicator states ----
      {"moved_from",
       Kind::kUsage,
       {"moved-from"},
       [](Ctx& c) {
         Communicator a = c.comm();
         Communicator b = std::move(a);
         a.all_reduce(dev(), dev(), 4, f32, kSum, nullptr);
       }},
      {"destroyed",
       Kind::kUsage,
       {"destroyed communicator"},
       [](Ctx& c) {
         Communicator a = c.comm();
         a.destroy();
         a.all_gather(dev(), dev(), 4, f32, nullptr);
       }},
      {"double_destroy",
       Kind::kUsage,
       {"destroy on a destroyed"},
       [](Ctx& c) {
         Communicator a = c.comm();
         a.destroy();
         a.destroy();
       }},
      {"aborted",
       Kind::kUsage,
       {"aborted communicator"},
       [](Ctx& c) {
         Communicator a = c.comm();
         a.abort();
         a.recv(dev(), 4, f32, 0, nullptr);
       }},
      {"finalized_then_used",
       Kind::kUsage,
       {"finalized communicator"},
       [](Ctx& c) {
         Communicator a = c.comm();
         a.finalize();
         a.reduce_scatter(dev(), dev(), 4, f32, kSum, nullptr);
       },
       1},
      {"empty_from_split",
       Kind::kUsage,
       {"empty communicator"},
       [](Ctx& c) { c.comm().split(kSplitNoColor, 0).rank(); }},
      // ---- handles ----
      {"register_null",
       Kind::kUsage,
       {"non-null buffer"},
       [](Ctx& c) { (void)c.comm().register_buffer(nullptr, 8); }},
      {"window_bad_flags",
       Kind::kUsage,
       {"unknown flags"},
       [](Ctx& c) { (void)c.comm().register_window(dev(), 8, static_cast<WindowFlags>(99)); }},
      {"premul_null_scalar",
       Kind::kUsage,
       {"scalar pointer is null"},
       [](Ctx& c) { (void)c.comm().create_pre_mul_sum(nullptr, f32, ScalarResidence::kDevice); }},
      {"shrink_empty", Kind::kUsage, {"empty"}, [](Ctx& c) { (void)c.comm().shrink({}); }},
      {"shrink_everyone",
       Kind::kUsage,
       {"leaves none"},
       [](Ctx& c) {
         (void)c.comm().shrink({0, 1, 2, 3});
       }},
      {"split_bad_color",
       Kind::kUsage,
       {"color must be >= 0"},
       [](Ctx& c) { (void)c.comm().split(-7, 0); }},
      {"mem_alloc_zero",
       Kind::kUsage,
       {"size is zero"},
       [](Ctx& c) { (void)NcclMemory::allocate(c.lib(), 0); }},
      {"group_end_twice",
       Kind::kUsage,
       {"called twice"},
       [](Ctx& c) {
         auto l = c.lib();
         Group g(*l);
         g.end();
         g.end();
       },
       2},
      {"watch_without_watchdog",
       Kind::kUsage,
       {"Watchdog::enable"},
       [](Ctx& c) {
         Watchdog::disable();
         c.comm().watch(nullptr, std::chrono::seconds(1));
       }},
  };
}

class BadInput : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(BadInput, ClearErrorNothingReachesNcclNothingLeaks) {
  const Case& k = GetParam();
  Counters counters(RECORDING_NCCL_22809);
  Ctx ctx;
  ctx.comm();  // warm: stand-ins loaded, a communicator made and released
  const int calls = counters.calls(), live = counters.live();
  std::string what;
  bool right_type = false;
  try {
    k.run(ctx);
  } catch (const UsageError& e) {
    right_type = k.kind == Kind::kUsage;
    what = e.what();
  } catch (const UnsupportedError& e) {
    right_type = k.kind == Kind::kUnsupported;
    what = e.what();
  } catch (const LoadError& e) {
    right_type = k.kind == Kind::kLoad;
    what = e.what();
  } catch (const TimeoutError& e) {
    right_type = k.kind == Kind::kTimeout;
    what = e.what();
  } catch (const std::exception& e) {
    what = std::string("other exception: ") + e.what();
  }
  EXPECT_TRUE(right_type) << what;
  for (const char* w : k.words) EXPECT_NE(what.find(w), std::string::npos) << w << " in: " << what;
  EXPECT_EQ(counters.calls(), calls + k.setup_calls) << "a rejected call reached NCCL";
  EXPECT_EQ(counters.live(), live) << "a communicator was left behind";
  // The process goes on: a good call works.
  Communicator ok = ctx.comm();
  ok.all_reduce(dev(), dev(), 4, f32, kSum, nullptr);
  EXPECT_EQ(counters.calls(), calls + k.setup_calls + 1);
}

INSTANTIATE_TEST_SUITE_P(Matrix, BadInput, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return p.param.name; });

// One vocabulary of type and op names for the command and Python, from the library.
TEST(Names, TypesAndOpsInEveryVocabulary) {
  using ncclrt::DataType;
  using ncclrt::ReduceOp;
  EXPECT_EQ(ncclrt::data_type_named("float32"), DataType::kFloat32);
  EXPECT_EQ(ncclrt::data_type_named("float"), DataType::kFloat32);
  EXPECT_EQ(ncclrt::data_type_named("half"), DataType::kFloat16);
  EXPECT_EQ(ncclrt::data_type_named("double"), DataType::kFloat64);
  EXPECT_EQ(ncclrt::data_type_named("int"), DataType::kInt32);
  EXPECT_EQ(ncclrt::data_type_named("float8_e4m3fn"), DataType::kFloat8e4m3);
  EXPECT_EQ(ncclrt::data_type_named("f8e5m2"), DataType::kFloat8e5m2);
  // Every type's own name reads back as itself.
  for (int t = 0; t < ncclrt::kNumDataTypes; ++t) {
    EXPECT_EQ(ncclrt::data_type_named(ncclrt::to_string(static_cast<DataType>(t))),
              static_cast<DataType>(t));
  }
  EXPECT_FALSE(ncclrt::data_type_named("quad"));
  EXPECT_FALSE(ncclrt::data_type_named(""));
  EXPECT_EQ(ncclrt::reduce_op_named("sum"), ReduceOp::kSum);
  EXPECT_EQ(ncclrt::reduce_op_named("SUM"), ReduceOp::kSum);
  EXPECT_EQ(ncclrt::reduce_op_named("Avg"), ReduceOp::kAvg);
  EXPECT_FALSE(ncclrt::reduce_op_named("xor"));
  EXPECT_FALSE(ncclrt::reduce_op_named("summation"));
}
