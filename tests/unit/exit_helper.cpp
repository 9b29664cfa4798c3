// Exits with communicators alive, as a program that forgets to clean up: `return` from main
// with a static and a local communicator, `exit` from deep inside, or `leak` one on the heap.
// The test expects a prompt exit with status 0: no hang, no crash.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ncclrt/ncclrt.hpp>

static ncclrt::Communicator g_static;

int main(int argc, char** argv) {
  if (argc != 3) return 64;
  auto lib = ncclrt::Library::open(argv[1]);
  g_static = ncclrt::Communicator::init_rank(lib, 1, 0, lib->unique_id());
  ncclrt::Communicator local = ncclrt::Communicator::init_rank(lib, 1, 0, lib->unique_id());
  auto* leaked = new ncclrt::Communicator(g_static.split(0, 0));
  (void)leaked;
  if (std::strcmp(argv[2], "exit") == 0) std::exit(0);
  if (std::strcmp(argv[2], "leak") == 0) {
    ncclrt::Watchdog::enable();  // a running watchdog thread must not hold the exit up either
  }
  return 0;
}
