#include "trace_reader.hpp"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "trace_parse.hpp"
#include "trace_text.hpp"

namespace ncclrt_tool {
namespace {

using detail::Fields;
using detail::json;
using detail::kMaxRanks;

std::string errno_text(int e) { return std::strerror(e); }

}  // namespace

TraceFileError::TraceFileError(const std::string& what) : std::runtime_error(printable(what)) {}

DumpFile parse_dump(std::string_view text, const std::string& name) {
  detail::Filtered filtered = detail::parse_filtered(text, name);
  const json& doc = filtered.doc;
  const Fields f(name);
  if (!doc.is_object()) f.fail("", std::string("expected a JSON object, got ") + Fields::kind(doc));
  const auto schema = doc.find("schema");
  if (schema == doc.end() || !schema->is_string() ||
      schema->get_ref<const std::string&>() != "ncclrt-trace") {
    f.fail("", "not an ncclrt flight-recorder dump (no \"schema\": \"ncclrt-trace\")");
  }
  DumpFile d;
  d.path = name;
  d.bytes = text.size();
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
  (void)f.array(comm, "aliases", "comm");  // its strings were checked as they were read
  d.aliases = std::move(filtered.aliases);
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
    const auto graphs = progress.find("graphs");
    if (graphs != progress.end() && !graphs->is_array() && !graphs->is_null()) {
      f.fail("progress.graphs", std::string("expected an array, got ") + Fields::kind(*graphs));
    }
    if (graphs != progress.end() && graphs->is_array()) p.graphs = std::move(filtered.graphs);
    for (std::size_t i = 0; i < p.graphs.size(); ++i) {
      if (p.graphs[i].last_seq > d.collectives) {
        f.fail("progress.graphs[" + std::to_string(i) + "]",
               "collective #" + std::to_string(p.graphs[i].last_seq) + " is outside 1.." +
                   std::to_string(d.collectives));
      }
    }
    d.progress = std::move(p);
  } else if (!progress.is_null()) {
    f.fail("progress", "expected an object or null");
  }
  d.progress_problem = f.maybe_string(doc, "progress_problem", "");
  (void)f.array(doc, "notes", "");
  d.notes = std::move(filtered.notes);
  (void)f.array(doc, "entries", "");
  d.entries = std::move(filtered.entries);
  if (d.entries.size() > d.capacity && d.capacity != 0) {
    f.fail("entries", std::to_string(d.entries.size()) + " entries but a capacity of " +
                          std::to_string(d.capacity));
  }
  for (std::size_t i = 0; i < d.entries.size(); ++i) {
    const std::string where = "entries[" + std::to_string(i) + "]";
    const DumpEntry& e = d.entries[i];
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
  // Not blocking: a FIFO given by mistake must not hang the open.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw TraceFileError(path + ": cannot open it: " + errno_text(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw TraceFileError(path + ": cannot read it: " + errno_text(errno));
  if (S_ISDIR(st.st_mode)) {
    throw TraceFileError(path + ": is a directory, not a dump. Try `ncclrt trace analyze " + path +
                         "` for the dumps in it");
  }
  if (!S_ISREG(st.st_mode)) throw TraceFileError(path + ": is not a regular file");
  const auto too_big = [&](const std::string& size) {
    return TraceFileError(path + ": " + size +
                          " bytes is more than ncclrt trace reads of one dump (64 MiB, a ring "
                          "of about 200,000 entries)");
  };
  if (static_cast<std::uint64_t>(st.st_size) > kMaxDumpBytes) {
    throw too_big(std::to_string(st.st_size));
  }
  // The size as read, not as stat said: the file may be growing.
  std::string text(static_cast<std::size_t>(st.st_size) + 1, '\0');
  std::size_t got = 0;
  for (;;) {
    if (got == text.size()) {
      if (got > kMaxDumpBytes) throw too_big("more than " + std::to_string(kMaxDumpBytes));
      text.resize(std::min(text.size() * 2, kMaxDumpBytes + 1));
    }
    const ssize_t n = ::read(fd, &text[got], text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw TraceFileError(path + ": cannot read it: " + errno_text(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > kMaxDumpBytes) throw too_big(std::to_string(got));
  text.resize(got);
  if (text.empty()) throw TraceFileError(path + ": the file is empty");
  return parse_dump(text, path);
}

std::vector<std::string> dump_files_in(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    const int e = errno;
    throw TraceFileError(
        dir + ": cannot open the directory: " + errno_text(e) +
        (e == ENOTDIR ? ". Try `ncclrt trace show " + dir + "` for one dump"
                      : ". Try the directory NCCLRT_TRACE_DIR named for the job, or the one "
                        "given to ncclrt::dump_traces"));
  }
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

std::vector<std::string> dump_set(const std::string& dir) {
  auto files = dump_files_in(dir);
  if (files.empty()) {
    throw TraceFileError(dir +
                         ": no ncclrt-trace-*.json files (set NCCLRT_TRACE_DIR for the job, "
                         "or call ncclrt::dump_traces)");
  }
  std::uint64_t total = 0;
  for (const auto& f : files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<std::uint64_t>(st.st_size);
    }
  }
  if (total > kMaxDirBytes) {
    throw TraceFileError(dir + ": " + std::to_string(total) +
                         " bytes of dumps is more than ncclrt trace reads of one directory "
                         "(1 GiB). Try moving the dumps of some communicators or ranks into "
                         "another directory");
  }
  return files;
}

void count_dir_bytes(const std::string& dir, const DumpHeader& d, std::uint64_t& total) {
  total += d.bytes;
  if (total > kMaxDirBytes) {
    throw TraceFileError(dir +
                         ": the dumps grew past what ncclrt trace reads of one directory "
                         "(1 GiB) while they were read. Try again when the job has stopped");
  }
}

std::vector<CommDumps> group_dumps(const std::vector<const DumpHeader*>& dumps) {
  // The ids joined through aliases, in a union-find without recursion.
  std::map<std::string, std::string> up;
  const auto find = [&](const std::string& x) {
    std::string root = up.emplace(x, x).first->first;
    for (auto it = up.find(root); it->second != root; it = up.find(root)) root = it->second;
    for (std::string y = x; y != root;) {
      auto it = up.find(y);
      y = it->second;
      it->second = root;
    }
    return root;
  };
  for (const DumpHeader* d : dumps) {
    for (const auto& a : d->aliases) {
      const std::string ra = find(d->comm_id), rb = find(a);
      if (ra != rb) up[std::max(ra, rb)] = std::min(ra, rb);
    }
  }
  struct Building {
    std::set<std::string> ids, own, listed;
    std::vector<std::size_t> members;
  };
  std::map<std::string, Building> groups;
  for (std::size_t i = 0; i < dumps.size(); ++i) {
    Building& b = groups[find(dumps[i]->comm_id)];
    b.members.push_back(i);
    b.ids.insert(dumps[i]->comm_id);
    b.own.insert(dumps[i]->comm_id);
    for (const auto& a : dumps[i]->aliases) {
      b.ids.insert(a);
      if (a != dumps[i]->comm_id) b.listed.insert(a);
    }
  }
  std::vector<CommDumps> out;
  for (auto& [root, b] : groups) {
    CommDumps c;
    // Named by the communicator that lists the others (a grown one names its joiners).
    c.id = *b.own.begin();
    for (const auto& id : b.own) {
      if (b.listed.count(id) == 0) {
        c.id = id;
        break;
      }
    }
    for (const auto& id : b.ids) {
      if (id != c.id) c.aliases.push_back(id);
    }
    c.members = std::move(b.members);
    std::map<int, CommDumps::Rank> ranks;
    std::map<int, bool> at_failure;
    for (std::size_t i : c.members) {
      const DumpHeader& d = *dumps[i];
      const bool failure = d.trigger == "failure";
      auto [it, first] = ranks.emplace(d.rank, CommDumps::Rank{d.rank, i, 1});
      bool& chosen_failure = at_failure[d.rank];
      if (first) {
        chosen_failure = failure;
        continue;
      }
      CommDumps::Rank& r = it->second;
      ++r.of;
      const DumpHeader& u = *dumps[r.used];
      const auto key = std::make_pair(d.dump_time_ns, d.records);
      const auto used = std::make_pair(u.dump_time_ns, u.records);
      // The earliest dump written at a failure, else the latest.
      const bool better = failure ? !chosen_failure || key < used : !chosen_failure && key > used;
      if (better) {
        r.used = i;
        chosen_failure = failure;
      }
    }
    for (const auto& [rank, r] : ranks) c.ranks.push_back(r);
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(),
            [](const CommDumps& a, const CommDumps& b) { return a.id < b.id; });
  return out;
}

}  // namespace ncclrt_tool
