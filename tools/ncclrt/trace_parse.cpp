#include "trace_parse.hpp"

#include <ncclrt/trace.hpp>
#include <set>

namespace ncclrt_tool::detail {
namespace {

// A dump keeps the last 8 notes and one alias per grow; these leave room and bound the memory.
constexpr std::size_t kMaxNotes = 1024;
constexpr std::size_t kMaxAliases = 1024;

// What the parser keeps of the document, decided as it reads: the known fields, each entry
// turned into a DumpEntry as soon as it is read (its JSON dropped), the lists of strings checked
// as they come. Unknown fields are dropped unread; a container where a value belongs is kept
// empty, so that the checks after the parse name what was expected there. Nesting deeper than
// kMaxDumpDepth stops the parse: no deep tree is ever built, copied or destroyed.
class Filter {
 public:
  explicit Filter(const std::string& name) : f_(name) {}

  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    const auto d = static_cast<std::size_t>(depth);
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        return start(d, event == json::parse_event_t::object_start);
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        return end(d, parsed);
      case json::parse_event_t::key:
        unwind(d);
        return key(parsed.get_ref<const std::string&>());
      case json::parse_event_t::value:
        unwind(d);
        return value(parsed);
    }
    return false;
  }

  std::vector<DumpEntry> entries;
  std::vector<DumpGraph> graphs;
  std::vector<std::string> notes, aliases;

 private:
  enum class Node : unsigned char {
    kTop,
    kComm,
    kAliases,
    kProgress,
    kGraphs,
    kGraph,
    kNotes,
    kEntries,
    kEntry,
    kArgs,
    kShell,  // a container where a value belongs: kept empty
    kSkip,   // dropped
  };
  struct Frame {
    Node node;
    std::size_t index = 0;  // an element's place in its array
    std::size_t count = 0;  // an array's elements so far
  };
  // What the value of the key just read is, by whether an object or an array starts there.
  struct Slot {
    bool known = false;
    Node object = Node::kShell, array = Node::kShell;
  };

  static Slot slot(Node parent, const std::string& key) {
    static const std::set<std::string> top = {
        "schema",      "version",        "ncclrt",          "host",     "pid",
        "trigger",     "reason",         "dump_time_ns",    "capacity", "records",
        "collectives", "point_to_point", "progress_problem"};
    static const std::set<std::string> comm = {"id",     "rank",   "size", "device",    "nccl",
                                               "origin", "parent", "root", "root_rank", "lineage"};
    static const std::set<std::string> progress = {"collective_started", "collective_completed",
                                                   "p2p_started", "p2p_completed",
                                                   "write_failures"};
    static const std::set<std::string> graph = {"capture_id", "first_seq", "last_seq", "launches"};
    static const std::set<std::string> entry = {
        "record", "seq",         "op",       "count",      "type",   "redop",
        "peer",   "send",        "recv",     "stream",     "result", "thread",
        "group",  "group_depth", "captured", "capture_id", "label",  "time_ns"};
    Slot s;
    switch (parent) {
      case Node::kTop:
        if (key == "comm") return {true, Node::kComm, Node::kShell};
        if (key == "progress") return {true, Node::kProgress, Node::kShell};
        if (key == "notes") return {true, Node::kShell, Node::kNotes};
        if (key == "entries") return {true, Node::kShell, Node::kEntries};
        s.known = top.count(key) != 0;
        break;
      case Node::kComm:
        if (key == "aliases") return {true, Node::kShell, Node::kAliases};
        s.known = comm.count(key) != 0;
        break;
      case Node::kProgress:
        if (key == "graphs") return {true, Node::kShell, Node::kGraphs};
        s.known = progress.count(key) != 0;
        break;
      case Node::kGraph:
        s.known = graph.count(key) != 0;
        break;
      case Node::kEntry:
        if (key == "args") return {true, Node::kShell, Node::kArgs};
        s.known = entry.count(key) != 0;
        break;
      default:
        break;
    }
    return s;
  }

  std::string entry_at(std::size_t i) const { return "entries[" + std::to_string(i) + "]"; }
  std::string graph_at(std::size_t i) const { return "progress.graphs[" + std::to_string(i) + "]"; }

  // Frames whose end the parser did not report (the containers it dropped) are closed here:
  // an event at depth d belongs to the container at d - 1.
  void unwind(std::size_t d) {
    while (stack_.size() > d) stack_.pop_back();
  }

  bool start(std::size_t d, bool object) {
    if (d >= static_cast<std::size_t>(kMaxDumpDepth)) {
      f_.fail("", "arrays and objects nested more than " + std::to_string(kMaxDumpDepth) +
                      " deep (a dump nests 4)");
    }
    unwind(d);
    Frame child{Node::kSkip};
    if (stack_.empty()) {
      if (!object) f_.fail("", "expected a JSON object, got an array");
      child.node = Node::kTop;
    } else {
      Frame& parent = stack_.back();
      switch (parent.node) {
        case Node::kTop:
        case Node::kComm:
        case Node::kProgress:
        case Node::kGraph:
        case Node::kEntry:
          child.node = !slot_.known ? Node::kSkip : object ? slot_.object : slot_.array;
          break;
        case Node::kNotes:
          f_.fail("notes", "expected strings");
        case Node::kAliases:
          f_.fail("comm.aliases", "expected strings");
        case Node::kArgs:
          f_.fail(entry_at(stack_[stack_.size() - 2].index) + ".args", "expected integers");
        case Node::kGraphs:
          if (!object) f_.fail(graph_at(parent.count), "expected an object, got an array");
          child = {Node::kGraph, parent.count++};
          break;
        case Node::kEntries:
          if (!object) f_.fail(entry_at(parent.count), "expected an object, got an array");
          child = {Node::kEntry, parent.count++};
          break;
        case Node::kShell:
        case Node::kSkip:
          break;
      }
    }
    // A field given twice counts once, as the document's value does: the last.
    if (child.node == Node::kEntries) entries.clear();
    if (child.node == Node::kNotes) notes.clear();
    if (child.node == Node::kComm || child.node == Node::kAliases) aliases.clear();
    if (child.node == Node::kProgress || child.node == Node::kGraphs) graphs.clear();
    stack_.push_back(child);
    return child.node != Node::kSkip;
  }

  bool end(std::size_t d, json& parsed) {
    unwind(d + 1);
    const Frame frame = stack_.back();
    stack_.pop_back();
    if (frame.node == Node::kEntry) {
      entries.push_back(read_entry(f_, parsed, entry_at(frame.index)));
      return false;
    }
    if (frame.node == Node::kGraph) {
      graphs.push_back(read_graph(f_, parsed, graph_at(frame.index)));
      return false;
    }
    return true;
  }

  bool key(const std::string& k) {
    const Node parent = stack_.back().node;
    slot_ = parent == Node::kShell || parent == Node::kSkip ? Slot{} : slot(parent, k);
    return slot_.known;
  }

  bool value(const json& v) {
    if (stack_.empty()) return true;  // the whole document: the checks say it is no object
    Frame& parent = stack_.back();
    switch (parent.node) {
      case Node::kNotes:
        if (!v.is_string()) f_.fail("notes", "expected strings");
        if (notes.size() == kMaxNotes) {
          f_.fail("notes", "more than " + std::to_string(kMaxNotes) + " notes");
        }
        notes.push_back(v.get<std::string>());
        return false;
      case Node::kAliases:
        if (!v.is_string()) f_.fail("comm.aliases", "expected strings");
        if (aliases.size() == kMaxAliases) {
          f_.fail("comm.aliases", "more than " + std::to_string(kMaxAliases) + " aliases");
        }
        f_.comm_id(v.get<std::string>(), "comm.aliases");
        aliases.push_back(v.get<std::string>());
        return false;
      case Node::kArgs:
        if (++parent.count > 3) {
          f_.fail(entry_at(stack_[stack_.size() - 2].index) + ".args",
                  "expected 3 numbers, got more");
        }
        return true;
      case Node::kGraphs:
        f_.fail(graph_at(parent.count), std::string("expected an object, got ") + Fields::kind(v));
      case Node::kEntries:
        f_.fail(entry_at(parent.count), std::string("expected an object, got ") + Fields::kind(v));
      case Node::kShell:
      case Node::kSkip:
        return false;
      default:
        return slot_.known;
    }
  }

  Fields f_;
  std::vector<Frame> stack_;
  Slot slot_;
};

}  // namespace

DumpEntry read_entry(const Fields& f, const json& e, const std::string& where) {
  if (!e.is_object()) f.fail(where, std::string("expected an object, got ") + Fields::kind(e));
  DumpEntry d;
  d.record = f.unsigned_(e, "record", where);
  d.seq = f.unsigned_(e, "seq", where);
  d.op = f.string_(e, "op", where);
  const ncclrt::TraceOp op = ncclrt::trace_op_from_string(d.op);
  if (op == ncclrt::TraceOp::kNone)
    f.fail(Fields::at(where, "op"), "unknown operation " + Fields::quoted(d.op));
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

DumpGraph read_graph(const Fields& f, const json& g, const std::string& where) {
  DumpGraph d;
  d.capture_id = f.unsigned_(g, "capture_id", where);
  d.first_seq = f.unsigned_(g, "first_seq", where);
  d.last_seq = f.unsigned_(g, "last_seq", where);
  d.launches = f.unsigned_(g, "launches", where);
  if (d.first_seq == 0 || d.last_seq < d.first_seq) {
    f.fail(where, "collectives #" + std::to_string(d.first_seq) + "-#" +
                      std::to_string(d.last_seq) + " are not a range of collective numbers");
  }
  return d;
}

Filtered parse_filtered(std::string_view text, const std::string& name) {
  Filter filter(name);
  Filtered out;
  try {
    out.doc = json::parse(text.begin(), text.end(), std::ref(filter));
  } catch (const json::exception& e) {
    std::string why = e.what();
    if (const auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
    throw TraceFileError(name + ": not valid JSON (truncated or damaged?): " + why);
  }
  out.entries = std::move(filter.entries);
  out.graphs = std::move(filter.graphs);
  out.notes = std::move(filter.notes);
  out.aliases = std::move(filter.aliases);
  return out;
}

}  // namespace ncclrt_tool::detail
