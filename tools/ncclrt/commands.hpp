#pragma once

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
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

/// The NCCL a Python program started here would load when it is not the file `loaded` (the
/// real path of the one this command loads; "" for none): pip's NCCL in the Python environment
/// ($VIRTUAL_ENV, $CONDA_PREFIX, the python3 on PATH), probed for its version. Null when there is
/// none, when it is the same file, or when $NCCLRT_NCCL_LIB chooses for both.
nlohmann::json python_environment(const std::string& loaded);
/// One line of text for it.
std::string python_environment_line(const nlohmann::json& p);

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
