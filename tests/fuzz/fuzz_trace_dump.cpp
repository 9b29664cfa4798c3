// libFuzzer target: the flight recorder's dump reader takes untrusted files. Anything must either
// parse into a dump whose invariants hold or be refused with TraceFileError naming the file;
// never a crash, a hang or another exception. What parses is analysed too.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "trace_analysis.hpp"
#include "trace_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const ncclrt_tool::DumpFile d = ncclrt_tool::parse_dump(text, "fuzz.json");
    if (d.rank < 0 || d.rank >= d.size) std::abort();
    for (const auto& e : d.entries) {
      if (e.record >= d.records) std::abort();
      if (e.peer >= d.size) std::abort();
    }
    const auto a = ncclrt_tool::analyze_dumps({d, d});
    (void)ncclrt_tool::analysis_text(a);
  } catch (const ncclrt_tool::TraceFileError& e) {
    if (std::string(e.what()).rfind("fuzz.json: ", 0) != 0) std::abort();
  }
  return 0;
}
