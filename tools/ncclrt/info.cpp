#include <limits.h>
#include <stdlib.h>

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

constexpr std::size_t kWidth = 80;     // the default output fits a terminal of 80 columns
constexpr std::size_t kMaxLines = 19;  // and one screen: under 20 lines without --all

// The text output, line by line, so that the summary can be fitted to one screen.
struct Screen {
  std::vector<std::string> lines;

  // `lead` then `text`, wrapped at kWidth columns on spaces, continuation lines indented as far
  // as `lead` (or by `indent`). A word longer than a line (a path) stays whole. A line break in
  // `text` starts a new line at the same indent.
  void wrapped(const std::string& lead, const std::string& text,
               std::size_t indent = std::string::npos) {
    const std::string pad(indent == std::string::npos ? lead.size() : indent, ' ');
    std::string line = lead;
    bool first_word = true;
    std::size_t at = 0;
    while (at <= text.size()) {
      std::size_t end = text.find_first_of(" \n", at);
      if (end == std::string::npos) end = text.size();
      const std::string word = text.substr(at, end - at);
      if (!first_word && line.size() + 1 + word.size() > kWidth) {
        lines.push_back(line);
        line = pad + word;
      } else {
        line += (first_word ? "" : " ") + word;
      }
      first_word = false;
      if (end < text.size() && text[end] == '\n') {
        lines.push_back(line);
        line = pad;
        first_word = true;
      }
      at = end + 1;
    }
    lines.push_back(line);
  }
  void add(const std::string& line) { lines.push_back(line); }
  void print() const {
    for (const auto& l : lines) std::cout << l << "\n";
  }
};

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

// "NCCL 2.28.9 from PATH ($VIRTUAL_ENV): what a Python program here loads, as PyTorch does".
std::string python_line(const json& p) {
  const std::string what = p.contains("version") ? "NCCL " + p["version"].get<std::string>()
                                                 : "an NCCL that is not usable";
  return what + " from " + p["path"].get<std::string>() + " (" + p["found_in"].get<std::string>() +
         "): what a Python program here loads, as PyTorch does" +
         (p.contains("problem") ? "; " + p["problem"].get<std::string>() : "");
}

// Why a variable is flagged, or "" when it is not: an NCCL_* one the loaded NCCL never reads, an
// NCCLRT_* one ncclrt does not read or whose value it does not take.
std::string flag_of(const json& r, const std::string& name) {
  auto nearest = [](const json& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
      out += (i ? " or " : " ") + names[i].get<std::string>();
    }
    return out;
  };
  if (r.contains("unknown_environment")) {
    for (const auto& u : r["unknown_environment"]) {
      if (u["name"] != name) continue;
      return u["nearest"].empty()
                 ? "not read by this NCCL (a typo, or another program's variable)"
                 : "not read by this NCCL; did you mean" + nearest(u["nearest"]) + "?";
    }
  }
  for (const auto& p : r["ncclrt_environment"]) {
    if (p["name"] != name) continue;
    return p["nearest"].empty()
               ? p["problem"].get<std::string>()
               : p["problem"].get<std::string>() + "; did you mean" + nearest(p["nearest"]) + "?";
  }
  return {};
}

// The default output is a summary in at most 80 columns and under 20 lines (the variables beyond
// what fits are counted, flagged ones shown first); --all adds every place searched, every
// function and feature, the functions by release, each GPU and every variable.
void print_text(const json& r, bool all) {
  Screen top;
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
    top.add("ncclrt " + r["ncclrt_version"].get<std::string>() + ": NCCL " +
            l["version"].get<std::string>() + " (code " +
            std::to_string(l["version_code"].get<int>()) + ")");
    top.wrapped("  file:       ", l["path"].get<std::string>());
    top.wrapped("  found by:   ",
                for_cli(l["found_by_text"].get<std::string>(), "--nccl-lib") +
                    (place > 1 ? ", the " + ordinal(place) + " place tried" : std::string()));
    std::ostringstream probe;
    if (l["probe_seconds"].is_null()) {
      probe << "not run (off, cached, or the library was already loaded)";
    } else {
      probe << std::fixed << std::setprecision(1) << l["probe_seconds"].get<double>() * 1000
            << " ms in a separate process";
    }
    top.wrapped("  probe:      ", probe.str());
    const std::string available =
        std::to_string(usable) + " of " + std::to_string(functions) + " available";
    Screen by_release;
    by_release.wrapped(
        "  functions:  ",
        available + (needing > 0 ? "; " + std::to_string(needing) + " need a newer NCCL: " + needs
                                 : std::string()));
    if (by_release.lines.size() > 2 && !all) {  // an old NCCL: the releases are in --all
      top.wrapped("  functions:  ", available + "; " + std::to_string(needing) +
                                        " need a newer NCCL (" + releases.front() + " to " +
                                        releases.back() + ")");
    } else {
      top.lines.insert(top.lines.end(), by_release.lines.begin(), by_release.lines.end());
    }
    top.wrapped("  features:   ", features.empty() ? "none" : joined(features));
    top.wrapped("  GPUs:       ", gpus_line(g));
    if (r.contains("ranks_per_gpu")) {
      const json& m = r["ranks_per_gpu"];
      std::string why = m.contains("why_not") ? m["why_not"].get<std::string>() : "";
      const std::string prefix = "several ranks per GPU ";
      if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
      top.wrapped("  ranks/GPU:  ", m["allowed"].get<bool>()
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
      if (!names.empty()) top.wrapped("  ", std::string(title) + joined(names), 4);
    }
    if (r.contains("python_environment")) {
      top.wrapped("  Python:     ", python_line(r["python_environment"]));
    }
    if (all) {
      top.add("");
      top.add("Places searched, in order:");
      for (const auto& s : l["search_log"]) {
        top.wrapped(std::string("  ") + (s["loaded"].get<bool>() ? "* " : "- "),
                    for_cli(s["source_text"].get<std::string>(), "--nccl-lib") + ": " +
                        s["path"].get<std::string>() + " -> " + s["outcome"].get<std::string>(),
                    6);
      }
      top.add("");
      top.add("Every function and feature:");
      for (const auto& f : l["capabilities"]) {
        std::ostringstream line;
        line << "  " << (f["available"].get<bool>() ? "[yes] " : "[no]  ") << std::left
             << std::setw(30) << f["name"].get<std::string>() << " since "
             << f["since"].get<std::string>();
        if (f.contains("why_not_id")) line << "  (" << f["why_not_id"].get<std::string>() << ")";
        top.add(line.str());
      }
      if (needing > 0) {
        top.add("");
        top.add("Need a newer NCCL than " + l["version"].get<std::string>() +
                " (load one with NCCLRT_NCCL_LIB or --nccl-lib):");
        for (const auto& v : releases) top.wrapped("  " + v + ": ", joined(newer[v]), 4);
      }
    }
  } else {
    top.add("ncclrt " + r["ncclrt_version"].get<std::string>());
    top.add("");
    top.wrapped("No usable NCCL: ", r["error"].get<std::string>(), 2);
    top.wrapped("GPUs: ", gpus_line(g), 2);
    if (r.contains("python_environment")) {
      top.wrapped("Python: ", python_line(r["python_environment"]), 2);
    }
  }
  if (all) {
    for (const auto& d : g["devices"]) {
      top.add("  GPU " + std::to_string(d["index"].get<int>()) + ": " +
              d["name"].get<std::string>() + ", " +
              std::to_string(d["memory_bytes"].get<std::size_t>() / (1024 * 1024)) + " MiB, " +
              d["pci_bus_id"].get<std::string>());
    }
  }

  // The variables: each with its flag on the same line where it fits; flagged ones first when
  // not all fit.
  std::vector<Screen> vars;
  std::vector<Screen> flagged;
  for (const auto& [k, v] : r["variables"].items()) {
    Screen one;
    const std::string why = flag_of(r, k);
    const std::string set = "  " + k + "=" + v.get<std::string>();
    if (why.empty()) {
      one.wrapped("  ", k + "=" + v.get<std::string>(), 4);
    } else if (set.size() + 5 + why.size() <= kWidth) {
      one.add(set + "  <- " + why);  // the flag on the same line where it fits
    } else {
      one.wrapped("  ", k + "=" + v.get<std::string>(), 4);
      one.wrapped("    <- ", why, 7);
    }
    (why.empty() ? vars : flagged).push_back(one);
  }
  vars.insert(vars.begin(), flagged.begin(), flagged.end());
  Screen bottom;
  if (r.contains("parameters")) {
    const json& p = r["parameters"];
    bottom.add("");
    if (!p["available"].get<bool>()) {
      bottom.add("Parameters: not available from this NCCL:");
      bottom.wrapped("  ", p["why_not"].get<std::string>(), 4);
    } else {
      bottom.add("Parameters: " + std::to_string(p["values"].size()));
      for (const auto& [k, v] : p["values"].items()) {
        std::ostringstream line;
        line << "  " << std::left << std::setw(36) << k << " " << v.get<std::string>();
        bottom.add(line.str());
      }
    }
  }
  const bool summary = !all && !r.contains("parameters");
  if (!all && r.contains("library")) {
    bottom.add("");
    bottom.add("More: `ncclrt info --all` (every place, function, feature), --params, --json");
  }

  top.add("");
  top.add(std::string("Variables in effect:") + (vars.empty() ? " none" : ""));
  std::size_t room = std::string::npos;
  if (summary) {
    const std::size_t used = top.lines.size() + bottom.lines.size();
    room = used < kMaxLines ? kMaxLines - used : 0;
  }
  std::size_t shown = 0;
  for (const auto& one : vars) {
    const bool last = shown + 1 == vars.size();
    if (one.lines.size() + (last ? 0 : 1) > room) break;  // keep a line for "... more"
    top.lines.insert(top.lines.end(), one.lines.begin(), one.lines.end());
    room -= one.lines.size();
    ++shown;
  }
  if (shown < vars.size()) {
    top.add("  ... and " + std::to_string(vars.size() - shown) + " more (--all lists them)");
  }
  top.print();
  bottom.print();
}

}  // namespace

json python_environment(const std::string& loaded) {
  if (std::getenv("NCCLRT_NCCL_LIB") && *std::getenv("NCCLRT_NCCL_LIB")) {
    return nullptr;  // a Python program started here is given the same file
  }
  const auto files = ncclrt::python_environment_nccl();
  if (files.empty()) return nullptr;
  const std::string& path = files.front().path;
  char real[PATH_MAX];
  if (!loaded.empty() && ::realpath(path.c_str(), real) && loaded == real) return nullptr;
  json p{{"path", path}, {"found_in", files.front().outcome}};
  const ncclrt::ProbeResult probe = ncclrt::probe(path, std::chrono::milliseconds(10000));
  if (probe.ok() && probe.version) {
    p["version"] = probe.version->str();
  } else {
    p["problem"] = probe.message();
  }
  return p;
}

std::string python_environment_line(const json& p) { return python_line(p); }

int run_info(const InfoArgs& args) {
  json r;
  r["ncclrt_version"] = ncclrt::kVersionString;
  int rc = 0;
  try {
    ncclrt::LoadOptions o;
    o.path = args.nccl_lib;
    auto lib = ncclrt::Library::open(o);
    r["library"] = library_json(*lib);
    if (args.nccl_lib.empty()) {
      if (json p = python_environment(lib->path()); !p.is_null()) r["python_environment"] = p;
    }
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
    if (args.nccl_lib.empty()) {
      if (json p = python_environment(""); !p.is_null()) r["python_environment"] = p;
    }
  }
  r["ncclrt_environment"] = json::array();
  for (const auto& p : ncclrt::ncclrt_environment_problems()) {
    r["ncclrt_environment"].push_back(
        {{"name", p.name}, {"value", p.value}, {"problem", p.problem}, {"nearest", p.nearest}});
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
