// libFuzzer target: the launcher-variable parser on arbitrary values. It must either return a
// consistent LaunchInfo or throw UsageError; nothing else.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <ncclrt/error.hpp>
#include <ncclrt/launch.hpp>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kNames[] = {"RANK",
                                       "WORLD_SIZE",
                                       "LOCAL_RANK",
                                       "MASTER_ADDR",
                                       "MASTER_PORT",
                                       "NCCL_COMM_ID",
                                       "SLURM_PROCID",
                                       "SLURM_NTASKS",
                                       "SLURM_LOCALID",
                                       "OMPI_COMM_WORLD_RANK",
                                       "OMPI_COMM_WORLD_SIZE",
                                       "OMPI_COMM_WORLD_LOCAL_RANK"};
  // The input is NUL-separated values, one per name in order; missing ones are unset.
  std::map<std::string, std::string> env;
  std::string cur;
  size_t k = 0;
  for (size_t i = 0; i <= size && k < sizeof kNames / sizeof *kNames; ++i) {
    if (i == size || data[i] == 0) {
      if (!(cur.size() == 1 && cur[0] == '\x01')) env[kNames[k]] = cur;  // \x01 = unset
      cur.clear();
      ++k;
    } else {
      cur.push_back(static_cast<char>(data[i]));
    }
  }
  try {
    const ncclrt::LaunchInfo info =
        ncclrt::parse_launch_environment([&](const char* n) -> const char* {
          auto it = env.find(n);
          return it == env.end() ? nullptr : it->second.c_str();
        });
    if (info.size < 1 || info.rank < 0 || info.rank >= info.size || info.local_rank < 0)
      std::abort();
    if (info.comm_id.find(':') == std::string::npos) std::abort();
  } catch (const ncclrt::UsageError&) {
  }
  return 0;
}
