// Finding, probing and opening one libnccl file, and what it offers.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ncclrt/detail/export.hpp"
#include "ncclrt/detail/symbols.hpp"
#include "ncclrt/unique_id.hpp"
#include "ncclrt/version.hpp"

NCCLRT_EXPORT_BEGIN
namespace ncclrt {

/// Every NCCL host function ncclrt knows, by its C name.
enum class Function : int {
#define NCCLRT_FN(name, ret, params, major, minor, patch, required) name,
#include "ncclrt/detail/nccl_functions.def"
};

/// Capabilities that come with a version rather than a function of their own.
enum class Feature : int {
#define NCCLRT_FEATURE(name, major, minor, patch, what) name,
#include "ncclrt/detail/nccl_functions.def"
};

/// Where discovery looks, in the order it looks.
enum class Source : unsigned {
  kPath = 1u << 0,           ///< LoadOptions::path, given in code
  kEnvironment = 1u << 1,    ///< $NCCLRT_NCCL_LIB
  kAlreadyLoaded = 1u << 2,  ///< a libnccl.so* already mapped into this process
  kLoaderSearch = 1u << 3,   ///< the dynamic loader's search for libnccl.so.2
  kCudaHome = 1u << 4,       ///< $CUDA_HOME/lib64, $CUDA_HOME/lib
  kCudaDefault = 1u << 5,    ///< /usr/local/cuda/lib64, /usr/local/cuda/lib
  kPython = 1u << 6,         ///< nvidia/nccl/lib of a Python host's sys.path, else of $VIRTUAL_ENV,
                             ///< $CONDA_PREFIX, the python3 on PATH (pyenv's shims followed)
};
constexpr unsigned kAllSources = 0x7f;
/// Masks of places for LoadOptions::sources: `Source::kEnvironment | Source::kPython`, or
/// `mask_of(Source::kPython)` for one; `mask & Source::kPython` tells whether it is in.
constexpr unsigned mask_of(Source s) noexcept { return static_cast<unsigned>(s); }
constexpr unsigned operator|(Source a, Source b) noexcept { return mask_of(a) | mask_of(b); }
constexpr unsigned operator|(unsigned mask, Source s) noexcept { return mask | mask_of(s); }
constexpr bool operator&(unsigned mask, Source s) noexcept { return (mask & mask_of(s)) != 0; }
/// "the path given in code", "$NCCLRT_NCCL_LIB", ...
const char* to_string(Source source) noexcept;
/// A stable identifier for machine-readable output: "path", "environment", "already_loaded",
/// "loader_search", "cuda_home", "cuda_default", "python".
const char* id_of(Source source) noexcept;

/// How to find and open NCCL. Defaults read the NCCLRT_* environment variables at open time.
struct LoadOptions {
  /// A file to open; when set, nothing else is tried.
  std::string path;
  /// Which places discovery may look (a mask of Source bits).
  unsigned sources = kAllSources;
  /// Load the file in a separate process first. Default: on, unless NCCLRT_PROBE=0.
  std::optional<bool> probe;
  /// How long the probe may take. Default: NCCLRT_PROBE_TIMEOUT_MS, else 10 s.
  std::optional<std::chrono::milliseconds> probe_timeout;
  /// For NCCL-compatible builds (RCCL, forks) that report a version but lack functions it implies:
  /// load anyway with those features off and a warning. Default: off, unless
  /// NCCLRT_ALLOW_MISSING_FUNCTIONS=1.
  std::optional<bool> allow_missing_functions;
  /// NCCL functions to treat as absent although the loaded NCCL has them (has() is false, require()
  /// and `ncclrt info` say why): all_to_all, gather and scatter then use their grouped send/recv
  /// forms — to compare them with the native calls, or to avoid a native call that misbehaves.
  /// Only optional functions; an unknown or required name is a LoadError. Default: the
  /// comma-separated names in NCCLRT_DISABLE_FUNCTIONS. A file opened with another set is another
  /// Library.
  std::optional<std::vector<std::string>> disabled_functions;
};

/// One place discovery tried and what happened there.
struct SearchStep {
  Source source;
  std::string path;     ///< the file or library name tried
  std::string outcome;  ///< "loaded", or why it was passed over
  bool loaded = false;
};

/// Whether a function or feature is usable with the loaded NCCL, and why not.
struct Capability {
  std::string name;  ///< "ncclCommShrink", "bfloat16"
  Version since;     ///< first NCCL release with it
  bool is_function = true;
  bool required = false;
  bool available = false;
  std::string why_not;  ///< empty when available
};

/// One of NCCL's parameters (the Param API, NCCL >= 2.30.4): the environment variable's name and
/// the value in effect.
struct Parameter {
  std::string name;   ///< "NCCL_SOCKET_IFNAME"
  std::string value;  ///< as NCCL prints it
};

/// An NCCL_* environment variable that the loaded NCCL does not read.
struct UnknownVariable {
  std::string name;                  ///< "NCCL_SOCKET_IFNAM"
  std::vector<std::string> nearest;  ///< the closest names it does read, best first (may be empty)
};

/// One opened libnccl file: its version and resolved function table. Shared by every
/// communicator made from it; the same file opened twice gives the same Library.
class Library {
 public:
  /// Finds and opens NCCL (see LoadOptions). Throws LoadError naming every place tried.
  [[nodiscard]] static std::shared_ptr<const Library> open(const LoadOptions& options = {});
  /// Opens exactly this file.
  [[nodiscard]] static std::shared_ptr<const Library> open(const std::string& path);

  ~Library();
  Library(const Library&) = delete;  // owns a loader handle and is shared through shared_ptr
  Library& operator=(const Library&) = delete;

  /// The file actually loaded (absolute).
  const std::string& path() const noexcept;
  Version version() const noexcept;
  /// How the file was found.
  Source found_by() const noexcept;
  /// Every place discovery tried, in order, with the outcome.
  const std::vector<SearchStep>& search_log() const noexcept;
  /// Seconds the out-of-process probe took; nullopt when it was off, cached or not needed.
  std::optional<double> probe_seconds() const noexcept;
  /// Functions turned off by LoadOptions::disabled_functions / NCCLRT_DISABLE_FUNCTIONS.
  const std::vector<std::string>& disabled_functions() const noexcept;
  /// Functions that the version implies but the file lacks (only with allow_missing_functions).
  const std::vector<std::string>& missing_functions() const noexcept;

  bool has(Function f) const noexcept;
  bool has(Feature f) const noexcept;
  /// Throws UnsupportedError naming the function, the version it needs, the version loaded and
  /// the file.
  void require(Function f) const;
  void require(Feature f) const;
  /// Every function and feature ncclrt knows, with availability.
  std::vector<Capability> capabilities() const;

  /// A fresh id for a new communicator (ncclGetUniqueId); every call gives a different one.
  [[nodiscard]] UniqueId unique_id() const;

  /// ncclGetErrorString.
  std::string error_string(int result) const;
  /// ncclGetLastError(nullptr): the last error text of this thread; UnsupportedError before 2.13.
  std::string last_error() const;

  /// ncclParamGetAllParameterKeys + ncclParamGetParameter (NCCL >= 2.30.4): every parameter
  /// NCCL publishes (all of them with NCCL_PARAM_DUMP_ALL=1), with its value in effect.
  std::vector<Parameter> parameters() const;
  /// ncclParamGetParameter (NCCL >= 2.30.4): one parameter's value in effect, by its name
  /// ("NCCL_DEBUG"); nullopt when this NCCL has no such parameter.
  std::optional<std::string> parameter(const std::string& name) const;
  /// The NCCL_* variables in this process's environment that the loaded NCCL never reads: names
  /// its file does not contain (and, from 2.30.4, not among its parameters). Each comes with the
  /// nearest names it does read, for typos such as NCCL_SOCKET_IFNAM. Works with every release.
  /// NCCL_VERSION, which NVIDIA's container images set to describe their NCCL, is not reported.
  std::vector<UnknownVariable> unknown_environment() const;
  /// Every NCCL_* name the loaded file contains (the variables it can read), sorted.
  std::vector<std::string> environment_names() const;

  /// Whether this NCCL lets several ranks share one GPU: NCCL >= 2.30.3 with
  /// NCCL_MULTI_RANK_GPU_ENABLE=1 in the environment. When not, `why_not` (if given) says which is
  /// missing. Rank r then runs on GPU r % GPUs in ncclrt's tests, bench and from_environment.
  bool allows_ranks_per_gpu(std::string* why_not = nullptr) const;

  /// ncclSetEncryption (NCCL >= 2.32.3): encrypts NCCL's TCP sockets with this pre-shared key
  /// (an empty key turns encryption off). Process-wide: call it before creating communicators,
  /// with the same key on every rank.
  void set_encryption(const std::string& pre_shared_key) const;

  /// The resolved NCCL function pointers (null where the loaded NCCL lacks one), for callers who
  /// need NCCL directly: `lib->raw().ncclAllReduce(...)`.
  const detail::Symbols& raw() const noexcept;

 private:
  struct Impl;
  friend class Loader;
  explicit Library(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// An NCCLRT_* variable in this process's environment that ncclrt cannot use.
struct VariableProblem {
  std::string name;                  ///< "NCCLRT_NCCL_LIBS"
  std::string value;                 ///< as set
  std::string problem;               ///< "not ncclrt's" (not read by ncclrt), or what it takes
  std::vector<std::string> nearest;  ///< for an unknown name: the closest names ncclrt reads
};
/// Every NCCLRT_* variable set here that ncclrt does not read (a typo: with the nearest names it
/// does read) or whose value it does not take. Library::open refuses such a value of the variables
/// it reads with a LoadError; `ncclrt info` lists them all.
std::vector<VariableProblem> ncclrt_environment_problems();

/// For a Python host (the ncclrt module calls it when imported): the interpreter's package
/// directories (its sys.path). Discovery then looks for pip's NCCL (nvidia/nccl/lib) in them, right
/// after the NCCL already loaded and before the dynamic loader's search, so that a Python program
/// loads the NCCL that PyTorch in the same environment loads; $VIRTUAL_ENV, $CONDA_PREFIX and the
/// python3 on PATH are then not read.
void set_python_environment(std::vector<std::string> package_dirs);

/// The NCCL files pip installed into the Python environment discovery reads (the place
/// Source::kPython), in search order, found on the file system without loading or probing any:
/// `path` is the file, `outcome` which environment it belongs to ("$VIRTUAL_ENV", ...).
std::vector<SearchStep> python_environment_nccl();

/// Information about a known function or feature, independent of any loaded library.
const char* name_of(Function f) noexcept;
const char* name_of(Feature f) noexcept;
Version since(Function f) noexcept;
Version since(Feature f) noexcept;

}  // namespace ncclrt
NCCLRT_EXPORT_END
