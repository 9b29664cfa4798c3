// `ncclrt trace`: read the flight recorder's dumps (analyze, show, export).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ncclrt_tool {

struct TraceArgs {
  std::string dir;   // analyze, export: the dumps
  std::string file;  // show
  std::string out;   // export: where the pickles go
  bool json = false;
  std::size_t last = 0;  // show: only the last N entries (0: all)
  CLI::App* trace = nullptr;
  CLI::App* analyze = nullptr;
  CLI::App* show = nullptr;
  CLI::App* exporter = nullptr;
};

/// Registers `trace` and its subcommands on `app`; returns the `trace` subcommand.
CLI::App* add_trace_command(CLI::App& app, TraceArgs& args);
/// Runs the subcommand parsed. Exit codes: 0 fine (analyze: all ranks agree), 1 a problem found
/// (analyze: a culprit or a disagreement) or a dump unreadable, 2 usage.
int run_trace(const TraceArgs& args);

}  // namespace ncclrt_tool
