#pragma once

#include <chrono>
#include <string>

namespace ncclrt_tool {

struct InfoArgs {
  std::string nccl_lib;
  bool json = false;
};
int run_info(const InfoArgs& args);

struct ProbeArgs {
  std::string path;
  int timeout_ms = 0;  // 0: the library's default
  bool json = false;
};
int run_probe(const ProbeArgs& args);

}  // namespace ncclrt_tool
