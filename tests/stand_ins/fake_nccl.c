/* A stand-in for libnccl, for what a real NCCL cannot show on this machine: an old version, a
 * missing function, a version that claims functions the file lacks. Variants are chosen by
 * FAKE_VERSION (NCCL's version code) and FAKE_OMIT_* macros at build time. */
#include <string.h>

#ifndef FAKE_VERSION
#error "FAKE_VERSION must be set"
#endif

#define STUB(name) \
  int name(void);  \
  int name(void) { return 0; }

int ncclGetVersion(int* version);
int ncclGetVersion(int* version) {
  *version = FAKE_VERSION;
  return 0;
}

static int id_counter;
int ncclGetUniqueId(char* id);
int ncclGetUniqueId(char* id) {
  memset(id, 0, 128);
  id[0] = 'f';
  id[1] = (char)++id_counter;
  return 0;
}

const char* ncclGetErrorString(int result);
const char* ncclGetErrorString(int result) { return result == 0 ? "fake success" : "fake error"; }

STUB(ncclCommInitRank)
STUB(ncclCommInitAll)
STUB(ncclCommDestroy)
STUB(ncclCommCount)
STUB(ncclCommCuDevice)
STUB(ncclCommUserRank)
STUB(ncclReduce)
STUB(ncclBroadcast)
STUB(ncclReduceScatter)
STUB(ncclAllGather)
STUB(ncclGroupStart)
STUB(ncclGroupEnd)
#ifndef FAKE_OMIT_REQUIRED
STUB(ncclAllReduce)
STUB(ncclBcast)
#endif

/* 2.4 .. 2.11 */
STUB(ncclCommAbort)
STUB(ncclCommGetAsyncError)
STUB(ncclSend)
STUB(ncclRecv)
STUB(ncclRedOpCreatePreMulSum)
STUB(ncclRedOpDestroy)

#if FAKE_VERSION >= 21300
const char* ncclGetLastError(void* comm);
const char* ncclGetLastError(void* comm) {
  (void)comm;
  return "fake last error";
}
STUB(ncclCommInitRankConfig)
STUB(ncclCommFinalize)
STUB(ncclCommSplit)
STUB(ncclCommRegister)
STUB(ncclCommDeregister)
STUB(ncclMemAlloc)
STUB(ncclMemFree)
STUB(ncclGroupSimulateEnd)
STUB(ncclCommInitRankScalable)
#ifndef FAKE_OMIT_CLAIMED
STUB(ncclCommShrink)
STUB(ncclCommWindowRegister)
#endif
STUB(ncclCommWindowDeregister)
STUB(ncclAlltoAll)
STUB(ncclGather)
STUB(ncclScatter)
STUB(ncclCommRevoke)
#endif
