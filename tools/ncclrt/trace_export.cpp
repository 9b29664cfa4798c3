#include "trace_export.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
  std::string name;  // the id the alias union settled on
  std::string desc;
  int size = 0;
  bool root = false;          // made from a unique id: its ranks are global ranks
  std::map<int, int> global;  // comm rank -> global rank
  std::map<int, const DumpFile*> latest;
  std::uint64_t first = 1;  // first collective seq every rank's ring still holds
};

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

std::vector<std::string> export_torch(const std::vector<DumpFile>& dumps,
                                      const std::string& out_dir) {
  // Communicators, their names across aliases (see grow), members and latest dumps.
  std::map<std::string, std::string> alias_of;
  for (const DumpFile& d : dumps) {
    for (const auto& a : d.aliases) alias_of[a] = d.comm_id;
  }
  auto name_of = [&](const std::string& id) {
    auto it = alias_of.find(id);
    return it == alias_of.end() ? id : it->second;
  };
  std::map<std::string, Comm> comms;
  for (const DumpFile& d : dumps) {
    Comm& c = comms[name_of(d.comm_id)];
    c.name = name_of(d.comm_id);
    c.size = std::max(c.size, d.size);
    if (c.desc.empty() || d.comm_id == c.name) c.desc = "ncclrt " + d.lineage;
    c.root = c.root || d.parent.empty();
    c.global[d.rank] = global_rank(d);
    const DumpFile*& l = c.latest[d.rank];
    if (l == nullptr ||
        std::make_pair(l->dump_time_ns, l->records) < std::make_pair(d.dump_time_ns, d.records)) {
      l = &d;
    }
  }
  for (auto& [name, c] : comms) {
    if (c.root) {
      for (int r = 0; r < c.size; ++r) c.global.emplace(r, r);
    }
    // PyTorch's analyzer matches from the first record every rank still has.
    for (const auto& [r, d] : c.latest) {
      std::uint64_t first = d->collectives + 1;
      for (const DumpEntry& e : d->entries) {
        if (e.op_kind == 1) first = std::min(first, e.seq);
      }
      c.first = std::max(c.first, std::min(first, d->collectives));
    }
  }
  // Per global rank: its entries of every communicator, in the order they were issued.
  struct Item {
    const Comm* comm;
    const DumpFile* dump;
    const DumpEntry* entry;
  };
  std::map<int, std::vector<Item>> by_rank;
  for (const auto& [name, c] : comms) {
    for (const auto& [r, d] : c.latest) {
      auto& items = by_rank[global_rank(*d)];
      for (const DumpEntry& e : d->entries) {
        if (e.op_kind == 1 && e.seq < c.first) continue;
        items.push_back({&c, d, &e});
      }
    }
  }
  struct stat st {};
  if (::stat(out_dir.c_str(), &st) != 0) {
    if (::mkdir(out_dir.c_str(), 0700) != 0) {
      throw TraceFileError(out_dir + ": cannot make the directory: " + std::strerror(errno));
    }
  } else if (!S_ISDIR(st.st_mode)) {
    throw TraceFileError(out_dir + ": exists and is not a directory");
  }
  std::vector<std::string> written;
  std::map<std::string, int> pg_ids;
  for (const auto& [name, c] : comms) pg_ids.emplace(name, static_cast<int>(pg_ids.size()));
  for (auto& [grank, items] : by_rank) {
    std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      return a.entry->time_ns < b.entry->time_ns;
    });
    Pickle p;
    p.dict();
    p.str("version").str("2.10");
    p.str("comm_lib_version")
        .str("ncclrt " + items.front().dump->ncclrt + ", NCCL " + items.front().dump->nccl);
    p.str("pg_config").dict();
    std::set<const Comm*> seen;
    for (const Item& it : items) {
      if (!seen.insert(it.comm).second) continue;
      std::string ranks = "[";
      for (const auto& [r, g] : it.comm->global) {
        ranks += (ranks.size() > 1 ? ", " : "") + std::to_string(g);
      }
      ranks += "]";
      p.str(it.comm->name).dict();
      p.str("name").str(it.comm->name).str("desc").str(it.comm->desc).str("ranks").str(ranks);
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
      p.str("collective_seq_id").integer(static_cast<std::int64_t>(coll));
      p.str("p2p_seq_id").integer(static_cast<std::int64_t>(p2p));
      p.str("op_id").integer(static_cast<std::int64_t>(e.record));
      p.str("profiling_name").str(profiling);
      p.str("time_created_ns").integer(e.time_ns);
      p.str("input_sizes")
          .list()
          .list()
          .integer(static_cast<std::int64_t>(e.count * t.in))
          .end_list()
          .end_list();
      p.str("input_dtypes").list().str(dtype).end_list();
      p.str("output_sizes")
          .list()
          .list()
          .integer(static_cast<std::int64_t>(e.count * t.out))
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
    const std::string path = out_dir + "/" + kTorchPrefix + std::to_string(grank);
    write_file(path, p.bytes());
    written.push_back(path);
  }
  return written;
}

}  // namespace ncclrt_tool
