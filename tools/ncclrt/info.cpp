#include <algorithm>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <ncclrt/ncclrt.hpp>
#include <nlohmann/json.hpp>
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
  j["search"] = json::array();
  for (const auto& s : lib.search_log()) {
    j["search"].push_back({{"source", ncclrt::id_of(s.source)},
                           {"source_text", ncclrt::to_string(s.source)},
                           {"path", s.path},
                           {"outcome", s.outcome},
                           {"loaded", s.loaded}});
  }
  j["features"] = json::array();
  for (const auto& c : lib.capabilities()) {
    json f{{"name", c.name},
           {"kind", c.is_function ? "function" : "feature"},
           {"since", c.since.str()},
           {"required", c.required},
           {"available", c.available}};
    if (!c.available) {
      f["why_not"] = c.why_not;
      f["why_not_id"] = why_not_id(lib, c);
    }
    j["features"].push_back(f);
  }
  if (!lib.missing_functions().empty()) j["missing_functions"] = lib.missing_functions();
  j["disabled_functions"] = lib.disabled_functions();
  return j;
}

// The NCCL_* variables set here that the loaded NCCL never reads, with the nearest it does.
json unknown_variables(const ncclrt::Library& lib) {
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
  for (const auto& f : l["features"]) {
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

void print_text(const json& r, bool all) {
  std::cout << "ncclrt " << r["ncclrt_version"].get<std::string>() << "\n\n";
  if (r.contains("library")) {
    const json& l = r["library"];
    int functions = 0, usable = 0;
    std::vector<std::string> features;
    for (const auto& f : l["features"]) {
      const bool fn = f["kind"] == "function", on = f["available"].get<bool>();
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
    std::cout << "NCCL " << l["version"].get<std::string>() << " (code " << l["version_code"]
              << ")\n";
    std::cout << "  file:      " << l["path"].get<std::string>() << "\n";
    std::cout << "  found by:  " << l["found_by_text"].get<std::string>() << "\n";
    std::cout << "  probe:     ";
    if (l["probe_seconds"].is_null()) {
      std::cout << "not run (off, cached, or the library was already loaded)\n";
    } else {
      std::cout << std::fixed << std::setprecision(1) << l["probe_seconds"].get<double>() * 1000
                << " ms in a separate process\n";
    }
    std::cout << "  functions: " << usable << " of " << functions << " available";
    if (needing > 0) std::cout << "; " << needing << " need a newer NCCL: " << needs;
    std::cout << "\n  features:  " << (features.empty() ? "none" : joined(features)) << "\n";
    const json& g = r["gpus"];
    std::cout << "  GPUs:      ";
    if (g.contains("problem")) {
      std::cout << g["problem"].get<std::string>();
    } else {
      std::cout << g["devices"].size();
    }
    std::cout << "\n";
    if (r.contains("ranks_per_gpu")) {
      const json& m = r["ranks_per_gpu"];
      std::string why = m.contains("why_not") ? m["why_not"].get<std::string>() : "";
      const std::string prefix = "several ranks per GPU ";
      if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
      std::cout << "  several ranks per GPU: "
                << (m["several_allowed"].get<bool>() ? "allowed (rank r runs on GPU r % GPUs)"
                                                     : "no (" + why + ")")
                << "\n";
    }
    std::cout << "\nPlaces searched, in order:\n";
    for (const auto& s : l["search"]) {
      std::cout << "  " << (s["loaded"].get<bool>() ? "* " : "- ")
                << s["source_text"].get<std::string>() << ": " << s["path"].get<std::string>()
                << " -> " << s["outcome"].get<std::string>() << "\n";
    }
    if (all) {
      std::cout << "\nEvery function and feature:\n";
      for (const auto& f : l["features"]) {
        std::cout << "  " << (f["available"].get<bool>() ? "[yes] " : "[no]  ") << std::left
                  << std::setw(30) << f["name"].get<std::string>() << " since "
                  << f["since"].get<std::string>();
        if (f.contains("why_not_id"))
          std::cout << "  (" << f["why_not_id"].get<std::string>() << ")";
        std::cout << "\n";
      }
    }
    if (needing > 0) {
      std::cout << "\nNeed a newer NCCL than " << l["version"].get<std::string>()
                << " (load one with NCCLRT_NCCL_LIB or --nccl-lib):\n";
      for (const auto& v : releases) std::cout << "  " << v << ": " << joined(newer[v]) << "\n";
    }
    for (const auto& [id, title] :
         {std::pair<const char*, const char*>{"disabled", "Turned off by NCCLRT_DISABLE_FUNCTIONS"},
          {"missing_from_file",
           "Missing from the file although its version has them "
           "(NCCLRT_ALLOW_MISSING_FUNCTIONS)"}}) {
      std::vector<std::string> names;
      for (const auto& [v, n] : off_by_release(l, id))
        names.insert(names.end(), n.begin(), n.end());
      if (!names.empty()) std::cout << "\n" << title << ": " << joined(names) << "\n";
    }
    if (!all) std::cout << "\n(`ncclrt info --all` lists every function and feature)\n";
  } else {
    std::cout << "No usable NCCL: " << r["error"].get<std::string>() << "\n";
  }
  const json& g = r["gpus"];
  if (!r.contains("library") || !g["devices"].empty()) {  // else the summary said it
    std::cout << "\nGPUs:";
    if (g.contains("problem")) std::cout << " " << g["problem"].get<std::string>();
    std::cout << "\n";
  }
  for (const auto& d : g["devices"]) {
    std::cout << "  " << d["index"] << ": " << d["name"].get<std::string>() << ", "
              << d["memory_bytes"].get<std::size_t>() / (1024 * 1024) << " MiB, "
              << d["pci_bus_id"].get<std::string>() << "\n";
  }
  std::cout << "\nVariables in effect:";
  if (r["variables"].empty()) std::cout << " none";
  std::cout << "\n";
  std::map<std::string, std::vector<std::string>> unknown;
  if (r.contains("unknown_variables")) {
    for (const auto& u : r["unknown_variables"]) {
      unknown[u["name"].get<std::string>()] = u["nearest"].get<std::vector<std::string>>();
    }
  }
  for (const auto& [k, v] : r["variables"].items()) {
    std::cout << "  " << k << "=" << v.get<std::string>();
    auto u = unknown.find(k);
    if (u != unknown.end()) {
      std::cout << "   <- not read by this NCCL (a typo, or another program's variable)";
      if (!u->second.empty()) {
        std::cout << "; did you mean";
        for (std::size_t i = 0; i < u->second.size(); ++i) {
          std::cout << (i ? " or " : " ") << u->second[i];
        }
        std::cout << "?";
      }
    }
    std::cout << "\n";
  }
  if (r.contains("parameters")) {
    const json& p = r["parameters"];
    std::cout << "\nParameters:";
    if (!p["available"].get<bool>()) {
      std::cout << " not available from this NCCL (" << p["why_not"].get<std::string>() << ")\n";
      return;
    }
    std::cout << " " << p["values"].size() << "\n";
    for (const auto& [k, v] : p["values"].items()) {
      std::cout << "  " << std::left << std::setw(36) << k << " " << v.get<std::string>() << "\n";
    }
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
    r["unknown_variables"] = unknown_variables(*lib);
    std::string why_not;
    r["ranks_per_gpu"] = {{"several_allowed", lib->allows_ranks_per_gpu(&why_not)}};
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
         {"seconds", p.seconds}};
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
    std::cout << "probe took " << std::fixed << std::setprecision(1) << p.seconds * 1000 << " ms"
              << (p.cached ? " (cached)" : "") << "\n";
  }
  return usable ? 0 : 1;
}

}  // namespace ncclrt_tool
