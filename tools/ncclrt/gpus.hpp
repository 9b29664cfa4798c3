// The GPUs the CUDA driver reports, read through libcuda at run time so the command needs no
// CUDA toolkit to build and still runs where there is no driver.
#pragma once

#include <string>
#include <vector>

namespace ncclrt_tool {

struct Gpu {
  int index = 0;
  std::string name;
  std::size_t memory_bytes = 0;
  std::string pci_bus_id;
};

struct GpuReport {
  bool driver_found = false;
  int driver_version = 0;  ///< e.g. 13000
  std::string problem;     ///< "no CUDA driver", "no GPU", cuInit's error
  std::vector<Gpu> gpus;
};

GpuReport list_gpus();

/// A CUDA version code as text: 13000 -> "13.0".
inline std::string cuda_version_text(int code) {
  return std::to_string(code / 1000) + "." + std::to_string(code % 1000 / 10);
}

}  // namespace ncclrt_tool
