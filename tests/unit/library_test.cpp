#include <algorithm>
#include <ncclrt/ncclrt.hpp>
#include <sstream>

#include "test_support.hpp"

using namespace ncclrt;
using ncclrt_test::expect_error;

namespace {

const Capability& find_capability(const std::vector<Capability>& caps, const std::string& name) {
  auto it = std::find_if(caps.begin(), caps.end(), [&](auto& c) { return c.name == name; });
  if (it == caps.end()) throw std::runtime_error("no capability " + name);
  return *it;
}

}  // namespace

TEST(RealNccl, OpensAndReadsVersion) {
  NCCLRT_NEED_REAL_NCCL();
  auto lib = Library::open(ncclrt_test::real_nccl());
  EXPECT_EQ(lib->version(), ncclrt_test::real_version());
  EXPECT_EQ(lib->found_by(), Source::kPath);
  EXPECT_NE(lib->path().find("libnccl.so"), std::string::npos);
  EXPECT_EQ(lib->path().front(), '/');
  EXPECT_TRUE(lib->missing_functions().empty());
}

TEST(RealNccl, FeatureListFollowsVersion) {
  NCCLRT_NEED_REAL_NCCL();
  auto lib = Library::open(ncclrt_test::real_nccl());
  const Version v = lib->version();
  for (Function f : {Function::ncclAlltoAll, Function::ncclCommShrink, Function::ncclCommRevoke,
                     Function::ncclCommGrow, Function::ncclAllReduceConfig}) {
    EXPECT_EQ(lib->has(f), v >= since(f)) << name_of(f);
  }
  EXPECT_EQ(lib->has(Feature::bfloat16), v >= since(Feature::bfloat16));
  EXPECT_EQ(lib->has(Feature::fp8), v >= since(Feature::fp8));
  const auto caps = lib->capabilities();
  for (const auto& c : caps) {
    // Everything the table knows up to the loaded release is on; anything newer is off, and
    // says why.
    EXPECT_EQ(c.available, c.since <= v) << c.name;
    EXPECT_EQ(c.why_not.empty(), c.available) << c.name;
  }
  EXPECT_EQ(caps.size(), static_cast<std::size_t>(Function::ncclSetEncryption) + 1 + 3);
  const auto& grow = find_capability(caps, "ncclCommGrow");
  if (v < since(Function::ncclCommGrow)) {
    EXPECT_NE(grow.why_not.find("ncclCommGrow needs NCCL >= 2.29.2; loaded " + v.str()),
              std::string::npos)
        << grow.why_not;
  }
  EXPECT_EQ(lib->raw().ncclSetEncryption == nullptr, v < since(Function::ncclSetEncryption));
}

TEST(RealNccl, ErrorStrings) {
  NCCLRT_NEED_REAL_NCCL();
  auto lib = Library::open(ncclrt_test::real_nccl());
  EXPECT_EQ(lib->error_string(0), "no error");
  EXPECT_NE(lib->error_string(1).find("unhandled cuda error"), std::string::npos);
  EXPECT_NE(lib->error_string(5).find("invalid usage"), std::string::npos);
  EXPECT_NE(lib->error_string(6).find("remote process exited or there was a network error"),
            std::string::npos);
}

TEST(RealNccl, LastErrorIsReadable) {
  NCCLRT_NEED_REAL_NCCL();
  auto lib = Library::open(ncclrt_test::real_nccl());
  // A call NCCL rejects on any machine, GPU or not: its argument check records the reason.
  int n = 0;
  EXPECT_EQ(lib->raw().ncclCommCount(nullptr, &n), ncclrt::abi::ncclInvalidArgument);
  const std::string text = lib->last_error();
  EXPECT_NE(text.find("comm argument is NULL"), std::string::npos) << text;
}

TEST(RealNccl, SameFileTwiceIsSameLibrary) {
  NCCLRT_NEED_REAL_NCCL();
  auto a = Library::open(ncclrt_test::real_nccl());
  auto b = Library::open(ncclrt_test::real_nccl());
  EXPECT_EQ(a.get(), b.get());
}

TEST(StandIn, OldVersionTurnsFeaturesOff) {
  auto lib = Library::open(FAKE_NCCL_OLD);
  EXPECT_EQ(lib->version(), (Version{2, 12, 3}));
  EXPECT_TRUE(lib->has(Function::ncclSend));
  EXPECT_TRUE(lib->has(Function::ncclRedOpCreatePreMulSum));
  EXPECT_FALSE(lib->has(Function::ncclGetLastError));
  EXPECT_FALSE(lib->has(Function::ncclCommShrink));
  EXPECT_EQ(lib->raw().ncclCommShrink, nullptr);
  EXPECT_TRUE(lib->has(Feature::bfloat16));
  EXPECT_FALSE(lib->has(Feature::fp8));
  expect_error<UnsupportedError>(
      [&] { lib->require(Function::ncclCommShrink); },
      {"ncclCommShrink needs NCCL >= 2.27.0", "loaded 2.12.3", "from", "fake_nccl_old"});
  expect_error<UnsupportedError>([&] { lib->last_error(); },
                                 {"ncclGetLastError needs NCCL >= 2.13.0", "loaded 2.12.3"});
  expect_error<UnsupportedError>([&] { lib->require(Feature::fp8); },
                                 {"fp8", "needs NCCL >= 2.24.0", "loaded 2.12.3"});
  const auto caps = lib->capabilities();
  const auto& shrink = find_capability(caps, "ncclCommShrink");
  EXPECT_FALSE(shrink.available);
  EXPECT_NE(shrink.why_not.find("needs NCCL >= 2.27.0"), std::string::npos);
}

TEST(StandIn, MissingRequiredFunctionsAreListedInOneError) {
  const std::string what = expect_error<LoadError>(
      [] { (void)Library::open(FAKE_NCCL_NO_REQUIRED); },
      {"lacks functions every NCCL has", "ncclAllReduce", "ncclBcast", "fake_nccl_no_required"});
  EXPECT_EQ(what.find("ncclAllGather"), std::string::npos);
}

TEST(StandIn, VersionClaimingMissingFunctionsIsRefused) {
  expect_error<LoadError>([] { (void)Library::open(FAKE_NCCL_CLAIMS); },
                          {"reports NCCL 2.28.9", "ncclCommShrink", "ncclCommWindowRegister",
                           "NCCLRT_ALLOW_MISSING_FUNCTIONS"});
}

TEST(StandIn, ClaimedFunctionsMayBeAllowedMissing) {
  std::vector<std::string> warnings;
  set_log_handler([&](LogLevel, std::string_view m) { warnings.emplace_back(m); });
  set_log_level(LogLevel::kWarn);
  LoadOptions o;
  o.path = FAKE_NCCL_CLAIMS;
  o.allow_missing_functions = true;
  auto lib = Library::open(o);
  set_log_level(LogLevel::kOff);
  set_log_handler(nullptr);
  EXPECT_EQ(lib->missing_functions(),
            (std::vector<std::string>{"ncclCommShrink", "ncclCommWindowRegister"}));
  EXPECT_FALSE(lib->has(Function::ncclCommShrink));
  EXPECT_TRUE(lib->has(Function::ncclCommWindowDeregister));
  expect_error<UnsupportedError>([&] { lib->require(Function::ncclCommShrink); },
                                 {"ncclCommShrink is missing from", "should have it"});
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("ncclCommShrink"), std::string::npos);
}

TEST(StandIn, ClaimedFunctionsAllowedThroughEnvironment) {
  ncclrt_test::ScopedEnv allow("NCCLRT_ALLOW_MISSING_FUNCTIONS", "1");
  auto lib = Library::open(FAKE_NCCL_CLAIMS);
  EXPECT_EQ(lib->missing_functions().size(), 2u);
}

TEST(TwoLibraries, OpenAtOnceWithIndependentTables) {
  NCCLRT_NEED_REAL_NCCL();
  auto real = Library::open(ncclrt_test::real_nccl());
  auto old = Library::open(FAKE_NCCL_OLD);
  EXPECT_NE(real.get(), old.get());
  EXPECT_EQ(real->version(), ncclrt_test::real_version());
  EXPECT_EQ(old->version(), (Version{2, 12, 3}));
  EXPECT_NE(real->raw().ncclGetUniqueId, old->raw().ncclGetUniqueId);
  EXPECT_NE(real->raw().ncclGetLastError, nullptr);
  EXPECT_EQ(old->raw().ncclGetLastError, nullptr);
  EXPECT_EQ(old->unique_id().bytes()[0], 'f');
  EXPECT_NE(real->unique_id().bytes()[0], 'f');
  EXPECT_EQ(old->error_string(0), "fake success");
  EXPECT_EQ(real->error_string(0), "no error");
}

TEST(Names, ComeFromTheTable) {
  EXPECT_STREQ(name_of(Function::ncclAllReduce), "ncclAllReduce");
  EXPECT_STREQ(name_of(Function::ncclAlltoAll), "ncclAlltoAll");
  EXPECT_EQ(since(Function::ncclCommShrink), (Version{2, 27, 0}));
  EXPECT_EQ(since(Function::ncclCommRevoke), (Version{2, 28, 7}));
  EXPECT_EQ(since(Feature::fp8), (Version{2, 24, 0}));
  EXPECT_STREQ(name_of(Feature::bfloat16), "bfloat16");
}

TEST(Sources, StableIdentifiers) {
  const std::pair<Source, const char*> ids[] = {
      {Source::kPath, "path"},
      {Source::kEnvironment, "environment"},
      {Source::kAlreadyLoaded, "already_loaded"},
      {Source::kLoaderSearch, "loader_search"},
      {Source::kCudaHome, "cuda_home"},
      {Source::kCudaDefault, "cuda_default"},
      {Source::kPython, "python"},
  };
  for (const auto& [source, id] : ids) EXPECT_STREQ(id_of(source), id);
}

TEST(Sources, MasksCombineAndTest) {
  constexpr unsigned m = Source::kEnvironment | Source::kPython;
  static_assert(m == (mask_of(Source::kEnvironment) | mask_of(Source::kPython)));
  EXPECT_TRUE(m & Source::kPython);
  EXPECT_FALSE(m & Source::kCudaHome);
  EXPECT_EQ((m | Source::kPath) & Source::kPath, true);
  unsigned all = 0;
  for (unsigned bit = 1; bit <= kAllSources; bit <<= 1) all = all | static_cast<Source>(bit);
  EXPECT_EQ(all, kAllSources);
}

TEST(Results, PrintTheirNcclNames) {
  EXPECT_STREQ(to_string(Result::kRemoteError), "ncclRemoteError");
  EXPECT_EQ(static_cast<int>(Result::kTimeout), ncclrt::abi::ncclTimeout);
  EXPECT_EQ(static_cast<int>(Result::kInProgress), ncclrt::abi::ncclInProgress);
  std::ostringstream s;
  s << Result::kInvalidUsage << " " << static_cast<Result>(42);
  EXPECT_EQ(s.str(), "ncclInvalidUsage ncclResult(42)");
}
