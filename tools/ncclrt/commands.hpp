#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "nearest.hpp"

namespace ncclrt_tool {

/// "did you mean 'x'?" for the candidate nearest to `word`, if it is near enough to be a typo;
/// else empty.
inline std::string did_you_mean(const std::string& word, const std::vector<std::string>& names) {
  const auto near =
      ncclrt::util::nearest_names(word, names, std::max<std::size_t>(2, word.size() / 3), 1);
  return near.empty() ? std::string() : "did you mean '" + near.front() + "'?";
}

/// `message` with every `from` replaced by `to`.
inline std::string replaced(std::string message, const std::string& from, const std::string& to) {
  for (std::size_t at = 0; (at = message.find(from, at)) != std::string::npos; at += to.size()) {
    message.replace(at, from.size(), to);
  }
  return message;
}

/// A library message as the command's user reads it: the path given in code (LoadOptions::path)
/// is the command's `flag` ("--nccl-lib").
inline std::string for_cli(std::string message, const std::string& flag) {
  for (const char* from : {"the path given in code", "LoadOptions::path"}) {
    message = replaced(std::move(message), from, flag);
  }
  return message;
}

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
