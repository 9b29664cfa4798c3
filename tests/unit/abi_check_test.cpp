// Our ABI declarations (ncclrt/abi.hpp, the symbol table) against a real nccl.h. Most checks are
// static_asserts: this file does not compile if a layout, value or signature drifts.
#include <gtest/gtest.h>
#include <nccl.h>

#include <cstddef>
#include <type_traits>

#include "ncclrt/abi.hpp"
#include "ncclrt/detail/symbols.hpp"

namespace nabi = ncclrt::abi;  // "abi" is taken by <cxxabi.h>

namespace {

// Maps a type from nccl.h to the type ncclrt declares in its place.
template <class T>
struct Ours {
  using type = T;
};
template <class T>
using ours_t = typename Ours<T>::type;
template <>
struct Ours<::ncclResult_t> {
  using type = nabi::ncclResult_t;
};
template <>
struct Ours<::ncclDataType_t> {
  using type = nabi::ncclDataType_t;
};
template <>
struct Ours<::ncclRedOp_t> {
  using type = nabi::ncclRedOp_t;
};
template <>
struct Ours<::ncclScalarResidence_t> {
  using type = nabi::ncclScalarResidence_t;
};
template <>
struct Ours<::ncclUniqueId> {
  using type = nabi::ncclUniqueId;
};
template <>
struct Ours<::ncclConfig_t> {
  using type = nabi::ncclConfig_t;
};
template <>
struct Ours<::ncclSimInfo_t> {
  using type = nabi::ncclSimInfo_t;
};
template <>
struct Ours<::ncclComm> {
  using type = nabi::ncclComm;
};
template <>
struct Ours<::ncclWindow_vidmem> {
  using type = nabi::ncclWindow_vidmem;
};
template <class T>
struct Ours<T*> {
  using type = ours_t<T>*;
};
template <class T>
struct Ours<const T> {
  using type = const ours_t<T>;
};
template <class R, class... A>
struct Ours<R(A...)> {
  using type = ours_t<R>(ours_t<A>...);
};

// Every function of the table has exactly NCCL's signature.
#define NCCLRT_FN(name, ret, params, major, minor, patch, required)                             \
  static_assert(std::is_same_v<ours_t<decltype(::name)>,                                        \
                               std::remove_pointer_t<decltype(ncclrt::detail::Symbols::name)>>, \
                "signature of " #name " differs from nccl.h");
#include "ncclrt/detail/nccl_functions.def"

#define SAME_VALUE(x) static_assert(static_cast<int>(::x) == static_cast<int>(nabi::x), #x)
SAME_VALUE(ncclSuccess);
SAME_VALUE(ncclUnhandledCudaError);
SAME_VALUE(ncclSystemError);
SAME_VALUE(ncclInternalError);
SAME_VALUE(ncclInvalidArgument);
SAME_VALUE(ncclInvalidUsage);
SAME_VALUE(ncclRemoteError);
SAME_VALUE(ncclInProgress);
SAME_VALUE(ncclNumResults);
SAME_VALUE(ncclInt8);
SAME_VALUE(ncclChar);
SAME_VALUE(ncclUint8);
SAME_VALUE(ncclInt32);
SAME_VALUE(ncclInt);
SAME_VALUE(ncclUint32);
SAME_VALUE(ncclInt64);
SAME_VALUE(ncclUint64);
SAME_VALUE(ncclFloat16);
SAME_VALUE(ncclHalf);
SAME_VALUE(ncclFloat32);
SAME_VALUE(ncclFloat);
SAME_VALUE(ncclFloat64);
SAME_VALUE(ncclDouble);
SAME_VALUE(ncclBfloat16);
SAME_VALUE(ncclFloat8e4m3);
SAME_VALUE(ncclFloat8e5m2);
SAME_VALUE(ncclNumTypes);
SAME_VALUE(ncclSum);
SAME_VALUE(ncclProd);
SAME_VALUE(ncclMax);
SAME_VALUE(ncclMin);
SAME_VALUE(ncclAvg);
SAME_VALUE(ncclNumOps);
SAME_VALUE(ncclMaxRedOp);
SAME_VALUE(ncclScalarDevice);
SAME_VALUE(ncclScalarHostImmediate);
#undef SAME_VALUE

static_assert(sizeof(::ncclResult_t) == sizeof(nabi::ncclResult_t));
static_assert(sizeof(::ncclDataType_t) == sizeof(nabi::ncclDataType_t));
static_assert(sizeof(::ncclRedOp_t) == sizeof(nabi::ncclRedOp_t));
static_assert(sizeof(::ncclScalarResidence_t) == sizeof(nabi::ncclScalarResidence_t));
static_assert(sizeof(::ncclUniqueId) == sizeof(nabi::ncclUniqueId));
static_assert(NCCL_UNIQUE_ID_BYTES == nabi::kUniqueIdBytes);
static_assert(sizeof(::ncclSimInfo_t) == sizeof(nabi::ncclSimInfo_t));
static_assert(offsetof(::ncclSimInfo_t, estimatedTime) ==
              offsetof(nabi::ncclSimInfo_t, estimatedTime));

static_assert(sizeof(::ncclConfig_t) == sizeof(nabi::ncclConfig_t));
static_assert(alignof(::ncclConfig_t) == alignof(nabi::ncclConfig_t));
#define SAME_OFFSET(f) \
  static_assert(offsetof(::ncclConfig_t, f) == offsetof(nabi::ncclConfig_t, f), "offset of " #f)
SAME_OFFSET(size);
SAME_OFFSET(magic);
SAME_OFFSET(version);
SAME_OFFSET(blocking);
SAME_OFFSET(cgaClusterSize);
SAME_OFFSET(minCTAs);
SAME_OFFSET(maxCTAs);
SAME_OFFSET(netName);
SAME_OFFSET(splitShare);
SAME_OFFSET(trafficClass);
SAME_OFFSET(commName);
SAME_OFFSET(collnetEnable);
SAME_OFFSET(CTAPolicy);
SAME_OFFSET(shrinkShare);
SAME_OFFSET(nvlsCTAs);
SAME_OFFSET(nChannelsPerNetPeer);
SAME_OFFSET(nvlinkCentricSched);
#undef SAME_OFFSET

static_assert(NCCL_CONFIG_UNDEF_INT == nabi::kConfigUndefInt);
static_assert(NCCL_SPLIT_NOCOLOR == nabi::kSplitNoColor);
static_assert(NCCL_WIN_COLL_SYMMETRIC == nabi::kWinCollSymmetric);
static_assert(NCCL_WIN_REQUIRED_ALIGNMENT == nabi::kWinRequiredAlignment);
static_assert(NCCL_SHRINK_ABORT == nabi::kShrinkAbort);

}  // namespace

TEST(AbiCheck, ConfigInitializerMatchesOurDefaults) {
  ::ncclConfig_t theirs = NCCL_CONFIG_INITIALIZER;
  EXPECT_EQ(theirs.magic, nabi::kConfigMagic);
  EXPECT_EQ(theirs.size, sizeof(nabi::ncclConfig_t));
  EXPECT_EQ(theirs.blocking, nabi::kConfigUndefInt);
  EXPECT_EQ(theirs.nvlinkCentricSched, nabi::kConfigUndefInt);
  EXPECT_EQ(theirs.netName, nullptr);
  ::ncclSimInfo_t sim = NCCL_SIM_INFO_INITIALIZER;
  EXPECT_EQ(sim.magic, nabi::kSimInfoMagic);
}

TEST(AbiCheck, HeaderVersionIsTheNewestTheTableKnows) {
  // The table's newest function must not be newer than the header it was checked against.
  EXPECT_GE(NCCL_VERSION_CODE, 22807);
}
