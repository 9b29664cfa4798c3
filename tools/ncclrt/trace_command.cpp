#include "trace_command.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "trace_analysis.hpp"
#include "trace_export.hpp"
#include "trace_reader.hpp"

namespace ncclrt_tool {
namespace {

std::string hex(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string clock_text(std::int64_t unix_ns) {
  const std::time_t s = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char b[64];
  std::snprintf(b, sizeof b, "%04d-%02d-%02d %02d:%02d:%02d.%06lld UTC", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>((unix_ns % 1000000000) / 1000));
  return b;
}

int run_show(const TraceArgs& a) {
  const DumpFile d = read_dump(a.file);
  std::printf("%s\n", d.path.c_str());
  std::printf("communicator %s, rank %d of %d on GPU %d, NCCL %s (%s)\n", d.comm_id.c_str(), d.rank,
              d.size, d.device, d.nccl.c_str(), d.lineage.c_str());
  std::printf("process %lld on %s, ncclrt %s; dumped %s on %s%s%s\n", static_cast<long long>(d.pid),
              d.host.c_str(), d.ncclrt.c_str(), clock_text(d.dump_time_ns).c_str(),
              d.trigger.c_str(), d.reason.empty() ? "" : ": ", d.reason.c_str());
  std::printf("%llu records (%zu kept, ring of %llu); %llu collectives, %llu point-to-point\n",
              static_cast<unsigned long long>(d.records), d.entries.size(),
              static_cast<unsigned long long>(d.capacity),
              static_cast<unsigned long long>(d.collectives),
              static_cast<unsigned long long>(d.point_to_point));
  if (d.progress) {
    std::printf(
        "GPU progress: collectives started #%llu, completed #%llu; point-to-point started "
        "#%llu, completed #%llu\n",
        static_cast<unsigned long long>(d.progress->started),
        static_cast<unsigned long long>(d.progress->completed),
        static_cast<unsigned long long>(d.progress->p2p_started),
        static_cast<unsigned long long>(d.progress->p2p_completed));
  } else {
    std::printf("GPU progress: not recorded%s%s\n", d.progress_problem.empty() ? "" : ": ",
                d.progress_problem.c_str());
  }
  for (const auto& n : d.notes) std::printf("note: %s\n", n.c_str());
  std::printf("%8s %6s %10s  %-18s %10s %-9s %-5s %4s %-14s %-14s %6s %s\n", "record", "seq",
              "age (s)", "op", "count", "type", "redop", "peer", "send", "recv", "result",
              "label / notes");
  const std::size_t from = a.last && a.last < d.entries.size() ? d.entries.size() - a.last : 0;
  for (std::size_t i = from; i < d.entries.size(); ++i) {
    const DumpEntry& e = d.entries[i];
    std::string extra = e.label;
    if (e.group)
      extra += (extra.empty() ? "" : " ") + std::string("group ") + std::to_string(e.group);
    if (e.captured && *e.captured)
      extra += (extra.empty() ? "" : " ") + std::string("captured ") + std::to_string(e.capture_id);
    const std::string result = e.result ? std::to_string(*e.result) : "-";
    std::printf("%8llu %6llu %10.3f  %-18s %10llu %-9s %-5s %4d %-14s %-14s %6s %s\n",
                static_cast<unsigned long long>(e.record), static_cast<unsigned long long>(e.seq),
                static_cast<double>(d.dump_time_ns - e.time_ns) / 1e9, e.op.c_str(),
                static_cast<unsigned long long>(e.count), e.type.empty() ? "-" : e.type.c_str(),
                e.redop.empty() ? "-" : e.redop.c_str(), e.peer, hex(e.send).c_str(),
                hex(e.recv).c_str(), result.c_str(), extra.c_str());
  }
  std::printf("(result - : NCCL had not returned; -2: ncclrt gave up on the call)\n");
  return 0;
}

}  // namespace

CLI::App* add_trace_command(CLI::App& app, TraceArgs& args) {
  auto* trace = app.add_subcommand(
      "trace", "Which rank a hang or desync comes from (the flight recorder's dumps)");
  trace->footer(
      "Dumps come from $NCCLRT_TRACE_DIR (written when ncclrt gives up on a communicator, and\n"
      "on SIGUSR1) or ncclrt::dump_traces(dir). See docs/debugging.md.");
  trace->require_subcommand(1);
  args.analyze = trace->add_subcommand(
      "analyze", "What went wrong where, per communicator, and the likely culprit rank");
  args.analyze->footer(
      "Per communicator: the first collective where the ranks disagree, ranks that never issued\n"
      "it, desyncs, GPUs behind, ranks with no dump, the likely culprit.\n"
      "Exit 0: all ranks agree; 1: a problem found or a dump unreadable; 2: usage.");
  args.analyze->add_option("dir", args.dir, "Directory of ncclrt-trace-*.json dumps")->required();
  args.analyze->add_flag("--json", args.json, "Write JSON to stdout");
  args.show = trace->add_subcommand("show", "Print one dump readably");
  args.show->add_option("file", args.file, "An ncclrt-trace-*.json file")->required();
  args.show->add_option("--last", args.last, "Only the last N entries");
  args.exporter = trace->add_subcommand(
      "export", "Write the dumps as PyTorch's flight recorder's (one pickle per rank)");
  args.exporter->footer("Then: torchfrtrace OUT -p ncclrt_fr_rank_");
  args.exporter->add_option("dir", args.dir, "Directory of ncclrt-trace-*.json dumps")->required();
  args.exporter->add_option("out", args.out, "Directory for the pickles (made if missing)")
      ->required();
  return trace;
}

int run_trace(const TraceArgs& args) {
  try {
    if (args.show && *args.show) return run_show(args);
    if (args.analyze && *args.analyze) {
      const Analysis a = analyze_dir(args.dir);
      if (args.json) {
        std::cout << analysis_json(a).dump(2) << "\n";
      } else {
        std::cout << analysis_text(a);
      }
      return a.problem() ? 1 : 0;
    }
    if (args.exporter && *args.exporter) {
      std::vector<DumpFile> dumps;
      for (const auto& f : dump_files_in(args.dir)) dumps.push_back(read_dump(f));
      if (dumps.empty()) throw TraceFileError(args.dir + ": no ncclrt-trace-*.json files");
      const auto files = export_torch(dumps, args.out);
      std::cout << files.size() << " pickle(s) written into " << args.out
                << "; read them with: torchfrtrace " << args.out << " -p " << kTorchPrefix << "\n";
      return 0;
    }
  } catch (const TraceFileError& e) {
    std::cerr << "ncclrt trace: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "ncclrt trace: a subcommand is required (analyze, show, export)\n";
  return 2;
}

}  // namespace ncclrt_tool
