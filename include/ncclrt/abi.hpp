// NCCL's C ABI, declared by ncclrt so that nothing here needs nccl.h or a CUDA header.
// Names and values are NCCL's own (a grep for ncclAllReduce finds the raw table); the layouts are
// checked against a real nccl.h by tests/unit/abi_check_test.cpp.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>

#include "ncclrt/detail/export.hpp"

// The CUDA runtime's stream and event types: a caller's cudaStream_t converts to CUstream_st*
// without a cast.
struct CUstream_st;
struct CUevent_st;

NCCLRT_EXPORT_BEGIN
namespace ncclrt::abi {

typedef enum {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,  // since 2.13
  ncclInProgress = 7,   // since 2.14
  ncclTimeout = 8,      // since 2.30.3
  ncclNumResults = 9
} ncclResult_t;

typedef enum {
  ncclInt8 = 0,
  ncclChar = 0,
  ncclUint8 = 1,
  ncclInt32 = 2,
  ncclInt = 2,
  ncclUint32 = 3,
  ncclInt64 = 4,
  ncclUint64 = 5,
  ncclFloat16 = 6,
  ncclHalf = 6,
  ncclFloat32 = 7,
  ncclFloat = 7,
  ncclFloat64 = 8,
  ncclDouble = 8,
  ncclBfloat16 = 9,     // since 2.10
  ncclFloat8e4m3 = 10,  // since 2.24
  ncclFloat8e5m2 = 11,  // since 2.24
  ncclNumTypes = 12
} ncclDataType_t;

// NCCL sizes this enum so that it stays as wide as an int; values >= ncclNumOps are handles
// made by ncclRedOpCreatePreMulSum.
typedef enum {
  ncclSum = 0,
  ncclProd = 1,
  ncclMax = 2,
  ncclMin = 3,
  ncclAvg = 4,  // since 2.10
  ncclNumOps = 5,
  ncclMaxRedOp = 0x7fffffff
} ncclRedOp_t;

typedef enum { ncclScalarDevice = 0, ncclScalarHostImmediate = 1 } ncclScalarResidence_t;

struct ncclComm;
typedef ncclComm* ncclComm_t;
struct ncclWindow_vidmem;
typedef ncclWindow_vidmem* ncclWindow_t;
typedef CUstream_st* cudaStream_t;
typedef CUevent_st* cudaEvent_t;
struct ncclParamHandle;
typedef ncclParamHandle* ncclParamHandle_t;  // 2.30.4

constexpr std::size_t kUniqueIdBytes = 128;
typedef struct {
  char internal[kUniqueIdBytes];
} ncclUniqueId;

constexpr unsigned kConfigMagic = 0xcafebeef;
constexpr int kConfigUndefInt = INT_MIN;
constexpr int kSplitNoColor = -1;
constexpr int kWinDefault = 0x00;
constexpr int kWinCollSymmetric = 0x01;
constexpr std::size_t kWinRequiredAlignment = 4096;
constexpr int kShrinkDefault = 0x00;
constexpr int kShrinkAbort = 0x01;
constexpr int kRevokeDefault = 0x00;
constexpr int kSuspendMem = 0x01;

// The newest layout ncclrt knows (NCCL 2.32.3). NCCL copies min(size, its own size) bytes, so
// ncclrt sets `size` to what the loaded version knows (see config sizing in communicator.cpp).
typedef struct {
  std::size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking;             // 2.14
  int cgaClusterSize;       // 2.17
  int minCTAs;              // 2.17
  int maxCTAs;              // 2.17
  const char* netName;      // 2.17
  int splitShare;           // 2.18
  int trafficClass;         // 2.26
  const char* commName;     // 2.27
  int collnetEnable;        // 2.27
  int CTAPolicy;            // 2.27
  int shrinkShare;          // 2.27
  int nvlsCTAs;             // 2.27
  int nChannelsPerNetPeer;  // 2.28
  int nvlinkCentricSched;   // 2.28
  int graphUsageMode;       // 2.29.2
  int numRmaCtx;            // 2.29.2
  int maxP2pPeers;          // 2.30.3
  int graphStreamOrdering;  // 2.30.7
  int launchOrderImplicit;  // 2.31.2
  int numRmaSig;            // 2.31.2
  int rmaEagerInit;         // 2.31.2
  int hostCftMode;          // 2.31.2
  int nvlsHostMode;         // 2.32.3
} ncclConfig_t;

// Vendor extension options of ncclCollConfig_t (2.31.2).
typedef struct ncclConfigExt {
  struct ncclConfigExt* next;
  struct {
    int vendorId;
    int optionId;
  } key;
  union {
    int i;
    const char* s;
    void* raw;
  } val;
} ncclConfigExt_t;

// Per-call options of the *Config collectives (2.31.2; launchCompletionEvent 2.32.3).
typedef struct {
  std::size_t size;
  unsigned int magic;
  unsigned int version;
  ncclConfigExt_t* ext;
  int minCTAs;
  int maxCTAs;
  int nvlsCTAs;
  int cgaClusterSize;
  const char* algSelection;
  int forceAlgSelection;
  int CTAPolicy;
  std::uint64_t userProfilerTag;
  cudaEvent_t launchCompletionEvent;  // 2.32.3
} ncclCollConfig_t;

// ncclWaitSignal's descriptor (2.29.2).
typedef struct {
  int opCnt;
  int peer;
  int sigIdx;
  int ctx;
} ncclWaitSignalDesc_t;

// ncclCommMemStats' statistic (2.29.7).
typedef enum {
  ncclStatGpuMemSuspend = 0,
  ncclStatGpuMemSuspended = 1,
  ncclStatGpuMemPersist = 2,
  ncclStatGpuMemTotal = 3
} ncclCommMemStat_t;

// ncclSetEncryption's configuration (2.32.3).
typedef struct {
  std::size_t size;
  unsigned int magic;
  unsigned int version;
  int mode;
  const char* psk;
} ncclEncryptionConfig_t;

// The device API's host side (nccl_device/core.h, not nccl.h). Its structs are versioned like
// ncclConfig_t (size, magic, version first; magic kConfigMagic, NCCL's NCCL_API_MAGIC), but NCCL
// reads them by `version`, not by `size`: fields were inserted between releases, so a caller
// passes exactly the layout of the version it declares. ncclrt declares NCCL 2.30.7's layouts,
// and passes 2.29.2's (the first versioned one, a prefix of these) to releases between.

struct ncclMultimemHandle {
  void* mcBasePtr;
};
typedef ncclMultimemHandle ncclMultimemHandle_t;

// Lists of extra resources and teams a device communicator may ask for; ncclrt passes none.
struct ncclDevResourceRequirements;
struct ncclTeamRequirements;

typedef enum {
  NCCL_GIN_CONNECTION_NONE = 0,
  NCCL_GIN_CONNECTION_FULL = 1,
  NCCL_GIN_CONNECTION_RAIL = 2
} ncclGinConnectionType_t;

// An int from 2.29.4 on; 2.29.2 and 2.29.3 made it one byte (see ncclCommProperties_t).
typedef enum {
  NCCL_GIN_TYPE_NONE = 0,
  NCCL_GIN_TYPE_PROXY = 2,
  NCCL_GIN_TYPE_GDAKI = 3,
  NCCL_GIN_TYPE_GPI = 4
} ncclGinType_t;

// What ncclCommQueryProperties fills (2.29.2). With version 2.29.2 or 2.29.3 NCCL fills the
// fields up to multimemSupport and writes ginType as one byte at offset 34; nLsaTeams and after
// are filled for a version above 2.29.3.
typedef struct ncclCommProperties {
  std::size_t size;
  unsigned int magic;
  unsigned int version;
  int rank;
  int nRanks;
  int cudaDev;
  int nvmlDev;
  bool deviceApiSupport;
  bool multimemSupport;
  ncclGinType_t ginType;
  int nLsaTeams;
  bool hostRmaSupport;
  ncclGinType_t railedGinType;
} ncclCommProperties_t;
constexpr std::size_t kCommPropertiesBytes22902 = 40;  // the 2.29.2 layout, ginType one byte
constexpr std::size_t kCommPropertiesGinType22902 = 34;

// What ncclDevCommCreate is asked for (2.29.2; the 2.29.2 layout ends at ginCounterCount).
typedef struct ncclDevCommRequirements {
  std::size_t size;
  unsigned int magic;
  unsigned int version;
  ncclDevResourceRequirements* resourceRequirementsList;
  ncclTeamRequirements* teamRequirementsList;
  bool lsaMultimem;
  int barrierCount;
  int lsaBarrierCount;
  int railGinBarrierCount;
  int lsaLLA2ABlockCount;
  int lsaLLA2ASlotCount;
  bool ginForceEnable;
  int ginContextCount;
  int ginSignalCount;
  int ginCounterCount;
  ncclGinConnectionType_t ginConnectionType;  // after 2.29.2
  bool ginExclusiveContexts;
  int ginQueueDepth;
  int ginTrafficClass;
  int worldGinBarrierCount;
  bool ginStrongSignalsRequired;
  bool ginVaSignalsRequired;
} ncclDevCommRequirements_t;
constexpr std::size_t kDevCommRequirementsBytes22902 = 72;

// The device communicator ncclDevCommCreate writes, for kernels to take by value. NCCL writes
// the layout of the requirements' version: 2.30's (versioned, 240 bytes in 2.30.7), declared
// here up to the fields ncclrt reads; or 2.29's (unversioned, 200 bytes), ncclDevComm_v22902.
typedef struct alignas(8) ncclDevComm {
  unsigned int magic;
  unsigned int version;
  int rank;
  int nRanks;
  std::uint32_t nRanks_rcp32;
  int lsaRank;
  int lsaSize;
  std::uint32_t lsaSize_rcp32;
  unsigned char rest[208];  // windows, barriers and GIN state: NCCL's own
} ncclDevComm_t;
typedef struct alignas(8) {
  int rank;
  int nRanks;
  std::uint32_t nRanks_rcp32;
  int lsaRank;
  int lsaSize;
  std::uint32_t lsaSize_rcp32;
  unsigned char rest[176];
} ncclDevComm_v22902;

constexpr unsigned kSimInfoMagic = 0x74685283;
typedef struct {
  std::size_t size;
  unsigned int magic;
  unsigned int version;
  float estimatedTime;
} ncclSimInfo_t;

}  // namespace ncclrt::abi
NCCLRT_EXPORT_END
