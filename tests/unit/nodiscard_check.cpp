// Compiled by the NoDiscard tests (tests/CMakeLists.txt): dropping an owning handle must not pass
// quietly. `register_buffer(...)` as a statement would deregister at its end.
#include <ncclrt/ncclrt.hpp>

void keep_or_drop(const ncclrt::Communicator& c, const std::shared_ptr<const ncclrt::Library>& lib,
                  void* p) {
#ifdef NCCLRT_DROP
  c.register_buffer(p, 1024);
  c.create_pre_mul_sum(p, ncclrt::DataType::kFloat32, ncclrt::ScalarResidence::kDevice);
  ncclrt::NcclMemory::allocate(lib, 1024);
#else
  (void)c.register_buffer(p, 1024);
  (void)c.create_pre_mul_sum(p, ncclrt::DataType::kFloat32, ncclrt::ScalarResidence::kDevice);
  (void)ncclrt::NcclMemory::allocate(lib, 1024);
#endif
}
