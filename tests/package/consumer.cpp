// A user's program: builds against ncclrt found by find_package or add_subdirectory.
#include <cstdio>
#include <ncclrt/ncclrt.hpp>

int main() {
  try {
    ncclrt::Communicator empty;
    (void)empty.size();  // an exception thrown inside the library, caught here by its type
    return 1;
  } catch (const ncclrt::UsageError&) {
  }
  try {
    ncclrt::Library::open("/nonexistent/libnccl.so.2");
  } catch (const ncclrt::LoadError& e) {
    std::printf("ncclrt %s linked (%s); LoadError as expected: %s\n", ncclrt::kVersionString,
                ncclrt::to_string(ncclrt::DataType::kBfloat16), e.what());
    return 0;
  }
  return 1;
}
