/* The out-of-process probe: loads one libnccl file and reports its version and real path on
 * stdout as "ncclrt-probe: <key> <value>" lines. Run by probe.cpp, never by hand. If the file's
 * constructors crash, hang or exit, only this process suffers. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stdout, "ncclrt-probe: usage probe_helper FILE\n");
    return 64;
  }
  fprintf(stdout, "ncclrt-probe: start\n");
  fflush(stdout);
  void* handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL) {
    const char* err = dlerror();
    fprintf(stdout, "ncclrt-probe: dlopen-error %s\n", err ? err : "unknown");
    return 2;
  }
  struct link_map* map = NULL;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != NULL && map->l_name != NULL) {
    fprintf(stdout, "ncclrt-probe: path %s\n", map->l_name);
  }
  typedef int (*get_version_fn)(int*);
  void* symbol = dlsym(handle, "ncclGetVersion");
  get_version_fn get_version = NULL;
  memcpy(&get_version, &symbol, sizeof get_version); /* ISO C has no object-to-function cast */
  if (symbol == NULL) {
    fprintf(stdout, "ncclrt-probe: no-symbol ncclGetVersion\n");
    return 3;
  }
  int code = 0;
  int result = get_version(&code);
  if (result != 0) {
    fprintf(stdout, "ncclrt-probe: version-error %d\n", result);
    return 4;
  }
  fprintf(stdout, "ncclrt-probe: version %d\n", code);
  fflush(stdout);
  /* Skip the library's exit-time destructors: they are not what is being checked, and NCCL's
   * can be slow. */
  _exit(0);
}
