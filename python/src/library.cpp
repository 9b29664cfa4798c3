// Library, versions, unique ids, Config, groups, the watchdog and NCCL memory.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>

#include "annotated.hpp"
#include "bindings.hpp"
#include "nearest.hpp"
#include "spelling.hpp"

namespace ncclrt::py {
namespace {

// Every function and feature of the symbol table, by its name.
struct Named {
  bool is_function;
  int value;
};
const std::map<std::string, Named>& table_names() {
  static const std::map<std::string, Named> names = [] {
    std::map<std::string, Named> out;
#define NCCLRT_FN(name, ret, params, major, minor, patch, required) \
  out[#name] = {true, static_cast<int>(Function::name)};
#define NCCLRT_FEATURE(name, major, minor, patch, what) \
  out[#name] = {false, static_cast<int>(Feature::name)};
#include "ncclrt/detail/nccl_functions.def"
    return out;
  }();
  return names;
}

// "'ncclCommGrw' is no NCCL function or feature ncclrt knows; did you mean ncclCommGrow?"
std::string unknown_name(const std::string& name) {
  std::vector<std::string> all;
  for (const auto& [known, n] : table_names()) all.push_back(known);
  auto near = util::nearest_names(name, all, std::max<std::size_t>(2, name.size() / 3), 1);
  if (near.empty()) {
    near = util::nearest_names("nccl" + name, all, std::max<std::size_t>(2, name.size() / 3), 1);
  }
  return "'" + name + "' is no NCCL function or feature ncclrt knows" +
         (near.empty() ? "; Library.capabilities() lists the names"
                       : "; did you mean " + near.front() + "?");
}

std::optional<Named> find_name(const std::string& name) {
  const auto& names = table_names();
  auto it = names.find(name);
  if (it == names.end()) it = names.find("nccl" + name);  // "CommShrink" -> "ncclCommShrink"
  if (it == names.end()) return std::nullopt;
  return it->second;
}

Named lookup(const std::string& name) {
  if (auto n = find_name(name)) return *n;
  throw UsageError(unknown_name(name));
}

unsigned sources_mask(const std::optional<std::vector<std::string>>& sources) {
  if (!sources) return kAllSources;
  unsigned mask = 0;
  for (const std::string& name : *sources) {
    bool found = false;
    for (unsigned bit = 1; bit <= kAllSources; bit <<= 1) {
      if (name == id_of(static_cast<Source>(bit))) {
        mask |= bit;
        found = true;
      }
    }
    if (!found) {
      throw UsageError("Library.open: unknown source '" + name +
                       "'; sources are path, environment, already_loaded, loader_search, "
                       "cuda_home, cuda_default, python");
    }
  }
  return mask;
}

Version version_from(nb::handle v) {
  if (nb::isinstance<Version>(v)) return nb::cast<Version>(v);
  nb::tuple t = nb::cast<nb::tuple>(v);
  Version out;
  if (t.size() > 0) out.major = nb::cast<int>(t[0]);
  if (t.size() > 1) out.minor = nb::cast<int>(t[1]);
  if (t.size() > 2) out.patch = nb::cast<int>(t[2]);
  return out;
}

void set_config_field(Config& c, const std::string& key, nb::handle value) {
#define NCCLRT_CONFIG_FIELD(member, field, type, major, minor, patch) \
  if (key == #member) {                                               \
    if (value.is_none()) {                                            \
      c.member.reset();                                               \
    } else {                                                          \
      c.member = nb::cast<type>(value);                               \
    }                                                                 \
    return;                                                           \
  }
#include "ncclrt/detail/config_fields.def"
  if (key == "timeout") {
    c.timeout = seconds(value, "Config(timeout=...)");
    return;
  }
  if (key == "trace_entries") {
    c.trace_entries = value.is_none() ? std::nullopt : std::optional<int>(nb::cast<int>(value));
    return;
  }
  if (key == "trace_progress") {
    c.trace_progress = value.is_none() ? std::nullopt : std::optional<bool>(nb::cast<bool>(value));
    return;
  }
  throw nb::type_error(
      ("Config got an unexpected keyword argument '" + key + "'; see Config.fields() for the names")
          .c_str());
}

nb::object config_field(const Config& c, const std::string& key) {
#define NCCLRT_CONFIG_FIELD(member, field, type, major, minor, patch) \
  if (key == #member) return c.member ? nb::cast(*c.member) : nb::none();
#include "ncclrt/detail/config_fields.def"
  if (key == "timeout") {
    return c.timeout ? nb::cast(static_cast<double>(c.timeout->count()) / 1000.0) : nb::none();
  }
  if (key == "trace_entries") return c.trace_entries ? nb::cast(*c.trace_entries) : nb::none();
  if (key == "trace_progress") return c.trace_progress ? nb::cast(*c.trace_progress) : nb::none();
  throw nb::attribute_error(("Config has no field '" + key + "'").c_str());
}

std::vector<std::string> config_names() {
  std::vector<std::string> names;
#define NCCLRT_CONFIG_FIELD(member, field, type, major, minor, patch) names.push_back(#member);
#include "ncclrt/detail/config_fields.def"
  names.push_back("timeout");
  names.push_back("trace_entries");
  names.push_back("trace_progress");
  return names;
}

// CollConfig's fields from Python: ints, bools, a string, and the event as an int handle (or an
// object with .cuda_event, as torch.cuda.Event).
template <class T>
T coll_value(nb::handle v) {
  return nb::cast<T>(v);
}
template <>
CUevent_st* coll_value<CUevent_st*>(nb::handle v) {
  nb::handle h = v;
  nb::object attr;
  if (!PyLong_Check(v.ptr()) && nb::hasattr(v, "cuda_event")) {
    attr = v.attr("cuda_event");
    h = attr;
  }
  return reinterpret_cast<CUevent_st*>(
      static_cast<std::uintptr_t>(nb::cast<unsigned long long>(h)));
}
template <class T>
nb::object coll_object(const T& v) {
  return nb::cast(v);
}
template <>
nb::object coll_object<CUevent_st*>(CUevent_st* const& v) {
  return nb::cast(static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(v)));
}

void set_coll_field(CollConfig& c, const std::string& key, nb::handle value) {
#define NCCLRT_COLL_FIELD(member, field, type, unset, major, minor, patch) \
  if (key == #member) {                                                    \
    if (value.is_none()) {                                                 \
      c.member.reset();                                                    \
    } else {                                                               \
      c.member = coll_value<type>(value);                                  \
    }                                                                      \
    return;                                                                \
  }
#include "ncclrt/detail/coll_config_fields.def"
  throw nb::type_error(("CollConfig got an unexpected keyword argument '" + key +
                        "'; see CollConfig.fields() for the names")
                           .c_str());
}

nb::object coll_field(const CollConfig& c, const std::string& key) {
#define NCCLRT_COLL_FIELD(member, field, type, unset, major, minor, patch) \
  if (key == #member) return c.member ? coll_object<type>(*c.member) : nb::none();
#include "ncclrt/detail/coll_config_fields.def"
  throw nb::attribute_error(("CollConfig has no field '" + key + "'").c_str());
}

std::vector<std::string> coll_names() {
  std::vector<std::string> names;
#define NCCLRT_COLL_FIELD(member, field, type, unset, major, minor, patch) names.push_back(#member);
#include "ncclrt/detail/coll_config_fields.def"
  return names;
}

// The Group of the Python API: a context manager over ncclGroupStart/End.
struct PyGroup {
  std::shared_ptr<const Library> lib;
  std::unique_ptr<Group> group;
  std::optional<std::chrono::milliseconds> timeout;
};

}  // namespace

std::string quoted(const std::string& text) {
  return nb::cast<std::string>(nb::repr(nb::str(text.c_str(), text.size())));
}

std::string address(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx",
                static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(p)));
  return buf;
}

std::optional<std::chrono::milliseconds> seconds(nb::handle value, const char* what) {
  if (value.is_none()) return std::nullopt;
  double s;
  if (nb::hasattr(value, "total_seconds")) {  // datetime.timedelta
    s = nb::cast<double>(value.attr("total_seconds")());
  } else {
    try {
      s = nb::cast<double>(value);
    } catch (const nb::cast_error&) {
      throw UsageError(std::string(what) + ": a timeout is a number of seconds, or None");
    }
  }
  if (!(s >= 0) || std::isinf(s) || s > 1e9) {
    // The value as Python writes it (-1, -0.5, inf, datetime.timedelta(...)).
    throw UsageError(std::string(what) +
                     ": the timeout must be a finite, non-negative number of seconds (at most "
                     "1e9); got " +
                     nb::cast<std::string>(nb::repr(value)));
  }
  return std::chrono::milliseconds(static_cast<long long>(std::llround(s * 1000.0)));
}

std::shared_ptr<const Library> library_or_default(nb::handle lib) {
  if (lib.is_none()) {
    nb::gil_scoped_release release;
    return Library::open();
  }
  if (!nb::isinstance<PyLibrary>(lib)) {
    throw UsageError("expected an ncclrt.Library (or None to find NCCL); got " +
                     nb::cast<std::string>(nb::str(lib.type())));
  }
  return nb::cast<PyLibrary&>(lib).lib;
}

void bind_library(nb::module_& m) {
  nb::enum_<DataType>(m, "DataType", nb::is_arithmetic(), "NCCL's data types (ncclDataType_t).")
      .value("INT8", DataType::kInt8)
      .value("UINT8", DataType::kUint8)
      .value("INT32", DataType::kInt32)
      .value("UINT32", DataType::kUint32)
      .value("INT64", DataType::kInt64)
      .value("UINT64", DataType::kUint64)
      .value("FLOAT16", DataType::kFloat16)
      .value("FLOAT32", DataType::kFloat32)
      .value("FLOAT64", DataType::kFloat64)
      .value("BFLOAT16", DataType::kBfloat16)
      .value("FLOAT8_E4M3", DataType::kFloat8e4m3)
      .value("FLOAT8_E5M2", DataType::kFloat8e5m2);
  nb::enum_<ReduceOp>(m, "ReduceOp", nb::is_arithmetic(), "NCCL's built-in reduce ops.")
      .value("SUM", ReduceOp::kSum)
      .value("PROD", ReduceOp::kProd)
      .value("MAX", ReduceOp::kMax)
      .value("MIN", ReduceOp::kMin)
      .value("AVG", ReduceOp::kAvg);
  nb::enum_<SuspendFlags>(m, "SuspendFlags", nb::is_arithmetic(), "ncclCommSuspend's flags.")
      .value("NONE", SuspendFlags::kNone)
      .value("MEMORY", SuspendFlags::kMemory, "release NCCL's dynamic GPU memory");
  nb::enum_<ScalarResidence>(m, "ScalarResidence", nb::is_arithmetic(),
                             "Where a PreMulSum scalar lives.")
      .value("DEVICE", ScalarResidence::kDevice)
      .value("HOST_IMMEDIATE", ScalarResidence::kHostImmediate);
  m.attr("SPLIT_NOCOLOR") = kSplitNoColor;
  m.attr("WIN_DEFAULT") = static_cast<int>(kWinDefault);
  m.attr("WIN_COLL_SYMMETRIC") = static_cast<int>(kWinCollSymmetric);
  m.def(
      "size_of", [](DataType t) { return size_of(t); }, "Bytes per element of a DataType.");

  nb::class_<Version>(m, "Version", "An NCCL release number.")
      .def(nb::init<>())
      .def(
          "__init__",
          [](Version* v, int major, int minor, int patch) {
            new (v) Version{major, minor, patch};
          },
          nb::arg("major"), nb::arg("minor"), nb::arg("patch") = 0)
      .def_static("from_code", &Version::from_code, nb::arg("code"),
                  "Decodes ncclGetVersion's code (both encodings).")
      .def_ro("major", &Version::major, "The major release number (2 in 2.28.9).")
      .def_ro("minor", &Version::minor, "The minor release number (28 in 2.28.9).")
      .def_ro("patch", &Version::patch, "The patch number (9 in 2.28.9).")
      .def_prop_ro("code", &Version::code,
                   "NCCL's version code (22809 for 2.28.9; 2804 for 2.8.4).")
      .def("__str__", &Version::str)
      .def("__repr__",
           [](const Version& v) {
             return "Version(" + std::to_string(v.major) + ", " + std::to_string(v.minor) + ", " +
                    std::to_string(v.patch) + ")";
           })
      .def("__hash__", [](const Version& v) { return v.code(); })
      .def("__iter__",
           [](const Version& v) { return nb::iter(nb::make_tuple(v.major, v.minor, v.patch)); })
      .def("__eq__",
           [](const Version& a, nb::handle b) {
             try {
               return a == version_from(b);
             } catch (const nb::cast_error&) {
               return false;
             }
           })
      .def("__ne__",
           [](const Version& a, nb::handle b) {
             try {
               return a != version_from(b);
             } catch (const nb::cast_error&) {
               return true;
             }
           })
      .def("__lt__", [](const Version& a, nb::handle b) { return a < version_from(b); })
      .def("__le__", [](const Version& a, nb::handle b) { return a <= version_from(b); })
      .def("__gt__", [](const Version& a, nb::handle b) { return a > version_from(b); })
      .def("__ge__", [](const Version& a, nb::handle b) { return a >= version_from(b); });

  nb::class_<UniqueId>(m, "UniqueId",
                       "The 128-byte token that names a communicator before it exists.")
      .def(nb::init<>())
      .def(
          "__init__",
          [](UniqueId* id, nb::bytes raw) {
            if (raw.size() != UniqueId::kBytes) {
              throw UsageError("UniqueId: needs " + std::to_string(UniqueId::kBytes) +
                               " bytes; got " + std::to_string(raw.size()));
            }
            abi::ncclUniqueId r;
            std::memcpy(r.internal, raw.c_str(), UniqueId::kBytes);
            new (id) UniqueId(r);
          },
          nb::arg("raw"))
      .def_static(
          "from_hex", [](const std::string& text) { return UniqueId::from_hex(text); },
          nb::arg("text"))
      .def("hex", &UniqueId::to_hex, "256 lower-case hex digits.")
      .def_prop_ro(
          "bytes",
          [](const UniqueId& id) {
            return nb::bytes(reinterpret_cast<const char*>(id.bytes().data()), UniqueId::kBytes);
          },
          "The 128 bytes, for sending to the other ranks.")
      .def("__bytes__",
           [](const UniqueId& id) {
             return nb::bytes(reinterpret_cast<const char*>(id.bytes().data()), UniqueId::kBytes);
           })
      .def("__eq__",
           [](const UniqueId& a, nb::handle b) {
             return nb::isinstance<UniqueId>(b) && a == nb::cast<const UniqueId&>(b);
           })
      .def("__ne__",
           [](const UniqueId& a, nb::handle b) {
             return !(nb::isinstance<UniqueId>(b) && a == nb::cast<const UniqueId&>(b));
           })
      .def("__hash__", [](const UniqueId& id) { return nb::hash(nb::str(id.to_hex().c_str())); })
      .def("__repr__",
           [](const UniqueId& id) { return "UniqueId('" + id.to_hex().substr(0, 16) + "...')"; })
      .def("__getstate__",
           [](const UniqueId& id) {
             return nb::bytes(reinterpret_cast<const char*>(id.bytes().data()), UniqueId::kBytes);
           })
      .def("__setstate__", [](UniqueId* id, nb::bytes raw) {
        if (raw.size() != UniqueId::kBytes) throw UsageError("UniqueId: bad pickled state");
        abi::ncclUniqueId r;
        std::memcpy(r.internal, raw.c_str(), UniqueId::kBytes);
        new (id) UniqueId(r);
      });

  nb::class_<SearchStep>(m, "SearchStep", "One place discovery tried, and what happened there.")
      .def_prop_ro(
          "source", [](const SearchStep& s) { return id_of(s.source); },
          "The place, as found_by names it ('loader_search', ...).")
      .def_prop_ro(
          "source_text", [](const SearchStep& s) { return to_string(s.source); },
          "The place, in words.")
      .def_ro("path", &SearchStep::path, "The file or library name tried there.")
      .def_prop_ro(
          "outcome", [](const SearchStep& s) { return util::in_python(s.outcome); },
          "'loaded NCCL x.y.z', or why it was passed over.")
      .def_ro("loaded", &SearchStep::loaded, "Whether this is the file that was loaded.")
      .def("__repr__", [](const SearchStep& s) {
        return "SearchStep(source=" + quoted(id_of(s.source)) + ", path=" + quoted(s.path) +
               ", outcome=" + quoted(util::in_python(s.outcome)) +
               ", loaded=" + (s.loaded ? "True" : "False") + ")";
      });

  nb::class_<Capability>(m, "Capability", "A function or feature, and whether it is usable.")
      .def_ro("name", &Capability::name,
              "The function's C name ('ncclCommShrink') or the feature's ('bfloat16').")
      .def_ro("since", &Capability::since, "The first NCCL release that has it.")
      .def_ro("is_function", &Capability::is_function,
              "True for an NCCL function, False for a feature that comes with a version.")
      .def_ro("required", &Capability::required,
              "Every NCCL has it; ncclrt needs it to load a file.")
      .def_ro("available", &Capability::available, "Usable with the loaded NCCL.")
      .def_prop_ro(
          "why_not", [](const Capability& c) { return util::in_python(c.why_not); },
          "Why it is not available ('' when it is): the release it needs, or that it was turned "
          "off.")
      .def("__repr__", [](const Capability& c) {
        return "Capability(" + quoted(c.name) + ", " +
               (c.available ? std::string("available") : quoted(util::in_python(c.why_not))) + ")";
      });

  nb::class_<ProbeResult>(m, "ProbeResult", "What a separate process saw loading a file.")
      .def_prop_ro("usable", &ProbeResult::ok,
                   "The file loaded cleanly and reported an NCCL version (`ncclrt probe --json`'s "
                   "`usable`; the command also checks the symbol table).")
      .def_prop_ro(
          "ok",
          [](const ProbeResult& r) {
            if (PyErr_WarnEx(PyExc_DeprecationWarning,
                             "ProbeResult.ok is deprecated; use ProbeResult.usable (the name "
                             "`ncclrt probe --json` uses)",
                             1) != 0) {
              throw nb::python_error();
            }
            return r.ok();
          },
          "Deprecated: ProbeResult.usable.")
      .def_prop_ro(
          "verdict", [](const ProbeResult& r) { return to_string(r.verdict); },
          "'ok', 'not found', 'not a file', 'load failed', 'not NCCL', 'crashed', 'timed out', "
          "'exited' or 'probe could not run'.")
      .def_ro("file", &ProbeResult::file,
              "What was probed: a path, or a name for the loader to search.")
      .def_ro("resolved", &ProbeResult::resolved,
              "The file the loader actually mapped, when known.")
      .def_ro("version", &ProbeResult::version,
              "The NCCL release the file reported; None when it reported none.")
      .def_ro("signal", &ProbeResult::signal,
              "The signal that killed the probe process (verdict 'crashed').")
      .def_ro("exit_code", &ProbeResult::exit_code,
              "The probe process's exit status (verdict 'exited').")
      .def_ro("detail", &ProbeResult::detail,
              "The loader's error, or the end of what the process printed.")
      .def_ro("seconds", &ProbeResult::seconds, "Wall time of the probe process.")
      .def_ro("cached", &ProbeResult::cached,
              "The verdict came from this process's cache (same path, size and time).")
      .def("message", [](const ProbeResult& r) { return util::in_python(r.message()); })
      .def("__repr__", [](const ProbeResult& r) {
        std::string s = "ProbeResult(usable=" + std::string(r.ok() ? "True" : "False") +
                        ", verdict=" + quoted(to_string(r.verdict)) + ", file=" + quoted(r.file);
        if (r.version) s += ", version=" + r.version->str();
        if (r.signal) s += ", signal=" + std::to_string(r.signal);
        if (r.verdict == ProbeResult::Verdict::kExited) {
          s += ", exit_code=" + std::to_string(r.exit_code);
        }
        if (r.seconds > 0) {
          char ms[32];
          std::snprintf(ms, sizeof ms, "%.1f ms", r.seconds * 1000);
          s += std::string(", took ") + ms + (r.cached ? " (cached)" : "");
        }
        return s + ")";
      });
  m.def(
      "probe",
      [](const std::string& file, SecondsArg timeout) {
        const auto t = seconds(timeout, "probe").value_or(std::chrono::milliseconds(10000));
        nb::gil_scoped_release release;
        return probe(file, t);
      },
      nb::arg("file"), nb::arg("timeout") = 10.0,
      "Loads `file` in a separate process and reports what happened; never raises for a bad "
      "file.");

  nb::class_<PyLibrary>(m, "Library", "One opened libnccl file: version, functions, ids.")
      .def_static(
          "open",
          [](std::optional<std::string> path, std::optional<std::vector<std::string>> sources,
             std::optional<bool> probe, SecondsArg probe_timeout,
             std::optional<bool> allow_missing_functions,
             std::optional<std::vector<std::string>> disabled_functions) {
            LoadOptions o;
            if (path) o.path = *path;
            o.sources = sources_mask(sources);
            o.probe = probe;
            o.probe_timeout = seconds(probe_timeout, "Library.open(probe_timeout=...)");
            o.allow_missing_functions = allow_missing_functions;
            o.disabled_functions = std::move(disabled_functions);
            nb::gil_scoped_release release;
            return PyLibrary{Library::open(o)};
          },
          nb::arg("path").none() = nb::none(), nb::kw_only(),
          nb::arg("sources").none() = nb::none(), nb::arg("probe").none() = nb::none(),
          nb::arg("probe_timeout").none() = nb::none(),
          nb::arg("allow_missing_functions").none() = nb::none(),
          nb::arg("disabled_functions").none() = nb::none(),
          "Finds and opens NCCL: `path`, else $NCCLRT_NCCL_LIB, else discovery. Raises LoadError "
          "naming every place tried. `disabled_functions` (default $NCCLRT_DISABLE_FUNCTIONS) "
          "turns NCCL functions off, e.g. ['ncclAlltoAll'] to use the grouped send/recv form.")
      .def_prop_ro(
          "path", [](const PyLibrary& l) { return l.lib->path(); },
          "The file actually loaded (absolute, links resolved).")
      .def_prop_ro(
          "version", [](const PyLibrary& l) { return l.lib->version(); },
          "The NCCL release of the file, as ncclGetVersion reports it.")
      .def_prop_ro(
          "found_by", [](const PyLibrary& l) { return id_of(l.lib->found_by()); },
          "How the file was found: 'path', 'environment', 'already_loaded', 'loader_search', "
          "'cuda_home', 'cuda_default' or 'python'.")
      .def_prop_ro(
          "found_by_text", [](const PyLibrary& l) { return to_string(l.lib->found_by()); },
          "How the file was found, in words ('the dynamic loader's search').")
      .def_prop_ro(
          "search_log", [](const PyLibrary& l) { return l.lib->search_log(); },
          "Every place discovery tried, in order, with what happened there.")
      .def_prop_ro(
          "probe_seconds", [](const PyLibrary& l) { return l.lib->probe_seconds(); },
          "Seconds the out-of-process probe took; None when it was off, cached or not needed.")
      .def_prop_ro(
          "missing_functions", [](const PyLibrary& l) { return l.lib->missing_functions(); },
          "Functions the version implies but the file lacks (allow_missing_functions=True).")
      .def_prop_ro(
          "disabled_functions", [](const PyLibrary& l) { return l.lib->disabled_functions(); },
          "Functions turned off by disabled_functions= or $NCCLRT_DISABLE_FUNCTIONS.")
      .def(
          "has",
          [](const PyLibrary& l, const std::string& name) {
            const auto n = find_name(name);
            if (!n) {
              // No such function is usable: False, and a warning naming the nearest one.
              const std::string why = unknown_name(name) + " (has() answers False)";
              if (PyErr_WarnEx(PyExc_UserWarning, why.c_str(), 1) != 0) throw nb::python_error();
              return false;
            }
            return n->is_function ? l.lib->has(static_cast<Function>(n->value))
                                  : l.lib->has(static_cast<Feature>(n->value));
          },
          nb::arg("name"),
          "Whether a function ('ncclCommShrink') or feature ('bfloat16') is usable. A name "
          "ncclrt does not know answers False, with a UserWarning naming the nearest one.")
      .def(
          "require",
          [](const PyLibrary& l, const std::string& name) {
            const Named n = lookup(name);
            if (n.is_function) {
              l.lib->require(static_cast<Function>(n.value));
            } else {
              l.lib->require(static_cast<Feature>(n.value));
            }
          },
          nb::arg("name"),
          "Raises UnsupportedError, naming the release needed, if it is not usable; UsageError, "
          "naming the nearest name, if ncclrt does not know it.")
      .def("capabilities", [](const PyLibrary& l) { return l.lib->capabilities(); })
      .def(
          "unique_id", [](const PyLibrary& l) { return l.lib->unique_id(); },
          "A fresh id for a new communicator (ncclGetUniqueId).")
      .def(
          "error_string", [](const PyLibrary& l, int r) { return l.lib->error_string(r); },
          nb::arg("result"))
      .def("last_error", [](const PyLibrary& l) { return l.lib->last_error(); })
      .def(
          "parameters",
          [](const PyLibrary& l) {
            nb::dict out;
            for (const auto& p : l.lib->parameters()) out[p.name.c_str()] = p.value;
            return out;
          },
          "NCCL's parameters (NCCL >= 2.30.4): {name: value in effect}.")
      .def(
          "parameter",
          [](const PyLibrary& l, const std::string& name) { return l.lib->parameter(name); },
          nb::arg("name"), "One parameter's value in effect, or None if NCCL has no such name.")
      .def(
          "environment_names", [](const PyLibrary& l) { return l.lib->environment_names(); },
          "Every NCCL_* variable name the loaded file can read.")
      .def(
          "unknown_environment",
          [](const PyLibrary& l) {
            nb::dict out;
            for (const auto& u : l.lib->unknown_environment()) out[u.name.c_str()] = u.nearest;
            return out;
          },
          "The NCCL_* variables set here that this NCCL never reads: {name: [nearest names]}.")
      .def(
          "ranks_per_gpu",
          [](const PyLibrary& l) {
            std::string why;
            const bool ok = l.lib->allows_ranks_per_gpu(&why);
            return std::make_pair(ok, why);
          },
          "(allowed, why_not): whether several ranks may share a GPU (NCCL >= 2.30.3 with "
          "NCCL_MULTI_RANK_GPU_ENABLE=1).")
      .def(
          "set_encryption",
          [](const PyLibrary& l, const std::string& psk) { l.lib->set_encryption(psk); },
          nb::arg("pre_shared_key"),
          "ncclSetEncryption (NCCL >= 2.32.3); an empty key turns encryption off.")
      .def("__eq__",
           [](const PyLibrary& a, nb::handle b) {
             return nb::isinstance<PyLibrary>(b) && a.lib == nb::cast<const PyLibrary&>(b).lib;
           })
      .def("__hash__",
           [](const PyLibrary& l) {
             return static_cast<Py_ssize_t>(reinterpret_cast<std::uintptr_t>(l.lib.get()));
           })
      .def("__repr__", [](const PyLibrary& l) {
        return "Library(NCCL " + l.lib->version().str() + " from " + quoted(l.lib->path()) +
               ", found_by=" + quoted(id_of(l.lib->found_by())) + ")";
      });

  nb::class_<Config>(m, "Config",
                     "ncclConfig_t as keyword arguments; unset fields keep NCCL's defaults. "
                     "A field the loaded NCCL lacks raises UnsupportedError when used. "
                     "`timeout` (seconds) makes creation nonblocking with a deadline.")
      .def("__init__",
           [](Config* c, nb::kwargs kwargs) {
             new (c) Config();
             for (auto [k, v] : kwargs) set_config_field(*c, nb::cast<std::string>(k), v);
           })
      .def("__getattr__", [](const Config& c, const std::string& k) { return config_field(c, k); })
      .def("__setattr__",
           [](Config& c, const std::string& k, nb::handle v) { set_config_field(c, k, v); })
      .def_static("fields", &config_names, "The names Config takes.")
      .def("empty", &Config::empty)
      .def("__repr__", [](const Config& c) {
        std::string s = "Config(";
        bool first = true;
        for (const auto& k : config_names()) {
          nb::object v = config_field(c, k);
          if (v.is_none()) continue;
          s += (first ? "" : ", ") + k + "=" + nb::cast<std::string>(nb::repr(v));
          first = false;
        }
        return s + ")";
      });

  nb::class_<CollConfig>(m, "CollConfig",
                         "Per-call options of one collective (ncclCollConfig_t, NCCL >= 2.31.2) "
                         "as keyword arguments, passed as config= to an operation; an empty one "
                         "is the ordinary call. A field the loaded NCCL lacks raises "
                         "UnsupportedError when used.")
      .def("__init__",
           [](CollConfig* c, nb::kwargs kwargs) {
             new (c) CollConfig();
             for (auto [k, v] : kwargs) set_coll_field(*c, nb::cast<std::string>(k), v);
           })
      .def("__getattr__",
           [](const CollConfig& c, const std::string& k) { return coll_field(c, k); })
      .def("__setattr__",
           [](CollConfig& c, const std::string& k, nb::handle v) { set_coll_field(c, k, v); })
      .def_static("fields", &coll_names, "The names CollConfig takes.")
      .def("empty", &CollConfig::empty)
      .def("__repr__", [](const CollConfig& c) {
        std::string s = "CollConfig(";
        bool first = true;
        for (const auto& k : coll_names()) {
          nb::object v = coll_field(c, k);
          if (v.is_none()) continue;
          s += (first ? "" : ", ") + k + "=" + nb::cast<std::string>(nb::repr(v));
          first = false;
        }
        return s + ")";
      });

  nb::class_<PyGroup>(
      m, "Group",
      "ncclGroupStart on entry, ncclGroupEnd on exit: `with ncclrt.group(lib, timeout=None):`. "
      "On nonblocking communicators the outermost exit waits until each one touched inside "
      "has enqueued its work, within `timeout` seconds (else each one's own deadline); on expiry "
      "they are all aborted and TimeoutError is raised. An exception raised inside the block "
      "wins over one from ending the group (which is then logged).")
      .def(
          "__init__",
          [](PyGroup* g, LibraryArg lib, SecondsArg timeout) {
            new (g) PyGroup{library_or_default(lib), nullptr, seconds(timeout, "group")};
          },
          nb::arg("lib").none() = nb::none(), nb::arg("timeout").none() = nb::none())
      .def(
          "__enter__",
          [](PyGroup& g) -> PyGroup& {
            if (g.group) throw UsageError("group: already entered");
            g.group = std::make_unique<Group>(*g.lib, g.timeout);
            return g;
          },
          nb::rv_policy::reference)
      .def(
          "__exit__",
          [](PyGroup& g, nb::handle exc_type, nb::handle, nb::handle) {
            if (!g.group) return false;
            std::unique_ptr<Group> open = std::move(g.group);
            if (!exc_type.is_none()) {
              // The block's own exception is the one to see: the group is still ended (and
              // waited for), and what ending it says goes to the log.
              nb::gil_scoped_release release;
              open.reset();
              return false;
            }
            // ncclGroupEnd may wait for peers (a blocking group) or for NCCL's threads: other
            // Python threads, such as other ranks of this process, must run meanwhile.
            nb::gil_scoped_release release;
            open->end();
            return false;
          },
          nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none())
      .def("__repr__", [](const PyGroup& g) {
        return "Group(NCCL " + g.lib->version().str() + (g.group ? ", open)" : ", not entered)");
      });

  nb::class_<Watchdog>(m, "Watchdog",
                       "One thread that aborts communicators whose watched work passes its "
                       "deadline or which report an error. Off by default.")
      .def_static(
          "enable",
          [](SecondsArg poll) { Watchdog::enable(seconds(poll, "Watchdog.enable").value()); },
          nb::arg("poll") = 0.1)
      .def_static("disable", &Watchdog::disable)
      .def_static("enabled", &Watchdog::enabled);

  nb::class_<NcclMemory>(m, "NcclMemory",
                         "Device memory from ncclMemAlloc (NCCL >= 2.19), freed with ncclMemFree "
                         "on close(). Usable as a uint8 array wherever a buffer is taken.")
      .def_static(
          "allocate",
          [](LibraryArg lib, std::size_t nbytes) {
            auto l = library_or_default(lib);
            return NcclMemory::allocate(std::move(l), nbytes);
          },
          nb::arg("lib"), nb::arg("nbytes"))
      .def_prop_ro(
          "ptr", [](const NcclMemory& mem) { return reinterpret_cast<std::uintptr_t>(mem.get()); },
          "The device address, as an int (0 once freed).")
      .def_prop_ro("nbytes", &NcclMemory::size, "The size in bytes.")
      .def_prop_ro(
          "__cuda_array_interface__",
          [](const NcclMemory& mem) {
            if (mem.get() == nullptr) throw UsageError("NcclMemory: already freed");
            nb::dict d;
            d["shape"] = nb::make_tuple(mem.size());
            d["typestr"] = "|u1";
            d["data"] = nb::make_tuple(reinterpret_cast<std::uintptr_t>(mem.get()), false);
            d["version"] = 3;
            d["strides"] = nb::none();
            return d;
          },
          "The memory as a uint8 array, for any library that reads __cuda_array_interface__.")
      .def(
          "close", [](NcclMemory& mem) { mem = NcclMemory(); }, "Frees the memory now.")
      .def(
          "__enter__", [](NcclMemory& mem) -> NcclMemory& { return mem; }, nb::rv_policy::reference)
      .def(
          "__exit__",
          [](NcclMemory& mem, nb::handle, nb::handle, nb::handle) {
            mem = NcclMemory();
            return false;
          },
          nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none())
      .def("__repr__", [](const NcclMemory& mem) {
        if (mem.get() == nullptr) return std::string("NcclMemory(freed)");
        return "NcclMemory(ptr=" + address(mem.get()) + ", nbytes=" + std::to_string(mem.size()) +
               ")";
      });

  m.def(
      "_set_python_environment",
      [](std::vector<std::string> package_dirs) {
        set_python_environment(std::move(package_dirs));
      },
      nb::arg("package_dirs"),
      "Hands discovery this interpreter's package directories (ncclrt's __init__ does it on "
      "import): their nvidia/nccl/lib comes right after an NCCL already loaded.");
  m.def("max_ctas_for_shared_gpu", &max_ctas_for_shared_gpu, nb::arg("device"), nb::arg("ranks"),
        "The most CTAs (Config.max_ctas) each of `ranks` ranks of this process sharing `device` "
        "may use so that all their kernels are resident at once: SMs // ranks rounded down to "
        "a power of two (NCCL rounds send/recv channels up to one), at least 1. "
        "Threads of one process sharing a GPU hang without such a cap.");
  m.def(
      "set_log_level",
      [](const std::string& level) {
        static const std::map<std::string, LogLevel> levels = {{"off", LogLevel::kOff},
                                                               {"error", LogLevel::kError},
                                                               {"warn", LogLevel::kWarn},
                                                               {"info", LogLevel::kInfo},
                                                               {"debug", LogLevel::kDebug}};
        auto it = levels.find(level);
        if (it == levels.end()) {
          throw UsageError("set_log_level: '" + level + "' is not off, error, warn, info or debug");
        }
        set_log_level(it->second);
      },
      nb::arg("level"), "Diagnostics to stderr at this level (default from $NCCLRT_LOG, off).");
}

}  // namespace ncclrt::py
