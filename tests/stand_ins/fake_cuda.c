/* A stand-in CUDA driver, built as libcuda.so.1 in a directory of its own: a test run with that
 * directory in LD_LIBRARY_PATH makes ncclrt's dlopen("libcuda.so.1") find it. It plays one GPU
 * whose work never finishes until the test says so, for the watchdog and synchronize on a machine
 * without a GPU. It has only the driver functions the watchdog and synchronize need; the others
 * ncclrt looks up (host memory, stream memory operations, host functions) are absent, as in a
 * driver too old for them, which ncclrt copes with.
 *
 * The test's controls, found with dlsym:
 *   fake_cuda_set_done(d)       events and streams report their work finished (1) or not yet
 *                               (0, CUDA_ERROR_NOT_READY; the default)
 *   fake_cuda_hold_queries(h)   while 1, cuEventQuery waits until it is set back to 0: the test
 *                               decides when the watchdog may look at its work
 *   fake_cuda_live_events()     events created and not yet destroyed
 *   fake_cuda_stream_queries()  cuStreamQuery calls so far
 * An event used after it was destroyed, or never made here, fails the test loudly: the message,
 * then abort(). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

enum { kNotReady = 600, kInvalidHandle = 400 }; /* CUDA_ERROR_NOT_READY, _INVALID_HANDLE */

static int done;           /* fake_cuda_set_done */
static int live_events;    /* created, not yet destroyed */
static int stream_queries; /* cuStreamQuery calls */
static int held;           /* fake_cuda_hold_queries (under hold_mutex) */
static pthread_mutex_t hold_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;

void fake_cuda_set_done(int d);
void fake_cuda_set_done(int d) { __atomic_store_n(&done, d, __ATOMIC_RELEASE); }
void fake_cuda_hold_queries(int h);
void fake_cuda_hold_queries(int h) {
  pthread_mutex_lock(&hold_mutex);
  held = h;
  pthread_cond_broadcast(&hold_cv);
  pthread_mutex_unlock(&hold_mutex);
}
int fake_cuda_live_events(void);
int fake_cuda_live_events(void) { return __atomic_load_n(&live_events, __ATOMIC_ACQUIRE); }
int fake_cuda_stream_queries(void);
int fake_cuda_stream_queries(void) { return __atomic_load_n(&stream_queries, __ATOMIC_ACQUIRE); }

static int work_state(void) { return __atomic_load_n(&done, __ATOMIC_ACQUIRE) ? 0 : kNotReady; }

/* Events come from a pool whose slots are never reused (0 never made, 1 live, 2 destroyed), so
 * that a use after cuEventDestroy is seen for what it is. */
enum { kMaxEvents = 1 << 16 };
static int events[kMaxEvents];
static int events_used;

static int* event_slot(const char* fn, void* e) {
  int* slot = e;
  if (slot < events || slot >= events + kMaxEvents ||
      __atomic_load_n(slot, __ATOMIC_ACQUIRE) != 1) {
    fprintf(stderr, "stand-in CUDA driver: %s called on event %p, which %s\n", fn, e,
            slot >= events && slot < events + kMaxEvents && *slot == 2 ? "was destroyed"
                                                                       : "this driver never made");
    fflush(stderr);
    abort();
  }
  return slot;
}

int cuInit(unsigned flags);
int cuInit(unsigned flags) { return flags == 0 ? 0 : 1; /* CUDA_ERROR_INVALID_VALUE */ }
int cuDeviceGetCount(int* n);
int cuDeviceGetCount(int* n) {
  *n = 1;
  return 0;
}
int cuDeviceGet(int* dev, int ordinal);
int cuDeviceGet(int* dev, int ordinal) {
  if (ordinal != 0) return 101; /* CUDA_ERROR_INVALID_DEVICE */
  *dev = 0;
  return 0;
}
static int the_context; /* the one GPU's primary context */
static __thread void* current;
int cuDevicePrimaryCtxRetain(void** ctx, int dev);
int cuDevicePrimaryCtxRetain(void** ctx, int dev) {
  if (dev != 0) return 101;
  *ctx = &the_context;
  return 0;
}
int cuCtxSetCurrent(void* ctx);
int cuCtxSetCurrent(void* ctx) {
  if (ctx != NULL && ctx != &the_context) return 201; /* CUDA_ERROR_INVALID_CONTEXT */
  current = ctx;
  return 0;
}
int cuCtxGetCurrent(void** ctx);
int cuCtxGetCurrent(void** ctx) {
  *ctx = current;
  return 0;
}

/* Nothing is ever captured into a graph here. */
int cuStreamIsCapturing(void* stream, int* status);
int cuStreamIsCapturing(void* stream, int* status) {
  (void)stream;
  *status = 0; /* CU_STREAM_CAPTURE_STATUS_NONE */
  return 0;
}
int cuStreamGetCaptureInfo_v2(void* stream, int* status, unsigned long long* id, void** graph,
                              const void** deps, size_t* ndeps);
int cuStreamGetCaptureInfo_v2(void* stream, int* status, unsigned long long* id, void** graph,
                              const void** deps, size_t* ndeps) {
  (void)stream;
  *status = 0;
  if (id) *id = 0;
  if (graph) *graph = NULL;
  if (deps) *deps = NULL;
  if (ndeps) *ndeps = 0;
  return 0;
}

int cuStreamQuery(void* stream);
int cuStreamQuery(void* stream) {
  (void)stream;
  __atomic_add_fetch(&stream_queries, 1, __ATOMIC_ACQ_REL);
  return work_state();
}

int cuEventCreate(void** e, unsigned flags);
int cuEventCreate(void** e, unsigned flags) {
  (void)flags;
  const int i = __atomic_fetch_add(&events_used, 1, __ATOMIC_RELAXED);
  if (i >= kMaxEvents) return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
  __atomic_store_n(&events[i], 1, __ATOMIC_RELEASE);
  __atomic_add_fetch(&live_events, 1, __ATOMIC_ACQ_REL);
  *e = &events[i];
  return 0;
}
int cuEventRecord(void* e, void* stream);
int cuEventRecord(void* e, void* stream) {
  (void)stream;
  event_slot("cuEventRecord", e);
  return 0;
}
int cuEventQuery(void* e);
int cuEventQuery(void* e) {
  event_slot("cuEventQuery", e);
  pthread_mutex_lock(&hold_mutex);
  while (held) pthread_cond_wait(&hold_cv, &hold_mutex);
  pthread_mutex_unlock(&hold_mutex);
  event_slot("cuEventQuery", e);
  return work_state();
}
int cuEventDestroy_v2(void* e);
int cuEventDestroy_v2(void* e) {
  if (e == NULL) return kInvalidHandle;
  __atomic_store_n(event_slot("cuEventDestroy_v2", e), 2, __ATOMIC_RELEASE);
  __atomic_sub_fetch(&live_events, 1, __ATOMIC_ACQ_REL);
  return 0;
}
