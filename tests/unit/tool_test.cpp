// The ncclrt command, run as a user would run it.
#include <dlfcn.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <map>
#include <memory>
#include <ncclrt/ncclrt.hpp>
#include <nlohmann/json.hpp>
#include <tuple>

#include "procedure.hpp"
#include "rotation.hpp"
#include "test_support.hpp"

namespace {

using ToolRun = ncclrt_test::CommandRun;

ToolRun run(const std::string& args) {
  return ncclrt_test::run_command(std::string(NCCLRT_TOOL) + " " + args);
}

void expect_has(const std::string& text, std::initializer_list<std::string> words) {
  for (const std::string& w : words) {
    EXPECT_NE(text.find(w), std::string::npos) << "missing \"" << w << "\" in:\n" << text;
  }
}

}  // namespace

TEST(Tool, InfoWithRealNccl) {
  NCCLRT_NEED_REAL_NCCL();
  ToolRun r = run("info --nccl-lib " + ncclrt_test::real_nccl());
  EXPECT_EQ(r.code, 0) << r.out;
  const std::string version = "NCCL " + ncclrt_test::real_nccl_version() + " (code " +
                              std::to_string(ncclrt_test::real_version().code()) + ")";
  // A summary first, the functions a newer NCCL would bring by release, the full list on --all.
  expect_has(r.out, {version.c_str(), "found by:   --nccl-lib",
                     "probe:", "ms in a separate process", "functions:  ", " available",
                     "features:   ", "GPUs:", "Variables in effect:", "ncclrt info --all"});
  // The summary only: the lists are behind --all.
  EXPECT_EQ(r.out.find("[yes] ncclAlltoAll"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Places searched"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("ncclCommGetUniqueId"), std::string::npos) << r.out;
  ToolRun all = run("info --all --nccl-lib " + ncclrt_test::real_nccl());
  expect_has(all.out, {"Every function and feature:", "[yes] ncclAlltoAll", "since 2.28.3",
                       "Places searched, in order:"});
  if (ncclrt_test::real_version() < ncclrt::Version{2, 29, 2}) {
    expect_has(r.out, {"need a newer NCCL: 2.29.2 (13)"});
    expect_has(all.out, {"  2.29.2: ncclCommGetUniqueId"});
  }
  const std::string v = run("info -v --nccl-lib " + ncclrt_test::real_nccl()).out;
  EXPECT_EQ(v.substr(v.find("Every function")), all.out.substr(all.out.find("Every function")));
}

TEST(Tool, InfoFindsNcclByItself) {
  NCCLRT_NEED_REAL_NCCL();
  ToolRun r = run("info --all");
  EXPECT_EQ(r.code, 0) << r.out;
  expect_has(r.out, {"NCCL ", "Places searched, in order:", "* "});
}

TEST(Tool, InfoJson) {
  NCCLRT_NEED_REAL_NCCL();
  ToolRun r = run("info --json --nccl-lib " + ncclrt_test::real_nccl());
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_EQ(j["library"]["version"], ncclrt_test::real_nccl_version());
  EXPECT_EQ(j["library"]["found_by"], "path");  // a stable identifier, the prose beside it
  EXPECT_EQ(j["library"]["found_by_text"], "the path given in code");
  EXPECT_EQ(j["library"]["search_log"][0]["source"], "path");
  EXPECT_EQ(j["library"]["disabled_functions"], nlohmann::json::array());
  for (auto& f : j["library"]["capabilities"]) {
    if (!f["available"].get<bool>()) {
      EXPECT_EQ(f["why_not_id"], "needs_newer_nccl") << f.dump();
    }
  }
  bool alltoall = false;
  for (auto& f : j["library"]["capabilities"]) {
    if (f["name"] == "ncclAlltoAll") alltoall = f["available"].get<bool>();
  }
  EXPECT_TRUE(alltoall);
  EXPECT_TRUE(j["gpus"].contains("devices"));
  // No GPU on a CI machine: reported, not fatal.
  if (j["gpus"]["devices"].empty()) {
    EXPECT_TRUE(j["gpus"].contains("problem"));
  }
}

TEST(Tool, InfoReportsVariablesInEffect) {
  NCCLRT_NEED_REAL_NCCL();
  const std::string lib = ncclrt_test::real_nccl();
  {
    ncclrt_test::ScopedEnv unset("NCCL_DEBUG", std::nullopt);
    ToolRun without = run("info --json --nccl-lib " + lib);
    ASSERT_EQ(without.code, 0) << without.out;
    EXPECT_FALSE(nlohmann::json::parse(without.out)["variables"].contains("NCCL_DEBUG"));
  }
  ncclrt_test::ScopedEnv debug("NCCL_DEBUG", "WARN");
  ToolRun with = run("info --json --nccl-lib " + lib);
  ASSERT_EQ(with.code, 0) << with.out;
  EXPECT_EQ(nlohmann::json::parse(with.out)["variables"]["NCCL_DEBUG"], "WARN");
  ToolRun text = run("info --nccl-lib " + lib);
  ASSERT_EQ(text.code, 0) << text.out;
  expect_has(text.out, {"Variables in effect:", "  NCCL_DEBUG=WARN"});
}

TEST(Tool, InfoFlagsVariablesTheLoadedNcclNeverReads) {
  NCCLRT_NEED_REAL_NCCL();
  const std::string lib = ncclrt_test::real_nccl();
  ncclrt_test::ScopedEnv typo("NCCL_SOCKET_IFNAM", "lo");
  ncclrt_test::ScopedEnv fine("NCCL_DEBUG", "WARN");
  ToolRun j = run("info --json --nccl-lib " + lib);
  ASSERT_EQ(j.code, 0) << j.out;
  const auto parsed = nlohmann::json::parse(j.out);
  std::map<std::string, nlohmann::json> unknown;
  for (const auto& u : parsed["unknown_environment"]) {
    unknown[u["name"].get<std::string>()] = u["nearest"];
  }
  ASSERT_EQ(unknown.count("NCCL_SOCKET_IFNAM"), 1u);
  EXPECT_EQ(unknown["NCCL_SOCKET_IFNAM"][0], "NCCL_SOCKET_IFNAME");
  EXPECT_EQ(unknown.count("NCCL_DEBUG"), 0u);
  ToolRun text = run("info --nccl-lib " + lib);
  expect_has(text.out, {"  NCCL_SOCKET_IFNAM=lo\n    <- not read by this NCCL; did you mean "
                        "NCCL_SOCKET_IFNAME?"});
  EXPECT_EQ(text.out.find("NCCL_DEBUG=WARN\n    <-"), std::string::npos);
}

TEST(Tool, InfoParamsListsNcclsParametersOrSaysWhyNot) {
  ToolRun j = run(std::string("info --json --params --nccl-lib ") + RECORDING_NCCL_23203);
  ASSERT_EQ(j.code, 0) << j.out;
  const auto p = nlohmann::json::parse(j.out)["parameters"];
  EXPECT_TRUE(p["available"].get<bool>());
  EXPECT_EQ(p["values"]["NCCL_SOCKET_IFNAME"], "eth0");
  EXPECT_EQ(p["values"].size(), 3u);
  ToolRun text = run(std::string("info --params --nccl-lib ") + RECORDING_NCCL_23203);
  expect_has(text.out, {"Parameters: 3", "NCCL_NVLS_ENABLE"});
  ToolRun old = run(std::string("info --params --nccl-lib ") + RECORDING_NCCL_22809);
  ASSERT_EQ(old.code, 0) << old.out;
  expect_has(old.out,
             {"Parameters: not available from this NCCL", "needs NCCL >= 2.30.4", "loaded 2.28.9"});
}

TEST(Tool, InfoSaysWhetherRanksMayShareAGpu) {
  {
    ncclrt_test::ScopedEnv off("NCCL_MULTI_RANK_GPU_ENABLE", std::nullopt);
    ToolRun old = run(std::string("info --nccl-lib ") + RECORDING_NCCL_22809);
    expect_has(old.out, {"ranks/GPU:  one (several: need NCCL >= 2.30.3; loaded 2.28.9)"});
    ToolRun unset = run(std::string("info --nccl-lib ") + RECORDING_NCCL_23102);
    expect_has(unset.out, {"ranks/GPU:  one (several: need NCCL_MULTI_RANK_GPU_ENABLE=1"});
  }
  ncclrt_test::ScopedEnv on("NCCL_MULTI_RANK_GPU_ENABLE", "1");
  ToolRun j = run(std::string("info --json --nccl-lib ") + RECORDING_NCCL_23102);
  const auto parsed = nlohmann::json::parse(j.out);
  EXPECT_TRUE(parsed["ranks_per_gpu"]["allowed"].get<bool>());
  EXPECT_FALSE(parsed["ranks_per_gpu"].contains("why_not"));
}

TEST(Tool, InfoFailsWithoutUsableNccl) {
  ToolRun r = run("info --nccl-lib /nonexistent/libnccl.so.2");
  EXPECT_EQ(r.code, 1);
  expect_has(r.out, {"No usable NCCL", "no such file", "/nonexistent/libnccl.so.2"});
  ToolRun j = run("info --json --nccl-lib /nonexistent/libnccl.so.2");
  EXPECT_EQ(j.code, 1);
  auto parsed = nlohmann::json::parse(j.out);
  EXPECT_FALSE(parsed["ok"].get<bool>());
}

TEST(Tool, ProbeRealFile) {
  NCCLRT_NEED_REAL_NCCL();
  ToolRun r = run("probe " + ncclrt_test::real_nccl());
  EXPECT_EQ(r.code, 0) << r.out;
  const std::string version = "NCCL " + ncclrt_test::real_nccl_version();
  expect_has(r.out, {"usable:", version.c_str(), "all required functions present", "probe took"});
}

TEST(Tool, ProbeCrashingFile) {
  ToolRun r = run(std::string("probe ") + FAKE_NCCL_CRASH);
  EXPECT_EQ(r.code, 1);
  expect_has(r.out, {"NOT usable", "signal 11"});
}

TEST(Tool, ProbeHangingFileWithTimeout) {
  ToolRun r = run(std::string("probe --timeout-ms 300 --json ") + FAKE_NCCL_HANG);
  EXPECT_EQ(r.code, 1);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["verdict"], "timed out");
  EXPECT_FALSE(j["usable"].get<bool>());
}

TEST(Tool, ProbeFileMissingFunctions) {
  ToolRun r = run(std::string("probe ") + FAKE_NCCL_NO_REQUIRED);
  EXPECT_EQ(r.code, 1);
  expect_has(r.out, {"NOT usable", "ncclAllReduce"});
}

TEST(Tool, BadCommandsAndFlags) {
  ToolRun none = run("");
  EXPECT_NE(none.code, 0);
  expect_has(none.out, {"info", "probe"});
  ToolRun unknown = run("frobnicate");
  EXPECT_NE(unknown.code, 0);
  expect_has(unknown.out, {"frobnicate", "info"});
  ToolRun flag = run("info --bogus");
  EXPECT_NE(flag.code, 0);
  expect_has(flag.out, {"--bogus"});
  ToolRun missing = run("probe");
  EXPECT_NE(missing.code, 0);
  expect_has(missing.out, {"path"});
  ToolRun bad_timeout = run("probe --timeout-ms -5 /x");
  EXPECT_NE(bad_timeout.code, 0);
}

TEST(Tool, BenchRejectsBadArgumentsBeforeTouchingAGpu) {
  struct Case {
    const char* args;
    const char* words;
  } cases[] = {
      {"bench frob", "unknown operation 'frob'"},
      {"bench all_reduce -b 1M -e 1K", "-b (1M) is larger than -e (1K)"},
      {"bench all_reduce -b 1X", "'1X' has an unknown unit"},
      {"bench all_reduce -b abc", "'abc' is not a size"},
      {"bench all_reduce -b 0", "-b must be at least 1 byte"},
      {"bench all_reduce -b 8 -e 1K -f 1", "-f must be greater than 1"},
      {"bench all_reduce -d quad", "unknown data type 'quad'"},
      {"bench all_reduce -o xor", "unknown reduce op 'xor'"},
      {"bench all_reduce -n 0", "-n must be at least 1"},
      {"bench all_reduce -G 2 -g 2", "-G needs -g 1"},
      {"bench all_reduce -t 0", "-g and -t must be at least 1"},
      {"bench all_reduce --graph-warmup 1", "--graph-warmup needs -G"},
      {"bench all_reduce -G 5 --graph-warmup -1", "cannot be negative"},
  };
  for (const auto& c : cases) {
    ToolRun r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    expect_has(r.out, {c.words});
  }
  ToolRun flag = run("bench all_reduce -c 3");
  EXPECT_NE(flag.code, 0);
  expect_has(flag.out, {"--check"});
  ToolRun missing = run("bench");
  EXPECT_NE(missing.code, 0);
  expect_has(missing.out, {"op is required"});
  ToolRun average = run("bench all_reduce -a 4");
  EXPECT_EQ(average.code, 2) << average.out;
  expect_has(average.out, {"--average"});
}

// Under a launcher (its variables in the environment) bench runs as one process of a job; what it
// cannot run that way is a usage error (exit 2) before any GPU work.
TEST(Tool, BenchUnderALauncherRefusesWhatItCannotRun) {
  using ncclrt_test::ScopedEnv;
  std::vector<std::unique_ptr<ScopedEnv>> clean;
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "OMPI_COMM_WORLD_RANK",
                        "OMPI_COMM_WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "NCCLRT_RANK",
                        "NCCLRT_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NCCL_COMM_ID"}) {
    clean.push_back(std::make_unique<ScopedEnv>(v, std::nullopt));
  }
  ToolRun r = run("bench all_reduce --launcher sometimes");
  EXPECT_EQ(r.code, 2) << r.out;
  expect_has(r.out, {"--launcher sometimes is not one of auto, require, ignore"});
  r = run("bench all_reduce --launcher require");
  EXPECT_EQ(r.code, 2) << r.out;
  expect_has(r.out, {"no launcher variables found", "RANK/WORLD_SIZE/LOCAL_RANK (torchrun)"});
  {
    ScopedEnv rank("RANK", "1");
    r = run("bench all_reduce -b 8 -e 8");
    EXPECT_EQ(r.code, 2) << r.out;
    expect_has(r.out, {"WORLD_SIZE is not set", "--launcher ignore runs this process alone"});
    // Told to ignore the launcher, it runs alone (here: no GPU, exit 1).
    r = run("bench all_reduce -b 8 -e 8 --launcher ignore");
    EXPECT_NE(r.code, 2) << r.out;
  }
  ScopedEnv rank("NCCLRT_RANK", "1"), size("NCCLRT_WORLD_SIZE", "4"),
      local("NCCLRT_LOCAL_RANK", "1"), id("NCCL_COMM_ID", "127.0.0.1:29999");
  r = run("bench overhead");
  EXPECT_EQ(r.code, 2) << r.out;
  expect_has(r.out, {"overhead measures one rank in one process", "started 4 processes",
                     "--launcher ignore"});
  // The arguments pass: what stops it here is the missing GPU (exit 1), never usage.
  r = run("bench all_reduce -b 8 -e 8 -t 2");
  EXPECT_EQ(r.code, 1) << r.out;
  expect_has(r.out, {"ncclrt bench:"});
}

// bench takes the names Python takes: the arguments pass (exit 1 without a GPU, never 2).
TEST(Tool, BenchTakesEveryTypeAndOpName) {
  for (const char* args : {"-d float32 -o sum", "-d float -o SUM", "-d half -o max",
                           "-d bfloat16 -o avg", "-d float8_e4m3fn", "-d double -o Prod"}) {
    const ToolRun r = run(std::string("bench all_reduce -b 8 -e 8 ") + args);
    EXPECT_NE(r.code, 2) << args << "\n" << r.out;
  }
  const ToolRun bad = run("bench all_reduce -d quad");
  EXPECT_EQ(bad.code, 2);
  expect_has(bad.out, {"unknown data type 'quad'", "float32 (float)", "float16 (half)"});
}

TEST(Tool, BenchWithoutAGpuSaysSo) {
  ToolRun r = run("bench all_reduce -b 8 -e 8");
  if (r.code == 0) GTEST_SKIP() << "this machine has a GPU";
  EXPECT_EQ(r.code, 1);
  expect_has(r.out, {"ncclrt bench:"});
  if (r.out.find("built without the CUDA toolkit") != std::string::npos) return;
  // Told apart as `ncclrt info` does, never the runtime's "driver version is insufficient".
  if (::dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD) == nullptr &&
      ::dlopen("libcuda.so.1", RTLD_NOW) == nullptr) {
    expect_has(r.out, {"no NVIDIA driver on this machine (libcuda.so.1 not found)", "Try:"});
  } else {
    expect_has(r.out, {"Try:"});
  }
  EXPECT_EQ(r.out.find("CUDA driver version is insufficient"), std::string::npos) << r.out;
}

namespace {

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

// One exit-code scheme for every subcommand: 0 success, 1 not usable / failed, 2 usage error.
TEST(Tool, ExitCodesAndFirstLines) {
  const std::string real = ncclrt_test::real_nccl();
  const std::string ours = std::string("ncclrt ") + ncclrt::kVersionString;
  struct Row {
    std::string args;
    int code;
    std::string first;  // the first line contains this
    bool needs_real = false;
  };
  const Row rows[] = {
      {"--version", 0, ours + " (commit "},
      {"version", 0, ours + " (commit "},
      {"version --json", 0, "{"},
      {"--help", 0, "ncclrt: find, check and use NCCL at run time"},
      {"info --help", 0, "Show the NCCL found"},
      {"bench --help", 0, "Measure an operation"},
      {"", 2, "ncclrt: a command is required"},
      {"inf", 2, "unknown command 'inf'; did you mean 'info'?"},
      {"prob /x", 2, "did you mean 'probe'?"},
      {"bnech all_reduce", 2, "did you mean 'bench'?"},
      {"frobnicate", 2, "ncclrt: unknown command 'frobnicate'"},
      {"--verison", 2, "--verison"},
      {"version --jsn", 2, "not expected: --jsn"},
      {"info --jsn", 2, "ncclrt info: the following argument was not expected: --jsn"},
      {"info --nccl-lib", 2, "--nccl-lib"},
      {"info --nccl-lib /nonexistent/libnccl.so.2", 1, ours},
      {"probe", 2, "ncclrt probe: path is required"},
      {"probe /nonexistent", 1, "NOT usable: /nonexistent"},
      {"probe --timeout-ms 0 /x", 2, "--timeout-ms"},
      {"probe --timeout-ms abc /x", 2, "--timeout-ms"},
      {"bench", 2, "op is required"},
      {"bench nonsense_op", 2, "unknown operation 'nonsense_op'"},
      {"bench allreduce", 2, "unknown operation 'allreduce'; did you mean 'all_reduce'?"},
      {"bench all_reduce -c 2", 2, "--check"},
      {"bench all_reduce --itres 3", 2, "not expected"},
      {"bench all_reduce -b 1M -e 1K", 2, "-b (1M) is larger than -e (1K)"},
      {"bench all_reduce -d complex", 2, "unknown data type 'complex'"},
      {"bench all_reduce -o foo", 2, "unknown reduce op 'foo'"},
      {"bench overhead --rounds 0", 2, "--rounds"},
      {"trace", 2, "ncclrt trace: a subcommand is required"},
      {"trace anlyze /x", 2, "ncclrt trace: unknown subcommand 'anlyze'; did you mean 'analyze'?"},
      {"trace shwo x.json", 2, "did you mean 'show'?"},
      {"trace exprot /x /y", 2, "did you mean 'export'?"},
      {"trace frobnicate", 2, "ncclrt trace: unknown subcommand 'frobnicate'"},
      {"trace --jsn", 2, "ncclrt trace: unknown option '--jsn'"},
      {"trace analyze /x extra", 2, "not expected: extra"},
      {"probe " + real, 0, "usable: " + real, true},
      {"info --nccl-lib " + real, 0, ours, true},
      {"info --json --nccl-lib " + real, 0, "{", true},
  };
  for (const auto& row : rows) {
    if (row.needs_real && real.empty()) continue;
    const ToolRun r = run(row.args);
    EXPECT_EQ(r.code, row.code) << "ncclrt " << row.args << "\n" << r.out;
    EXPECT_NE(first_line(r.out).find(row.first), std::string::npos)
        << "ncclrt " << row.args << ": first line is: " << first_line(r.out);
    // Our words, not CLI11's class names ("RequiredError: path is required").
    for (const char* name : {"RequiredError", "ExtrasError", "ValidationError", "ConversionError",
                             "ArgumentMismatch", "ParseError"}) {
      EXPECT_EQ(r.out.find(name), std::string::npos) << "ncclrt " << row.args << "\n" << r.out;
    }
  }
}

// Every help fits 100 columns: the top-level one is printed after every misspelt command.
TEST(Tool, HelpLinesFitOneHundredColumns) {
  for (const char* args : {"--help", "version --help", "info --help", "probe --help",
                           "bench --help", "infi", "trace --help", "trace analyze --help",
                           "trace show --help", "trace export --help", "trace anlyze"}) {
    const ToolRun r = run(args);
    std::size_t at = 0, line = 1;
    while (at < r.out.size()) {
      std::size_t end = r.out.find('\n', at);
      if (end == std::string::npos) end = r.out.size();
      EXPECT_LE(end - at, 100u) << "ncclrt " << args << ", line " << line << ":\n"
                                << r.out.substr(at, end - at);
      at = end + 1;
      ++line;
    }
    expect_has(r.out, {"ncclrt"});
  }
  // bench's long explanation is in its own help, not in the list of commands.
  expect_has(run("bench --help").out, {"nccl-tests' factors"});
  EXPECT_EQ(run("--help").out.find("nccl-tests' factors"), std::string::npos);
}

// `ncclrt info` reads in one screen: at most 80 columns and 20 lines without --all.
TEST(Tool, InfoFitsEightyColumnsAndTwentyLines) {
  NCCLRT_NEED_REAL_NCCL();
  ncclrt_test::ScopedEnv no_debug("NCCL_DEBUG", std::nullopt);
  for (const std::string& args : {std::string("info --nccl-lib ") + ncclrt_test::real_nccl(),
                                  std::string("info --nccl-lib ") + RECORDING_NCCL_22809,
                                  std::string("info --nccl-lib ") + RECORDING_NCCL_23203}) {
    const ToolRun r = run(args);
    ASSERT_EQ(r.code, 0) << r.out;
    std::size_t at = 0, lines = 0;
    while (at < r.out.size()) {
      std::size_t end = r.out.find('\n', at);
      if (end == std::string::npos) end = r.out.size();
      EXPECT_LE(end - at, 80u) << args << ":\n" << r.out.substr(at, end - at);
      at = end + 1;
      ++lines;
    }
    EXPECT_LE(lines, 20u) << args << ":\n" << r.out;
  }
}

TEST(Tool, MisspeltOptionsNameTheNearestOne) {
  const std::string info = run("info --jsn").out;
  expect_has(info, {"did you mean '--json' instead of '--jsn'?", "Usage:"});
  // Where it is seen: before the help, on the second line.
  EXPECT_LT(info.find("did you mean"), info.find("Usage:")) << info;
  EXPECT_EQ(info.find("did you mean"), info.find('\n') + 1 + std::string("ncclrt info: ").size())
      << info;
  // bench's operation too, before any GPU work.
  const ToolRun bench = run("bench allreduce -b 8 -e 8");
  EXPECT_EQ(bench.code, 2) << bench.out;
  expect_has(bench.out, {"did you mean 'all_reduce'?"});
  expect_has(run("bench all_reduce --itres 3").out, {"did you mean '--iters'"});
  expect_has(run("--verison").out, {"did you mean '--version'"});
}

// `version` reports an unusable NCCL as `info` does: the variable that chose it, exit 1.
TEST(Tool, VersionNamesABadNcclVariableAsInfoDoes) {
  ncclrt_test::ScopedEnv env("NCCLRT_NCCL_LIB", "/etc/passwd");
  const ToolRun info = run("info");
  const ToolRun version = run("version");
  EXPECT_EQ(version.code, 1) << version.out;
  EXPECT_EQ(version.code, info.code);
  expect_has(version.out, {"would load: no usable NCCL: cannot load NCCL from $NCCLRT_NCCL_LIB",
                           "/etc/passwd", "leave NCCLRT_NCCL_LIB unset"});
  EXPECT_EQ(version.out.find("no usable NCCL found"), std::string::npos) << version.out;
  const ToolRun flag = run("--version");
  EXPECT_EQ(flag.code, 1) << flag.out;
  const ToolRun j = run("version --json");
  EXPECT_EQ(j.code, 1) << j.out;
  const auto parsed = nlohmann::json::parse(j.out);
  EXPECT_TRUE(parsed["nccl"].is_null());
  EXPECT_NE(parsed["nccl_error"].get<std::string>().find("$NCCLRT_NCCL_LIB"), std::string::npos);
}

// A file that does not exist is answered before any probe process runs: no time is reported.
TEST(Tool, ProbeOfAMissingFileReportsNoTime) {
  const ToolRun r = run("probe /nonexistent");
  EXPECT_EQ(r.code, 1);
  expect_has(r.out, {"NOT usable: /nonexistent does not exist"});
  EXPECT_EQ(r.out.find("probe took"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("0.0 ms"), std::string::npos) << r.out;
  const ToolRun crash = run(std::string("probe ") + FAKE_NCCL_CRASH);
  expect_has(crash.out, {"probe took "});
}

TEST(Tool, VersionNamesTheNcclItWouldLoad) {
  NCCLRT_NEED_REAL_NCCL();
  ncclrt_test::ScopedEnv pick("NCCLRT_NCCL_LIB", ncclrt_test::real_nccl());
  const ToolRun text = run("version");
  ASSERT_EQ(text.code, 0) << text.out;
  expect_has(text.out, {"would load: NCCL ", "found by $NCCLRT_NCCL_LIB"});
  const ToolRun j = run("version --json");
  ASSERT_EQ(j.code, 0) << j.out;
  const auto parsed = nlohmann::json::parse(j.out);
  EXPECT_EQ(parsed["ncclrt"], ncclrt::kVersionString);
  EXPECT_EQ(parsed["nccl"]["version"], ncclrt_test::real_nccl_version());
  EXPECT_EQ(parsed["nccl"]["found_by"], "environment");
}

TEST(Tool, InfoNamesFunctionsTurnedOff) {
  ncclrt_test::ScopedEnv off("NCCLRT_DISABLE_FUNCTIONS", "ncclGather,ncclAlltoAll");
  ToolRun text = run(std::string("info --nccl-lib ") + RECORDING_NCCL_22809);
  ASSERT_EQ(text.code, 0) << text.out;
  expect_has(text.out, {"turned off by NCCLRT_DISABLE_FUNCTIONS: ncclAlltoAll, ncclGather"});
  auto j =
      nlohmann::json::parse(run(std::string("info --json --nccl-lib ") + RECORDING_NCCL_22809).out);
  EXPECT_EQ(j["library"]["disabled_functions"],
            nlohmann::json::array({"ncclAlltoAll", "ncclGather"}));
  for (auto& f : j["library"]["capabilities"]) {
    if (f["name"] == "ncclGather") {
      EXPECT_EQ(f["why_not_id"], "disabled");
    }
  }
  ncclrt_test::ScopedEnv typo("NCCLRT_DISABLE_FUNCTIONS", "ncclAllToAll");
  ToolRun bad = run(std::string("info --nccl-lib ") + RECORDING_NCCL_22809);
  EXPECT_EQ(bad.code, 1);
  expect_has(bad.out, {"NCCLRT_DISABLE_FUNCTIONS names 'ncclAllToAll'", "Try:"});
}

TEST(Tool, AFileThatIsNotALibraryNamesTheKnobUsedOnceAndWhatToTry) {
  auto count = [](const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
      ++n;
    }
    return n;
  };
  ToolRun flag = run("info --json --nccl-lib /etc/passwd");
  EXPECT_EQ(flag.code, 1);
  const std::string error = nlohmann::json::parse(flag.out)["error"].get<std::string>();
  expect_has(error, {"cannot load NCCL from --nccl-lib: the dynamic loader refused /etc/passwd",
                     "Try: give the path of libnccl.so.2 itself", "leave --nccl-lib unset"});
  EXPECT_EQ(count(error, "/etc/passwd"), 1u) << error;
  {
    ncclrt_test::ScopedEnv env("NCCLRT_NCCL_LIB", "/etc/passwd");
    ToolRun var = run("info");
    EXPECT_EQ(var.code, 1);
    expect_has(var.out, {"cannot load NCCL from $NCCLRT_NCCL_LIB", "leave NCCLRT_NCCL_LIB unset"});
  }
  ToolRun dir = run("info --nccl-lib /tmp");
  expect_has(dir.out, {"/tmp is not a regular file", "Try:"});
  ToolRun probe = run("probe /etc/passwd");
  EXPECT_EQ(probe.code, 1);
  expect_has(probe.out, {"NOT usable", "invalid ELF header", "Try:"});
  EXPECT_EQ(count(probe.out, "/etc/passwd"), 1u) << probe.out;
}

TEST(Tool, AHintNamesTheFlagWhenTheFlagWasGiven) {
  ToolRun flag = run(std::string("probe --timeout-ms 300 ") + FAKE_NCCL_HANG);
  EXPECT_EQ(flag.code, 1);
  expect_has(flag.out, {"did not finish within the deadline", "Raise --timeout-ms"});
  EXPECT_EQ(flag.out.find("NCCLRT_PROBE_TIMEOUT_MS"), std::string::npos) << flag.out;
  ncclrt_test::ScopedEnv env("NCCLRT_PROBE_TIMEOUT_MS", "300");
  ToolRun var = run(std::string("info --nccl-lib ") + FAKE_NCCL_HANG);
  // `info` wraps its lines at 80 columns, where depends on the file's path: read it unwrapped.
  std::string flat;
  for (char c : var.out) {
    const bool space = c == ' ' || c == '\n';
    if (!space || (!flat.empty() && flat.back() != ' ')) flat += space ? ' ' : c;
  }
  expect_has(flat, {"Raise NCCLRT_PROBE_TIMEOUT_MS"});
}

// Each line of `text`, for the checks of width and length.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// A bad number for --timeout-ms or --rounds is said in words, not as a range of doubles.
TEST(Tool, ABadCountIsSaidInWords) {
  for (const char* args : {"probe /x --timeout-ms 0", "probe /x --timeout-ms -5",
                           "probe /x --timeout-ms abc", "bench overhead --rounds 0"}) {
    const ToolRun r = run(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
    expect_has(r.out, {"is not a whole number >= 1"});
    EXPECT_LE(lines_of(r.out).front().size(), 80u) << args << "\n" << r.out;
    EXPECT_EQ(r.out.find("17976931348623157"), std::string::npos) << args << "\n" << r.out;
  }
}

// --nccl-lib may come before the command too, and `version` takes it; usage lines name the
// whole command; unexpected arguments are listed in the order they were typed.
TEST(Tool, NcclLibBeforeOrAfterTheCommand) {
  const std::string old = FAKE_NCCL_OLD;
  for (const std::string& args : {"--nccl-lib " + old + " info", "info --nccl-lib " + old}) {
    const ToolRun r = run(args);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.out;
    expect_has(r.out, {"ncclrt " + std::string(ncclrt::kVersionString) + ": NCCL 2.12.3",
                       "found by:   --nccl-lib"});
  }
  for (const std::string& args : {"--nccl-lib " + old + " version", "version --nccl-lib " + old,
                                  "--nccl-lib " + old + " --version"}) {
    const ToolRun r = run(args);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.out;
    expect_has(r.out, {"would load: NCCL 2.12.3", "(found by --nccl-lib)"});
  }
  const ToolRun missing = run("--nccl-lib /nonexistent/libnccl.so.2 info");
  EXPECT_EQ(missing.code, 1) << missing.out;
  expect_has(missing.out, {"cannot load NCCL from --nccl-lib", "/nonexistent/libnccl.so.2"});
  const ToolRun twice = run("--nccl-lib /a info --nccl-lib /b");
  EXPECT_EQ(twice.code, 2) << twice.out;
  expect_has(twice.out, {"--nccl-lib given twice"});
  const ToolRun probe = run("--nccl-lib /a probe /b");
  EXPECT_EQ(probe.code, 2) << probe.out;
  expect_has(probe.out,
             {"--nccl-lib applies to version, info, bench and doctor", "ncclrt probe PATH"});
  const ToolRun extras = run("info a b");
  EXPECT_EQ(extras.code, 2) << extras.out;
  expect_has(extras.out, {"ncclrt info: the following arguments were not expected: a b\n",
                          "Usage: ncclrt info [OPTIONS]"});
  expect_has(run("probe").out, {"Usage: ncclrt probe [OPTIONS] path"});
}

// ncclrt's own variables are checked as NCCL's are: a name it does not read gets the nearest one
// it does, a value it does not take is said, and one Library::open reads stops it.
TEST(Tool, NcclrtVariablesAreChecked) {
  const std::string old = FAKE_NCCL_OLD;
  {
    ncclrt_test::ScopedEnv a("NCCLRT_NCCL_LIBS", "/x/libnccl.so.2");
    ncclrt_test::ScopedEnv b("NCCLRT_PROBE_TIMEOUT", "3");
    const ToolRun r = run("info --nccl-lib " + old);
    EXPECT_EQ(r.code, 0) << r.out;
    expect_has(r.out, {"NCCLRT_NCCL_LIBS=/x/libnccl.so.2\n    <- not ncclrt's; did you mean "
                       "NCCLRT_NCCL_LIB?",
                       "NCCLRT_PROBE_TIMEOUT=3  <- not ncclrt's; did you mean "
                       "NCCLRT_PROBE_TIMEOUT_MS?"});
    const auto j = nlohmann::json::parse(run("info --json --nccl-lib " + old).out);
    std::map<std::string, nlohmann::json> problems;
    for (const auto& p : j["ncclrt_environment"]) problems[p["name"].get<std::string>()] = p;
    EXPECT_EQ(problems["NCCLRT_NCCL_LIBS"]["nearest"][0], "NCCLRT_NCCL_LIB");
    EXPECT_EQ(problems["NCCLRT_PROBE_TIMEOUT"]["nearest"][0], "NCCLRT_PROBE_TIMEOUT_MS");
    expect_has(run("version").out, {"note: NCCLRT_NCCL_LIBS=/x/libnccl.so.2: not ncclrt's; did "
                                    "you mean NCCLRT_NCCL_LIB?"});
  }
  {
    // A level that is none: flagged, and logging shows warnings and says why.
    ncclrt_test::ScopedEnv c("NCCLRT_LOG", "verbose");
    const ToolRun r = run("info --nccl-lib " + old);
    EXPECT_EQ(r.code, 0) << r.out;
    expect_has(r.out, {"NCCLRT_LOG=verbose\n    <- NCCLRT_LOG takes off, error, warn, info or "
                       "debug (or 0-4)",
                       "NCCLRT_LOG=verbose is not off, error, warn, info or debug (or 0-4); "
                       "logging warnings and errors"});
  }
  for (const auto& [name, value, words] :
       {std::tuple<const char*, const char*, const char*>{
            "NCCLRT_PROBE", "maybe",
            "NCCLRT_PROBE=maybe cannot be used: NCCLRT_PROBE takes 1 or 0"},
        {"NCCLRT_PROBE_TIMEOUT_MS", "abc",
         "NCCLRT_PROBE_TIMEOUT_MS=abc cannot be used: NCCLRT_PROBE_TIMEOUT_MS takes a whole "
         "number of milliseconds > 0"},
        {"NCCLRT_ALLOW_MISSING_FUNCTIONS", "sure", "NCCLRT_ALLOW_MISSING_FUNCTIONS=sure"}}) {
    ncclrt_test::ScopedEnv bad(name, value);
    const ToolRun r = run("info --json --nccl-lib " + old);
    EXPECT_EQ(r.code, 1) << r.out;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_NE(j["error"].get<std::string>().find(words), std::string::npos) << j["error"];
  }
  ncclrt_test::ScopedEnv fine("NCCLRT_PROBE", "off");
  EXPECT_EQ(run("info --nccl-lib " + old).code, 0);
}

// `info` fits one screen (80 columns, under 20 lines) when nothing is found and with several
// flagged variables; what does not fit is counted, the flagged ones shown first.
TEST(Tool, InfoFitsOneScreenWhenNothingIsFoundAndWithFlaggedVariables) {
  NCCLRT_NEED_REAL_NCCL();  // it knows which NCCL_* variables it reads
  const ToolRun none = run("info --nccl-lib /nonexistent/dir/libnccl.so.2");
  EXPECT_EQ(none.code, 1);
  for (const auto& line : lines_of(none.out)) EXPECT_LE(line.size(), 80u) << none.out;
  expect_has(none.out, {"No usable NCCL: cannot load NCCL from --nccl-lib"});
  ncclrt_test::ScopedEnv a("NCCL_SOCKET_IFNAM", "lo");
  ncclrt_test::ScopedEnv b("NCCL_IB_HCAA", "mlx5");
  ncclrt_test::ScopedEnv c("NCCLRT_NCCL_LIBS", "/x");
  ncclrt_test::ScopedEnv d("NCCL_DEBUG", "WARN");
  std::vector<std::unique_ptr<ncclrt_test::ScopedEnv>> many;
  for (const char* v : {"NCCL_ALGO", "NCCL_PROTO", "NCCL_NTHREADS", "NCCL_MIN_NCHANNELS",
                        "NCCL_MAX_NCHANNELS", "NCCL_BUFFSIZE"}) {
    many.push_back(std::make_unique<ncclrt_test::ScopedEnv>(v, "1"));
  }
  const ToolRun r = run("info --nccl-lib " + ncclrt_test::real_nccl());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto lines = lines_of(r.out);
  EXPECT_LT(lines.size(), 20u) << r.out;
  for (const auto& line : lines) EXPECT_LE(line.size(), 80u) << r.out;
  expect_has(r.out, {"NCCL_SOCKET_IFNAM=lo", "NCCL_IB_HCAA=mlx5", "NCCLRT_NCCL_LIBS=/x",
                     "more (--all lists them)"});
  const ToolRun all = run("info --all --nccl-lib " + ncclrt_test::real_nccl());
  expect_has(all.out, {"NCCL_BUFFSIZE=1", "NCCL_MAX_NCHANNELS=1"});
  // An old NCCL's many releases are summed up, not listed, in the summary.
  const ToolRun old = run(std::string("info --nccl-lib ") + FAKE_NCCL_OLD);
  expect_has(old.out, {"56 need a newer NCCL (2.13.0 to 2.32.3)\n"});
  EXPECT_LT(lines_of(old.out).size(), 20u) << old.out;
}

// The NCCL of the Python environment the command runs from, when it is another file than the
// one the command loads: `version` and `info` name both.
TEST(Tool, VersionAndInfoNameThePythonEnvironmentsNcclWhenItDiffers) {
  ncclrt_test::TempDir dir;
  const auto venv = dir.path() / "venv";
  const auto file = venv / "lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2";
  std::filesystem::create_directories(file.parent_path());
  std::filesystem::copy_file(FAKE_NCCL_OLD, file);
  ncclrt_test::ScopedEnv unset("NCCLRT_NCCL_LIB", std::nullopt);
  ncclrt_test::ScopedEnv env("VIRTUAL_ENV", venv.string());
  ncclrt_test::ScopedEnv cuda("CUDA_HOME", (dir.path() / "cuda").string());
  // The command itself loads another NCCL: the recording stand-in, through $CUDA_HOME.
  std::filesystem::create_directories(dir.path() / "cuda/lib64");
  std::filesystem::copy_file(RECORDING_NCCL_22809, dir.path() / "cuda/lib64/libnccl.so.2");
  const ToolRun v = run("version");
  ASSERT_EQ(v.code, 0) << v.out;
  expect_has(v.out, {"Python here: NCCL 2.12.3 from " + file.string() + " ($VIRTUAL_ENV)",
                     "what a Python program here loads"});
  const auto j = nlohmann::json::parse(run("version --json").out);
  EXPECT_EQ(j["python_environment"]["version"], "2.12.3");
  EXPECT_EQ(j["python_environment"]["found_in"], "$VIRTUAL_ENV");
  const ToolRun info = run("info");
  ASSERT_EQ(info.code, 0) << info.out;
  expect_has(info.out, {"  Python:     NCCL 2.12.3 from"});
  EXPECT_LT(lines_of(info.out).size(), 20u) << info.out;
  // The same file, or a file chosen for both: nothing to add.
  EXPECT_EQ(run("version --nccl-lib " + file.string()).out.find("Python here"), std::string::npos);
  ncclrt_test::ScopedEnv pick("NCCLRT_NCCL_LIB", file.string());
  EXPECT_EQ(run("version").out.find("Python here"), std::string::npos);
}

// ncclrt bench's buffer rotation (nccl-tests' startColl), checked without a GPU.
TEST(BenchRotation, ShiftsByWholeMessagesAndWrapsWithinTheAllocation) {
  using ncclrt_tool::rotation;
  constexpr std::size_t KiB = 1024, MiB = 1024 * KiB;
  // 256 KiB messages in -e 1 MiB: four places, then round again.
  const std::size_t want[] = {0, 256 * KiB, 512 * KiB, 768 * KiB, 0, 256 * KiB};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(rotation(MiB, 256 * KiB, 256 * KiB, i), want[i]) << i;
  // all_gather-like: both buffers move by the larger side (the receive side, 4x the send side),
  // as nccl-tests does: two places of 512 KiB.
  EXPECT_EQ(rotation(MiB, 128 * KiB, 512 * KiB, 1), 512 * KiB);
  EXPECT_EQ(rotation(MiB, 512 * KiB, 128 * KiB, 3), 512 * KiB);
  // The largest size fills -e: no shift. Nothing to move: no shift.
  EXPECT_EQ(rotation(MiB, MiB, MiB, 7), 0u);
  EXPECT_EQ(rotation(MiB, 0, 0, 5), 0u);
  // -b 8 -e 256M -f 8: the 128 MiB row has two places (nccl-tests' steps = maxbytes / size).
  EXPECT_EQ(rotation(256 * MiB, 128 * MiB, 128 * MiB, 1), 128 * MiB);
  EXPECT_EQ(rotation(256 * MiB, 128 * MiB, 128 * MiB, 2), 0u);
  // No message ever runs past -e, whatever the sizes.
  for (std::size_t size : {std::size_t{8}, std::size_t{24}, 3 * KiB, 100 * KiB, 333 * KiB}) {
    for (int i = 0; i < 200; ++i) {
      const std::size_t s = rotation(2 * MiB, size, 2 * size, i);
      EXPECT_LE(s + 2 * size, 2 * MiB) << size << " " << i;
      EXPECT_EQ(s % (2 * size), 0u);
    }
  }
}

// The count of a row, as nccl-tests' *GetCollByteCount: split operations round the count per
// rank down to 16 bytes.
TEST(BenchRotation, CountsAsNcclTests) {
  using ncclrt_tool::count_for;
  EXPECT_EQ(count_for(8, 4, 1, false), 2u);      // all_reduce of 8 B float: 2
  EXPECT_EQ(count_for(8, 4, 1, true), 0u);       // all_gather of 8 B: (2 & ~3) = 0, no row
  EXPECT_EQ(count_for(64, 4, 1, true), 16u);     // 64 B: 16 floats
  EXPECT_EQ(count_for(64, 4, 8, true), 0u);      // 8 ranks: 2 floats each, below 16 B
  EXPECT_EQ(count_for(1000, 4, 2, true), 124u);  // 125 floats a rank -> 124 (496 B)
  EXPECT_EQ(count_for(100, 1, 1, true), 96u);    // int8: multiples of 16 elements
  EXPECT_EQ(count_for(100, 8, 1, true), 12u);    // double: multiples of 2
  EXPECT_EQ(count_for(100, 8, 1, false), 12u);   // whole elements only
  EXPECT_EQ(count_for(1 << 20, 2, 4, true), std::size_t{1} << 17);
}

TEST(BenchProcedure, WarmsUpEverySizeFromMinDoublingToMax) {
  using ncclrt_tool::warmup_sizes;
  const auto v = warmup_sizes(8, 256u << 20);
  ASSERT_EQ(v.size(), 26u);  // 8 B .. 256 MiB
  EXPECT_EQ(v.front(), 8u);
  EXPECT_EQ(v[1], 16u);
  EXPECT_EQ(v.back(), 256u << 20);
  EXPECT_EQ(warmup_sizes(3, 20), (std::vector<std::size_t>{3, 6, 12}));
  EXPECT_EQ(warmup_sizes(8, 8), (std::vector<std::size_t>{8}));
  const std::size_t top = ~std::size_t{0};
  EXPECT_EQ(warmup_sizes(top / 2 + 1, top).size(), 1u);  // no overflow past the largest size
}

namespace {

// Records the steps time_one_size takes; its clock advances 1 s per call or graph launch made
// while it runs, so the returned time says which of them the clock covered.
struct RecordedSteps {
  std::vector<std::string> log;
  bool capturing = false, clock = false;
  int captured = 0;  // calls in the graph being built or last built
  double elapsed = 0;
  long wrong_found = 3;
  void prepare() { log.push_back("prepare"); }
  void call(int i) {
    log.push_back((capturing ? "capture call " : "call ") + std::to_string(i));
    if (capturing) ++captured;
    if (clock && !capturing) elapsed += 1;
  }
  void wait() { log.push_back("wait"); }
  void barrier() { log.push_back("barrier"); }
  void begin_capture() {
    log.push_back("begin capture");
    capturing = true;
    captured = 0;
  }
  void end_capture() {
    log.push_back("end capture (" + std::to_string(captured) + " calls)");
    capturing = false;
  }
  void launch() {
    log.push_back("launch");
    if (clock) elapsed += captured;
  }
  void drop_graph() { log.push_back("drop graph"); }
  void start_clock() {
    log.push_back("start clock");
    clock = true;
  }
  double stop_clock() {
    log.push_back("stop clock");
    clock = false;
    return elapsed;
  }
  long verify() {
    log.push_back("verify");
    return wrong_found;
  }
};

std::vector<std::string> lines(std::initializer_list<const char*> l) {
  return {l.begin(), l.end()};
}

}  // namespace

// nccl-tests 2.19.6's BenchTime (src/common.cu), eager: initData, one call of iteration 0 and a
// wait, a barrier; the clock around -n calls and the wait after them; the check after.
TEST(BenchProcedure, EagerTimesTheCallsAndTheWaitAfterThem) {
  RecordedSteps s;
  ncclrt_tool::TimingPlan p;
  p.iters = 3;
  long wrong = 1;
  const double seconds = ncclrt_tool::time_one_size(s, p, wrong);
  EXPECT_EQ(s.log, lines({"prepare", "call 0", "wait", "barrier", "start clock", "call 0", "call 1",
                          "call 2", "wait", "stop clock", "barrier", "prepare", "call 0", "wait",
                          "verify"}));
  EXPECT_DOUBLE_EQ(seconds, 1.0);  // 3 calls timed, divided by 3
  EXPECT_EQ(wrong, 4);             // added to what was there
}

// -G: the graph holds the -n calls (iterations 0..n-1, their buffers rotated) and nothing else;
// the clock starts after instantiation and a barrier and covers every launch, the first (which
// uploads the graph) included, and the wait; the time is divided by n x G. The check runs call 0
// in a graph of its own.
TEST(BenchProcedure, GraphTimesEveryLaunchTheFirstIncluded) {
  RecordedSteps s;
  ncclrt_tool::TimingPlan p;
  p.iters = 2;
  p.graph_launches = 3;
  long wrong = 0;
  const double seconds = ncclrt_tool::time_one_size(s, p, wrong);
  EXPECT_EQ(s.log, lines({"prepare",
                          "call 0",
                          "wait",
                          "barrier",
                          "begin capture",
                          "capture call 0",
                          "capture call 1",
                          "end capture (2 calls)",
                          "barrier",
                          "start clock",
                          "launch",
                          "launch",
                          "launch",
                          "wait",
                          "stop clock",
                          "drop graph",
                          "barrier",
                          "prepare",
                          "begin capture",
                          "capture call 0",
                          "end capture (1 calls)",
                          "launch",
                          "wait",
                          "drop graph",
                          "verify"}));
  EXPECT_DOUBLE_EQ(seconds, 1.0);  // 3 launches x 2 calls, divided by 6
  EXPECT_EQ(wrong, 3);
}

// --graph-warmup N (not nccl-tests' way): N untimed launches and a wait before the barrier.
TEST(BenchProcedure, GraphWarmupLaunchesUntimedFirst) {
  RecordedSteps s;
  ncclrt_tool::TimingPlan p;
  p.iters = 2;
  p.graph_launches = 1;
  p.graph_warmup = 2;
  p.check = false;
  long wrong = 0;
  ncclrt_tool::time_one_size(s, p, wrong);
  EXPECT_EQ(s.log, lines({"call 0", "wait", "barrier", "begin capture", "capture call 0",
                          "capture call 1", "end capture (2 calls)", "launch", "launch", "wait",
                          "barrier", "start clock", "launch", "wait", "stop clock", "drop graph"}));
  EXPECT_EQ(wrong, 0);  // no check: nothing verified
}

TEST(BenchProcedure, ThreadsTimesCombineAsNcclTestsAverage) {
  using ncclrt_tool::combine_threads;
  const std::vector<double> t = {2.0, 1.0, 6.0};
  EXPECT_DOUBLE_EQ(combine_threads(t, 0), 2.0);  // thread 0's
  EXPECT_DOUBLE_EQ(combine_threads(t, 1), 3.0);  // mean (nccl-tests' default)
  EXPECT_DOUBLE_EQ(combine_threads(t, 2), 1.0);
  EXPECT_DOUBLE_EQ(combine_threads(t, 3), 6.0);
  EXPECT_DOUBLE_EQ(combine_threads({}, 1), 0.0);
}
