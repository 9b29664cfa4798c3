// `ncclrt trace export`: the dumps as PyTorch's flight recorder writes them (one pickle per
// global rank), so that PyTorch's analyzer (`torchfrtrace`) reads them.
#pragma once

#include <string>
#include <vector>

#include "trace_reader.hpp"

namespace ncclrt_tool {

/// The file name prefix of the exported pickles (`torchfrtrace OUT -p ncclrt_fr_rank_`).
inline constexpr const char* kTorchPrefix = "ncclrt_fr_rank_";

/// One pickle per global rank (a rank's rank in the communicator at the top of its lineage), in
/// the schema of PyTorch 2.11's flight recorder (version "2.10"). Returns the files written
/// into `out_dir` (created, mode 0700; files mode 0600, never overwritten). Throws
/// TraceFileError naming what could not be written.
std::vector<std::string> export_torch(const std::vector<DumpFile>& dumps,
                                      const std::string& out_dir);

/// The PyTorch dtype name of an ncclrt type name ("float32" -> "Float").
std::string torch_dtype(const std::string& type);

}  // namespace ncclrt_tool
