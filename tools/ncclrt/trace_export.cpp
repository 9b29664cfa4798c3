#include "trace_export.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>

#include "pickle.hpp"

namespace ncclrt_tool {
namespace {

// What PyTorch calls each collective, and the tensor sizes it records for `count` elements on
// `n` ranks (its analyzer checks them against each other: all_gather's output is n inputs).
struct TorchOp {
  const char* name;
  std::uint64_t in, out;  // multiples of count
};
bool torch_op(const DumpEntry& e, int n, TorchOp& t) {
  const auto N = static_cast<std::uint64_t>(n);
  const std::string& op = e.op;
  if (op == "all_reduce")
    t = {"all_reduce", 1, 1};
  else if (op == "broadcast")
    t = {"broadcast", 1, 1};
  else if (op == "reduce")
    t = {"reduce", 1, 1};
  else if (op == "all_gather")
    t = {"all_gather", 1, N};
  else if (op == "reduce_scatter")
    t = {"reduce_scatter", N, 1};
  else if (op == "all_to_all")
    t = {"all_to_all", N, N};
  else if (op == "gather")
    t = {"gather", 1, N};
  else if (op == "scatter")
    t = {"scatter", N, 1};
  else if (op == "send")
    t = {"send", 1, 1};
  else if (op == "recv")
    t = {"recv", 1, 1};
  else
    return false;  // v-variants, one-sided calls and lifecycle: no PyTorch counterpart
  return true;
}

struct Comm {
  std::string name;  // the id group_dumps gives it
  std::string desc;
  int size = 0;
  std::string size_from;              // the dump that says so
  bool root = false;                  // made from a unique id: its ranks are global ranks
  std::map<int, int> global;          // comm rank -> global rank, of the ranks with a dump
  std::vector<const DumpFile*> used;  // per rank with a dump, the one that speaks for it
  std::uint64_t first = 1;            // first collective seq every rank's ring still holds
  std::string ranks;                  // "[0, 1, 2]": made once, when a pickle first needs it

  // How many ranks the pickles list for it.
  std::uint64_t listed() const { return root ? static_cast<std::uint64_t>(size) : global.size(); }
};

// A number from a file as a pickle's (signed 64-bit) integer, saturating.
std::int64_t as_int(std::uint64_t v) {
  return v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(v);
}
std::uint64_t times(std::uint64_t a, std::uint64_t b) {
  std::uint64_t p = 0;
  return __builtin_mul_overflow(a, b, &p) ? UINT64_MAX : p;
}

int global_rank(const DumpFile& d) { return d.root_rank >= 0 ? d.root_rank : d.rank; }

std::string state_of(const DumpFile& d, const DumpEntry& e, std::uint64_t seq) {
  if (!d.progress) return "scheduled";
  const std::uint64_t started = e.op_kind == 1 ? d.progress->started : d.progress->p2p_started;
  const std::uint64_t done = e.op_kind == 1 ? d.progress->completed : d.progress->p2p_completed;
  if (seq <= done) return "completed";
  if (seq == started) return "started";
  return "scheduled";
}

void write_file(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw TraceFileError(
        path + ": cannot create it: " + std::strerror(errno) +
        (errno == EEXIST ? " (never overwritten: remove it or pick another OUT)" : ""));
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int e = errno;
      ::close(fd);
      throw TraceFileError(path + ": cannot write it: " + std::strerror(e));
    }
    done += static_cast<std::size_t>(w);
  }
  if (::close(fd) != 0) throw TraceFileError(path + ": cannot write it: " + std::strerror(errno));
}

}  // namespace

std::string torch_dtype(const std::string& type) {
  static const std::map<std::string, std::string> names = {{"int8", "Char"},
                                                           {"uint8", "Byte"},
                                                           {"int32", "Int"},
                                                           {"uint32", "UInt32"},
                                                           {"int64", "Long"},
                                                           {"uint64", "UInt64"},
                                                           {"float16", "Half"},
                                                           {"float32", "Float"},
                                                           {"float64", "Double"},
                                                           {"bfloat16", "BFloat16"},
                                                           {"float8e4m3", "Float8_e4m3fn"},
                                                           {"float8e5m2", "Float8_e5m2"}};
  const auto it = names.find(type);
  return it == names.end() ? type : it->second;
}

void torch_pickles(const std::vector<DumpFile>& dumps,
                   const std::function<void(int global_rank, const std::string& bytes)>& sink) {
  // Communicators (aliases joined, as analyze joins them), their members and the dump that
  // speaks for each rank.
  std::vector<const DumpHeader*> heads;
  for (const DumpFile& d : dumps) heads.push_back(&d);
  std::vector<Comm> comms;
  for (const CommDumps& g : group_dumps(heads)) {
    Comm c;
    c.name = g.id;
    for (std::size_t i : g.members) {
      const DumpFile& d = dumps[i];
      if (d.size > c.size) {
        c.size = d.size;
        c.size_from = d.path;
      }
      if (c.desc.empty() || d.comm_id == c.name) c.desc = "ncclrt " + d.lineage;
      c.root = c.root || d.parent.empty();
      c.global[d.rank] = global_rank(d);
    }
    for (const auto& r : g.ranks) c.used.push_back(&dumps[r.used]);
    // PyTorch's analyzer matches from the first record every rank still has.
    for (const DumpFile* d : c.used) {
      std::uint64_t first = d->collectives;
      for (const DumpEntry& e : d->entries) {
        if (e.op_kind == 1) first = std::min(first, e.seq);
      }
      c.first = std::max(c.first, first);
    }
    comms.push_back(std::move(c));
  }
  // Per global rank: its entries of every communicator, in the order they were issued.
  struct Item {
    Comm* comm;
    const DumpFile* dump;
    const DumpEntry* entry;
  };
  struct Rank {
    const DumpFile* first =
        nullptr;  // names ncclrt's and NCCL's versions (its entries may be none)
    std::vector<Item> items;
  };
  std::map<int, Rank> by_rank;
  for (Comm& c : comms) {
    for (const DumpFile* d : c.used) {
      Rank& rank = by_rank[global_rank(*d)];
      if (rank.first == nullptr) rank.first = d;
      auto& items = rank.items;
      for (const DumpEntry& e : d->entries) {
        if (e.op_kind == 1 && e.seq < c.first) continue;
        items.push_back({&c, d, &e});
      }
    }
  }
  // What the pickles list, checked before the first is made.
  std::uint64_t bytes = 0, listed = 0;
  for (const DumpFile& d : dumps) bytes += d.bytes;
  for (const auto& [grank, rank] : by_rank) {
    std::set<const Comm*> seen;
    for (const Item& it : rank.items) {
      if (seen.insert(it.comm).second) listed += it.comm->listed();
    }
  }
  if (listed > kMaxExportedRanks + bytes) {
    const auto largest = std::max_element(
        comms.begin(), comms.end(), [](const Comm& a, const Comm& b) { return a.size < b.size; });
    throw TraceFileError(
        largest->size_from + ": communicator " + largest->name + " of " +
        std::to_string(largest->size) + " ranks: the pickles would list " + std::to_string(listed) +
        " ranks of process groups in all (each lists every member of its groups), more than " +
        std::to_string(kMaxExportedRanks) +
        " plus one per byte of the dumps. Try exporting the dumps of fewer ranks or "
        "communicators at a time");
  }
  std::map<std::string, int> pg_ids;
  for (const Comm& c : comms) pg_ids.emplace(c.name, static_cast<int>(pg_ids.size()));
  for (auto& [grank, rank] : by_rank) {
    auto& items = rank.items;
    std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      return a.entry->time_ns < b.entry->time_ns;
    });
    const DumpFile* versions = items.empty() ? rank.first : items.front().dump;
    Pickle p;
    p.dict();
    p.str("version").str("2.10");
    p.str("comm_lib_version").str("ncclrt " + versions->ncclrt + ", NCCL " + versions->nccl);
    p.str("pg_config").dict();
    std::set<const Comm*> seen;
    for (const Item& it : items) {
      if (!seen.insert(it.comm).second) continue;
      Comm& c = *it.comm;
      if (c.ranks.empty()) {
        // A root communicator's ranks are its global ranks: every one, dump or not.
        const auto add = [&](int g) {
          c.ranks += (c.ranks.size() > 1 ? ", " : "") + std::to_string(g);
        };
        c.ranks = "[";
        if (c.root) {
          auto known = c.global.begin();
          for (int r = 0; r < c.size; ++r) {
            while (known != c.global.end() && known->first < r) ++known;
            add(known != c.global.end() && known->first == r ? known->second : r);
          }
        } else {
          for (const auto& [r, g] : c.global) add(g);
        }
        c.ranks += "]";
      }
      p.str(c.name).dict();
      p.str("name").str(c.name).str("desc").str(c.desc).str("ranks").str(c.ranks);
      p.end_dict();
    }
    p.end_dict();
    p.str("pg_status").dict().end_dict();
    p.str("entries").list();
    std::map<const Comm*, std::pair<std::uint64_t, std::uint64_t>> last;  // coll, p2p seq so far
    std::int64_t record = 0;
    for (const Item& it : items) {
      const DumpEntry& e = *it.entry;
      auto& [coll, p2p] = last[it.comm];
      if (e.op_kind == 1) coll = e.seq;
      if (e.op_kind == 2) p2p = e.seq;
      TorchOp t{};
      if (!torch_op(e, it.comm->size, t)) continue;
      const bool is_p2p = e.op_kind == 2;
      std::string profiling = std::string("nccl:") + t.name;
      if (e.op == "send")
        profiling += " " + std::to_string(it.dump->rank) + "->" + std::to_string(e.peer);
      if (e.op == "recv")
        profiling += " " + std::to_string(it.dump->rank) + "<-" + std::to_string(e.peer);
      const std::string state = state_of(*it.dump, e, e.seq);
      const auto dtype = torch_dtype(e.type);
      p.dict();
      p.str("record_id").integer(record);
      p.str("pg_id").integer(pg_ids[it.comm->name]);
      p.str("process_group").tuple().str(it.comm->name).str(it.comm->desc).end_tuple();
      p.str("thread_name").str("").str("thread_id").str(std::to_string(e.thread));
      p.str("collective_seq_id").integer(as_int(coll));
      p.str("p2p_seq_id").integer(as_int(p2p));
      p.str("op_id").integer(as_int(e.record));
      p.str("profiling_name").str(profiling);
      p.str("time_created_ns").integer(e.time_ns);
      p.str("input_sizes")
          .list()
          .list()
          .integer(as_int(times(e.count, t.in)))
          .end_list()
          .end_list();
      p.str("input_dtypes").list().str(dtype).end_list();
      p.str("output_sizes")
          .list()
          .list()
          .integer(as_int(times(e.count, t.out)))
          .end_list()
          .end_list();
      p.str("output_dtypes").list().str(dtype).end_list();
      p.str("state").str(state);
      p.str("time_discovered_started_ns").none();
      p.str("time_discovered_completed_ns").none();
      p.str("retired").boolean(state == "completed");
      p.str("timeout_ms").integer(0);
      p.str("is_p2p").boolean(is_p2p);
      p.str("frames").list().end_list();
      p.end_dict();
      ++record;
    }
    p.end_list();
    p.end_dict();
    sink(grank, p.bytes());
  }
}

std::vector<std::string> export_torch(const std::vector<DumpFile>& dumps,
                                      const std::string& out_dir) {
  std::vector<std::string> written;
  torch_pickles(dumps, [&](int grank, const std::string& bytes) {
    if (written.empty()) {
      struct stat st {};
      if (::stat(out_dir.c_str(), &st) != 0) {
        if (::mkdir(out_dir.c_str(), 0700) != 0) {
          throw TraceFileError(out_dir + ": cannot make the directory: " + std::strerror(errno));
        }
      } else if (!S_ISDIR(st.st_mode)) {
        throw TraceFileError(out_dir + ": exists and is not a directory");
      }
    }
    const std::string path = out_dir + "/" + kTorchPrefix + std::to_string(grank);
    write_file(path, bytes);
    written.push_back(path);
  });
  return written;
}

}  // namespace ncclrt_tool
