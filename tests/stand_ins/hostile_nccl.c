/* A stand-in whose initialiser misbehaves before NCCL could report anything: HOSTILE_CRASH
 * raises SIGSEGV, HOSTILE_HANG never returns, HOSTILE_EXIT calls exit(3). */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void misbehave(void) {
#if defined(HOSTILE_CRASH)
  raise(SIGSEGV);
#elif defined(HOSTILE_HANG)
  for (;;) pause();
#elif defined(HOSTILE_EXIT)
  exit(3);
#endif
}

int ncclGetVersion(int* version);
int ncclGetVersion(int* version) {
  *version = 22809;
  return 0;
}
