// A user's program: builds against ncclrt found by find_package or add_subdirectory.
#include <cstdio>
#include <ncclrt/ncclrt.hpp>

int main() {
  try {
    ncclrt::Library::open("/nonexistent/libnccl.so.2");
  } catch (const ncclrt::LoadError& e) {
    std::printf("ncclrt %s linked; LoadError as expected: %s\n", ncclrt::kVersionString, e.what());
    return 0;
  }
  return 1;
}
