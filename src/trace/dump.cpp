// Writing the flight recorder's dumps: one JSON file per communicator and rank (schema in
// docs/debugging.md), on request (dump_traces), when ncclrt gives up on a communicator
// ($NCCLRT_TRACE_DIR), and on SIGUSR1 (a thread does the writing, never the signal handler).
//
// Dumps land in shared places, so they go only into a real directory of the process's own user
// (not a symbolic link), and a file is created new with mode 0600 (O_EXCL, O_NOFOLLOW: never
// through a symbolic link, never over another file), written under a temporary name and linked
// into place (a reader never sees half a dump, and link() never replaces an existing name; where
// the file system has no hard links the dump is written again straight under its name). No
// NCCL or CUDA call is made: a process whose NCCL hangs can still be dumped.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "log_internal.hpp"
#include "ncclrt/error.hpp"
#include "ncclrt/ncclrt.hpp"
#include "ncclrt/types.hpp"
#include "trace/state.hpp"

namespace ncclrt {
namespace detail {
namespace {

constexpr int kSchemaVersion = 1;

// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  }
  if (len == 0 || i + len > s.size() || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
  }
  return len;
}

// A file written in 16 KiB pieces from a fixed buffer; the first error sticks.
class JsonFile {
 public:
  explicit JsonFile(int fd) : fd_(fd) {}
  ~JsonFile() = default;
  JsonFile(const JsonFile&) = delete;
  JsonFile& operator=(const JsonFile&) = delete;

  JsonFile& raw(std::string_view s) {
    for (char c : s) put(c);
    return *this;
  }
  JsonFile& key(const char* k) { return raw("\"").raw(k).raw("\":"); }
  JsonFile& num(long long v) {
    char b[24];
    std::snprintf(b, sizeof b, "%lld", v);
    return raw(b);
  }
  JsonFile& unum(unsigned long long v) {
    char b[24];
    std::snprintf(b, sizeof b, "%llu", v);
    return raw(b);
  }
  JsonFile& hex(std::uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "\"0x%llx\"", static_cast<unsigned long long>(v));
    return raw(b);
  }
  JsonFile& id(std::uint64_t v) {
    if (v == 0) return raw("null");
    return raw("\"").raw(trace_id_text(v)).raw("\"");
  }
  // A JSON string; bytes that are not valid UTF-8 become '?', so any parser accepts the file.
  JsonFile& str(std::string_view s) {
    put('"');
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c == '"' || c == '\\') {
        put('\\');
        put(static_cast<char>(c));
      } else if (c < 0x20) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", c);
        raw(b);
      } else if (c < 0x80) {
        put(static_cast<char>(c));
      } else {
        const std::size_t len = utf8_length(s, i);
        if (len == 0) {
          put('?');
          continue;
        }
        for (std::size_t k = 0; k < len; ++k) put(s[i + k]);
        i += len - 1;
      }
    }
    put('"');
    return *this;
  }
  bool flush() {
    std::size_t done = 0;
    while (done < n_ && err_ == 0) {
      const ssize_t w = ::write(fd_, buf_ + done, n_ - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        err_ = w < 0 ? errno : EIO;
        break;
      }
      done += static_cast<std::size_t>(w);
    }
    n_ = 0;
    return err_ == 0;
  }
  int error() const { return err_; }

 private:
  void put(char c) {
    if (n_ == sizeof buf_ && !flush()) return;
    if (err_ == 0) buf_[n_++] = c;
  }
  int fd_;
  int err_ = 0;
  std::size_t n_ = 0;
  char buf_[16384];
};

const char* type_name(int type) {
  if (type < 0 || type >= kNumDataTypes) return nullptr;
  return to_string(static_cast<DataType>(type));
}

const char* redop_name(int op) {
  if (op < 0) return nullptr;
  return to_string(static_cast<ReduceOp>(op));
}

void write_entry(JsonFile& f, const TraceEntry& e, std::uint32_t& label_id, std::string& label) {
  f.raw("{").key("record").unum(e.record).raw(",").key("seq").unum(e.seq);
  f.raw(",").key("op").str(to_string(e.op));
  f.raw(",").key("count").unum(e.count);
  f.raw(",").key("type");
  if (const char* t = type_name(e.type)) {
    f.str(t);
  } else {
    f.raw("null");
  }
  f.raw(",").key("redop");
  if (const char* o = redop_name(e.reduce_op)) {
    f.str(o);
  } else {
    f.raw("null");
  }
  f.raw(",").key("peer").num(e.peer);
  f.raw(",").key("send").hex(reinterpret_cast<std::uintptr_t>(e.send));
  f.raw(",").key("recv").hex(reinterpret_cast<std::uintptr_t>(e.recv));
  f.raw(",").key("stream").hex(reinterpret_cast<std::uintptr_t>(e.stream));
  f.raw(",").key("result");
  if (e.result == kTracePending) {
    f.raw("null");
  } else {
    f.num(e.result);
  }
  f.raw(",").key("thread").unum(e.thread);
  f.raw(",").key("group").unum(e.group).raw(",").key("group_depth").unum(e.group_depth);
  f.raw(",").key("captured");
  f.raw(e.captured == TraceCapture::kUnknown ? "null"
        : e.captured == TraceCapture::kYes   ? "true"
                                             : "false");
  f.raw(",").key("capture_id").unum(e.capture_id);
  f.raw(",").key("label");
  if (e.label == 0) {
    f.raw("null");
  } else {
    if (e.label != label_id) {
      label_id = e.label;
      label = trace_label_text(e.label);
    }
    f.str(label);
  }
  f.raw(",").key("time_ns").num(e.time_ns);
  f.raw(",").key("args").raw("[").num(e.args[0]).raw(",").num(e.args[1]).raw(",").num(e.args[2]);
  f.raw("]}");
}

// What one dump says of a recorder, copied while the registry's lock is held, so that the file is
// written after the lock is released (creating or ending a communicator waits for that lock).
struct DumpCopy {
  Trace tr;
  TraceIdentity identity;
  int rank = -1, size = 0, device = -1;
  std::string nccl;
  bool progress = false;
  std::uint64_t words[4] = {};
  int write_failures = 0;
  std::vector<TraceGraph> graphs;
  std::string progress_problem;
  std::vector<std::string> notes;
};

DumpCopy copy_of(const TraceState& t) {
  DumpCopy c;
  c.tr = t.snapshot();
  c.identity = t.identity;
  c.rank = t.rank;
  c.size = t.size;
  c.device = t.device;
  c.nccl = t.nccl;
  if (const TraceProgress* p = t.progress()) {
    c.progress = true;
    for (int i = 0; i < 4; ++i) c.words[i] = p->host[i];
    c.write_failures = p->failures.load(std::memory_order_relaxed);
    if (p->graphs != nullptr) c.graphs = trace_graphs(*p->graphs);
  }
  c.progress_problem = t.progress_problem();
  c.notes = t.notes();
  return c;
}

void write_dump(JsonFile& f, const DumpCopy& t, const char* trigger, const std::string& why,
                long long now_ns) {
  const Trace& tr = t.tr;
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  f.raw("{").key("schema").str("ncclrt-trace").raw(",").key("version").num(kSchemaVersion);
  f.raw(",\n").key("ncclrt").str(kVersionString);
  f.raw(",").key("host").str(host).raw(",").key("pid").num(::getpid());
  f.raw(",").key("trigger").str(trigger).raw(",").key("reason");
  if (why.empty()) {
    f.raw("null");
  } else {
    f.str(why);
  }
  f.raw(",").key("dump_time_ns").num(now_ns);
  const TraceIdentity& id = t.identity;
  f.raw(",\n").key("comm").raw("{").key("id").id(id.id);
  f.raw(",").key("rank").num(t.rank).raw(",").key("size").num(t.size);
  f.raw(",").key("device").num(t.device).raw(",").key("nccl").str(t.nccl);
  f.raw(",").key("origin").str(to_string(id.origin)).raw(",").key("parent").id(id.parent);
  f.raw(",").key("root").id(id.root).raw(",").key("root_rank").num(id.root_rank);
  f.raw(",").key("lineage").str(id.lineage).raw(",").key("aliases").raw("[");
  for (std::size_t i = 0; i < id.aliases.size(); ++i) f.raw(i ? "," : "").id(id.aliases[i]);
  f.raw("]}");
  f.raw(",\n").key("capacity").unum(tr.capacity).raw(",").key("records").unum(tr.records);
  f.raw(",").key("collectives").unum(tr.collectives);
  f.raw(",").key("point_to_point").unum(tr.point_to_point);
  f.raw(",\n").key("progress");
  if (t.progress) {
    f.raw("{").key("collective_started").unum(t.words[TraceProgress::kCollStarted]);
    f.raw(",").key("collective_completed").unum(t.words[TraceProgress::kCollCompleted]);
    f.raw(",").key("p2p_started").unum(t.words[TraceProgress::kP2pStarted]);
    f.raw(",").key("p2p_completed").unum(t.words[TraceProgress::kP2pCompleted]);
    f.raw(",").key("write_failures").num(t.write_failures);
    f.raw(",").key("graphs").raw("[");
    for (std::size_t i = 0; i < t.graphs.size(); ++i) {
      const TraceGraph& g = t.graphs[i];
      f.raw(i ? ",{" : "{").key("capture_id").unum(g.capture_id);
      f.raw(",").key("first_seq").unum(g.first_seq).raw(",").key("last_seq").unum(g.last_seq);
      f.raw(",").key("launches").unum(g.launches).raw("}");
    }
    f.raw("]}");
  } else {
    f.raw("null");
  }
  f.raw(",").key("progress_problem");
  if (t.progress_problem.empty()) {
    f.raw("null");
  } else {
    f.str(t.progress_problem);
  }
  f.raw(",\n").key("notes").raw("[");
  for (std::size_t i = 0; i < t.notes.size(); ++i) f.raw(i ? "," : "").str(t.notes[i]);
  f.raw("],\n").key("entries").raw("[");
  std::uint32_t label_id = 0;
  std::string label;
  for (std::size_t i = 0; i < tr.entries.size(); ++i) {
    f.raw(i ? ",\n" : "\n");
    write_entry(f, tr.entries[i], label_id, label);
  }
  f.raw("\n]}\n");
}

std::string errno_text(int e) { return std::strerror(e); }

// mkdir -p with mode 0700 for what it makes (the parents as they are: /tmp or a link to
// another disk are fine).
void make_parents(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw Error("dump_traces: " + dir + " exists and is not a directory");
    return;
  }
  const auto slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_parents(dir.substr(0, slash));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw Error("dump_traces: cannot make the directory " + dir + ": " + errno_text(errno) +
                ". Try a directory you can write, e.g. NCCLRT_TRACE_DIR=/tmp/ncclrt-traces");
  }
}

// An open directory, closed at scope end.
class DirFd {
 public:
  explicit DirFd(int fd) : fd_(fd) {}
  ~DirFd() { ::close(fd_); }
  DirFd(const DirFd&) = delete;
  DirFd& operator=(const DirFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The dump directory, made if missing, opened. It must be a real directory of this process's
// user: a symbolic link could send the dumps elsewhere, and a directory of another user lets that
// user read or replace them. Files are then made relative to the open directory, so the
// directory checked is the one written, whatever happens to its name meanwhile.
int open_dump_dir(const std::string& dir) {
  const auto slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_parents(dir.substr(0, slash));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw Error("dump_traces: cannot make the directory " + dir + ": " + errno_text(errno) +
                ". Try a directory you can write, e.g. NCCLRT_TRACE_DIR=/tmp/ncclrt-traces");
  }
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  if (fd < 0) {
    const int e = errno;
    if (::lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      throw Error("dump_traces: " + dir +
                  " is a symbolic link; dumps are written only into a real directory, since a "
                  "link can send them elsewhere. Name the directory it points to, or another one");
    }
    if (e == ENOTDIR) throw Error("dump_traces: " + dir + " exists and is not a directory");
    throw Error("dump_traces: cannot open the directory " + dir + ": " + errno_text(e));
  }
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw Error("dump_traces: cannot examine the directory " + dir + ": " + errno_text(e));
  }
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    throw Error("dump_traces: " + dir + " belongs to user " + std::to_string(st.st_uid) +
                ", not to this process's user (" + std::to_string(::geteuid()) +
                "); dumps are written only into a directory of one's own, since its owner can "
                "read or replace them. Use another directory, e.g. NCCLRT_TRACE_DIR=/tmp/"
                "ncclrt-traces-" +
                std::to_string(::geteuid()));
  }
  return fd;
}

std::atomic<TraceLinkFn> g_link{&::linkat};

// What link() answers on a file system without hard links (vfat, some FUSE and SMB mounts).
bool no_hard_links(int e) { return e == EPERM || e == EOPNOTSUPP || e == ENOSYS; }

// The dump as one file; returns the error (0: written).
int write_dump_file(int fd, const DumpCopy& t, const char* trigger, const std::string& why,
                    long long now_ns) {
  int err;
  {
    JsonFile f(fd);
    write_dump(f, t, trigger, why, now_ns);
    f.flush();
    err = f.error();
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  return err;
}

// Writes one dump into the directory `dfd` (named `dir`); returns its path. Throws Error.
std::string write_one(int dfd, const std::string& dir, const DumpCopy& t, long set,
                      const char* trigger, const std::string& why, long long now_ns) {
  const std::string base = "ncclrt-trace-" + trace_id_text(t.identity.id) + "-r" +
                           std::to_string(t.rank) + "-p" + std::to_string(::getpid()) + "-" +
                           std::to_string(set);
  constexpr int kCreate = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  const std::string partial = base + ".partial";
  const int fd = ::openat(dfd, partial.c_str(), kCreate, 0600);
  if (fd < 0) {
    throw Error(
        "dump_traces: cannot create " + dir + "/" + partial + ": " + errno_text(errno) +
        (errno == EEXIST ? " (never overwritten; remove it or use another directory)" : ""));
  }
  if (const int err = write_dump_file(fd, t, trigger, why, now_ns); err != 0) {
    ::unlinkat(dfd, partial.c_str(), 0);
    throw Error("dump_traces: cannot write " + dir + "/" + partial + ": " + errno_text(err));
  }
  // link() never replaces an existing name: a clash gets the next free suffix.
  std::string name = base + ".json";
  bool linked = true;
  for (int k = 1; g_link.load()(dfd, partial.c_str(), dfd, name.c_str(), 0) != 0; ++k) {
    const int e = errno;
    if (no_hard_links(e)) {
      linked = false;
      break;
    }
    if (e != EEXIST || k > 100) {
      ::unlinkat(dfd, partial.c_str(), 0);
      throw Error("dump_traces: cannot name the dump " + dir + "/" + name + ": " + errno_text(e));
    }
    name = base + "-" + std::to_string(k) + ".json";
  }
  ::unlinkat(dfd, partial.c_str(), 0);
  if (linked) return dir + "/" + name;
  // No hard links here: the dump is written again, straight under its name, created new
  // (O_EXCL: never over another file); a reader may see it half written meanwhile, and one
  // that could not be written whole is removed.
  int out = -1;
  for (int k = 1; (out = ::openat(dfd, name.c_str(), kCreate, 0600)) < 0; ++k) {
    const int e = errno;
    if (e != EEXIST || k > 100) {
      throw Error("dump_traces: cannot create " + dir + "/" + name + ": " + errno_text(e));
    }
    name = base + "-" + std::to_string(k) + ".json";
  }
  if (const int err = write_dump_file(out, t, trigger, why, now_ns); err != 0) {
    ::unlinkat(dfd, name.c_str(), 0);
    throw Error("dump_traces: cannot write " + dir + "/" + name + ": " + errno_text(err));
  }
  return dir + "/" + name;
}

std::atomic<long> g_sets{0};  // dump sets written by this process (names them)

long long unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TraceLinkFn trace_set_link(TraceLinkFn fn) noexcept { return g_link.exchange(fn); }

std::vector<std::string> write_traces(const std::string& dir, const char* trigger,
                                      const TraceState* failing, const std::string& why,
                                      bool only_failing) {
  if (dir.empty()) throw Error("dump_traces: the directory name is empty");
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();  // "dir/" would follow a link
  const DirFd dfd(open_dump_dir(d));
  const long set = g_sets.fetch_add(1) + 1;
  const long long now = unix_now_ns();
  // Copied under the registry's lock, written after it: no lock is held across the I/O.
  std::vector<std::pair<DumpCopy, bool>> copies;  // and whether its file says why
  for_each_trace([&](const TraceState& t) {
    if (only_failing && &t != failing) return;
    // A failed creation has no record of its own: every file of the set says why.
    copies.emplace_back(copy_of(t), failing == nullptr || &t == failing);
  });
  std::vector<std::string> written;
  std::string first_error;
  for (const auto& [copy, says] : copies) {
    try {
      written.push_back(
          write_one(dfd.get(), d, copy, set, trigger, says ? why : std::string(), now));
    } catch (const Error& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  if (!first_error.empty()) throw Error(first_error);
  return written;
}

namespace {

// One trigger's budget of automatic dump sets.
struct DumpBudget {
  DumpBudget(const char* name, int most) : trigger(name), limit(most) {}
  const char* trigger;
  int limit;
  std::atomic<int> used{0};
  std::once_flag spent;
};
DumpBudget& budget(TraceTrigger trigger) {
  static DumpBudget failure{"failure", kMaxFailureDumpSets};
  static DumpBudget aborted{"abort", kMaxAbortDumpSets};
  return trigger == TraceTrigger::kAbort ? aborted : failure;
}

}  // namespace

int trace_auto_dump_sets(TraceTrigger trigger) noexcept {
  const DumpBudget& b = budget(trigger);
  return std::min(b.used.load(), b.limit);
}

void trace_auto_dump(TraceState* failing, const std::string& why, TraceTrigger trigger) noexcept {
  try {
    if (failing != nullptr) failing->note(why);
    const char* dir = std::getenv("NCCLRT_TRACE_DIR");
    if (dir == nullptr || *dir == '\0') return;
    static std::atomic<long long> last_set{0};
    constexpr long long kSecond = 1000000000;
    const long long now = unix_now_ns();
    if (failing != nullptr) {
      // One automatic dump per communicator per second: a failure seen by several checks at
      // once (synchronize, then the abort it causes) is one dump.
      if (now - failing->last_auto_dump_ns.load() < kSecond) return;
      failing->last_auto_dump_ns.store(now);
    }
    // Within a second of the last set, only the failing communicator is written again (a
    // failed creation has none of its own: its set is written in full).
    const bool recent = failing != nullptr && now - last_set.load() < kSecond;
    DumpBudget& b = budget(trigger);
    if (b.used.fetch_add(1) >= b.limit) {
      std::call_once(b.spent, [&] {
        log(LogLevel::kWarn,
            "flight recorder: " + std::to_string(b.limit) + " automatic dumps (trigger \"" +
                b.trigger + "\") written into " + dir + "; no more of them from this process" +
                (trigger == TraceTrigger::kAbort ? " (failures keep a budget of their own; "
                                                 : " (") +
                "dump_traces() still works)");
      });
      return;
    }
    last_set.store(now);
    write_traces(dir, b.trigger, failing, why, recent);
  } catch (const std::exception& e) {
    static std::once_flag logged;
    std::call_once(logged, [&] {
      log(LogLevel::kError, std::string("flight recorder: an automatic dump failed (") + e.what() +
                                "); ncclrt goes on without it. Later failures to "
                                "dump are not logged");
    });
  } catch (...) {
  }
}

namespace {

// The SIGUSR1 request: the handler writes a byte into a pipe; a thread reads it and dumps.
int g_pipe[2] = {-1, -1};

void on_signal(int) {
  const int saved = errno;
  const char c = 1;
  const ssize_t w = ::write(g_pipe[1], &c, 1);  // async-signal-safe; a full pipe drops it
  (void)w;
  errno = saved;
}

void dump_on_request() {
  for (;;) {
    char c;
    const ssize_t r = ::read(g_pipe[0], &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    const char* dir = std::getenv("NCCLRT_TRACE_DIR");
    if (dir == nullptr || *dir == '\0') continue;
    try {
      const auto files = write_traces(dir, "signal", nullptr, "");
      log(LogLevel::kInfo, "flight recorder: " + std::to_string(files.size()) +
                               " dump(s) written into " + dir + " on request");
    } catch (const std::exception& e) {
      log(LogLevel::kError, std::string("flight recorder: the requested dump failed: ") + e.what());
    }
  }
}

}  // namespace

void trace_signal_once() noexcept {
  // Decided once, by the first recorder made while NCCLRT_TRACE_DIR is set.
  static std::atomic<bool> decided{false};
  static std::mutex m;
  if (decided.load()) return;
  const char* d = std::getenv("NCCLRT_TRACE_DIR");
  if (d == nullptr || *d == '\0') return;
  std::lock_guard<std::mutex> lock(m);
  if (decided.exchange(true)) return;
  [] {
    const char* v = std::getenv("NCCLRT_TRACE_SIGNAL");
    const int sig = v && *v ? std::atoi(v) : SIGUSR1;
    if (sig <= 0 || sig >= NSIG) return;
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0) return;
    const bool theirs = (old.sa_flags & SA_SIGINFO) != 0 ||
                        (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN);
    if (theirs) {
      log(LogLevel::kWarn, "flight recorder: signal " + std::to_string(sig) +
                               " already has a handler; ncclrt leaves it alone. Call "
                               "ncclrt::dump_traces() from it, or pick another signal with "
                               "NCCLRT_TRACE_SIGNAL");
      return;
    }
    if (::pipe2(g_pipe, O_CLOEXEC) != 0) return;
    ::fcntl(g_pipe[1], F_SETFL, O_NONBLOCK);
    try {
      std::thread(dump_on_request).detach();
    } catch (...) {
      return;
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(sig, &sa, nullptr);
  }();
}

}  // namespace detail

std::vector<std::string> dump_traces(const std::string& dir) {
  return detail::write_traces(dir, "request", nullptr, "");
}

}  // namespace ncclrt
