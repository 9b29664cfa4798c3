/* A stand-in NCCL that makes communicators without a GPU and counts every call, so the CPU tests
 * can show what reaches NCCL (and what must not), how the config struct is sized for an older
 * release, and that nothing leaks. FAKE_VERSION picks the release it plays; functions newer than
 * that are absent, as in the real file. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Misbehaviour on request, through the environment, for the reliability tests:
 *   FAKE_INIT_IN_PROGRESS=1      nonblocking creation never completes (ncclInProgress forever)
 *   FAKE_FINALIZE_IN_PROGRESS=1  finalize never completes
 *   FAKE_ABORT_SLEEP_MS=N        ncclCommAbort takes N ms to return
 *   FAKE_ASYNC_ERROR=N           ncclCommGetAsyncError reports error N */
static int env_int(const char* name) {
  const char* v = getenv(name);
  return v ? atoi(v) : 0;
}

#ifndef FAKE_VERSION
#error "FAKE_VERSION must be set"
#endif

typedef struct {
  int nranks;
  int rank;
} fake_comm;

typedef struct {
  char internal[128];
} unique_id; /* passed by value, as NCCL does */

typedef struct {
  size_t size;
  unsigned magic;
  unsigned version;
  int blocking;
} config_head;

static int calls;          /* operations that reached "NCCL" */
static int live_comms;     /* created and not yet destroyed or aborted */
static size_t config_size; /* ->size of the last config passed in */
static unsigned config_version;
static int config_blocking;

int fake_calls(void);
int fake_calls(void) { return calls; }
int fake_live_comms(void);
int fake_live_comms(void) { return live_comms; }
size_t fake_config_size(void);
size_t fake_config_size(void) { return config_size; }
unsigned fake_config_version(void);
unsigned fake_config_version(void) { return config_version; }
int fake_config_blocking(void);
int fake_config_blocking(void) { return config_blocking; }

static fake_comm* make(int nranks, int rank) {
  fake_comm* c = malloc(sizeof *c);
  c->nranks = nranks;
  c->rank = rank;
  ++live_comms;
  return c;
}

__attribute__((unused)) static void take_config(const void* cfg) {
  const config_head* h = cfg;
  config_size = h->size;
  config_version = h->version;
  config_blocking = h->blocking;
}

int ncclGetVersion(int* v);
int ncclGetVersion(int* v) {
  *v = FAKE_VERSION;
  return 0;
}
int ncclGetUniqueId(char* id);
int ncclGetUniqueId(char* id) {
  static int n;
  memset(id, 0, 128);
  id[0] = 'r';
  id[1] = (char)++n;
  return 0;
}
const char* ncclGetErrorString(int r);
const char* ncclGetErrorString(int r) { return r == 0 ? "no error" : "fake error"; }

int ncclCommInitRank(fake_comm** comm, int nranks, unique_id id, int rank);
int ncclCommInitRank(fake_comm** comm, int nranks, unique_id id, int rank) {
  (void)id;
  *comm = make(nranks, rank);
  return 0;
}
int ncclCommInitAll(fake_comm** comms, int n, const int* devs);
int ncclCommInitAll(fake_comm** comms, int n, const int* devs) {
  (void)devs;
  for (int i = 0; i < n; ++i) comms[i] = make(n, i);
  return 0;
}
int ncclCommDestroy(fake_comm* c);
int ncclCommDestroy(fake_comm* c) {
  --live_comms;
  free(c);
  return 0;
}
int ncclCommAbort(fake_comm* c);
int ncclCommAbort(fake_comm* c) {
  const int ms = env_int("FAKE_ABORT_SLEEP_MS");
  if (ms > 0) usleep((useconds_t)ms * 1000);
  return ncclCommDestroy(c);
}
int ncclCommCount(const fake_comm* c, int* n);
int ncclCommCount(const fake_comm* c, int* n) {
  *n = c->nranks;
  return 0;
}
int ncclCommUserRank(const fake_comm* c, int* r);
int ncclCommUserRank(const fake_comm* c, int* r) {
  *r = c->rank;
  return 0;
}
int ncclCommCuDevice(const fake_comm* c, int* d);
int ncclCommCuDevice(const fake_comm* c, int* d) {
  *d = c->rank;
  return 0;
}
int ncclCommGetAsyncError(fake_comm* c, int* e);
static int finalizing;
int ncclCommGetAsyncError(fake_comm* c, int* e) {
  (void)c;
  *e = env_int("FAKE_ASYNC_ERROR");
  if (*e == 0 &&
      (env_int("FAKE_INIT_IN_PROGRESS") || (finalizing && env_int("FAKE_FINALIZE_IN_PROGRESS")))) {
    *e = 7; /* ncclInProgress */
  }
  return 0;
}

#define OP(name)   \
  int name(void);  \
  int name(void) { \
    ++calls;       \
    return 0;      \
  }
OP(ncclReduce)
OP(ncclBcast)
OP(ncclBroadcast)
OP(ncclAllReduce)
OP(ncclReduceScatter)
OP(ncclAllGather)
OP(ncclGroupStart)
OP(ncclGroupEnd)
OP(ncclSend)
OP(ncclRecv)
OP(ncclRedOpCreatePreMulSum)
OP(ncclRedOpDestroy)

#if FAKE_VERSION >= 21300
const char* ncclGetLastError(void* c);
const char* ncclGetLastError(void* c) {
  (void)c;
  return "";
}
#endif
#if FAKE_VERSION >= 21400
int ncclCommInitRankConfig(fake_comm** comm, int nranks, unique_id id, int rank, void* cfg);
int ncclCommInitRankConfig(fake_comm** comm, int nranks, unique_id id, int rank, void* cfg) {
  take_config(cfg);
  ncclCommInitRank(comm, nranks, id, rank);
  return env_int("FAKE_INIT_IN_PROGRESS") ? 7 : 0;
}
int ncclCommFinalize(fake_comm* c);
int ncclCommFinalize(fake_comm* c) {
  (void)c;
  ++calls;
  finalizing = 1;
  return env_int("FAKE_FINALIZE_IN_PROGRESS") ? 7 : 0;
}
#endif
#if FAKE_VERSION >= 21800
int ncclCommSplit(fake_comm* c, int color, int key, fake_comm** out, void* cfg);
int ncclCommSplit(fake_comm* c, int color, int key, fake_comm** out, void* cfg) {
  (void)key;
  take_config(cfg);
  *out = color < 0 ? NULL : make(c->nranks, c->rank);
  return env_int("FAKE_INIT_IN_PROGRESS") ? 7 : 0;
}
#endif
#if FAKE_VERSION >= 21900
OP(ncclCommRegister)
OP(ncclCommDeregister)
OP(ncclMemAlloc)
OP(ncclMemFree)
#endif
#if FAKE_VERSION >= 22200
OP(ncclGroupSimulateEnd)
#endif
#if FAKE_VERSION >= 22300
OP(ncclCommInitRankScalable)
#endif
#if FAKE_VERSION >= 22700
int ncclCommShrink(fake_comm* c, int* ex, int nex, fake_comm** out, void* cfg, int flags);
int ncclCommShrink(fake_comm* c, int* ex, int nex, fake_comm** out, void* cfg, int flags) {
  (void)ex;
  (void)flags;
  take_config(cfg);
  *out = make(c->nranks - nex, 0);
  return env_int("FAKE_INIT_IN_PROGRESS") ? 7 : 0;
}
OP(ncclCommWindowRegister)
OP(ncclCommWindowDeregister)
#endif
#if FAKE_VERSION >= 22803
OP(ncclAlltoAll)
OP(ncclGather)
OP(ncclScatter)
#endif
#if FAKE_VERSION >= 22807
OP(ncclCommRevoke)
#endif
