// The ncclrt command: which NCCL you really have (info), is this file usable (probe).
#include <CLI/CLI.hpp>
#include <iostream>

#include "bench.hpp"
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

  ncclrt_tool::BenchArgs bench;
  auto* bench_cmd = app.add_subcommand(
      "bench", "Measure an operation the way nccl-tests does, or ncclrt's overhead ('overhead')");
  bench_cmd
      ->add_option("op", bench.op,
                   "all_reduce broadcast reduce all_gather reduce_scatter all_to_all gather "
                   "scatter send_recv | overhead")
      ->required();
  bench_cmd->add_option("--nccl-lib", bench.nccl_lib, "Use this libnccl file");
  bench_cmd->add_option("-b,--minbytes", bench.min_bytes, "Smallest size (e.g. 8, 64K, 1M)");
  bench_cmd->add_option("-e,--maxbytes", bench.max_bytes, "Largest size");
  bench_cmd->add_option("-f,--stepfactor", bench.step_factor, "Multiply the size by this");
  bench_cmd->add_option("-i,--stepbytes", bench.step_bytes, "Or add this many bytes");
  bench_cmd->add_option("-n,--iters", bench.iters, "Timed iterations per size");
  bench_cmd->add_option("-w,--warmup_iters", bench.warmup, "Untimed iterations first");
  bench_cmd->add_option("-c,--check", bench.check, "Check results (0 or 1)")
      ->check(CLI::Range(0, 1));
  bench_cmd->add_option("-d,--datatype", bench.type, "float, half, bfloat16, int32, ...");
  bench_cmd->add_option("-o,--op", bench.redop, "sum prod max min avg");
  bench_cmd->add_option("-r,--root", bench.root, "Root rank of rooted operations");
  bench_cmd->add_option("-g,--ngpus", bench.gpus, "GPUs per thread");
  bench_cmd->add_option("-t,--nthreads", bench.threads, "Threads");
  bench_cmd->add_option("-G,--cudagraph", bench.graph,
                        "Capture -n iterations in a CUDA graph and "
                        "launch it this many times");
  bench_cmd->add_option("-T,--timeout", bench.timeout, "Abort after this many seconds");
  bench_cmd->add_option("-J,--output_file", bench.json, "Write the results as JSON here");
  bench_cmd->add_flag("--direct", bench.direct,
                      "Also run each size through the raw NCCL call; print the busbw ratio");
  bench_cmd->add_option("--rounds", bench.rounds, "overhead: interleaved batches")
      ->check(CLI::PositiveNumber);

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
  if (*bench_cmd) return ncclrt_tool::run_bench(bench);
  return 2;
}
