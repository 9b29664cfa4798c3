#include <algorithm>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <ncclrt/ncclrt.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "commands.hpp"
#include "gpus.hpp"

extern char** environ;

namespace ncclrt_tool {
namespace {

using nlohmann::json;

json variables() {
  json vars = json::object();
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "NCCL_", 5) != 0 && std::strncmp(*e, "NCCLRT_", 7) != 0) continue;
    const char* eq = std::strchr(*e, '=');
    if (eq) vars[std::string(*e, static_cast<std::size_t>(eq - *e))] = std::string(eq + 1);
  }
  return vars;
}

json gpus_json(const GpuReport& g) {
  json j;
  j["driver_found"] = g.driver_found;
  if (g.driver_version) {
    j["driver_version"] = cuda_version_text(g.driver_version);
  }
  if (!g.problem.empty()) j["problem"] = g.problem;
  j["devices"] = json::array();
  for (const auto& d : g.gpus) {
    j["devices"].push_back({{"index", d.index},
                            {"name", d.name},
                            {"memory_bytes", d.memory_bytes},
                            {"pci_bus_id", d.pci_bus_id}});
  }
  return j;
}

bool listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Why a function or feature is off, as a stable identifier: "needs_newer_nccl", "disabled"
// (NCCLRT_DISABLE_FUNCTIONS) or "missing_from_file" (NCCLRT_ALLOW_MISSING_FUNCTIONS).
const char* why_not_id(const ncclrt::Library& lib, const ncclrt::Capability& c) {
  if (listed(lib.disabled_functions(), c.name)) return "disabled";
  if (listed(lib.missing_functions(), c.name)) return "missing_from_file";
  return "needs_newer_nccl";
}

json library_json(const ncclrt::Library& lib) {
  json j;
  j["path"] = lib.path();
  j["version"] = lib.version().str();
  j["version_code"] = lib.version().code();
  j["found_by"] = ncclrt::id_of(lib.found_by());  // a stable identifier
  j["found_by_text"] = ncclrt::to_string(lib.found_by());
  if (auto s = lib.probe_seconds()) {
    j["probe_seconds"] = *s;
  } else {
    j["probe_seconds"] = nullptr;
  }
  j["search_log"] = json::array();
  for (const auto& s : lib.search_log()) {
    j["search_log"].push_back({{"source", ncclrt::id_of(s.source)},
                               {"source_text", ncclrt::to_string(s.source)},
                               {"path", s.path},
                               {"outcome", s.outcome},
                               {"loaded", s.loaded}});
  }
  j["capabilities"] = json::array();
  for (const auto& c : lib.capabilities()) {
    json f{{"name", c.name},
           {"is_function", c.is_function},
           {"since", c.since.str()},
           {"required", c.required},
           {"available", c.available}};
    if (!c.available) {
      f["why_not"] = c.why_not;
      f["why_not_id"] = why_not_id(lib, c);
    }
    j["capabilities"].push_back(f);
  }
  if (!lib.missing_functions().empty()) j["missing_functions"] = lib.missing_functions();
  j["disabled_functions"] = lib.disabled_functions();
  return j;
}

// The NCCL_* variables set here that the loaded NCCL never reads, with the nearest it does.
json unknown_environment(const ncclrt::Library& lib) {
  json out = json::array();
  for (const auto& u : lib.unknown_environment()) {
    out.push_back({{"name", u.name}, {"nearest", u.nearest}});
  }
  return out;
}

json parameters(const ncclrt::Library& lib) {
  json j;
  if (!lib.has(ncclrt::Function::ncclParamGetAllParameterKeys)) {
    j["available"] = false;
    j["why_not"] = "the parameter list needs NCCL >= " +
                   ncclrt::since(ncclrt::Function::ncclParamGetAllParameterKeys).str() +
                   "; loaded " + lib.version().str();
    return j;
  }
  j["available"] = true;
  j["values"] = json::object();
  for (const auto& p : lib.parameters()) j["values"][p.name] = p.value;
  return j;
}

// One line per release that would bring more: "2.29.2 (6), 2.29.7 (3)".
std::map<std::string, std::vector<std::string>> off_by_release(const json& l, const char* id) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& f : l["capabilities"]) {
    if (f["available"].get<bool>() || f["why_not_id"] != id) continue;
    out[f["since"].get<std::string>()].push_back(f["name"].get<std::string>());
  }
  return out;
}

std::string joined(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// Releases sort by their numbers, not as text (2.9 before 2.10).
bool older(const std::string& a, const std::string& b) {
  auto parts = [](const std::string& v) {
    std::vector<int> n;
    std::size_t at = 0;
    while (at < v.size()) {
      n.push_back(std::atoi(v.c_str() + at));
      at = v.find('.', at);
      if (at == std::string::npos) break;
      ++at;
    }
    return n;
  };
  return parts(a) < parts(b);
}

constexpr std::size_t kWidth = 80;  // the default output fits a terminal of 80 columns

// `lead` then `text`, wrapped at kWidth columns on spaces, continuation lines indented as far as
// `lead` (or by `indent`). A word longer than a line (a path) stays whole.
void print_wrapped(const std::string& lead, const std::string& text,
                   std::size_t indent = std::string::npos) {
  const std::string pad(indent == std::string::npos ? lead.size() : indent, ' ');
  std::string line = lead;
  std::size_t at = 0;
  bool first_word = true;
  while (at <= text.size()) {
    std::size_t end = text.find(' ', at);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(at, end - at);
    if (!first_word && line.size() + 1 + word.size() > kWidth) {
      std::cout << line << "\n";
      line = pad + word;
    } else {
      line += (first_word ? "" : " ") + word;
    }
    first_word = false;
    at = end + 1;
  }
  std::cout << line << "\n";
}

// "1st", "2nd", "3rd", "4th", ... for the place discovery found NCCL at.
std::string ordinal(std::size_t n) {
  const char* suffix = (n % 100 >= 11 && n % 100 <= 13) ? "th"
                       : n % 10 == 1                    ? "st"
                       : n % 10 == 2                    ? "nd"
                       : n % 10 == 3                    ? "rd"
                                                        : "th";
  return std::to_string(n) + suffix;
}

// The GPUs in one line: "2 x NVIDIA H100 80GB HBM3 (81559 MiB)", or the problem.
std::string gpus_line(const json& g) {
  if (g.contains("problem")) return g["problem"].get<std::string>();
  if (g["devices"].empty()) return "none";
  std::map<std::string, int> by_name;
  for (const auto& d : g["devices"]) {
    by_name[d["name"].get<std::string>() + " (" +
            std::to_string(d["memory_bytes"].get<std::size_t>() / (1024 * 1024)) + " MiB)"]++;
  }
  std::string out;
  for (const auto& [name, n] : by_name) {
    out += (out.empty() ? "" : ", ") + std::to_string(n) + " x " + name;
  }
  return out;
}

// The default output is a summary in at most 80 columns and about 15 lines; --all adds every
// place searched, every function and feature, the functions by release and each GPU.
void print_text(const json& r, bool all) {
  std::cout << "ncclrt " << r["ncclrt_version"].get<std::string>() << "\n\n";
  const json& g = r["gpus"];
  if (r.contains("library")) {
    const json& l = r["library"];
    int functions = 0, usable = 0;
    std::vector<std::string> features;
    for (const auto& f : l["capabilities"]) {
      const bool fn = f["is_function"].get<bool>(), on = f["available"].get<bool>();
      functions += fn;
      usable += fn && on;
      if (!fn && on) features.push_back(f["name"].get<std::string>());
    }
    auto newer = off_by_release(l, "needs_newer_nccl");
    std::vector<std::string> releases;
    for (const auto& [v, names] : newer) releases.push_back(v);
    std::sort(releases.begin(), releases.end(), older);
    std::string needs;
    int needing = 0;
    for (const auto& v : releases) {
      needs += (needs.empty() ? "" : ", ") + v + " (" + std::to_string(newer[v].size()) + ")";
      needing += static_cast<int>(newer[v].size());
    }
    std::size_t place = 0;
    for (const auto& s : l["search_log"]) {
      ++place;
      if (s["loaded"].get<bool>()) break;
    }
    std::cout << "NCCL " << l["version"].get<std::string>() << " (code " << l["version_code"]
              << ")\n";
    print_wrapped("  file:       ", l["path"].get<std::string>());
    print_wrapped("  found by:   ",
                  l["found_by_text"].get<std::string>() +
                      (place > 1 ? ", the " + ordinal(place) + " place tried" : std::string()));
    std::ostringstream probe;
    if (l["probe_seconds"].is_null()) {
      probe << "not run (off, cached, or the library was already loaded)";
    } else {
      probe << std::fixed << std::setprecision(1) << l["probe_seconds"].get<double>() * 1000
            << " ms in a separate process";
    }
    print_wrapped("  probe:      ", probe.str());
    print_wrapped("  functions:  ",
                  std::to_string(usable) + " of " + std::to_string(functions) + " available" +
                      (needing > 0 ? "; " + std::to_string(needing) + " need a newer NCCL: " + needs
                                   : std::string()));
    print_wrapped("  features:   ", features.empty() ? "none" : joined(features));
    print_wrapped("  GPUs:       ", gpus_line(g));
    if (r.contains("ranks_per_gpu")) {
      const json& m = r["ranks_per_gpu"];
      std::string why = m.contains("why_not") ? m["why_not"].get<std::string>() : "";
      const std::string prefix = "several ranks per GPU ";
      if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
      print_wrapped("  ranks/GPU:  ", m["allowed"].get<bool>()
                                          ? "several allowed (rank r runs on GPU r % GPUs)"
                                          : "one (several: " + why + ")");
    }
    for (const auto& [id, title] : {std::pair<const char*, const char*>{
                                        "disabled", "turned off by NCCLRT_DISABLE_FUNCTIONS: "},
                                    {"missing_from_file",
                                     "missing from the file although its version has them "
                                     "(NCCLRT_ALLOW_MISSING_FUNCTIONS): "}}) {
      std::vector<std::string> names;
      for (const auto& [v, n] : off_by_release(l, id))
        names.insert(names.end(), n.begin(), n.end());
      if (!names.empty()) print_wrapped("  ", std::string(title) + joined(names), 4);
    }
    if (all) {
      std::cout << "\nPlaces searched, in order:\n";
      for (const auto& s : l["search_log"]) {
        print_wrapped(std::string("  ") + (s["loaded"].get<bool>() ? "* " : "- "),
                      s["source_text"].get<std::string>() + ": " + s["path"].get<std::string>() +
                          " -> " + s["outcome"].get<std::string>(),
                      6);
      }
      std::cout << "\nEvery function and feature:\n";
      for (const auto& f : l["capabilities"]) {
        std::cout << "  " << (f["available"].get<bool>() ? "[yes] " : "[no]  ") << std::left
                  << std::setw(30) << f["name"].get<std::string>() << " since "
                  << f["since"].get<std::string>();
        if (f.contains("why_not_id"))
          std::cout << "  (" << f["why_not_id"].get<std::string>() << ")";
        std::cout << "\n";
      }
      if (needing > 0) {
        std::cout << "\nNeed a newer NCCL than " << l["version"].get<std::string>()
                  << " (load one with NCCLRT_NCCL_LIB or --nccl-lib):\n";
        for (const auto& v : releases) print_wrapped("  " + v + ": ", joined(newer[v]), 4);
      }
    }
  } else {
    // Not wrapped: a path or a search list is read (and searched for) as it is.
    std::cout << "No usable NCCL: " << r["error"].get<std::string>() << "\n";
    std::cout << "GPUs: " << gpus_line(g) << "\n";
  }
  if (all) {
    for (const auto& d : g["devices"]) {
      std::cout << "  GPU " << d["index"] << ": " << d["name"].get<std::string>() << ", "
                << d["memory_bytes"].get<std::size_t>() / (1024 * 1024) << " MiB, "
                << d["pci_bus_id"].get<std::string>() << "\n";
    }
  }
  std::map<std::string, std::vector<std::string>> unknown;
  if (r.contains("unknown_environment")) {
    for (const auto& u : r["unknown_environment"]) {
      unknown[u["name"].get<std::string>()] = u["nearest"].get<std::vector<std::string>>();
    }
  }
  std::cout << "\nVariables in effect:" << (r["variables"].empty() ? " none" : "") << "\n";
  for (const auto& [k, v] : r["variables"].items()) {
    print_wrapped("  ", k + "=" + v.get<std::string>(), 4);
    auto u = unknown.find(k);
    if (u == unknown.end()) continue;
    std::string why = "not read by this NCCL";
    if (u->second.empty()) {
      why += " (a typo, or another program's variable)";
    } else {
      why += "; did you mean";
      for (std::size_t i = 0; i < u->second.size(); ++i) why += (i ? " or " : " ") + u->second[i];
      why += "?";
    }
    print_wrapped("    <- ", why, 7);
  }
  if (r.contains("parameters")) {
    const json& p = r["parameters"];
    std::cout << "\nParameters:";
    if (!p["available"].get<bool>()) {
      std::cout << " not available from this NCCL:\n";
      print_wrapped("  ", p["why_not"].get<std::string>(), 4);
      return;
    }
    std::cout << " " << p["values"].size() << "\n";
    for (const auto& [k, v] : p["values"].items()) {
      std::cout << "  " << std::left << std::setw(36) << k << " " << v.get<std::string>() << "\n";
    }
  }
  if (!all && r.contains("library")) {
    std::cout << "\n`ncclrt info --all`: every place searched, function and feature; --params:\n"
                 "NCCL's parameters (2.30.4+); --json: all of it for programs\n";
  }
}

}  // namespace

int run_info(const InfoArgs& args) {
  json r;
  r["ncclrt_version"] = ncclrt::kVersionString;
  int rc = 0;
  try {
    ncclrt::LoadOptions o;
    o.path = args.nccl_lib;
    auto lib = ncclrt::Library::open(o);
    r["library"] = library_json(*lib);
    r["unknown_environment"] = unknown_environment(*lib);
    std::string why_not;
    r["ranks_per_gpu"] = {{"allowed", lib->allows_ranks_per_gpu(&why_not)}};
    if (!why_not.empty()) r["ranks_per_gpu"]["why_not"] = why_not;
    if (args.params) r["parameters"] = parameters(*lib);
    r["ok"] = true;
  } catch (const ncclrt::Error& e) {
    r["ok"] = false;
    r["error"] = for_cli(e.what(), "--nccl-lib");
    rc = 1;
  }
  r["gpus"] = gpus_json(list_gpus());
  r["variables"] = variables();
  if (args.json) {
    std::cout << r.dump(2) << "\n";
  } else {
    print_text(r, args.all);
  }
  if (rc != 0 && !args.json) std::cerr << "ncclrt info: no usable NCCL found (see above)\n";
  return rc;
}

int run_probe(const ProbeArgs& args) {
  auto timeout = std::chrono::milliseconds(args.timeout_ms > 0 ? args.timeout_ms : 10000);
  ncclrt::ProbeResult p = ncclrt::probe(args.path, timeout);
  json r{{"file", args.path},
         {"verdict", ncclrt::to_string(p.verdict)},
         {"message", args.timeout_ms > 0
                         ? replaced(p.message(), "NCCLRT_PROBE_TIMEOUT_MS", "--timeout-ms")
                         : p.message()},
         {"seconds", p.seconds},
         {"cached", p.cached}};
  if (p.version) r["version"] = p.version->str();
  if (!p.resolved.empty()) r["resolved"] = p.resolved;
  bool usable = p.ok();
  if (usable) {
    // Safe now: the file loaded cleanly elsewhere. Check the whole symbol table too.
    try {
      ncclrt::LoadOptions o;
      o.path = args.path;
      o.probe_timeout = timeout;
      auto lib = ncclrt::Library::open(o);
      int off = 0;
      for (const auto& c : lib->capabilities()) off += c.available ? 0 : 1;
      r["symbols"] = "all required functions present; " + std::to_string(off) +
                     " optional functions or features off for this version";
    } catch (const ncclrt::Error& e) {
      usable = false;
      r["verdict"] = "unusable";
      r["message"] = for_cli(e.what(), "PATH");
    }
  }
  r["usable"] = usable;
  if (args.json) {
    std::cout << r.dump(2) << "\n";
  } else {
    std::cout << (usable ? "usable: " : "NOT usable: ") << r["message"].get<std::string>() << "\n";
    if (!usable && r["message"].get<std::string>().find("Try:") == std::string::npos) {
      std::cout << "Try: another file (`ncclrt info` shows the NCCL that ncclrt finds by itself)\n";
    }
    if (r.contains("symbols")) std::cout << r["symbols"].get<std::string>() << "\n";
    // Only a probe process has a time: a file that does not exist is answered before one runs.
    if (p.seconds > 0 || p.cached) {
      std::cout << "probe took " << std::fixed << std::setprecision(1) << p.seconds * 1000 << " ms"
                << (p.cached ? " (cached)" : "") << "\n";
    }
  }
  return usable ? 0 : 1;
}

}  // namespace ncclrt_tool
