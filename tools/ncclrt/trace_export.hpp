// `ncclrt trace export`: the dumps as PyTorch's flight recorder writes them (one pickle per
// global rank), so that PyTorch's analyzer (`torchfrtrace`) reads them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trace_reader.hpp"

namespace ncclrt_tool {

/// The file name prefix of the exported pickles (`torchfrtrace OUT -p ncclrt_fr_rank_`).
inline constexpr const char* kTorchPrefix = "ncclrt_fr_rank_";

/// The most ranks the pickles list in all (each pickle lists the members of its process groups,
/// and a communicator's size comes from a file): this many, plus one per byte of the dumps.
inline constexpr std::uint64_t kMaxExportedRanks = std::uint64_t{1} << 22;

/// One pickle per global rank (a rank's rank in the communicator at the top of its lineage), in
/// the schema of PyTorch 2.11's flight recorder (version "2.10"), handed to `sink` one at a time
/// by global rank. Per communicator and rank, the dump group_dumps picks. Throws TraceFileError
/// (before any pickle) when the pickles would list more than kMaxExportedRanks.
void torch_pickles(const std::vector<DumpFile>& dumps,
                   const std::function<void(int global_rank, const std::string& bytes)>& sink);
/// The pickles of torch_pickles written into `out_dir` (created, mode 0700; files mode 0600,
/// never overwritten). Returns the files written. Throws TraceFileError naming what could not be
/// written.
std::vector<std::string> export_torch(const std::vector<DumpFile>& dumps,
                                      const std::string& out_dir);

/// The PyTorch dtype name of an ncclrt type name ("float32" -> "Float").
std::string torch_dtype(const std::string& type);

}  // namespace ncclrt_tool
