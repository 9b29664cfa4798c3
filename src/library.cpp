#include "ncclrt/library.hpp"

#include <dlfcn.h>
#include <glob.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

#include "environment.hpp"
#include "log_internal.hpp"
#include "nccl_error.hpp"
#include "ncclrt/error.hpp"
#include "ncclrt/probe.hpp"

namespace ncclrt {

struct Library::Impl {
  std::string path;
  Version version;
  Source found_by = Source::kPath;
  std::vector<SearchStep> search_log;
  std::optional<double> probe_seconds;
  std::vector<std::string> missing;
  std::vector<std::string> disabled;
  void* handle = nullptr;
  detail::Symbols sym;
};

namespace {

struct FunctionEntry {
  const char* name;
  Version since;
  bool required;
};
constexpr FunctionEntry kFunctions[] = {
#define NCCLRT_FN(name, ret, params, major, minor, patch, required) \
  {#name, {major, minor, patch}, required},
#include "ncclrt/detail/nccl_functions.def"
};

struct FeatureEntry {
  const char* name;
  Version since;
  const char* what;
};
constexpr FeatureEntry kFeatures[] = {
#define NCCLRT_FEATURE(name, major, minor, patch, what) {#name, {major, minor, patch}, what},
#include "ncclrt/detail/nccl_functions.def"
};

// The table's slots in declaration order, to fill them in one loop.
void** slot(detail::Symbols& s, Function f) {
  switch (f) {
#define NCCLRT_FN(name, ret, params, major, minor, patch, required) \
  case Function::name:                                              \
    return reinterpret_cast<void**>(&s.name);
#include "ncclrt/detail/nccl_functions.def"
  }
  return nullptr;
}

constexpr int kFunctionCount = static_cast<int>(sizeof(kFunctions) / sizeof(kFunctions[0]));

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool env_flag(const char* name, bool fallback) {
  const auto v = detail::variable(name);
  return v ? *detail::flag_value(*v) : fallback;
}

std::chrono::milliseconds probe_timeout(const LoadOptions& o) {
  if (o.probe_timeout) return *o.probe_timeout;
  const auto v = detail::variable("NCCLRT_PROBE_TIMEOUT_MS");
  return std::chrono::milliseconds(v ? std::strtoll(v->c_str(), nullptr, 10) : 10000);
}

bool is_nccl_name(const char* path) {
  const char* base = std::strrchr(path, '/');
  base = base ? base + 1 : path;
  return std::strncmp(base, "libnccl.so", 10) == 0;
}

std::vector<std::string> already_loaded() {
  std::vector<std::string> found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        if (info->dlpi_name && *info->dlpi_name && is_nccl_name(info->dlpi_name)) {
          static_cast<std::vector<std::string>*>(data)->push_back(info->dlpi_name);
        }
        return 0;
      },
      &found);
  return found;
}

std::vector<std::string> glob_paths(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  return out;
}

std::string parent_dir(const std::string& p) {
  const auto pos = p.find_last_of('/');
  return pos == std::string::npos ? std::string(".") : pos == 0 ? "/" : p.substr(0, pos);
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The first line of a small text file, trimmed; empty when there is none.
std::string first_line_of(const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "re");
  if (f == nullptr) return {};
  char buf[512] = {};
  const bool got = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  std::string line = got ? buf : "";
  line.erase(0, line.find_first_not_of(" \t"));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

constexpr const char* kPythonNccl = "/nvidia/nccl/lib/libnccl.so.2";

struct Candidate {
  Source source;
  std::string file;         // a path, or a bare name for the loader to search
  std::string label;        // where it came from, for messages
  std::string absent = {};  // set when the place is known to hold no NCCL: why, for the log
};

// Python environments, each a prefix (its packages are under lib/python3.N/site-packages) and
// where it came from. Found from the file system only: no interpreter is started.
struct PythonPrefix {
  std::string prefix;
  std::string label;
};

// pyenv's shim directory (ROOT/shims, beside ROOT/versions) holds scripts, not interpreters: the
// version they run is named by $PYENV_VERSION, else the nearest .python-version from the current
// directory up, else ROOT/version (pyenv's own order). Not a shim directory: nullopt.
std::optional<std::vector<PythonPrefix>> pyenv_prefixes(const std::string& dir,
                                                        const std::string& exe) {
  const std::string root = parent_dir(dir);
  if (dir.size() < 6 || dir.compare(dir.size() - 6, 6, "/shims") != 0 ||
      !is_dir(root + "/versions")) {
    return std::nullopt;
  }
  std::string names = env("PYENV_VERSION");
  std::string from = "$PYENV_VERSION";
  if (names.empty()) {
    char cwd[PATH_MAX];
    for (std::string d = ::getcwd(cwd, sizeof cwd) ? cwd : ""; !d.empty(); d = parent_dir(d)) {
      names = first_line_of(d + "/.python-version");
      if (!names.empty()) {
        from = d + "/.python-version";
        break;
      }
      if (d == "/") break;
    }
  }
  if (names.empty()) {
    names = first_line_of(root + "/version");
    from = root + "/version";
  }
  std::vector<PythonPrefix> out;
  std::istringstream list(names);
  for (std::string v; std::getline(list, v, ':');) {
    if (v.empty() || v == "system") continue;  // "system": the next python3 on PATH
    out.push_back({root + "/versions/" + v,
                   "python3 on PATH (" + exe + ", pyenv " + v + " from " + from + ")"});
  }
  return out;
}

std::vector<PythonPrefix> python_prefixes() {
  std::vector<PythonPrefix> out;
  if (std::string v = env("VIRTUAL_ENV"); !v.empty()) out.push_back({v, "$VIRTUAL_ENV"});
  if (std::string c = env("CONDA_PREFIX"); !c.empty()) out.push_back({c, "$CONDA_PREFIX"});
  // The python3 found on PATH: its prefix, unresolved (a venv) and resolved (the base install),
  // or, for a pyenv shim, the version pyenv would run.
  std::istringstream dirs(env("PATH"));
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const std::string exe = dir + "/python3";
    if (::access(exe.c_str(), X_OK) != 0) continue;
    if (auto pyenv = pyenv_prefixes(dir, exe)) {
      if (pyenv->empty()) continue;  // pyenv's "system" Python
      out.insert(out.end(), pyenv->begin(), pyenv->end());
      break;
    }
    const std::string label = "python3 on PATH (" + exe + ")";
    out.push_back({parent_dir(dir), label});
    char real[PATH_MAX];
    if (::realpath(exe.c_str(), real) && parent_dir(parent_dir(real)) != parent_dir(dir)) {
      out.push_back({parent_dir(parent_dir(real)), label});
    }
    break;  // only the first python3 on PATH is the one a user runs
  }
  return out;
}

// The package directories a Python host handed over (set_python_environment), and whether it did.
std::mutex& python_mutex() {
  static std::mutex m;
  return m;
}
std::optional<std::vector<std::string>>& python_host_dirs() {
  static std::optional<std::vector<std::string>> dirs;
  return dirs;
}

// The Python place's candidates. The prefixes are worked out once per process for the same
// environment (the variables and PATH they come from); which files exist is looked at each time.
std::vector<Candidate> python_candidates() {
  std::vector<Candidate> out;
  {
    std::lock_guard<std::mutex> lock(python_mutex());
    if (const auto& host = python_host_dirs()) {
      for (const auto& dir : *host) {
        if (is_file(dir + kPythonNccl)) {
          out.push_back({Source::kPython, dir + kPythonNccl, "this Python's sys.path"});
        }
      }
      if (out.empty()) {
        out.push_back({Source::kPython, "sys.path", "this Python",
                       "no nvidia/nccl/lib/libnccl.so.2 in any of its " +
                           std::to_string(host->size()) + " package directories"});
      }
      return out;
    }
  }
  static std::mutex cache_mutex;
  static std::string cached_key;
  static std::vector<PythonPrefix> cached;
  std::vector<PythonPrefix> prefixes;
  {
    char cwd[PATH_MAX];
    const std::string key = env("VIRTUAL_ENV") + '\n' + env("CONDA_PREFIX") + '\n' + env("PATH") +
                            '\n' + env("PYENV_VERSION") + '\n' + env("PYENV_ROOT") + '\n' +
                            (::getcwd(cwd, sizeof cwd) ? cwd : "");
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (key != cached_key || cached.empty()) {
      cached = python_prefixes();
      cached_key = key;
    }
    prefixes = cached;
  }
  // A prefix without NCCL is logged as its lib directory and what was looked for under it, never
  // as a glob pattern.
  for (const auto& p : prefixes) {
    const auto hits = glob_paths(p.prefix + "/lib/python3*/site-packages" + kPythonNccl);
    if (hits.empty()) {
      out.push_back({Source::kPython, p.prefix + "/lib", p.label,
                     "no python3.N/site-packages/nvidia/nccl/lib/libnccl.so.2 under it"});
    }
    for (const auto& h : hits) out.push_back({Source::kPython, h, p.label});
  }
  return out;
}

// The automatic places in search order (explicit ones, the path in code and $NCCLRT_NCCL_LIB, are
// handled before these and never fall through to them). A Python host's own environment comes
// right after the NCCL already loaded: the one PyTorch loads in the same environment.
std::vector<Source> automatic_order() {
  bool python_host = false;
  {
    std::lock_guard<std::mutex> lock(python_mutex());
    python_host = python_host_dirs().has_value();
  }
  if (python_host) {
    return {Source::kAlreadyLoaded, Source::kPython, Source::kLoaderSearch, Source::kCudaHome,
            Source::kCudaDefault};
  }
  return {Source::kAlreadyLoaded, Source::kLoaderSearch, Source::kCudaHome, Source::kCudaDefault,
          Source::kPython};
}

// What the loader's search for libnccl.so.2 resolved to: the search path is fixed when the
// process starts, so the answer holds for the process.
std::string& loader_search_result() {
  static std::string path;
  return path;
}

// One place's candidates, worked out only when discovery reaches it.
std::vector<Candidate> candidates_of(Source place) {
  std::vector<Candidate> c;
  switch (place) {
    case Source::kAlreadyLoaded:
      for (auto& p : already_loaded()) c.push_back({place, p, "already loaded"});
      break;
    case Source::kLoaderSearch: {
      const std::string& seen = loader_search_result();
      c.push_back({place, seen.empty() || !is_file(seen) ? "libnccl.so.2" : seen,
                   "the dynamic loader's search"});
      break;
    }
    case Source::kCudaHome:
      if (std::string h = env("CUDA_HOME"); !h.empty()) {
        c.push_back({place, h + "/lib64/libnccl.so.2", "$CUDA_HOME"});
        c.push_back({place, h + "/lib/libnccl.so.2", "$CUDA_HOME"});
      }
      break;
    case Source::kCudaDefault:
      c.push_back({place, "/usr/local/cuda/lib64/libnccl.so.2", "/usr/local/cuda"});
      c.push_back({place, "/usr/local/cuda/lib/libnccl.so.2", "/usr/local/cuda"});
      break;
    case Source::kPython:
      c = python_candidates();
      break;
    case Source::kPath:
    case Source::kEnvironment:
      break;
  }
  return c;
}

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::weak_ptr<const Library>>& registry() {
  static std::map<std::string, std::weak_ptr<const Library>> r;
  return r;
}

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : p;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// A shared library by its first bytes (ELF), whatever it is named.
bool is_library(const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "rbe");
  if (f == nullptr) return false;
  char magic[4] = {};
  const bool elf = std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic,
                                                                  "\x7f"
                                                                  "ELF",
                                                                  4) == 0;
  std::fclose(f);
  return elf && is_file(file);
}

struct Attempt {
  std::shared_ptr<const Library> lib;
  std::string outcome;  // why it failed
};

}  // namespace

// Builds a Library from one file. Throws LoadError on anything wrong; the caller decides whether
// to go on searching.
class Loader {
 public:
  static std::shared_ptr<const Library> load(const Candidate& cand, const LoadOptions& o,
                                             std::vector<SearchStep>& log) {
    std::string file = cand.file;
    std::optional<double> probe_seconds;
    const bool do_probe = cand.source != Source::kAlreadyLoaded &&
                          (o.probe ? *o.probe : env_flag("NCCLRT_PROBE", true));
    if (file.find('/') != std::string::npos) {
      struct stat st {};
      if (::stat(file.c_str(), &st) != 0) {
        throw LoadError("no such file: " + file + " (" + std::strerror(errno) + ")");
      }
      if (!S_ISREG(st.st_mode)) {
        throw LoadError(file + " is not a regular file (a directory?)");
      }
    }
    if (do_probe) {
      ProbeResult pr = probe(file, probe_timeout(o));
      if (!pr.ok()) {
        // The deadline the caller set is the one to raise, in the caller's words.
        std::string m = pr.message();
        const std::string var = "NCCLRT_PROBE_TIMEOUT_MS";
        if (const auto at = m.find(var); o.probe_timeout && at != std::string::npos) {
          m.replace(at, var.size(), "LoadOptions::probe_timeout");
        }
        throw LoadError(m);
      }
      if (!pr.cached) probe_seconds = pr.seconds;
      if (!pr.resolved.empty()) file = pr.resolved;  // what the loader really picked
    }
    // The same file opened twice is the same Library (with the same functions turned off).
    const std::vector<std::string> disabled = disabled_functions(o);
    const std::string variant = disabled.empty() ? "" : "|without " + join(disabled);
    const std::string key = real_path(file) + variant;
    if (auto existing = registry()[key].lock()) return existing;

    void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* e = ::dlerror();
      std::string why = e ? e : "unknown error";
      if (why.rfind(file + ": ", 0) == 0) why.erase(0, file.size() + 2);  // the path once
      throw LoadError("the dynamic loader refused " + file + ": " + why);
    }
    auto impl = std::make_unique<Library::Impl>();
    impl->handle = handle;
    impl->found_by = cand.source;
    impl->probe_seconds = probe_seconds;
    if (cand.source == Source::kLoaderSearch || cand.source == Source::kAlreadyLoaded) {
      link_map* map = nullptr;
      if (::dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && *map->l_name) {
        file = map->l_name;
      }
    }
    impl->path = real_path(file);
    if (auto existing = registry()[impl->path + variant].lock()) {
      ::dlclose(handle);  // drops only the reference taken just now
      return existing;
    }
    try {
      resolve(*impl, o);
      impl->disabled = disabled;
      for (const auto& name : disabled) *slot(impl->sym, function_named(name)) = nullptr;
    } catch (...) {
      // Nothing of this file is in use yet, so it can be unloaded.
      ::dlclose(handle);
      throw;
    }
    // Which environment, where the place has several (a venv, conda, pyenv's version).
    const std::string from = cand.source == Source::kPython ? " (" + cand.label + ")" : "";
    log.push_back({cand.source, impl->path, "loaded NCCL " + impl->version.str() + from, true});
    impl->search_log = log;
    std::shared_ptr<const Library> lib(new Library(std::move(impl)));
    registry()[lib->path() + variant] = lib;
    registry()[key] = lib;
    return lib;
  }

  // LoadOptions::disabled_functions, else $NCCLRT_DISABLE_FUNCTIONS; checked, sorted, unique.
  static std::vector<std::string> disabled_functions(const LoadOptions& o) {
    std::vector<std::string> names;
    if (o.disabled_functions) {
      names = *o.disabled_functions;
    } else if (const char* v = std::getenv("NCCLRT_DISABLE_FUNCTIONS")) {
      std::istringstream in(v);  // checked name by name below, with the nearest known name
      for (std::string name; std::getline(in, name, ',');) {
        name.erase(0, name.find_first_not_of(" \t"));
        name.erase(name.find_last_not_of(" \t") + 1);
        if (!name.empty()) names.push_back(name);
      }
    }
    for (const auto& name : names) {
      const FunctionEntry* e = nullptr;
      for (const auto& f : kFunctions) e = name == f.name ? &f : e;
      const std::string knob =
          o.disabled_functions ? "LoadOptions::disabled_functions" : "NCCLRT_DISABLE_FUNCTIONS";
      if (e == nullptr) {
        const std::string near = detail::nearest_function(name);
        throw LoadError(
            knob + " names '" + name + "', which is not an NCCL function ncclrt knows" +
            (near.empty() ? ". Try: a name `ncclrt info --all` lists, such as "
                            "ncclAlltoAll"
                          : "; did you mean " + near + "? Try: a name `ncclrt info --all` lists"));
      }
      if (e->required) {
        throw LoadError(knob + " names " + name +
                        ", which every NCCL has and ncclrt needs; it cannot be turned off");
      }
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }

 private:
  static Function function_named(const std::string& name) {
    for (int i = 0; i < kFunctionCount; ++i) {
      if (name == kFunctions[i].name) return static_cast<Function>(i);
    }
    throw LoadError("unknown function " + name);
  }

  static void resolve(Library::Impl& impl, const LoadOptions& o) {
    auto get_version =
        reinterpret_cast<abi::ncclResult_t (*)(int*)>(::dlsym(impl.handle, "ncclGetVersion"));
    if (get_version == nullptr) {
      throw LoadError(impl.path + " is not an NCCL library: it has no ncclGetVersion");
    }
    int code = 0;
    if (get_version(&code) != abi::ncclSuccess || code <= 0) {
      throw LoadError(impl.path + " is not a usable NCCL library: ncclGetVersion failed");
    }
    impl.version = Version::from_code(code);
    std::vector<std::string> missing_required, missing_claimed;
    for (int i = 0; i < kFunctionCount; ++i) {
      const FunctionEntry& e = kFunctions[i];
      void* p = ::dlsym(impl.handle, e.name);
      if (p == nullptr) {
        if (e.required) {
          missing_required.push_back(e.name);
        } else if (impl.version >= e.since) {
          missing_claimed.push_back(e.name);
        }
      }
      // Older than the first release with it: off even when a symbol of that name exists, since
      // its signature may have differed before it became API.
      if (!e.required && impl.version < e.since) p = nullptr;
      *slot(impl.sym, static_cast<Function>(i)) = p;
    }
    if (!missing_required.empty()) {
      throw LoadError(impl.path + " (NCCL " + impl.version.str() +
                      ") lacks functions every NCCL has: " + join(missing_required) +
                      ". The file is damaged or not NCCL");
    }
    if (!missing_claimed.empty()) {
      const bool allow = o.allow_missing_functions
                             ? *o.allow_missing_functions
                             : env_flag("NCCLRT_ALLOW_MISSING_FUNCTIONS", false);
      const std::string what = impl.path + " reports NCCL " + impl.version.str() +
                               " but lacks functions that version has: " + join(missing_claimed);
      if (!allow) {
        throw LoadError(what +
                        ". The file is damaged or not what it claims. For an NCCL-compatible "
                        "build (RCCL, a vendor fork) set NCCLRT_ALLOW_MISSING_FUNCTIONS=1 to load "
                        "it with those features off");
      }
      detail::log(LogLevel::kWarn, what + "; loading with those features off");
      impl.missing = std::move(missing_claimed);
    }
  }
};

std::shared_ptr<const Library> Library::open(const std::string& path) {
  LoadOptions o;
  o.path = path;
  return open(o);
}

std::shared_ptr<const Library> Library::open(const LoadOptions& o) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  // A bad name or value is the user's mistake, not the file's: said once, before any search.
  (void)Loader::disabled_functions(o);
  if (!o.probe) (void)env_flag("NCCLRT_PROBE", true);
  if (!o.probe_timeout) (void)probe_timeout(o);
  if (!o.allow_missing_functions) (void)env_flag("NCCLRT_ALLOW_MISSING_FUNCTIONS", false);
  static const bool log_checked = [] {
    const char* v = std::getenv("NCCLRT_LOG");
    if (v && *v && !detail::log_level_named(v)) {
      detail::log(LogLevel::kWarn, std::string("NCCLRT_LOG=") + v +
                                       " is not off, error, warn, info or debug (or 0-4); "
                                       "logging warnings and errors");
    }
    return true;
  }();
  (void)log_checked;
  std::vector<SearchStep> log;
  // Explicit choices are the user's: when they fail, say so rather than load some other NCCL.
  // The message names the file once, the knob the user set, and what to try.
  auto explicit_choice = [&](Source source, const std::string& file, const std::string& knob) {
    // In the API's C++ spelling ("LoadOptions::path"); Python and the command name theirs.
    const std::string label = source == Source::kPath ? knob : "$" + knob;
    try {
      return Loader::load({source, file, label + " (" + file + ")"}, o, log);
    } catch (const LoadError& e) {
      std::string why = e.what();
      while (!why.empty() && why.back() == '.') why.pop_back();
      std::string m = "cannot load NCCL from " + label +
                      (why.find(file) == std::string::npos ? " (" + file + ")" : "") + ": " + why;
      if (why.find("Try:") == std::string::npos) {
        // A library that loaded, or crashed, hung or exited loading, is the wrong NCCL, not the
        // wrong kind of file.
        const std::string leave = "leave " + knob + " unset";
        m += (is_library(file) ? ". Try: another NCCL file (pip's nvidia-nccl-cu12/cu13 put one "
                                 "in site-packages/nvidia/nccl/lib/), or "
                               : ". Try: give the path of libnccl.so.2 itself (pip's "
                                 "nvidia-nccl-cu12/cu13 put it in "
                                 "site-packages/nvidia/nccl/lib/), or ") +
             leave +
             " so that ncclrt searches the usual places (`ncclrt info` shows what it finds)";
      }
      throw LoadError(m);
    }
  };
  if (!o.path.empty()) return explicit_choice(Source::kPath, o.path, "LoadOptions::path");
  const char* env_path = std::getenv("NCCLRT_NCCL_LIB");
  if ((o.sources & Source::kEnvironment) && env_path != nullptr) {
    if (*env_path != '\0')
      return explicit_choice(Source::kEnvironment, env_path, "NCCLRT_NCCL_LIB");
    log.push_back({Source::kEnvironment, "", "set but empty; ignored", false});
  }
  // Place by place, each worked out only when reached; the first file that works ends it.
  for (const Source place : automatic_order()) {
    if (!(o.sources & place)) continue;
    for (const Candidate& c : candidates_of(place)) {
      if (!c.absent.empty()) {
        log.push_back({c.source, c.file, c.label + ": " + c.absent, false});
        continue;
      }
      try {
        auto lib = Loader::load(c, o, log);
        if (place == Source::kLoaderSearch) loader_search_result() = lib->path();
        return lib;
      } catch (const LoadError& e) {
        log.push_back({c.source, c.file, c.label + ": " + e.what(), false});
        detail::log(LogLevel::kInfo,
                    std::string("discovery passed over ") + c.file + ": " + e.what());
      }
    }
  }
  std::ostringstream m;
  m << "no usable NCCL library found. Places tried, in order:";
  for (const auto& s : log)
    m << "\n  - " << to_string(s.source) << ": " << s.path << " -> " << s.outcome;
  if (log.empty()) m << " none (LoadOptions::sources is empty)";
  m << "\nTry: set NCCLRT_NCCL_LIB to the path of libnccl.so.2, or install NCCL (for example "
       "`pip install nvidia-nccl-cu13`, or the libnccl2 package)";
  throw LoadError(m.str());
}

Library::Library(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

// The loader handle is never closed: NCCL keeps threads and CUDA state whose code lives in the
// file, so unloading it is not safe. The file stays mapped for the life of the process.
Library::~Library() = default;

const std::string& Library::path() const noexcept { return impl_->path; }
Version Library::version() const noexcept { return impl_->version; }
Source Library::found_by() const noexcept { return impl_->found_by; }
const std::vector<SearchStep>& Library::search_log() const noexcept { return impl_->search_log; }
std::optional<double> Library::probe_seconds() const noexcept { return impl_->probe_seconds; }
const std::vector<std::string>& Library::missing_functions() const noexcept {
  return impl_->missing;
}
const detail::Symbols& Library::raw() const noexcept { return impl_->sym; }

bool Library::has(Function f) const noexcept { return *slot(impl_->sym, f) != nullptr; }
bool Library::has(Feature f) const noexcept {
  return impl_->version >= kFeatures[static_cast<int>(f)].since;
}

const std::vector<std::string>& Library::disabled_functions() const noexcept {
  return impl_->disabled;
}

void Library::require(Function f) const {
  if (has(f)) return;
  const FunctionEntry& e = kFunctions[static_cast<int>(f)];
  if (std::find(impl_->disabled.begin(), impl_->disabled.end(), e.name) != impl_->disabled.end()) {
    throw UnsupportedError(std::string(e.name) +
                           " is turned off (NCCLRT_DISABLE_FUNCTIONS or "
                           "LoadOptions::disabled_functions) although " +
                           impl_->path + " (NCCL " + impl_->version.str() + ") has it");
  }
  if (impl_->version < e.since) {
    throw UnsupportedError(std::string(e.name) + " needs NCCL >= " + e.since.str() + "; loaded " +
                           impl_->version.str() + " from " + impl_->path +
                           ". Load a newer NCCL (NCCLRT_NCCL_LIB) to use it");
  }
  throw UnsupportedError(std::string(e.name) + " is missing from " + impl_->path +
                         " although NCCL " + impl_->version.str() +
                         " should have it (loaded with NCCLRT_ALLOW_MISSING_FUNCTIONS)");
}

void Library::require(Feature f) const {
  if (has(f)) return;
  const FeatureEntry& e = kFeatures[static_cast<int>(f)];
  throw UnsupportedError(std::string(e.what) + " (" + e.name + ") needs NCCL >= " + e.since.str() +
                         "; loaded " + impl_->version.str() + " from " + impl_->path);
}

std::vector<Capability> Library::capabilities() const {
  std::vector<Capability> out;
  for (int i = 0; i < kFunctionCount; ++i) {
    const auto& e = kFunctions[i];
    Capability c{e.name, e.since, true, e.required, has(static_cast<Function>(i)), {}};
    if (!c.available) {
      try {
        require(static_cast<Function>(i));
      } catch (const UnsupportedError& u) {
        c.why_not = u.what();
      }
    }
    out.push_back(std::move(c));
  }
  for (const auto& e : kFeatures) {
    Capability c{e.name, e.since, false, false, impl_->version >= e.since, {}};
    if (!c.available) {
      c.why_not = std::string(e.what) + " needs NCCL >= " + e.since.str() + "; loaded " +
                  impl_->version.str();
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string Library::error_string(int result) const {
  const char* s = impl_->sym.ncclGetErrorString(static_cast<abi::ncclResult_t>(result));
  return s ? s : "unknown NCCL result " + std::to_string(result);
}

std::string Library::last_error() const {
  require(Function::ncclGetLastError);
  const char* s = impl_->sym.ncclGetLastError(nullptr);
  return s ? s : "";
}

const char* to_string(Source source) noexcept {
  switch (source) {
    case Source::kPath:
      return "the path given in code";
    case Source::kEnvironment:
      return "$NCCLRT_NCCL_LIB";
    case Source::kAlreadyLoaded:
      return "already loaded in this process";
    case Source::kLoaderSearch:
      return "the dynamic loader's search";
    case Source::kCudaHome:
      return "$CUDA_HOME";
    case Source::kCudaDefault:
      return "/usr/local/cuda";
    case Source::kPython:
      return "the Python environment";
  }
  return "?";
}

const char* id_of(Source source) noexcept {
  switch (source) {
    case Source::kPath:
      return "path";
    case Source::kEnvironment:
      return "environment";
    case Source::kAlreadyLoaded:
      return "already_loaded";
    case Source::kLoaderSearch:
      return "loader_search";
    case Source::kCudaHome:
      return "cuda_home";
    case Source::kCudaDefault:
      return "cuda_default";
    case Source::kPython:
      return "python";
  }
  return "unknown";
}

void set_python_environment(std::vector<std::string> package_dirs) {
  std::lock_guard<std::mutex> lock(python_mutex());
  python_host_dirs() = std::move(package_dirs);
}

std::vector<SearchStep> python_environment_nccl() {
  std::vector<SearchStep> out;
  for (const Candidate& c : python_candidates()) {
    if (c.absent.empty()) out.push_back({Source::kPython, c.file, c.label, false});
  }
  return out;
}

const char* name_of(Function f) noexcept { return kFunctions[static_cast<int>(f)].name; }
const char* name_of(Feature f) noexcept { return kFeatures[static_cast<int>(f)].name; }
Version since(Function f) noexcept { return kFunctions[static_cast<int>(f)].since; }
Version since(Feature f) noexcept { return kFeatures[static_cast<int>(f)].since; }

UniqueId Library::unique_id() const {
  abi::ncclUniqueId id{};
  detail::check(*this, raw().ncclGetUniqueId(&id), "ncclGetUniqueId", nullptr);
  return UniqueId(id);
}

}  // namespace ncclrt
