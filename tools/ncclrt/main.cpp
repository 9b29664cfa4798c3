// The ncclrt command: which NCCL you really have (info), is this file usable (probe).
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"ncclrt: find, check and use NCCL at run time", "ncclrt"};
  app.require_subcommand(1);
  app.failure_message(CLI::FailureMessage::help);

  ncclrt_tool::InfoArgs info;
  auto* info_cmd = app.add_subcommand(
      "info", "Show the NCCL found (and how), its version, features, GPUs and variables");
  info_cmd->add_option("--nccl-lib", info.nccl_lib, "Use this libnccl file instead of searching");
  info_cmd->add_flag("--json", info.json, "Write JSON to stdout");

  ncclrt_tool::ProbeArgs probe;
  auto* probe_cmd =
      app.add_subcommand("probe", "Load one file in a separate process and report the verdict");
  probe_cmd->add_option("path", probe.path, "The libnccl file to check")->required();
  probe_cmd->add_option("--timeout-ms", probe.timeout_ms, "Deadline for the probe process")
      ->check(CLI::PositiveNumber);
  probe_cmd->add_flag("--json", probe.json, "Write JSON to stdout");

  bool known = argc < 2 || argv[1][0] == '-';
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    known |= argc > 1 && sub->get_name() == argv[1];
  }
  if (!known) {
    std::cerr << "ncclrt: unknown command '" << argv[1] << "'\n\n" << app.help();
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*info_cmd) return ncclrt_tool::run_info(info);
  if (*probe_cmd) return ncclrt_tool::run_probe(probe);
  return 2;
}
