/* The baseline of bench/compare/python_paths.py: NCCL's ncclAllReduce called directly from C, in
 * a loop, inside the same Python process, on the same communicator, buffers and stream as the
 * Python paths. One ctypes call per batch: the loop itself has no Python in it. */
#include <stddef.h>
#include <time.h>

typedef int (*all_reduce_fn)(const void*, void*, size_t, int, int, void*, void*);

double direct_loop(void* fn, const void* send, void* recv, size_t count, void* comm, void* stream,
                   int calls);
/* Microseconds per call, or -1 if a call failed. float32 (7), sum (0). */
double direct_loop(void* fn, const void* send, void* recv, size_t count, void* comm, void* stream,
                   int calls) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < calls; ++i) {
    if (((all_reduce_fn)fn)(send, recv, count, 7, 0, comm, stream) != 0) return -1;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / calls;
}
