// The few CUDA driver calls ncclrt itself needs, through libcuda loaded at run time: ncclrt
// builds and loads without CUDA and only needs a driver where it must pick a device.
#pragma once

namespace ncclrt::detail {

/// Number of GPUs the driver sees; throws Error with the reason when there is no driver or GPU.
int cuda_device_count();
/// Makes `device`'s primary context current on this thread (what cudaSetDevice does), so NCCL
/// creates the communicator on it.
void cuda_set_device(int device);

}  // namespace ncclrt::detail
