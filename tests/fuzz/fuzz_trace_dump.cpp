// libFuzzer target: what `ncclrt trace` does with untrusted dumps, in process: show, analyze
// (text and --json) and export. The input is one dump, or two separated by a NUL byte (which no
// JSON text holds): two ranks of one communicator, say. Each must either be read into a dump
// whose invariants hold or be refused with TraceFileError naming its file, on one line; what is
// read is shown, analyzed and exported; every line of text out is valid UTF-8 without control
// characters, the JSON out parses back. Never a crash, a hang, an abort or another exception.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "trace_analysis.hpp"
#include "trace_export.hpp"
#include "trace_reader.hpp"
#include "trace_text.hpp"

namespace {

using namespace ncclrt_tool;

// Every line of `text` is printable as it is.
void check_lines(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(at, end - at);
    if (printable(line) != line) std::abort();
    at = end + 1;
  }
}

void check_refusal(const TraceFileError& e, const std::string& name) {
  const std::string what = e.what();
  if (what.rfind(name + ": ", 0) != 0) std::abort();
  if (printable(what) != what) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  std::vector<std::string_view> texts = {input.substr(0, nul)};
  if (nul != std::string_view::npos) texts.push_back(input.substr(nul + 1));
  std::vector<DumpFile> dumps;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string name = "fuzz-" + std::to_string(i) + ".json";
    try {
      DumpFile d = parse_dump(texts[i], name);
      if (d.rank < 0 || d.rank >= d.size) std::abort();
      for (const auto& e : d.entries) {
        if (e.record >= d.records) std::abort();
        if (e.peer >= d.size) std::abort();
      }
      check_lines(dump_text(d, 0));
      check_lines(dump_text(d, 1));
      dumps.push_back(std::move(d));
    } catch (const TraceFileError& e) {
      check_refusal(e, name);
    }
  }
  if (dumps.empty()) return 0;
  dumps.push_back(dumps.front());  // a rank dumped twice
  const Analysis a = analyze_dumps(dumps);
  check_lines(analysis_text(a));
  // JSON: valid UTF-8 that parses back; control characters only escaped (a C1 one from a file
  // stays as it is: JSON's data, not ours to change).
  const std::string json_text =
      analysis_json(a).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  for (const char c : json_text) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n') std::abort();
  }
  if (!nlohmann::json::accept(json_text)) std::abort();
  try {
    std::size_t pickles = 0;
    torch_pickles(dumps, [&](int, const std::string& bytes) {
      if (bytes.empty()) std::abort();
      ++pickles;
    });
    if (pickles == 0) std::abort();
  } catch (const TraceFileError& e) {
    const std::string what = e.what();
    if (what.rfind("fuzz-", 0) != 0 || printable(what) != what) std::abort();
  }
  return 0;
}
