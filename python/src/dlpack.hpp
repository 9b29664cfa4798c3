// DLPack's C ABI (dlpack.h 1.x), declared here: what __dlpack__ capsules and the
// `__dlpack_c_exchange_api__` table of a tensor type hold.
#pragma once

#include <cstdint>

namespace ncclrt::py {

struct DLDevice {
  std::int32_t device_type;
  std::int32_t device_id;
};
struct DLDataType {
  std::uint8_t code;
  std::uint8_t bits;
  std::uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  std::int32_t ndim;
  DLDataType dtype;
  std::int64_t* shape;
  std::int64_t* strides;
  std::uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor*);
};
struct DLManagedTensorVersioned {
  std::uint32_t major, minor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned*);
  std::uint64_t flags;
  DLTensor dl_tensor;
};
constexpr std::uint64_t kDLReadOnly = 1;

// The C exchange table a framework puts on its tensor type as `__dlpack_c_exchange_api__`
// (DLPack 1.2+): a tensor's description and the framework's current stream in one C call each,
// with no Python object made.
struct DLPackExchangeAPIHeader {
  std::uint32_t major, minor;
  DLPackExchangeAPIHeader* prev_api;
};
struct DLPackExchangeAPI {
  DLPackExchangeAPIHeader header;
  void* managed_tensor_allocator;
  void* managed_tensor_from_py_object_no_sync;
  void* managed_tensor_to_py_object_no_sync;
  int (*dltensor_from_py_object_no_sync)(void* py_object, DLTensor* out);
  int (*current_work_stream)(int device_type, std::int32_t device_id, void** out_stream);
};

}  // namespace ncclrt::py
