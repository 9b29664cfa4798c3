/* A stand-in NCCL that makes communicators without a GPU and counts every call, so the CPU tests
 * can show what reaches NCCL (and what must not), how the config struct is sized for an older
 * release, and that nothing leaks. FAKE_VERSION picks the release it plays; functions newer than
 * that are absent, as in the real file. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Misbehaviour on request, through the environment, for the reliability tests:
 *   FAKE_INIT_IN_PROGRESS=1      nonblocking creation never completes (ncclInProgress forever)
 *   FAKE_FINALIZE_IN_PROGRESS=1  finalize never completes
 *   FAKE_ABORT_SLEEP_MS=N        ncclCommAbort takes N ms to return
 *   FAKE_ASYNC_ERROR=N           ncclCommGetAsyncError reports error N
 *   FAKE_CHILD_LATE_MS=N         a nonblocking split/shrink/grow returns at once with no
 *                                communicator and stores it N ms later from another thread, as
 *                                NCCL does (-1: never)
 *   FAKE_OP_IN_PROGRESS=N        operations return ncclInProgress, and ncclCommGetAsyncError
 *                                reports ncclInProgress N-1 more times, then FAKE_OP_FAILS
 *                                (default 0, success): a nonblocking communicator enqueuing;
 *                                fake_pending() says how many polls are still owed
 *   FAKE_REVOKE_SLEEP_MS=N       ncclCommRevoke takes N ms to return (a blocking revoke stuck)
 *   FAKE_REVOKE_RESULT=N         ncclCommRevoke returns N, revoking nothing (NCCL refusing to
 *                                revoke a communicator it saw fail: ncclRemoteError is 6)
 *   FAKE_SPLIT_SLEEP_MS=N        ncclCommSplit takes N ms to return (a blocking parent's split
 *                                waiting for a rank that does not come)
 * and through functions (no getenv on every call): fake_set_hang_ms(N) makes every operation
 * sleep N ms inside "NCCL" (a hung call); fake_set_query_us(N) makes ncclCommGetAsyncError take
 * N us. */
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
  int state; /* 0 never made, 1 live, 2 destroyed or aborted (slots are never reused) */
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

static int calls;      /* operations that reached "NCCL" */
static int op_hang_ms; /* fake_set_hang_ms */
static int pending;    /* (atomic) polls left before a nonblocking operation counts as enqueued */
static int live_comms; /* created and not yet destroyed or aborted */
static size_t config_size; /* ->size of the last config passed in */
static unsigned config_version;
static int config_blocking;

void fake_set_hang_ms(int ms);
void fake_set_hang_ms(int ms) { __atomic_store_n(&op_hang_ms, ms, __ATOMIC_RELAXED); }
int fake_calls(void);
int fake_calls(void) { return __atomic_load_n(&calls, __ATOMIC_RELAXED); }
int fake_pending(void);
int fake_pending(void) { return __atomic_load_n(&pending, __ATOMIC_RELAXED); }
int fake_live_comms(void);
int fake_live_comms(void) { return __atomic_load_n(&live_comms, __ATOMIC_RELAXED); }
size_t fake_config_size(void);
size_t fake_config_size(void) { return config_size; }
unsigned fake_config_version(void);
unsigned fake_config_version(void) { return config_version; }
int fake_config_blocking(void);
int fake_config_blocking(void) { return config_blocking; }

/* Communicators come from a pool whose slots are never reused, so that a call on one that was
 * destroyed or aborted is seen for what it is (a use after free in a real NCCL) and fails the
 * test loudly: the message, then abort(). */
enum { kMaxComms = 1 << 16 };
static fake_comm pool[kMaxComms];
static int pool_used;

static void misuse(const char* fn, const void* c, const char* what) {
  fprintf(stderr, "recording stand-in: %s called on communicator %p, %s\n", fn, c, what);
  fflush(stderr);
  abort();
}

/* The functions called with a communicator so far (distinct names): fake_was_called(name). */
enum { kMaxSeen = 128 };
static const char* seen[kMaxSeen];
static int nseen;
static pthread_mutex_t seen_mutex = PTHREAD_MUTEX_INITIALIZER;
int fake_was_called(const char* fn);
int fake_was_called(const char* fn) {
  pthread_mutex_lock(&seen_mutex);
  int found = 0;
  for (int i = 0; i < nseen && !found; ++i) found = strcmp(seen[i], fn) == 0;
  pthread_mutex_unlock(&seen_mutex);
  return found;
}

void fake_clear_seen(void);
void fake_clear_seen(void) {
  pthread_mutex_lock(&seen_mutex);
  nseen = 0;
  pthread_mutex_unlock(&seen_mutex);
}

/* Every function given a communicator checks it first. */
static void use(const char* fn, const void* c) {
  const fake_comm* f = c;
  if (f < pool || f >= pool + kMaxComms) misuse(fn, c, "which this NCCL never made");
  const int state = __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
  if (state != 1)
    misuse(fn, c,
           state == 2 ? "which was destroyed or aborted (use after free)"
                      : "which this NCCL never made");
  if (fake_was_called(fn)) return;
  pthread_mutex_lock(&seen_mutex);
  if (nseen < kMaxSeen) seen[nseen++] = fn;
  pthread_mutex_unlock(&seen_mutex);
}

static fake_comm* make(int nranks, int rank) {
  const int i = __atomic_fetch_add(&pool_used, 1, __ATOMIC_RELAXED);
  if (i >= kMaxComms) misuse("make", NULL, "but the stand-in's pool is used up");
  fake_comm* c = &pool[i];
  c->nranks = nranks;
  c->rank = rank;
  __atomic_store_n(&c->state, 1, __ATOMIC_RELEASE);
  __atomic_add_fetch(&live_comms, 1, __ATOMIC_RELAXED);
  return c;
}

__attribute__((unused)) static void take_config(const void* cfg) {
  if (cfg == NULL) { /* NCCL's defaults (cupy passes none) */
    config_size = 0;
    config_version = 0;
    config_blocking = 1;
    return;
  }
  const config_head* h = cfg;
  config_size = h->size;
  config_version = h->version;
  config_blocking = h->blocking;
}

/* A child communicator handed over late, from another thread, as NCCL does for a nonblocking
 * split, shrink or grow. */
typedef struct {
  fake_comm** out;
  fake_comm* comm;
  int ms;
} late_child;
static void* store_late(void* p) {
  late_child* l = p;
  usleep((useconds_t)l->ms * 1000u);
  __atomic_store_n(l->out, l->comm, __ATOMIC_RELEASE);
  free(l);
  return NULL;
}
/* Stores `child` in *out now, or later when asked to (nonblocking only); returns NCCL's result. */
__attribute__((unused)) static int hand_over(fake_comm** out, fake_comm* child) {
  const char* late = getenv("FAKE_CHILD_LATE_MS");
  if (env_int("FAKE_OP_IN_PROGRESS") > 0 && config_blocking == 0) { /* enqueuing, as an op */
    *out = child;
    __atomic_store_n(&pending, env_int("FAKE_OP_IN_PROGRESS"), __ATOMIC_RELAXED);
    return 7;
  }
  if (!late || config_blocking != 0 || child == NULL) {
    *out = child;
    return env_int("FAKE_INIT_IN_PROGRESS") ? 7 : 0;
  }
  *out = NULL;
  if (atoi(late) < 0) {                                   /* never: the caller must give up */
    __atomic_store_n(&child->state, 2, __ATOMIC_RELEASE); /* never handed over */
    __atomic_sub_fetch(&live_comms, 1, __ATOMIC_RELAXED);
    return 0;
  }
  late_child* l = malloc(sizeof *l);
  l->out = out;
  l->comm = child;
  l->ms = atoi(late);
  pthread_t t;
  pthread_create(&t, NULL, store_late, l);
  pthread_detach(t);
  return 0;
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
  use("ncclCommDestroy", c);
  __atomic_store_n(&c->state, 2, __ATOMIC_RELEASE);
  __atomic_sub_fetch(&live_comms, 1, __ATOMIC_RELAXED);
  return 0;
}
int ncclCommAbort(fake_comm* c);
int ncclCommAbort(fake_comm* c) {
  const int ms = env_int("FAKE_ABORT_SLEEP_MS");
  if (ms > 0) usleep((useconds_t)ms * 1000);
  use("ncclCommAbort", c);
  return ncclCommDestroy(c);
}
int ncclCommCount(const fake_comm* c, int* n);
int ncclCommCount(const fake_comm* c, int* n) {
  use("ncclCommCount", c);
  *n = c->nranks;
  return 0;
}
int ncclCommUserRank(const fake_comm* c, int* r);
int ncclCommUserRank(const fake_comm* c, int* r) {
  use("ncclCommUserRank", c);
  *r = c->rank;
  return 0;
}
int ncclCommCuDevice(const fake_comm* c, int* d);
int ncclCommCuDevice(const fake_comm* c, int* d) {
  use("ncclCommCuDevice", c);
  *d = c->rank;
  return 0;
}
static int finalizing;
static int async_error(void) {
  if (env_int("FAKE_OP_IN_PROGRESS") == 0) { /* owed polls count only while it is set */
    __atomic_store_n(&pending, 0, __ATOMIC_RELAXED);
  }
  if (__atomic_load_n(&pending, __ATOMIC_RELAXED) > 0) {
    return __atomic_sub_fetch(&pending, 1, __ATOMIC_RELAXED) > 0 ? 7 : env_int("FAKE_OP_FAILS");
  }
  const int e = env_int("FAKE_ASYNC_ERROR");
  if (e == 0 &&
      (env_int("FAKE_INIT_IN_PROGRESS") ||
       (__atomic_load_n(&finalizing, __ATOMIC_RELAXED) && env_int("FAKE_FINALIZE_IN_PROGRESS")))) {
    return 7; /* ncclInProgress */
  }
  return e;
}
/* The query reads the communicator from its start to its end, as NCCL's does: a communicator
 * destroyed or aborted while it runs is a use after free too. fake_set_query_us(N) makes each
 * query take N us, so that another thread's abort has the time to land inside one. */
static int query_us;
void fake_set_query_us(int us);
void fake_set_query_us(int us) { __atomic_store_n(&query_us, us, __ATOMIC_RELAXED); }
int ncclCommGetAsyncError(fake_comm* c, int* e);
int ncclCommGetAsyncError(fake_comm* c, int* e) {
  use("ncclCommGetAsyncError", c);
  const int us = __atomic_load_n(&query_us, __ATOMIC_RELAXED);
  if (us > 0) usleep((useconds_t)us);
  *e = async_error();
  if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) != 1) {
    misuse("ncclCommGetAsyncError", c, "which was destroyed or aborted while the call ran");
  }
  return 0;
}

/* Every operation is recorded with all its arguments, so a test can assert exactly what reached
 * NCCL: fake_records() counts them, fake_record(i) returns one, fake_clear_records() forgets them.
 * Fields an operation does not have stay zero (root/peer: -1). */
typedef struct {
  char fn[32];
  const void* send;
  void* recv;
  size_t count;
  int type;
  int op;
  int root; /* root, or the peer of send/recv */
  void* comm;
  void* stream;
  long long extra[6]; /* what else a call passes, per function (see below) */
} fake_record_t;
enum { kMaxRecords = 4096 };
static fake_record_t records[kMaxRecords];
static int nrecords;

int fake_records(void);
int fake_records(void) {
  const int n = __atomic_load_n(&nrecords, __ATOMIC_RELAXED);
  return n < kMaxRecords ? n : kMaxRecords;
}
const fake_record_t* fake_record(int i);
const fake_record_t* fake_record(int i) {
  return i >= 0 && i < fake_records() ? &records[i] : NULL;
}
void fake_clear_records(void);
void fake_clear_records(void) { __atomic_store_n(&nrecords, 0, __ATOMIC_RELAXED); }

static int record(const char* fn, const void* send, void* recv, size_t count, int type, int op,
                  int root, void* comm, void* stream) {
  if (comm != NULL) use(fn, comm);
  __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
  const int in_progress = env_int("FAKE_OP_IN_PROGRESS");
  const int hang_ms = __atomic_load_n(&op_hang_ms, __ATOMIC_RELAXED);
  if (hang_ms > 0 && strcmp(fn, "ncclGroupStart") != 0 && strcmp(fn, "ncclGroupEnd") != 0) {
    usleep((useconds_t)hang_ms * 1000u);
  }
  /* Threads on their own communicators may record side by side: each takes a slot of its own. */
  const int slot = __atomic_fetch_add(&nrecords, 1, __ATOMIC_RELAXED);
  if (slot < kMaxRecords) {
    fake_record_t* r = &records[slot];
    memset(r, 0, sizeof *r);
    strncpy(r->fn, fn, sizeof r->fn - 1);
    r->send = send;
    r->recv = recv;
    r->count = count;
    r->type = type;
    r->op = op;
    r->root = root;
    r->comm = comm;
    r->stream = stream;
  }
  if (in_progress > 0 && strcmp(fn, "ncclGroupStart") != 0) {
    __atomic_store_n(&pending, in_progress, __ATOMIC_RELAXED);
    return 7; /* ncclInProgress */
  }
  return 0;
}

#define OP(name)   \
  int name(void);  \
  int name(void) { \
    ++calls;       \
    return 0;      \
  }

int ncclAllReduce(const void* s, void* r, size_t n, int t, int op, void* c, void* st);
int ncclAllReduce(const void* s, void* r, size_t n, int t, int op, void* c, void* st) {
  return record("ncclAllReduce", s, r, n, t, op, -1, c, st);
}
int ncclBroadcast(const void* s, void* r, size_t n, int t, int root, void* c, void* st);
int ncclBroadcast(const void* s, void* r, size_t n, int t, int root, void* c, void* st) {
  return record("ncclBroadcast", s, r, n, t, 0, root, c, st);
}
int ncclBcast(void* b, size_t n, int t, int root, void* c, void* st);
int ncclBcast(void* b, size_t n, int t, int root, void* c, void* st) {
  return record("ncclBcast", b, b, n, t, 0, root, c, st);
}
int ncclReduce(const void* s, void* r, size_t n, int t, int op, int root, void* c, void* st);
int ncclReduce(const void* s, void* r, size_t n, int t, int op, int root, void* c, void* st) {
  return record("ncclReduce", s, r, n, t, op, root, c, st);
}
int ncclAllGather(const void* s, void* r, size_t n, int t, void* c, void* st);
int ncclAllGather(const void* s, void* r, size_t n, int t, void* c, void* st) {
  return record("ncclAllGather", s, r, n, t, 0, -1, c, st);
}
int ncclReduceScatter(const void* s, void* r, size_t n, int t, int op, void* c, void* st);
int ncclReduceScatter(const void* s, void* r, size_t n, int t, int op, void* c, void* st) {
  return record("ncclReduceScatter", s, r, n, t, op, -1, c, st);
}
int ncclSend(const void* b, size_t n, int t, int peer, void* c, void* st);
int ncclSend(const void* b, size_t n, int t, int peer, void* c, void* st) {
  return record("ncclSend", b, NULL, n, t, 0, peer, c, st);
}
int ncclRecv(void* b, size_t n, int t, int peer, void* c, void* st);
int ncclRecv(void* b, size_t n, int t, int peer, void* c, void* st) {
  return record("ncclRecv", NULL, b, n, t, 0, peer, c, st);
}
int ncclGroupStart(void);
int ncclGroupStart(void) { return record("ncclGroupStart", NULL, NULL, 0, 0, 0, -1, NULL, NULL); }
int ncclGroupEnd(void);
int ncclGroupEnd(void) { return record("ncclGroupEnd", NULL, NULL, 0, 0, 0, -1, NULL, NULL); }
/* PreMulSum ops get distinct values from ncclNumOps (5) on, as NCCL's do. */
static int next_op = 5;
int ncclRedOpCreatePreMulSum(int* op, void* scalar, int t, int residence, void* c);
int ncclRedOpCreatePreMulSum(int* op, void* scalar, int t, int residence, void* c) {
  *op = next_op++;
  return record("ncclRedOpCreatePreMulSum", scalar, NULL, 0, t, *op, residence, c, NULL);
}
int ncclRedOpDestroy(int op, void* c);
int ncclRedOpDestroy(int op, void* c) {
  return record("ncclRedOpDestroy", NULL, NULL, 0, 0, op, -1, c, NULL);
}

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
  use("ncclCommFinalize", c);
  __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
  __atomic_store_n(&finalizing, 1, __ATOMIC_RELAXED);
  if (env_int("FAKE_OP_IN_PROGRESS") > 0) {
    __atomic_store_n(&pending, env_int("FAKE_OP_IN_PROGRESS"), __ATOMIC_RELAXED);
    return 7;
  }
  return env_int("FAKE_FINALIZE_IN_PROGRESS") ? 7 : 0;
}
#endif
#if FAKE_VERSION >= 21800
int ncclCommSplit(fake_comm* c, int color, int key, fake_comm** out, void* cfg);
int ncclCommSplit(fake_comm* c, int color, int key, fake_comm** out, void* cfg) {
  (void)key;
  use("ncclCommSplit", c);
  const int ms = env_int("FAKE_SPLIT_SLEEP_MS");
  if (ms > 0) usleep((useconds_t)ms * 1000);
  take_config(cfg);
  return hand_over(out, color < 0 ? NULL : make(c->nranks, c->rank));
}
#endif
#if FAKE_VERSION >= 21900
int ncclCommRegister(void* c, void* buf, size_t bytes, void** handle);
int ncclCommRegister(void* c, void* buf, size_t bytes, void** handle) {
  *handle = (char*)buf + 1; /* any non-null token */
  return record("ncclCommRegister", buf, NULL, bytes, 0, 0, -1, c, NULL);
}
int ncclCommDeregister(void* c, void* handle);
int ncclCommDeregister(void* c, void* handle) {
  return record("ncclCommDeregister", handle, NULL, 0, 0, 0, -1, c, NULL);
}
int ncclMemAlloc(void** ptr, size_t bytes);
int ncclMemAlloc(void** ptr, size_t bytes) {
  /* A fake device address, never dereferenced; each allocation its own (4 GiB apart). */
  static size_t next_mem;
  const size_t n = __atomic_fetch_add(&next_mem, 1, __ATOMIC_RELAXED);
  *ptr = (void*)(size_t)(0x7f0000000000ull + (n << 32));
  return record("ncclMemAlloc", NULL, *ptr, bytes, 0, 0, -1, NULL, NULL);
}
int ncclMemFree(void* ptr);
int ncclMemFree(void* ptr) { return record("ncclMemFree", ptr, NULL, 0, 0, 0, -1, NULL, NULL); }
#endif
#if FAKE_VERSION >= 22200
OP(ncclGroupSimulateEnd)
#endif
#if FAKE_VERSION >= 22300
OP(ncclCommInitRankScalable)
#endif
#if FAKE_VERSION >= 22700
int ncclCommShrink(fake_comm* c, int* ex, int nex, fake_comm** out, void* cfg, int flags);
static int last_shrink_flags = -1;
static int shrinks = 0;
int fake_last_shrink_flags(void);
int fake_last_shrink_flags(void) { return __atomic_load_n(&last_shrink_flags, __ATOMIC_RELAXED); }
int fake_shrinks(void);
int fake_shrinks(void) { return __atomic_load_n(&shrinks, __ATOMIC_RELAXED); }
int ncclCommShrink(fake_comm* c, int* ex, int nex, fake_comm** out, void* cfg, int flags) {
  __atomic_store_n(&last_shrink_flags, flags, __ATOMIC_RELAXED);
  __atomic_add_fetch(&shrinks, 1, __ATOMIC_RELAXED);
  use("ncclCommShrink", c);
  take_config(cfg);
  int below = 0; /* the survivors keep their order */
  for (int i = 0; i < nex; ++i) below += ex[i] < c->rank;
  return hand_over(out, make(c->nranks - nex, c->rank - below));
}
int ncclCommWindowRegister(void* c, void* buf, size_t bytes, void** win, int flags);
int ncclCommWindowRegister(void* c, void* buf, size_t bytes, void** win, int flags) {
  *win = (char*)buf + 2;
  return record("ncclCommWindowRegister", buf, NULL, bytes, 0, flags, -1, c, NULL);
}
int ncclCommWindowDeregister(void* c, void* win);
int ncclCommWindowDeregister(void* c, void* win) {
  return record("ncclCommWindowDeregister", win, NULL, 0, 0, 0, -1, c, NULL);
}
#endif
#if FAKE_VERSION >= 22803
int ncclAlltoAll(const void* s, void* r, size_t n, int t, void* c, void* st);
int ncclAlltoAll(const void* s, void* r, size_t n, int t, void* c, void* st) {
  return record("ncclAlltoAll", s, r, n, t, 0, -1, c, st);
}
int ncclGather(const void* s, void* r, size_t n, int t, int root, void* c, void* st);
int ncclGather(const void* s, void* r, size_t n, int t, int root, void* c, void* st) {
  return record("ncclGather", s, r, n, t, 0, root, c, st);
}
int ncclScatter(const void* s, void* r, size_t n, int t, int root, void* c, void* st);
int ncclScatter(const void* s, void* r, size_t n, int t, int root, void* c, void* st) {
  return record("ncclScatter", s, r, n, t, 0, root, c, st);
}
#endif
#if FAKE_VERSION >= 22807
int ncclCommRevoke(void* c, int flags);
int ncclCommRevoke(void* c, int flags) {
  const int ms = env_int("FAKE_REVOKE_SLEEP_MS");
  if (ms > 0) usleep((useconds_t)ms * 1000);
  const int refused = env_int("FAKE_REVOKE_RESULT");
  const int r = record("ncclCommRevoke", NULL, NULL, 0, 0, flags, -1, c, NULL);
  return refused != 0 ? refused : r;
}
#endif
__attribute__((unused)) static fake_record_t* last(void) {
  const int n = fake_records();
  return n > 0 ? &records[n - 1] : NULL;
}
#if FAKE_VERSION >= 22902
/* extra: grow: nranks, rank, first id byte (-1 without an id); put_signal: offset, signal index,
 * context, flags (recv = the window); signal: signal index, context, flags; wait_signal: count,
 * then desc 0's opCnt, peer, sigIdx, ctx, and desc 1's peer. */
int ncclCommGetUniqueId(void* c, char* id);
int ncclCommGetUniqueId(void* c, char* id) {
  if (getenv("NCCL_COMM_ID")) return 5; /* ncclInvalidUsage, as NCCL while it is set */
  memset(id, 0x47, 128);
  return record("ncclCommGetUniqueId", NULL, NULL, 0, 0, 0, -1, c, NULL);
}
int ncclCommGrow(fake_comm* c, int n, const unsigned char* id, int rank, fake_comm** out,
                 void* cfg);
int ncclCommGrow(fake_comm* c, int n, const unsigned char* id, int rank, fake_comm** out,
                 void* cfg) {
  take_config(cfg);
  record("ncclCommGrow", NULL, NULL, 0, 0, 0, rank, c, NULL);
  last()->extra[0] = n;
  last()->extra[1] = rank;
  last()->extra[2] = id ? id[0] : -1;
  return hand_over(out, make(n, rank < 0 ? c->rank : rank));
}
int ncclPutSignal(const void* s, size_t n, int t, int peer, void* win, size_t off, int sig, int ctx,
                  unsigned flags, void* c, void* st);
int ncclPutSignal(const void* s, size_t n, int t, int peer, void* win, size_t off, int sig, int ctx,
                  unsigned flags, void* c, void* st) {
  const int r = record("ncclPutSignal", s, win, n, t, 0, peer, c, st);
  last()->extra[0] = (long long)off;
  last()->extra[1] = sig;
  last()->extra[2] = ctx;
  last()->extra[3] = flags;
  return r;
}
int ncclSignal(int peer, int sig, int ctx, unsigned flags, void* c, void* st);
int ncclSignal(int peer, int sig, int ctx, unsigned flags, void* c, void* st) {
  const int r = record("ncclSignal", NULL, NULL, 0, 0, 0, peer, c, st);
  last()->extra[0] = sig;
  last()->extra[1] = ctx;
  last()->extra[2] = flags;
  return r;
}
typedef struct {
  int opCnt, peer, sigIdx, ctx;
} wait_desc;
int ncclWaitSignal(int n, wait_desc* d, void* c, void* st);
int ncclWaitSignal(int n, wait_desc* d, void* c, void* st) {
  const int r = record("ncclWaitSignal", NULL, NULL, (size_t)n, 0, 0, -1, c, st);
  last()->extra[0] = d[0].opCnt;
  last()->extra[1] = d[0].peer;
  last()->extra[2] = d[0].sigIdx;
  last()->extra[3] = d[0].ctx;
  last()->extra[4] = n > 1 ? d[1].peer : -1;
  last()->extra[5] = d[n - 1].opCnt;
  return r;
}
int ncclWinGetUserPtr(void* c, void* win, void** out);
int ncclWinGetUserPtr(void* c, void* win, void** out) {
  *out = (char*)win - 2; /* undoes ncclCommWindowRegister's handle */
  return record("ncclWinGetUserPtr", win, NULL, 0, 0, 0, -1, c, NULL);
}

/* The device API's host side. Properties: every field the caller's version asks for (2.29.2's
 * layout writes ginType as one byte at offset 34); FAKE_NO_DEVICE_API=1 reports no device-API
 * support. A device communicator: the caller's layout (version >= 2.30.0: magic and version
 * first) with rank, nRanks, lsaRank = rank and lsaSize = nRanks; the record's extra = the
 * requirements' size, version, ginContextCount, barrierCount, and (2.30.7 layout) ginTrafficClass
 * and ginVaSignalsRequired. Window addresses: the registered buffer + offset + 0x100000 x the
 * rank asked for (lsa, peer), + 0x40000000 for multicast (+ the multimem base if given). */
typedef struct {
  size_t size;
  unsigned magic, version;
  int rank, nRanks, cudaDev, nvmlDev;
  unsigned char deviceApiSupport, multimemSupport;
  int ginType, nLsaTeams;
  unsigned char hostRmaSupport;
  int railedGinType;
} comm_properties; /* 2.30.7's layout */
int ncclCommQueryProperties(fake_comm* c, comm_properties* p);
int ncclCommQueryProperties(fake_comm* c, comm_properties* p) {
  const int r = record("ncclCommQueryProperties", NULL, NULL, p->size, 0, 0, -1, c, NULL);
  last()->extra[0] = (long long)p->size;
  last()->extra[1] = p->version;
  if (p->magic != 0xcafebeef) return 5; /* ncclInvalidUsage, as NCCL */
  p->rank = c->rank;
  p->nRanks = c->nranks;
  p->cudaDev = c->rank;
  p->nvmlDev = 10 + c->rank;
  p->deviceApiSupport = env_int("FAKE_NO_DEVICE_API") ? 0 : 1;
  p->multimemSupport = 0;
  if (p->version > 22903) {
    p->ginType = 3;
    p->nLsaTeams = 1;
    p->hostRmaSupport = 1;
    p->railedGinType = 2;
  } else {
    ((unsigned char*)p)[34] = 3;
  }
  return r;
}
typedef struct {
  size_t size;
  unsigned magic, version;
  void *resources, *teams;
  unsigned char lsaMultimem;
  int barrierCount, lsaBarrierCount, railGinBarrierCount, lsaLLA2ABlockCount, lsaLLA2ASlotCount;
  unsigned char ginForceEnable;
  int ginContextCount, ginSignalCount, ginCounterCount;
  int ginConnectionType;
  unsigned char ginExclusiveContexts;
  int ginQueueDepth, ginTrafficClass, worldGinBarrierCount;
  unsigned char ginStrongSignalsRequired, ginVaSignalsRequired;
} dev_comm_requirements; /* 2.30.7's layout; 2.29.2's ends at ginCounterCount */
int ncclDevCommCreate(fake_comm* c, const dev_comm_requirements* q, void* out);
int ncclDevCommCreate(fake_comm* c, const dev_comm_requirements* q, void* out) {
  const int r = record("ncclDevCommCreate", NULL, out, 0, 0, 0, -1, c, NULL);
  last()->extra[0] = (long long)q->size;
  last()->extra[1] = q->version;
  last()->extra[2] = q->ginContextCount;
  last()->extra[3] = q->barrierCount;
  last()->extra[4] = q->size >= sizeof *q ? q->ginTrafficClass : -1;
  last()->extra[5] = q->size >= sizeof *q ? q->ginVaSignalsRequired : -1;
  if (q->magic != 0xcafebeef) return 5;
  int* d = out;
  if (q->version >= 23000) { /* versioned: magic, version, rank, nRanks, rcp, lsaRank, lsaSize */
    ((unsigned*)out)[0] = 0xcafebeef;
    ((unsigned*)out)[1] = q->version;
    d += 2;
  }
  d[0] = c->rank;
  d[1] = c->nranks;
  d[3] = c->rank;
  d[4] = c->nranks;
  return r;
}
int ncclDevCommDestroy(fake_comm* c, const void* d);
int ncclDevCommDestroy(fake_comm* c, const void* d) {
  return record("ncclDevCommDestroy", d, NULL, 0, 0, 0, -1, c, NULL);
}
/* The window functions take no communicator: they record, and never answer ncclInProgress. */
static int window_address(const char* fn, void* win, size_t offset, long long rank, void** out) {
  record(fn, win, NULL, offset, 0, 0, (int)rank, NULL, NULL);
  if (win == NULL || out == NULL) return 4; /* ncclInvalidArgument */
  *out = (char*)win - 2 + offset + (size_t)rank * 0x100000u;
  return 0;
}
int ncclGetLsaDevicePointer(void* win, size_t offset, int lsa_rank, void** out);
int ncclGetLsaDevicePointer(void* win, size_t offset, int lsa_rank, void** out) {
  if (lsa_rank < 0) return 4;
  return window_address("ncclGetLsaDevicePointer", win, offset, lsa_rank, out);
}
int ncclGetPeerDevicePointer(void* win, size_t offset, int peer, void** out);
int ncclGetPeerDevicePointer(void* win, size_t offset, int peer, void** out) {
  if (peer < 0) return 4;
  return window_address("ncclGetPeerDevicePointer", win, offset, peer, out);
}
int ncclGetLsaMultimemDevicePointer(void* win, size_t offset, void** out);
int ncclGetLsaMultimemDevicePointer(void* win, size_t offset, void** out) {
  return window_address("ncclGetLsaMultimemDevicePointer", win, offset, 0x400, out);
}
typedef struct {
  void* base;
} multimem_handle;
int ncclGetMultimemDevicePointer(void* win, size_t offset, multimem_handle mm, void** out);
int ncclGetMultimemDevicePointer(void* win, size_t offset, multimem_handle mm, void** out) {
  return window_address("ncclGetMultimemDevicePointer", win, offset + (size_t)mm.base, 0x400, out);
}
#endif
#if FAKE_VERSION >= 22907
static int suspended;
int ncclCommSuspend(void* c, int flags);
int ncclCommSuspend(void* c, int flags) {
  suspended = flags & 1;
  return record("ncclCommSuspend", NULL, NULL, 0, 0, flags, -1, c, NULL);
}
int ncclCommResume(void* c);
int ncclCommResume(void* c) {
  suspended = 0;
  return record("ncclCommResume", NULL, NULL, 0, 0, 0, -1, c, NULL);
}
int ncclCommMemStats(void* c, int stat, unsigned long long* value);
int ncclCommMemStats(void* c, int stat, unsigned long long* value) {
  use("ncclCommMemStats", c);
  /* 2000 B suspendable (0 while suspended), 1000 B persistent */
  const unsigned long long v[] = {suspended ? 0 : 2000, (unsigned long long)suspended, 1000,
                                  suspended ? 1000 : 3000};
  if (stat < 0 || stat > 3) return 4; /* ncclInvalidArgument */
  *value = v[stat];
  ++calls;
  (void)c;
  if (env_int("FAKE_OP_IN_PROGRESS") > 0) {
    __atomic_store_n(&pending, env_int("FAKE_OP_IN_PROGRESS"), __ATOMIC_RELAXED);
    return 7;
  }
  return 0;
}
#endif
#if FAKE_VERSION >= 23004
/* Three parameters, as NCCL publishes them (the name of the environment variable). */
static const char* param_keys[] = {"NCCL_DEBUG", "NCCL_SOCKET_IFNAME", "NCCL_NVLS_ENABLE"};
static const char* param_values[] = {"WARN", "eth0", "1"};
int ncclParamGetAllParameterKeys(const char*** table, int* len);
int ncclParamGetAllParameterKeys(const char*** table, int* len) {
  *table = param_keys;
  *len = 3;
  ++calls;
  return 0;
}
int ncclParamGetParameter(const char* key, const char** value, int* len);
int ncclParamGetParameter(const char* key, const char** value, int* len) {
  ++calls;
  for (int i = 0; i < 3; ++i) {
    if (strcmp(key, param_keys[i]) == 0) {
      *value = param_values[i];
      *len = (int)strlen(param_values[i]);
      return 0;
    }
  }
  *value = NULL;
  *len = 0;
  return 4; /* ncclInvalidArgument, as NCCL for an unknown key */
}
OP(ncclParamBind)
OP(ncclParamGetI8)
OP(ncclParamGetI16)
OP(ncclParamGetI32)
OP(ncclParamGetI64)
OP(ncclParamGetU8)
OP(ncclParamGetU16)
OP(ncclParamGetU32)
OP(ncclParamGetU64)
OP(ncclParamGetStr)
OP(ncclParamGet)
#endif
#if FAKE_VERSION >= 23102
/* The *Config collectives record the config: extra = its size, minCTAs, forceAlgSelection,
 * algSelection's first character (0 when unset), userProfilerTag, launchCompletionEvent (2.32.3
 * layout only, else -1). */
typedef struct {
  size_t size;
  unsigned magic, version;
  void* ext;
  int minCTAs, maxCTAs, nvlsCTAs, cgaClusterSize;
  const char* algSelection;
  int forceAlgSelection, CTAPolicy;
  unsigned long long userProfilerTag;
  void* launchCompletionEvent;
} coll_config;
static int with_config(int r, const coll_config* k) {
  fake_record_t* x = last();
  x->extra[0] = (long long)k->size;
  x->extra[1] = k->minCTAs;
  x->extra[2] = k->forceAlgSelection;
  x->extra[3] = k->algSelection ? k->algSelection[0] : 0;
  x->extra[4] = (long long)k->userProfilerTag;
  x->extra[5] = k->size >= sizeof(coll_config) ? (long long)(size_t)k->launchCompletionEvent : -1;
  return r;
}
int ncclAllReduceConfig(const void* s, void* r, size_t n, int t, int op, void* c, void* st,
                        const coll_config* k);
int ncclAllReduceConfig(const void* s, void* r, size_t n, int t, int op, void* c, void* st,
                        const coll_config* k) {
  return with_config(record("ncclAllReduceConfig", s, r, n, t, op, -1, c, st), k);
}
int ncclBroadcastConfig(const void* s, void* r, size_t n, int t, int root, void* c, void* st,
                        const coll_config* k);
int ncclBroadcastConfig(const void* s, void* r, size_t n, int t, int root, void* c, void* st,
                        const coll_config* k) {
  return with_config(record("ncclBroadcastConfig", s, r, n, t, 0, root, c, st), k);
}
int ncclReduceConfig(const void* s, void* r, size_t n, int t, int op, int root, void* c, void* st,
                     const coll_config* k);
int ncclReduceConfig(const void* s, void* r, size_t n, int t, int op, int root, void* c, void* st,
                     const coll_config* k) {
  return with_config(record("ncclReduceConfig", s, r, n, t, op, root, c, st), k);
}
int ncclAllGatherConfig(const void* s, void* r, size_t n, int t, void* c, void* st,
                        const coll_config* k);
int ncclAllGatherConfig(const void* s, void* r, size_t n, int t, void* c, void* st,
                        const coll_config* k) {
  return with_config(record("ncclAllGatherConfig", s, r, n, t, 0, -1, c, st), k);
}
int ncclReduceScatterConfig(const void* s, void* r, size_t n, int t, int op, void* c, void* st,
                            const coll_config* k);
int ncclReduceScatterConfig(const void* s, void* r, size_t n, int t, int op, void* c, void* st,
                            const coll_config* k) {
  return with_config(record("ncclReduceScatterConfig", s, r, n, t, op, -1, c, st), k);
}
int ncclAlltoAllConfig(const void* s, void* r, size_t n, int t, void* c, void* st,
                       const coll_config* k);
int ncclAlltoAllConfig(const void* s, void* r, size_t n, int t, void* c, void* st,
                       const coll_config* k) {
  return with_config(record("ncclAlltoAllConfig", s, r, n, t, 0, -1, c, st), k);
}
int ncclGatherConfig(const void* s, void* r, size_t n, int t, int root, void* c, void* st,
                     const coll_config* k);
int ncclGatherConfig(const void* s, void* r, size_t n, int t, int root, void* c, void* st,
                     const coll_config* k) {
  return with_config(record("ncclGatherConfig", s, r, n, t, 0, root, c, st), k);
}
int ncclScatterConfig(const void* s, void* r, size_t n, int t, int root, void* c, void* st,
                      const coll_config* k);
int ncclScatterConfig(const void* s, void* r, size_t n, int t, int root, void* c, void* st,
                      const coll_config* k) {
  return with_config(record("ncclScatterConfig", s, r, n, t, 0, root, c, st), k);
}
#endif
#if FAKE_VERSION >= 23203
/* extra: the config's size, mode, and the psk's first character */
typedef struct {
  size_t size;
  unsigned magic, version;
  int mode;
  const char* psk;
} encryption_config;
int ncclSetEncryption(const encryption_config* k);
int ncclSetEncryption(const encryption_config* k) {
  const int r = record("ncclSetEncryption", NULL, NULL, 0, 0, k->mode, -1, NULL, NULL);
  last()->extra[0] = (long long)k->size;
  last()->extra[1] = k->mode;
  last()->extra[2] = k->psk ? k->psk[0] : 0;
  return r;
}
#endif
