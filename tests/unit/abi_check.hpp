// ncclrt's ABI declarations (ncclrt/abi.hpp, the symbol table) against one real nccl.h, whichever
// release the include path finds. Everything here is a static_assert, guarded by the
// header's own NCCL_VERSION_CODE, so one file checks every release from 2.18 on (the matrix script
// compiles it against each release's header; the unit build against the installed one).
#pragma once

#include <nccl.h>

// The device API's host side is declared in nccl_device/core.h (2.29.2 on; 2.28's is another,
// unversioned form that ncclrt does not bind). Its headers use CUDA's types without including
// them.
#if NCCL_VERSION_CODE >= 22902
#include <cuda_runtime.h>
#include <nccl_device.h>
#endif

#include <cstddef>
#include <type_traits>

#include "ncclrt/abi.hpp"
#include "ncclrt/detail/symbols.hpp"

#define NCCLRT_AT_LEAST(a, b, c) (NCCL_VERSION_CODE >= NCCL_VERSION(a, b, c))

namespace ncclrt_abi_check {

namespace nabi = ncclrt::abi;  // "abi" alone is taken by <cxxabi.h>

// Maps a type from nccl.h to the type ncclrt declares in its place.
template <class T>
struct Ours {
  using type = T;
};
template <class T>
using ours_t = typename Ours<T>::type;
#define NCCLRT_MAP(theirs, ours) \
  template <>                    \
  struct Ours<theirs> {          \
    using type = ours;           \
  };
NCCLRT_MAP(::ncclResult_t, nabi::ncclResult_t)
NCCLRT_MAP(::ncclDataType_t, nabi::ncclDataType_t)
NCCLRT_MAP(::ncclRedOp_t, nabi::ncclRedOp_t)
NCCLRT_MAP(::ncclScalarResidence_t, nabi::ncclScalarResidence_t)
NCCLRT_MAP(::ncclUniqueId, nabi::ncclUniqueId)
NCCLRT_MAP(::ncclConfig_t, nabi::ncclConfig_t)
NCCLRT_MAP(::ncclComm, nabi::ncclComm)
#if NCCLRT_AT_LEAST(2, 22, 0)
NCCLRT_MAP(::ncclSimInfo_t, nabi::ncclSimInfo_t)
#endif
#if NCCLRT_AT_LEAST(2, 28, 0)
NCCLRT_MAP(::ncclWindow_vidmem, nabi::ncclWindow_vidmem)
#elif NCCLRT_AT_LEAST(2, 27, 0)
// 2.27 named the opaque window struct ncclWindow; an opaque pointer either way, same ABI.
NCCLRT_MAP(::ncclWindow, nabi::ncclWindow_vidmem)
#endif
#if NCCLRT_AT_LEAST(2, 29, 2)
NCCLRT_MAP(::ncclWaitSignalDesc_t, nabi::ncclWaitSignalDesc_t)
#endif
#if NCCLRT_AT_LEAST(2, 29, 7)
NCCLRT_MAP(::ncclCommMemStat_t, nabi::ncclCommMemStat_t)
#endif
#if NCCLRT_AT_LEAST(2, 30, 4)
NCCLRT_MAP(::ncclParamHandle, nabi::ncclParamHandle)
#endif
#if NCCLRT_AT_LEAST(2, 31, 2)
NCCLRT_MAP(::ncclCollConfig_t, nabi::ncclCollConfig_t)
#endif
#if NCCLRT_AT_LEAST(2, 32, 3)
NCCLRT_MAP(::ncclEncryptionConfig_t, nabi::ncclEncryptionConfig_t)
#endif
#if NCCLRT_AT_LEAST(2, 29, 2)
NCCLRT_MAP(::ncclCommProperties, nabi::ncclCommProperties)
NCCLRT_MAP(::ncclDevCommRequirements, nabi::ncclDevCommRequirements)
NCCLRT_MAP(::ncclDevComm, nabi::ncclDevComm)
NCCLRT_MAP(::ncclMultimemHandle, nabi::ncclMultimemHandle)
#endif
#undef NCCLRT_MAP
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

// Every function of the table that this header declares has exactly its signature.
#define NCCLRT_CHECK_FN(name)                                                                   \
  static_assert(std::is_same_v<ours_t<decltype(::name)>,                                        \
                               std::remove_pointer_t<decltype(ncclrt::detail::Symbols::name)>>, \
                "signature of " #name " differs from nccl.h");
#include "abi_check_functions.inc"
#undef NCCLRT_CHECK_FN

#define SAME_VALUE(x) static_assert(static_cast<int>(::x) == static_cast<int>(nabi::x), #x)
SAME_VALUE(ncclSuccess);
SAME_VALUE(ncclUnhandledCudaError);
SAME_VALUE(ncclSystemError);
SAME_VALUE(ncclInternalError);
SAME_VALUE(ncclInvalidArgument);
SAME_VALUE(ncclInvalidUsage);
SAME_VALUE(ncclRemoteError);
SAME_VALUE(ncclInProgress);
#if NCCLRT_AT_LEAST(2, 30, 3)
SAME_VALUE(ncclTimeout);
SAME_VALUE(ncclNumResults);
#endif
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
#if NCCLRT_AT_LEAST(2, 24, 0)
SAME_VALUE(ncclFloat8e4m3);
SAME_VALUE(ncclFloat8e5m2);
SAME_VALUE(ncclNumTypes);
#endif
SAME_VALUE(ncclSum);
SAME_VALUE(ncclProd);
SAME_VALUE(ncclMax);
SAME_VALUE(ncclMin);
SAME_VALUE(ncclAvg);
SAME_VALUE(ncclNumOps);
SAME_VALUE(ncclMaxRedOp);
SAME_VALUE(ncclScalarDevice);
SAME_VALUE(ncclScalarHostImmediate);
#if NCCLRT_AT_LEAST(2, 29, 7)
SAME_VALUE(ncclStatGpuMemSuspend);
SAME_VALUE(ncclStatGpuMemTotal);
#endif
#undef SAME_VALUE

static_assert(sizeof(::ncclResult_t) == sizeof(nabi::ncclResult_t));
static_assert(sizeof(::ncclDataType_t) == sizeof(nabi::ncclDataType_t));
static_assert(sizeof(::ncclRedOp_t) == sizeof(nabi::ncclRedOp_t));
static_assert(sizeof(::ncclScalarResidence_t) == sizeof(nabi::ncclScalarResidence_t));
static_assert(sizeof(::ncclUniqueId) == sizeof(nabi::ncclUniqueId));
static_assert(NCCL_UNIQUE_ID_BYTES == nabi::kUniqueIdBytes);
static_assert(NCCL_CONFIG_UNDEF_INT == nabi::kConfigUndefInt);
static_assert(NCCL_SPLIT_NOCOLOR == nabi::kSplitNoColor);
#if NCCLRT_AT_LEAST(2, 22, 0)
static_assert(sizeof(::ncclSimInfo_t) == sizeof(nabi::ncclSimInfo_t));
static_assert(offsetof(::ncclSimInfo_t, estimatedTime) ==
              offsetof(nabi::ncclSimInfo_t, estimatedTime));
#endif
#if NCCLRT_AT_LEAST(2, 27, 0)
static_assert(NCCL_WIN_COLL_SYMMETRIC == nabi::kWinCollSymmetric);
static_assert(NCCL_SHRINK_ABORT == nabi::kShrinkAbort);
#endif
#if NCCLRT_AT_LEAST(2, 28, 0)
static_assert(NCCL_WIN_REQUIRED_ALIGNMENT == nabi::kWinRequiredAlignment);
#endif

// ncclConfig_t: every field this release has sits where ncclrt puts it; the whole struct matches
// the newest release.
#define SAME_OFFSET(T, f) \
  static_assert(offsetof(::T, f) == offsetof(nabi::T, f), "offset of " #T "::" #f)
SAME_OFFSET(ncclConfig_t, size);
SAME_OFFSET(ncclConfig_t, magic);
SAME_OFFSET(ncclConfig_t, version);
SAME_OFFSET(ncclConfig_t, blocking);
SAME_OFFSET(ncclConfig_t, cgaClusterSize);
SAME_OFFSET(ncclConfig_t, minCTAs);
SAME_OFFSET(ncclConfig_t, maxCTAs);
SAME_OFFSET(ncclConfig_t, netName);
SAME_OFFSET(ncclConfig_t, splitShare);
#if NCCLRT_AT_LEAST(2, 26, 0)
SAME_OFFSET(ncclConfig_t, trafficClass);
#endif
#if NCCLRT_AT_LEAST(2, 27, 0)
SAME_OFFSET(ncclConfig_t, commName);
SAME_OFFSET(ncclConfig_t, collnetEnable);
SAME_OFFSET(ncclConfig_t, CTAPolicy);
SAME_OFFSET(ncclConfig_t, shrinkShare);
SAME_OFFSET(ncclConfig_t, nvlsCTAs);
#endif
#if NCCLRT_AT_LEAST(2, 28, 0)
SAME_OFFSET(ncclConfig_t, nChannelsPerNetPeer);
SAME_OFFSET(ncclConfig_t, nvlinkCentricSched);
#endif
#if NCCLRT_AT_LEAST(2, 29, 2)
SAME_OFFSET(ncclConfig_t, graphUsageMode);
SAME_OFFSET(ncclConfig_t, numRmaCtx);
SAME_OFFSET(ncclWaitSignalDesc_t, opCnt);
SAME_OFFSET(ncclWaitSignalDesc_t, ctx);
static_assert(sizeof(::ncclWaitSignalDesc_t) == sizeof(nabi::ncclWaitSignalDesc_t));
#endif
#if NCCLRT_AT_LEAST(2, 30, 3)
SAME_OFFSET(ncclConfig_t, maxP2pPeers);
#endif
#if NCCLRT_AT_LEAST(2, 30, 7)
SAME_OFFSET(ncclConfig_t, graphStreamOrdering);
#endif
#if NCCLRT_AT_LEAST(2, 31, 2)
SAME_OFFSET(ncclConfig_t, launchOrderImplicit);
SAME_OFFSET(ncclConfig_t, numRmaSig);
SAME_OFFSET(ncclConfig_t, rmaEagerInit);
SAME_OFFSET(ncclConfig_t, hostCftMode);
SAME_OFFSET(ncclCollConfig_t, ext);
SAME_OFFSET(ncclCollConfig_t, minCTAs);
SAME_OFFSET(ncclCollConfig_t, cgaClusterSize);
SAME_OFFSET(ncclCollConfig_t, algSelection);
SAME_OFFSET(ncclCollConfig_t, CTAPolicy);
SAME_OFFSET(ncclCollConfig_t, userProfilerTag);
static_assert(sizeof(::ncclConfigExt_t) == sizeof(nabi::ncclConfigExt_t));
#endif
#if NCCLRT_AT_LEAST(2, 32, 3)
SAME_OFFSET(ncclConfig_t, nvlsHostMode);
SAME_OFFSET(ncclCollConfig_t, launchCompletionEvent);
SAME_OFFSET(ncclEncryptionConfig_t, mode);
SAME_OFFSET(ncclEncryptionConfig_t, psk);
static_assert(sizeof(::ncclCollConfig_t) == sizeof(nabi::ncclCollConfig_t));
static_assert(sizeof(::ncclEncryptionConfig_t) == sizeof(nabi::ncclEncryptionConfig_t));
#endif
#if NCCL_VERSION_CODE == 23203  // the newest layout ncclrt knows
static_assert(sizeof(::ncclConfig_t) == sizeof(nabi::ncclConfig_t));
#endif

// The device API's structs (nccl_device/core.h): the first versioned layout (2.29.2), whose
// fields ncclrt passes to releases before 2.30.7, and 2.30.7's, which abi.hpp declares.
#if NCCLRT_AT_LEAST(2, 29, 2)
static_assert(NCCL_API_MAGIC == nabi::kConfigMagic);
SAME_OFFSET(ncclCommProperties, size);
SAME_OFFSET(ncclCommProperties, magic);
SAME_OFFSET(ncclCommProperties, version);
SAME_OFFSET(ncclCommProperties, rank);
SAME_OFFSET(ncclCommProperties, nRanks);
SAME_OFFSET(ncclCommProperties, cudaDev);
SAME_OFFSET(ncclCommProperties, nvmlDev);
SAME_OFFSET(ncclCommProperties, deviceApiSupport);
SAME_OFFSET(ncclCommProperties, multimemSupport);
SAME_OFFSET(ncclDevCommRequirements, size);
SAME_OFFSET(ncclDevCommRequirements, magic);
SAME_OFFSET(ncclDevCommRequirements, version);
SAME_OFFSET(ncclDevCommRequirements, resourceRequirementsList);
SAME_OFFSET(ncclDevCommRequirements, teamRequirementsList);
SAME_OFFSET(ncclDevCommRequirements, lsaMultimem);
SAME_OFFSET(ncclDevCommRequirements, barrierCount);
SAME_OFFSET(ncclDevCommRequirements, lsaBarrierCount);
SAME_OFFSET(ncclDevCommRequirements, railGinBarrierCount);
SAME_OFFSET(ncclDevCommRequirements, lsaLLA2ABlockCount);
SAME_OFFSET(ncclDevCommRequirements, lsaLLA2ASlotCount);
SAME_OFFSET(ncclDevCommRequirements, ginForceEnable);
SAME_OFFSET(ncclDevCommRequirements, ginContextCount);
SAME_OFFSET(ncclDevCommRequirements, ginSignalCount);
SAME_OFFSET(ncclDevCommRequirements, ginCounterCount);
SAME_OFFSET(ncclMultimemHandle, mcBasePtr);
static_assert(sizeof(::ncclMultimemHandle) == sizeof(nabi::ncclMultimemHandle));
#endif
#if NCCL_VERSION_CODE == 22902
static_assert(sizeof(::ncclCommProperties) == nabi::kCommPropertiesBytes22902);
static_assert(offsetof(::ncclCommProperties, ginType) == nabi::kCommPropertiesGinType22902);
static_assert(sizeof(::ncclDevCommRequirements) == nabi::kDevCommRequirementsBytes22902);
static_assert(sizeof(::ncclDevComm) == sizeof(nabi::ncclDevComm_v22902));
static_assert(offsetof(::ncclDevComm, rank) == offsetof(nabi::ncclDevComm_v22902, rank));
static_assert(offsetof(::ncclDevComm, nRanks) == offsetof(nabi::ncclDevComm_v22902, nRanks));
static_assert(offsetof(::ncclDevComm, lsaRank) == offsetof(nabi::ncclDevComm_v22902, lsaRank));
static_assert(offsetof(::ncclDevComm, lsaSize) == offsetof(nabi::ncclDevComm_v22902, lsaSize));
#endif
#if NCCLRT_AT_LEAST(2, 30, 0)
SAME_OFFSET(ncclDevComm, magic);
SAME_OFFSET(ncclDevComm, version);
SAME_OFFSET(ncclDevComm, rank);
SAME_OFFSET(ncclDevComm, nRanks);
SAME_OFFSET(ncclDevComm, nRanks_rcp32);
SAME_OFFSET(ncclDevComm, lsaRank);
SAME_OFFSET(ncclDevComm, lsaSize);
SAME_OFFSET(ncclDevComm, lsaSize_rcp32);
static_assert(alignof(::ncclDevComm) <= alignof(nabi::ncclDevComm));
#endif
#if NCCL_VERSION_CODE == 23007  // the newest device-API layouts ncclrt declares
SAME_OFFSET(ncclCommProperties, ginType);
SAME_OFFSET(ncclCommProperties, nLsaTeams);
SAME_OFFSET(ncclCommProperties, hostRmaSupport);
SAME_OFFSET(ncclCommProperties, railedGinType);
static_assert(sizeof(::ncclCommProperties) == sizeof(nabi::ncclCommProperties));
SAME_OFFSET(ncclDevCommRequirements, ginConnectionType);
SAME_OFFSET(ncclDevCommRequirements, ginExclusiveContexts);
SAME_OFFSET(ncclDevCommRequirements, ginQueueDepth);
SAME_OFFSET(ncclDevCommRequirements, ginTrafficClass);
SAME_OFFSET(ncclDevCommRequirements, worldGinBarrierCount);
SAME_OFFSET(ncclDevCommRequirements, ginStrongSignalsRequired);
SAME_OFFSET(ncclDevCommRequirements, ginVaSignalsRequired);
static_assert(sizeof(::ncclDevCommRequirements) == sizeof(nabi::ncclDevCommRequirements));
static_assert(sizeof(::ncclDevComm) == sizeof(nabi::ncclDevComm));
static_assert(static_cast<int>(::NCCL_GIN_TYPE_GPI) == static_cast<int>(nabi::NCCL_GIN_TYPE_GPI));
static_assert(static_cast<int>(::NCCL_GIN_CONNECTION_RAIL) ==
              static_cast<int>(nabi::NCCL_GIN_CONNECTION_RAIL));
#endif
#undef SAME_OFFSET

}  // namespace ncclrt_abi_check
