#include "trace_command.hpp"

#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "trace_analysis.hpp"
#include "trace_export.hpp"
#include "trace_reader.hpp"
#include "trace_text.hpp"

namespace ncclrt_tool {
namespace {

constexpr int kUsage = 2;

int run_show(const TraceArgs& a) {
  std::cout << dump_text(read_dump(a.file), a.last);
  return 0;
}

int run_analyze(const TraceArgs& a) {
  const Analysis an = analyze_dir(a.dir);
  if (a.json) {
    std::cout << analysis_json(an).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    std::cout << analysis_text(an);
  }
  return an.problem() ? 1 : 0;
}

int run_export(const TraceArgs& a) {
  std::vector<DumpFile> dumps;
  std::uint64_t total = 0;
  for (const auto& f : dump_set(a.dir)) {
    try {
      dumps.push_back(read_dump(f));
    } catch (const TraceFileError&) {
      throw;
    } catch (const std::exception& e) {  // out of memory, say: name the file
      throw TraceFileError(f + ": cannot read it: " + why_text(e));
    }
    count_dir_bytes(a.dir, dumps.back(), total);
  }
  const auto files = export_torch(dumps, a.out);
  std::cout << files.size() << " pickle(s) written into " << printable(a.out)
            << "; read them with: torchfrtrace " << printable(a.out) << " -p " << kTorchPrefix
            << "\n";
  return 0;
}

}  // namespace

CLI::App* add_trace_command(CLI::App& app, TraceArgs& args) {
  auto* trace = app.add_subcommand(
      "trace", "Which rank a hang or desync comes from (the flight recorder's dumps)");
  trace->footer(
      "Dumps come from $NCCLRT_TRACE_DIR (written when ncclrt gives up on a communicator, and\n"
      "on SIGUSR1) or ncclrt::dump_traces(dir). See docs/debugging.md.");
  trace->require_subcommand(0, 1);
  args.trace = trace;
  args.analyze = trace->add_subcommand(
      "analyze", "What went wrong where, per communicator, and the likely culprit rank");
  args.analyze->footer(
      "Per communicator: the first collective where the ranks disagree, ranks that never issued\n"
      "it, desyncs, GPUs behind, ranks with no dump, the likely culprit.\n"
      "Exit 0: all ranks agree; 1: a problem found or a dump unreadable; 2: usage.\n"
      "Reads one dump at a time: at most 64 MiB of one and 1 GiB of the directory's.");
  args.analyze->add_option("dir", args.dir, "Directory of ncclrt-trace-*.json dumps")->required();
  args.analyze->add_flag("--json", args.json, "Write JSON to stdout");
  args.show = trace->add_subcommand("show", "Print one dump readably");
  args.show->footer("Reads at most 64 MiB of the dump.");
  args.show->add_option("file", args.file, "An ncclrt-trace-*.json file")->required();
  args.show->add_option("--last", args.last, "Only the last N entries");
  args.exporter = trace->add_subcommand(
      "export", "Write the dumps as PyTorch's flight recorder's (one pickle per rank)");
  args.exporter->footer(
      "Then: torchfrtrace OUT -p ncclrt_fr_rank_\n"
      "Reads at most 64 MiB of one dump and 1 GiB of one directory's dumps.");
  args.exporter->add_option("dir", args.dir, "Directory of ncclrt-trace-*.json dumps")->required();
  args.exporter->add_option("out", args.out, "Directory for the pickles (made if missing)")
      ->required();
  // A misspelt subcommand is kept (not refused by the parser), so that run_trace can name the
  // nearest. Set after the subcommands are made, which would inherit it.
  trace->allow_extras();
  return trace;
}

int run_trace(const TraceArgs& args) {
  // Every failure is one line naming the file, exit 1, whatever was thrown.
  const std::string& name = args.show && *args.show ? args.file : args.dir;
  try {
    if (args.show && *args.show) return run_show(args);
    if (args.analyze && *args.analyze) return run_analyze(args);
    if (args.exporter && *args.exporter) return run_export(args);
  } catch (const TraceFileError& e) {
    std::cerr << "ncclrt trace: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "ncclrt trace: " << printable(name + ": " + why_text(e)) << "\n";
    return 1;
  }
  const std::vector<std::string> names = {"analyze", "show", "export"};
  const auto words = args.trace ? args.trace->remaining() : std::vector<std::string>{};
  if (!words.empty()) {
    const bool option = words.front().rfind('-', 0) == 0;
    const std::string hint = option ? "" : did_you_mean(words.front(), names);
    std::cerr << "ncclrt trace: unknown " << (option ? "option" : "subcommand") << " '"
              << printable(words.front()) << "'" << (hint.empty() ? "" : "; " + hint) << "\n\n"
              << args.trace->help();
    return kUsage;
  }
  std::cerr << "ncclrt trace: a subcommand is required (analyze, show, export)\n\n"
            << (args.trace ? args.trace->help() : std::string());
  return kUsage;
}

}  // namespace ncclrt_tool
