// The ncclrt command: which NCCL you really have (info), is this file usable (probe), how fast is
// it (bench), which ncclrt is this (version), what stands between this machine or launch and a
// working NCCL (doctor).
//
// Exit codes, for every subcommand: 0 success; 1 the thing asked about is not usable or the
// operation failed; 2 a usage error (unknown command, bad flag, missing or bad value).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <ncclrt/ncclrt.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench.hpp"
#include "commands.hpp"
#include "doctor.hpp"
#include "nearest.hpp"
#include "trace_command.hpp"

#ifndef NCCLRT_COMMIT
#define NCCLRT_COMMIT "unknown"
#endif

namespace {

constexpr int kUsage = 2;

std::vector<std::string> option_names(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app->get_options()) {
    for (const auto& n : o->get_lnames()) names.push_back("--" + n);
    for (const auto& n : o->get_snames()) names.push_back("-" + n);
  }
  return names;
}

// CLI11's message as a sentence of ours: without its class name ("RequiredError: ...") and
// without the trailing newline.
std::string plain(const CLI::Error& e) {
  std::string m = e.what();
  const std::string name = e.get_name();
  if (!name.empty() && m.rfind(name + ": ", 0) == 0) m.erase(0, name.size() + 2);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

// A whole number >= 1, said in those words (CLI11's PositiveNumber prints its range as doubles,
// the top one 309 digits long).
const CLI::Validator kAtLeastOne(
    [](std::string& v) {
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      return !v.empty() && end && *end == '\0' && n >= 1 ? std::string()
                                                         : "'" + v + "' is not a whole number >= 1";
    },
    "POSITIVE");

// CLI11 lists unexpected arguments last first: put them back in the order they were typed.
std::string in_typed_order(const std::string& message, int argc, char** argv) {
  const std::string lead = "the following arguments were not expected: ";
  if (message.rfind(lead, 0) != 0) return message;
  std::vector<std::string> words;
  std::istringstream in(message.substr(lead.size()));
  for (std::string w; in >> w;) words.push_back(w);
  auto position = [&](const std::string& w) {
    for (int i = 1; i < argc; ++i) {
      if (w == argv[i]) return i;
    }
    return argc;
  };
  std::stable_sort(words.begin(), words.end(), [&](const std::string& a, const std::string& b) {
    return position(a) < position(b);
  });
  std::string out = lead;
  for (std::size_t i = 0; i < words.size(); ++i) out += (i ? " " : "") + words[i];
  return out;
}

// What `ncclrt version` and `ncclrt --version` print. Exit 1, as `ncclrt info`'s, when the NCCL it
// would load is not usable; the reason names the file and the knob that chose it.
int run_version(bool json, const std::string& nccl_lib) {
  nlohmann::json out{{"ncclrt", ncclrt::kVersionString}, {"commit", NCCLRT_COMMIT}};
  std::string nccl_line;
  std::string loaded;
  int rc = 0;
  try {
    ncclrt::LoadOptions o;
    o.path = nccl_lib;
    auto lib = ncclrt::Library::open(o);
    loaded = lib->path();
    out["nccl"] = {{"version", lib->version().str()},
                   {"path", lib->path()},
                   {"found_by", ncclrt::id_of(lib->found_by())}};
    nccl_line = "NCCL " + lib->version().str() + " from " + lib->path() + " (found by " +
                ncclrt_tool::for_cli(ncclrt::to_string(lib->found_by()), "--nccl-lib") + ")";
  } catch (const ncclrt::Error& e) {
    out["nccl"] = nullptr;
    out["nccl_error"] = ncclrt_tool::for_cli(e.what(), "--nccl-lib");
    nccl_line = "no usable NCCL: " + out["nccl_error"].get<std::string>();
    rc = 1;
  }
  // What a Python program here would load, where that is another file.
  nlohmann::json python = nccl_lib.empty() ? ncclrt_tool::python_environment(loaded) : nullptr;
  if (!python.is_null()) out["python_environment"] = python;
  // ncclrt's own variables that it does not read (typos) or whose values it does not take.
  std::vector<std::string> notes;
  out["ncclrt_environment"] = nlohmann::json::array();
  for (const auto& p : ncclrt::ncclrt_environment_problems()) {
    out["ncclrt_environment"].push_back(
        {{"name", p.name}, {"value", p.value}, {"problem", p.problem}, {"nearest", p.nearest}});
    std::string near;
    for (std::size_t i = 0; i < p.nearest.size(); ++i) near += (i ? " or " : " ") + p.nearest[i];
    notes.push_back(p.name + "=" + p.value + ": " + p.problem +
                    (near.empty() ? "" : "; did you mean" + near + "?"));
  }
  if (json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "ncclrt " << ncclrt::kVersionString << " (commit " << NCCLRT_COMMIT << ")\n"
              << "would load: " << nccl_line << "\n";
    if (!python.is_null()) {
      std::cout << "Python here: " << ncclrt_tool::python_environment_line(python) << "\n";
    }
    for (const auto& n : notes) std::cout << "note: " << n << "\n";
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ncclrt: find, check and use NCCL at run time", "ncclrt"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Print ncclrt's version and the NCCL it would load");
  // Also before the command (`ncclrt --nccl-lib PATH info`), for version, info and bench.
  std::string nccl_lib;
  app.add_option("--nccl-lib", nccl_lib, "The libnccl file for version, info and bench");

  bool version_json = false;
  std::string version_lib;
  auto* version_cmd =
      app.add_subcommand("version", "ncclrt's version and commit, and the NCCL it would load");
  version_cmd->add_flag("--json", version_json, "Write JSON to stdout");
  version_cmd->add_option("--nccl-lib", version_lib, "Use this libnccl file instead of searching");

  ncclrt_tool::InfoArgs info;
  auto* info_cmd =
      app.add_subcommand("info", "Show the NCCL found, how, its features, GPUs and variables");
  info_cmd->add_option("--nccl-lib", info.nccl_lib, "Use this libnccl file instead of searching");
  info_cmd->add_flag("--json", info.json, "Write JSON to stdout");
  info_cmd->add_flag("--all,-v", info.all, "Also each place searched, function, feature and GPU");
  info_cmd->add_flag("--params", info.params,
                     "Also list NCCL's parameters with their values (NCCL >= 2.30.4)");

  ncclrt_tool::ProbeArgs probe;
  auto* probe_cmd =
      app.add_subcommand("probe", "Load one file in a separate process and report the verdict");
  probe_cmd->add_option("path", probe.path, "The libnccl file to check")->required();
  probe_cmd->add_option("--timeout-ms", probe.timeout_ms, "Deadline for the probe process")
      ->check(kAtLeastOne);
  probe_cmd->add_flag("--json", probe.json, "Write JSON to stdout");

  ncclrt_tool::BenchArgs bench;
  auto* bench_cmd = app.add_subcommand(
      "bench", "Measure an operation the way nccl-tests does, or ncclrt's overhead");
  bench_cmd->footer(
      "The time is the average of -n calls (or of -n captured calls launched -G times, the\n"
      "first launch included), from the first issue to the end of the last. As nccl-tests does,\n"
      "call i uses buffers shifted by i message sizes across the -e bytes allocated, so that\n"
      "sizes below the L2 cache are not timed from the cache. busbw uses nccl-tests' factors.");
  bench_cmd
      ->add_option("op", bench.op,
                   "all_reduce broadcast reduce all_gather reduce_scatter all_to_all\n"
                   "gather scatter send_recv | overhead")
      ->required();
  bench_cmd->add_option("--nccl-lib", bench.nccl_lib, "Use this libnccl file");
  bench_cmd->add_option("-b,--minbytes", bench.min_bytes, "Smallest size (e.g. 8, 64K, 1M)");
  bench_cmd->add_option("-e,--maxbytes", bench.max_bytes, "Largest size");
  bench_cmd->add_option("-f,--stepfactor", bench.step_factor, "Multiply the size by this");
  bench_cmd->add_option("-i,--stepbytes", bench.step_bytes, "Or add this many bytes");
  bench_cmd->add_option("-n,--iters", bench.iters, "Timed iterations per size");
  bench_cmd->add_option("-w,--warmup_iters", bench.warmup,
                        "Untimed calls at every size from -b doubling to -e, before the sweep");
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
  bench_cmd->add_option("--graph-warmup", bench.graph_warmup,
                        "Untimed graph launches first (nccl-tests: 0, the first timed)");
  bench_cmd
      ->add_option("-a,--average", bench.average,
                   "Threads' times: 0 thread 0's, 1 mean (default), 2 least, 3 most")
      ->check(CLI::Range(0, 3));
  bench_cmd->add_flag("--cuda-malloc", bench.cuda_malloc,
                      "cudaMalloc, not ncclMemAlloc (nccl-tests' with NCCL >= 2.19)");
  bench_cmd->add_option("-T,--timeout", bench.timeout, "Abort after this many seconds");
  bench_cmd->add_option("-J,--output_file", bench.json, "Write the results as JSON here");
  bench_cmd->add_flag("--direct", bench.direct,
                      "Also run each size through the raw NCCL call; print the busbw ratio");
  bench_cmd->add_option("--rounds", bench.rounds, "overhead: interleaved batches")
      ->check(kAtLeastOne);
  bench_cmd->add_option("--launcher", bench.launcher,
                        "auto (one job of the processes a launcher started), require, ignore");

  ncclrt_tool::DoctorArgs doctor;
  auto* doctor_cmd = app.add_subcommand(
      "doctor", "Check this machine, or every rank of a launch, for what stops NCCL");
  doctor_cmd->footer(
      "Alone, or under the launcher (srun ncclrt doctor, torchrun ... ncclrt doctor): the NCCL\n"
      "found, driver, GPUs, /dev/shm, memlock, NCCL_* variables, interfaces and HCAs, then a\n"
      "live all_reduce and send/recv ring across the ranks. One line per finding; exit 1 when\n"
      "any is an error.");
  doctor_cmd->add_option("--nccl-lib", doctor.nccl_lib, "Use this libnccl file");
  doctor_cmd->add_flag("--json", doctor.json, "Write JSON to stdout");
  doctor_cmd
      ->add_option("--timeout", doctor.timeout_s,
                   "Seconds the live check's init and each step may take (default 60)")
      ->check(kAtLeastOne);
  doctor_cmd->add_flag("--no-live", doctor.no_live, "Skip the live check across the ranks");

  ncclrt_tool::TraceArgs trace;
  auto* trace_cmd = ncclrt_tool::add_trace_command(app, trace);

  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    commands.push_back(sub->get_name());
  }
  if (argc > 1 && argv[1][0] != '-' &&
      std::find(commands.begin(), commands.end(), argv[1]) == commands.end()) {
    std::cerr << "ncclrt: unknown command '" << argv[1] << "'";
    const std::string hint = ncclrt_tool::did_you_mean(argv[1], commands);
    if (!hint.empty()) std::cerr << "; " << hint;
    std::cerr << "\n\n" << app.help();
    return kUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // The innermost command given ("ncclrt trace show"): the error names it, its help follows.
    const CLI::App* where = &app;
    std::string who = "ncclrt";
    for (auto subs = app.get_subcommands(); !subs.empty(); subs = where->get_subcommands()) {
      where = subs.front();
      who += " " + where->get_name();
    }
    // The error, then the nearest option to a misspelt one, then the help: the hint first, where
    // it is seen.
    std::cerr << who << ": " << in_typed_order(plain(e), argc, argv) << "\n";
    const auto names = option_names(where);
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a.size() < 2 || a[0] != '-') continue;
      const std::string word = a.substr(0, a.find('='));
      if (std::find(names.begin(), names.end(), word) != names.end()) continue;
      const std::string hint = ncclrt_tool::did_you_mean(word, names);
      if (hint.empty()) continue;
      std::cerr << who << ": " << hint.substr(0, hint.size() - 1) << " instead of '" << word
                << "'?\n";
      break;
    }
    std::cerr << "\n" << app.help();  // "Usage: ncclrt info [OPTIONS]": the whole command
    return kUsage;
  }
  // --nccl-lib before the command is the command's own, for those that load NCCL.
  if (!nccl_lib.empty()) {
    std::string* own = *version_cmd || show_version ? &version_lib
                       : *info_cmd                  ? &info.nccl_lib
                       : *bench_cmd                 ? &bench.nccl_lib
                       : *doctor_cmd                ? &doctor.nccl_lib
                                                    : nullptr;
    if (own == nullptr) {
      std::cerr << "ncclrt: --nccl-lib applies to version, info, bench and doctor"
                << (*probe_cmd ? "; probe takes the file as its argument: ncclrt probe PATH" : "")
                << "\n";
      return kUsage;
    }
    if (!own->empty() && *own != nccl_lib) {
      std::cerr << "ncclrt: --nccl-lib given twice, as " << nccl_lib << " and " << *own << "\n";
      return kUsage;
    }
    *own = nccl_lib;
  }
  if (show_version) return run_version(false, version_lib);
  if (*version_cmd) return run_version(version_json, version_lib);
  if (*info_cmd) return ncclrt_tool::run_info(info);
  if (*probe_cmd) return ncclrt_tool::run_probe(probe);
  if (*bench_cmd) return ncclrt_tool::run_bench(bench);
  if (*doctor_cmd) return ncclrt_tool::run_doctor(doctor);
  if (*trace_cmd) return ncclrt_tool::run_trace(trace);
  std::cerr << "ncclrt: a command is required\n\n" << app.help();
  return kUsage;
}
