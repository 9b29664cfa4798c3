#pragma once

#include <chrono>
#include <string>

namespace ncclrt_tool {

struct InfoArgs {
  std::string nccl_lib;
  bool json = false;
  bool params = false;  // list NCCL's parameters (Param API, NCCL >= 2.30.4)
  bool all = false;     // list every function and feature, not only the summary
};
int run_info(const InfoArgs& args);

struct ProbeArgs {
  std::string path;
  int timeout_ms = 0;  // 0: the library's default
  bool json = false;
};
int run_probe(const ProbeArgs& args);

}  // namespace ncclrt_tool
