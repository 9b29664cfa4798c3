#include "trace_reader.hpp"

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <ncclrt/trace.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ncclrt_tool {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxFileBytes = std::size_t{512} << 20;
constexpr int kMaxRanks = 1 << 24;

// The checks of one file: every error names the file and the place.
class Fields {
 public:
  explicit Fields(const std::string& name) : name_(name) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw TraceFileError(name_ + ": " + (where.empty() ? "" : where + ": ") + what);
  }

  const json& member(const json& obj, const char* key, const std::string& where) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(where, std::string("missing \"") + key + "\"");
    return *it;
  }
  static std::string at(const std::string& where, const char* key) {
    return where.empty() ? key : where + "." + key;
  }
  static const char* kind(const json& v) {
    return v.is_null()      ? "null"
           : v.is_boolean() ? "a boolean"
           : v.is_number()  ? "a number"
           : v.is_string()  ? "a string"
           : v.is_array()   ? "an array"
                            : "an object";
  }

  std::uint64_t unsigned_(const json& obj, const char* key, const std::string& where) const {
    const json& v = member(obj, key, where);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0)) {
      fail(at(where, key), std::string("expected an integer >= 0, got ") + kind(v));
    }
    return v.get<std::uint64_t>();
  }
  std::int64_t signed_(const json& obj, const char* key, const std::string& where) const {
    const json& v = member(obj, key, where);
    if (!v.is_number_integer())
      fail(at(where, key), std::string("expected an integer, got ") + kind(v));
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(at(where, key), "the integer is too large");
    }
    return v.get<std::int64_t>();
  }
  int int_in(const json& obj, const char* key, const std::string& where, std::int64_t lo,
             std::int64_t hi) const {
    const std::int64_t v = signed_(obj, key, where);
    if (v < lo || v > hi) {
      fail(at(where, key),
           std::to_string(v) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return static_cast<int>(v);
  }
  std::string string_(const json& obj, const char* key, const std::string& where) const {
    const json& v = member(obj, key, where);
    if (!v.is_string()) fail(at(where, key), std::string("expected a string, got ") + kind(v));
    return v.get<std::string>();
  }
  // A string or null ("" for null).
  std::string maybe_string(const json& obj, const char* key, const std::string& where) const {
    const json& v = member(obj, key, where);
    if (v.is_null()) return "";
    if (!v.is_string())
      fail(at(where, key), std::string("expected a string or null, got ") + kind(v));
    return v.get<std::string>();
  }
  std::uint64_t pointer(const json& obj, const char* key, const std::string& where) const {
    const std::string s = string_(obj, key, where);
    if (s.size() < 3 || s.size() > 18 || s[0] != '0' || s[1] != 'x' ||
        s.find_first_not_of("0123456789abcdefABCDEF", 2) != std::string::npos) {
      fail(at(where, key),
           "expected a hex pointer like \"0x7f00\", got \"" + s.substr(0, 40) + "\"");
    }
    return std::stoull(s.substr(2), nullptr, 16);
  }
  const json& array(const json& obj, const char* key, const std::string& where) const {
    const json& v = member(obj, key, where);
    if (!v.is_array()) fail(at(where, key), std::string("expected an array, got ") + kind(v));
    return v;
  }
  void comm_id(const std::string& id, const std::string& where) const {
    if (id.size() != 16 || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
      fail(where, "expected 16 lower-case hex digits, got \"" + id.substr(0, 40) + "\"");
    }
  }

 private:
  const std::string& name_;
};

DumpEntry read_entry(const Fields& f, const json& e, const std::string& where) {
  if (!e.is_object()) f.fail(where, std::string("expected an object, got ") + Fields::kind(e));
  DumpEntry d;
  d.record = f.unsigned_(e, "record", where);
  d.seq = f.unsigned_(e, "seq", where);
  d.op = f.string_(e, "op", where);
  const ncclrt::TraceOp op = ncclrt::trace_op_from_string(d.op);
  if (op == ncclrt::TraceOp::kNone)
    f.fail(Fields::at(where, "op"), "unknown operation \"" + d.op.substr(0, 40) + "\"");
  d.op_kind = ncclrt::is_collective(op) ? 1 : ncclrt::is_point_to_point(op) ? 2 : 0;
  d.count = f.unsigned_(e, "count", where);
  d.type = f.maybe_string(e, "type", where);
  d.redop = f.maybe_string(e, "redop", where);
  d.peer = f.int_in(e, "peer", where, -1, kMaxRanks);
  d.send = f.pointer(e, "send", where);
  d.recv = f.pointer(e, "recv", where);
  d.stream = f.pointer(e, "stream", where);
  const json& result = f.member(e, "result", where);
  if (!result.is_null()) d.result = f.int_in(e, "result", where, -1000, 1000);
  d.thread = f.unsigned_(e, "thread", where);
  d.group = f.unsigned_(e, "group", where);
  d.group_depth = f.unsigned_(e, "group_depth", where);
  const json& captured = f.member(e, "captured", where);
  if (captured.is_boolean()) {
    d.captured = captured.get<bool>();
  } else if (!captured.is_null()) {
    f.fail(Fields::at(where, "captured"),
           std::string("expected true, false or null, got ") + Fields::kind(captured));
  }
  d.capture_id = f.unsigned_(e, "capture_id", where);
  d.label = f.maybe_string(e, "label", where);
  d.time_ns = f.signed_(e, "time_ns", where);
  const json& args = f.array(e, "args", where);
  if (args.size() != 3)
    f.fail(Fields::at(where, "args"), "expected 3 numbers, got " + std::to_string(args.size()));
  for (std::size_t i = 0; i < 3; ++i) {
    if (!args[i].is_number_integer()) f.fail(Fields::at(where, "args"), "expected integers");
    d.args[i] = args[i].is_number_unsigned()
                    ? static_cast<std::int64_t>(args[i].get<std::uint64_t>())
                    : args[i].get<std::int64_t>();
  }
  return d;
}

}  // namespace

DumpFile parse_dump(std::string_view text, const std::string& name) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    std::string why = e.what();
    if (const auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
    throw TraceFileError(name + ": not valid JSON (truncated or damaged?): " + why);
  }
  const Fields f(name);
  if (!doc.is_object()) f.fail("", std::string("expected a JSON object, got ") + Fields::kind(doc));
  if (doc.value("schema", json()) != "ncclrt-trace") {
    f.fail("", "not an ncclrt flight-recorder dump (no \"schema\": \"ncclrt-trace\")");
  }
  DumpFile d;
  d.path = name;
  d.version = f.int_in(doc, "version", "", 1, 1000000);
  if (d.version > kTraceSchemaVersion) {
    f.fail("version", "schema version " + std::to_string(d.version) +
                          " comes from a newer ncclrt; this one reads version " +
                          std::to_string(kTraceSchemaVersion) + ". Use a newer ncclrt");
  }
  d.ncclrt = f.string_(doc, "ncclrt", "");
  d.host = f.string_(doc, "host", "");
  d.pid = f.signed_(doc, "pid", "");
  d.trigger = f.string_(doc, "trigger", "");
  d.reason = f.maybe_string(doc, "reason", "");
  d.dump_time_ns = f.signed_(doc, "dump_time_ns", "");
  const json& comm = f.member(doc, "comm", "");
  if (!comm.is_object()) f.fail("comm", "expected an object");
  d.comm_id = f.string_(comm, "id", "comm");
  f.comm_id(d.comm_id, "comm.id");
  d.size = f.int_in(comm, "size", "comm", 1, kMaxRanks);
  d.rank = f.int_in(comm, "rank", "comm", 0, d.size - 1);
  d.device = f.int_in(comm, "device", "comm", -1, kMaxRanks);
  d.nccl = f.string_(comm, "nccl", "comm");
  d.origin = f.string_(comm, "origin", "comm");
  d.parent = f.maybe_string(comm, "parent", "comm");
  if (!d.parent.empty()) f.comm_id(d.parent, "comm.parent");
  d.root = f.maybe_string(comm, "root", "comm");
  if (!d.root.empty()) f.comm_id(d.root, "comm.root");
  d.root_rank = f.int_in(comm, "root_rank", "comm", -1, kMaxRanks);
  d.lineage = f.string_(comm, "lineage", "comm");
  for (const json& a : f.array(comm, "aliases", "comm")) {
    if (!a.is_string()) f.fail("comm.aliases", "expected strings");
    d.aliases.push_back(a.get<std::string>());
    f.comm_id(d.aliases.back(), "comm.aliases");
  }
  d.capacity = f.unsigned_(doc, "capacity", "");
  d.records = f.unsigned_(doc, "records", "");
  d.collectives = f.unsigned_(doc, "collectives", "");
  d.point_to_point = f.unsigned_(doc, "point_to_point", "");
  const json& progress = f.member(doc, "progress", "");
  if (progress.is_object()) {
    DumpProgress p;
    p.started = f.unsigned_(progress, "collective_started", "progress");
    p.completed = f.unsigned_(progress, "collective_completed", "progress");
    p.p2p_started = f.unsigned_(progress, "p2p_started", "progress");
    p.p2p_completed = f.unsigned_(progress, "p2p_completed", "progress");
    p.write_failures = f.signed_(progress, "write_failures", "progress");
    d.progress = p;
  } else if (!progress.is_null()) {
    f.fail("progress", "expected an object or null");
  }
  d.progress_problem = f.maybe_string(doc, "progress_problem", "");
  for (const json& n : f.array(doc, "notes", "")) {
    if (!n.is_string()) f.fail("notes", "expected strings");
    d.notes.push_back(n.get<std::string>());
  }
  const json& entries = f.array(doc, "entries", "");
  if (entries.size() > d.capacity && d.capacity != 0) {
    f.fail("entries", std::to_string(entries.size()) + " entries but a capacity of " +
                          std::to_string(d.capacity));
  }
  d.entries.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string where = "entries[" + std::to_string(i) + "]";
    d.entries.push_back(read_entry(f, entries[i], where));
    const DumpEntry& e = d.entries.back();
    if (e.record >= d.records) {
      f.fail(where, "record " + std::to_string(e.record) + " is not below the " +
                        std::to_string(d.records) + " records the header counts");
    }
    if (i > 0 && e.record <= d.entries[i - 1].record) {
      f.fail(where, "records are not in increasing order");
    }
    if (e.op_kind == 1 && (e.seq == 0 || e.seq > d.collectives)) {
      f.fail(where, "collective seq " + std::to_string(e.seq) + " is outside 1.." +
                        std::to_string(d.collectives));
    }
    if (e.op_kind == 2 && (e.seq == 0 || e.seq > d.point_to_point)) {
      f.fail(where, "point-to-point seq " + std::to_string(e.seq) + " is outside 1.." +
                        std::to_string(d.point_to_point));
    }
    if (e.peer >= d.size) {
      f.fail(where,
             "peer " + std::to_string(e.peer) + " is not a rank of " + std::to_string(d.size));
    }
  }
  return d;
}

DumpFile read_dump(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TraceFileError(path + ": cannot open it");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw TraceFileError(path + ": cannot read it");
  if (static_cast<std::uint64_t>(size) > kMaxFileBytes) {
    throw TraceFileError(path + ": " + std::to_string(size) +
                         " bytes is more than a dump can be (512 MiB at most)");
  }
  in.seekg(0);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (!in.read(text.data(), size)) throw TraceFileError(path + ": cannot read it");
  if (text.empty()) throw TraceFileError(path + ": the file is empty");
  return parse_dump(text, path);
}

std::vector<std::string> dump_files_in(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) throw TraceFileError(dir + ": cannot open the directory");
  std::vector<std::string> out;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.rfind("ncclrt-trace-", 0) == 0 && n.size() > 5 &&
        n.compare(n.size() - 5, 5, ".json") == 0) {
      out.push_back(dir + "/" + n);
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ncclrt_tool
