// Checks one real NCCL release on the CPU, for scripts/nccl_matrix.py. The release is chosen with
// $NCCLRT_NCCL_LIB; argv: its header's NCCL_VERSION_CODE and the host functions its nccl.h
// declares (comma-separated). Prints one JSON object; "ok" is false with the problems listed.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ncclrt/ncclrt.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

int main(int argc, char** argv) {
  using namespace ncclrt;
  nlohmann::json out;
  std::vector<std::string> problems;
  if (argc != 3) {
    std::fprintf(stderr, "usage: matrix_check HEADER_VERSION_CODE FUNCTION,FUNCTION,...\n");
    return 64;
  }
  const Version header = Version::from_code(std::atoi(argv[1]));
  std::set<std::string> declared;
  std::stringstream list(argv[2]);
  for (std::string f; std::getline(list, f, ',');) declared.insert(f);
  try {
    auto lib = Library::open();
    out["path"] = lib->path();
    out["found_by"] = to_string(lib->found_by());
    if (lib->found_by() != Source::kEnvironment)
      problems.push_back("not found through $NCCLRT_NCCL_LIB");
    out["probe"] =
        lib->probe_seconds()
            ? "ok in " + std::to_string(static_cast<int>(*lib->probe_seconds() * 1000)) + " ms"
            : std::string("not run");
    out["loaded_version"] = lib->version().str();
    if (lib->version() != header) {
      problems.push_back("version " + lib->version().str() + " but the header says " +
                         header.str());
    }
    // The feature list must be exactly what this release's header declares.
    std::set<std::string> known;
    for (const auto& c : lib->capabilities()) {
      out["features"].push_back(
          {{"name", c.name}, {"since", c.since.str()}, {"available", c.available}});
      if (!c.is_function) continue;
      known.insert(c.name);
      const bool in_header = declared.count(c.name) > 0;
      if (c.available != in_header) {
        problems.push_back(c.name + (c.available
                                         ? " is on but the header does not declare it"
                                         : " is off but the header declares it: " + c.why_not));
      }
    }
    for (const auto& f : declared) {
      if (!known.count(f))
        problems.push_back(f + " is declared by the header but unknown to ncclrt");
    }
    const UniqueId a = lib->unique_id(), b = lib->unique_id();
    out["ids"] = a != b ? "differ" : "SAME";
    if (a == b) problems.push_back("two unique ids are equal");
    const std::string text = lib->error_string(1);
    if (text.find("unhandled cuda error") == std::string::npos) {
      problems.push_back("error string of 1 is '" + text + "'");
    }
    out["last_error_readable"] = lib->has(Function::ncclGetLastError);
    if (lib->has(Function::ncclGetLastError)) lib->last_error();
    try {
      (void)Communicator::init_rank(lib, 1, 0, lib->unique_id());
      out["init_error"] = "init succeeded (a GPU is present)";
    } catch (const NcclError& e) {
      out["init_error"] = e.result_string() + "; last error: " + e.last_error();
      if (e.result_string().find("unhandled cuda error") == std::string::npos &&
          e.result_string().find("system error") == std::string::npos) {
        problems.push_back("init failed with '" + e.result_string() + "'");
      }
    }
    // The wrappers of the calls from 2.28.7 on: each refused (UnsupportedError naming the release
    // it needs) before its first release and usable from it on. Communicator calls cannot run
    // without a GPU; their gate is the function they require, checked here on the real file.
    const std::pair<const char*, Function> wrappers[] = {
        {"revoke", Function::ncclCommRevoke},
        {"grow_id", Function::ncclCommGetUniqueId},
        {"grow/join", Function::ncclCommGrow},
        {"put_signal", Function::ncclPutSignal},
        {"signal", Function::ncclSignal},
        {"wait_signal", Function::ncclWaitSignal},
        {"Window::user_pointer", Function::ncclWinGetUserPtr},
        {"suspend", Function::ncclCommSuspend},
        {"resume", Function::ncclCommResume},
        {"memory_stats", Function::ncclCommMemStats},
        {"parameters", Function::ncclParamGetAllParameterKeys},
        {"all_reduce(CollConfig)", Function::ncclAllReduceConfig},
        {"set_encryption", Function::ncclSetEncryption},
    };
    for (const auto& [name, f] : wrappers) {
      const bool declared_here = declared.count(name_of(f)) > 0;
      try {
        lib->require(f);
        out["wrappers"][name] = "available";
        if (!declared_here) problems.push_back(std::string(name) + " is available, undeclared");
      } catch (const UnsupportedError& e) {
        const std::string what = e.what();
        out["wrappers"][name] = "refused: " + what.substr(0, what.find(" from "));
        if (declared_here) problems.push_back(std::string(name) + " is refused but declared");
      }
    }
    // Parameters (2.30.4) from the real Param API; otherwise UnsupportedError.
    try {
      const auto params = lib->parameters();
      out["parameters"] = std::to_string(params.size()) + " published";
      if (params.empty()) problems.push_back("parameters() returned none");
    } catch (const UnsupportedError&) {
      out["parameters"] = "not available (needs 2.30.4)";
      if (lib->version() >= Version{2, 30, 4}) problems.push_back("parameters() refused");
    }
    // The variables its file reads, and a typo among them, on every release.
    const auto names = lib->environment_names();
    if (std::find(names.begin(), names.end(), "NCCL_DEBUG") == names.end()) {
      problems.push_back("NCCL_DEBUG is not among the variables its file reads");
    }
    ::setenv("NCCL_SOCKET_IFNAM", "lo", 1);
    const auto unknown = lib->unknown_environment();
    ::unsetenv("NCCL_SOCKET_IFNAM");
    const bool flagged = std::any_of(unknown.begin(), unknown.end(), [](const UnknownVariable& u) {
      return u.name == "NCCL_SOCKET_IFNAM" && !u.nearest.empty() &&
             u.nearest[0] == "NCCL_SOCKET_IFNAME";
    });
    out["variables"] =
        std::to_string(names.size()) + " names; typo " + (flagged ? "flagged" : "MISSED");
    if (!flagged) problems.push_back("NCCL_SOCKET_IFNAM was not flagged");
    // A function this release lacks: UnsupportedError naming it, the version it needs, the file.
    out["unsupported"] = "none: the newest release ncclrt knows";
    const auto caps = lib->capabilities();  // functions first, in Function order
    for (std::size_t i = 0; i < caps.size() && caps[i].is_function; ++i) {
      if (caps[i].available) continue;
      try {
        lib->require(static_cast<Function>(i));
        problems.push_back("require(" + caps[i].name + ") did not throw");
      } catch (const UnsupportedError& e) {
        const std::string what = e.what();
        out["unsupported"] = what.substr(0, what.find(" from "));  // the path is this machine's
      }
      break;
    }
  } catch (const std::exception& e) {
    problems.push_back(std::string("exception: ") + e.what());
  }
  out["problems"] = problems;
  out["ok"] = problems.empty();
  std::printf("%s\n", out.dump().c_str());
  return problems.empty() ? 0 : 1;
}
