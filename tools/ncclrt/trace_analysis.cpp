#include "trace_analysis.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

namespace ncclrt_tool {
namespace {

using json = nlohmann::json;

// "0-3", "0,2,5-7"
std::string ranks_text(std::vector<int> r) {
  std::sort(r.begin(), r.end());
  r.erase(std::unique(r.begin(), r.end()), r.end());
  std::string out;
  for (std::size_t i = 0; i < r.size();) {
    std::size_t j = i;
    while (j + 1 < r.size() && r[j + 1] == r[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(r[i]);
    if (j > i) out += (j == i + 1 ? "," : "-") + std::to_string(r[j]);
    i = j + 1;
  }
  return out;
}
std::string ranks_word(const std::vector<int>& r) {
  return (r.size() == 1 ? "rank " : "ranks ") + ranks_text(r);
}

bool rooted(const std::string& op) {
  return op == "broadcast" || op == "reduce" || op == "gather" || op == "scatter";
}
bool per_rank_count(const std::string& op) {
  return op == "all_gatherv" || op == "reduce_scatterv";
}

// What must match on every rank at one collective number.
std::string signature(const DumpEntry& e) {
  std::string s = e.op;
  if (!per_rank_count(e.op)) s += " " + std::to_string(e.count);
  if (!e.type.empty()) s += (per_rank_count(e.op) ? " " : " x ") + e.type;
  if (!e.redop.empty()) s += " " + e.redop;
  if (rooted(e.op)) s += " root " + std::to_string(e.peer);
  return s;
}

std::string seconds_before(std::int64_t t, std::int64_t dump) {
  char b[64];
  std::snprintf(b, sizeof b, "%.1f s before its dump", static_cast<double>(dump - t) / 1e9);
  return b;
}

std::string describe(const DumpEntry& e) {
  std::string s = e.op;
  if (e.op_kind != 0) s += " #" + std::to_string(e.seq);
  if (!e.result) s += " (NCCL had not returned)";
  return s;
}

// One rank's record of a communicator.
struct View {
  const DumpFile* dump = nullptr;
  std::map<std::uint64_t, const DumpEntry*> colls;  // by seq
  std::uint64_t first = 1;                          // first collective seq the ring still holds
  const DumpEntry* last = nullptr;                  // last entry of any kind
  const DumpEntry* last_coll = nullptr;
};

struct UnionFind {
  std::map<std::string, std::string> up;
  std::string find(const std::string& x) {
    auto it = up.find(x);
    if (it == up.end()) {
      up[x] = x;
      return x;
    }
    if (it->second == x) return x;
    const std::string r = find(it->second);
    up[x] = r;
    return r;
  }
  void join(const std::string& a, const std::string& b) {
    const std::string ra = find(a), rb = find(b);
    if (ra != rb) up[std::max(ra, rb)] = std::min(ra, rb);
  }
};

// The side of a split vote that looks wrong: the smaller group (both when even).
template <class Map>
std::vector<int> minority(const Map& groups, std::string* majority) {
  std::size_t best = 0;
  for (const auto& [sig, ranks] : groups) best = std::max(best, ranks.size());
  std::vector<std::string> top;
  for (const auto& [sig, ranks] : groups) {
    if (ranks.size() == best) top.push_back(sig);
  }
  std::vector<int> out;
  if (top.size() == 1) {
    *majority = top[0];
    for (const auto& [sig, ranks] : groups) {
      if (sig != top[0]) out.insert(out.end(), ranks.begin(), ranks.end());
    }
  } else {
    majority->clear();
    for (const auto& [sig, ranks] : groups) out.insert(out.end(), ranks.begin(), ranks.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

CommVerdict judge(const std::string& id, const std::vector<const DumpFile*>& dumps) {
  CommVerdict v;
  v.id = id;
  std::map<int, View> views;
  std::set<std::string> aliases;
  for (const DumpFile* d : dumps) {
    v.size = std::max(v.size, d->size);
    if (v.lineage.empty() || d->comm_id == id) v.lineage = d->lineage;
    if (d->comm_id != id) aliases.insert(d->comm_id);
    for (const auto& a : d->aliases) {
      if (a != id) aliases.insert(a);
    }
    View& w = views[d->rank];
    // The latest dump of each rank speaks for it.
    if (w.dump != nullptr && std::make_pair(w.dump->dump_time_ns, w.dump->records) >=
                                 std::make_pair(d->dump_time_ns, d->records)) {
      continue;
    }
    w = View{};
    w.dump = d;
    w.first = d->collectives + 1;
    for (const DumpEntry& e : d->entries) {
      w.last = &e;
      if (e.op_kind != 1) continue;
      w.colls[e.seq] = &e;
      w.first = std::min(w.first, e.seq);
      w.last_coll = &e;
    }
  }
  v.aliases.assign(aliases.begin(), aliases.end());
  for (int r = 0; r < v.size; ++r) {
    if (views.count(r)) {
      v.ranks.push_back(r);
    } else {
      v.missing.push_back(r);
    }
  }
  std::uint64_t lo = 1, hi = 0;
  for (const auto& [r, w] : views) {
    lo = std::max(lo, std::min(w.first, w.dump->collectives));
    hi = std::max(hi, w.dump->collectives);
  }
  v.last_seq = hi;

  // The first collective number at which the ranks disagree; labels on the way.
  for (std::uint64_t s = lo; s <= hi && v.first_disagreement == 0; ++s) {
    std::map<std::string, std::vector<int>> sigs, labels;
    std::vector<int> issued, absent;
    for (const auto& [r, w] : views) {
      if (w.dump->collectives < s) {
        absent.push_back(r);
        continue;
      }
      issued.push_back(r);
      auto it = w.colls.find(s);
      if (it == w.colls.end()) continue;  // no longer in this rank's ring
      sigs[signature(*it->second)].push_back(r);
      labels[it->second->label].push_back(r);
    }
    if (v.label_seq == 0 && labels.size() > 1) {
      std::string common;
      const auto odd = minority(labels, &common);
      v.label_seq = s;
      for (int r : odd) {
        const auto& e = *views[r].colls[s];
        v.label_odd.push_back({r, e.label.empty() ? "no label" : "'" + e.label + "'"});
      }
      if (!common.empty()) v.label_odd.push_back({-1, "'" + common + "'"});
    }
    if (absent.empty() && sigs.size() <= 1) continue;
    v.first_disagreement = s;
    std::string common;
    const auto odd = sigs.size() > 1 ? minority(sigs, &common) : std::vector<int>{};
    v.expected = !common.empty() ? common : sigs.empty() ? "" : sigs.begin()->first;
    for (int r : odd) {
      v.desync.push_back({r, signature(*views[r].colls[s])});
    }
    for (int r : absent) {
      const View& w = views[r];
      std::string what = "never issued it";
      if (w.last_coll != nullptr) {
        what += " (last collective: " + describe(*w.last_coll) + ", " +
                seconds_before(w.last_coll->time_ns, w.dump->dump_time_ns);
        if (w.last != nullptr && w.last != w.last_coll) what += "; then " + describe(*w.last);
        what += ")";
      } else if (w.last != nullptr) {
        what += " (last: " + describe(*w.last) + ")";
      }
      v.not_issued.push_back({r, what});
    }
    if (v.expected.empty() && !sigs.empty()) v.expected = sigs.begin()->first;
    // Who looks wrong: ranks issuing something else; else the smaller side of issued / not.
    if (!v.desync.empty()) {
      for (const auto& d : v.desync) v.culprits.push_back(d.rank);
      v.culprit_op = "collective #" + std::to_string(s) + " (" + v.expected + ")";
    } else if (absent.size() <= issued.size()) {
      v.culprits = absent;
      v.culprit_op = "collective #" + std::to_string(s) + " (" + v.expected + ")";
    } else {
      v.culprits = issued;
      v.culprit_op = "collective #" + std::to_string(s) + " (" + v.expected +
                     "), which the other ranks never issued";
    }
  }

  // Host: ranks inside an NCCL call that has not returned.
  for (const auto& [r, w] : views) {
    if (w.last != nullptr && !w.last->result) v.host_blocked.push_back({r, describe(*w.last)});
  }
  // GPUs: ranks idle while others wait inside an operation. A GPU writes "started s", runs s,
  // writes "completed s": it is inside s while the two differ (in a replayed graph the completed
  // number can be the graph's last, above the started one).
  std::vector<int> waiting, idle;
  for (const auto& [r, w] : views) {
    if (!w.dump->progress) continue;
    const DumpProgress& p = *w.dump->progress;
    v.gpu.push_back({r, p.started, p.completed});
    (p.started != p.completed ? waiting : idle).push_back(r);
  }
  if (!waiting.empty() && !idle.empty()) v.gpu_culprits = idle;

  if (v.culprits.empty() && !v.gpu_culprits.empty()) {
    v.culprits = v.gpu_culprits;
    const auto& w = views[waiting.front()];
    const std::uint64_t inside = w.dump->progress->started;
    const auto it = w.colls.find(inside);
    v.culprit_op = "collective #" + std::to_string(inside) +
                   (it != w.colls.end() ? " (" + signature(*it->second) + ")" : std::string()) +
                   ", which the GPUs of " + ranks_word(waiting) + " wait in";
  }
  if (v.culprits.empty() && !v.missing.empty()) {
    v.culprits = v.missing;
    v.culprit_op = "no dump: it may have died (killed, crashed) or hung before it could write one";
  }
  if (v.culprits.empty() && v.label_seq != 0) {
    for (const auto& l : v.label_odd) {
      if (l.rank >= 0) v.culprits.push_back(l.rank);
    }
    v.culprit_op = "labels differ from collective #" + std::to_string(v.label_seq);
  }
  v.problem = !v.culprits.empty();

  // The verdict in a few lines.
  auto& L = v.lines;
  std::string head = "communicator " + id + " (" + v.lineage + ", " + std::to_string(v.size) +
                     " ranks): dumps from " + (v.ranks.empty() ? "no rank" : ranks_word(v.ranks));
  if (!v.missing.empty()) head += "; none from " + ranks_word(v.missing);
  L.push_back(head);
  if (v.first_disagreement != 0) {
    std::vector<int> issuers;
    for (const auto& [r, w] : views) {
      if (w.dump->collectives >= v.first_disagreement) issuers.push_back(r);
    }
    L.push_back("  first disagreement: collective #" + std::to_string(v.first_disagreement) +
                (v.expected.empty() ? "" : " (" + v.expected + ")") + ", issued by " +
                (issuers.empty() ? "no rank" : ranks_word(issuers)));
    for (const auto& n : v.not_issued) {
      L.push_back("  rank " + std::to_string(n.rank) + " " + n.what);
    }
    for (const auto& d : v.desync) {
      L.push_back("  desync: rank " + std::to_string(d.rank) + " issued " + d.what +
                  (v.expected.empty() ? "" : " where the others issued " + v.expected));
    }
  } else if (!v.ranks.empty()) {
    L.push_back("  all ranks with a dump issued the same " + std::to_string(hi) + " collectives");
  }
  if (v.label_seq != 0) {
    std::string s = "  labels differ from collective #" + std::to_string(v.label_seq) + ":";
    for (const auto& l : v.label_odd) {
      s += l.rank >= 0 ? " rank " + std::to_string(l.rank) + " says " + l.what + ";"
                       : " the others say " + l.what;
    }
    L.push_back(s);
  }
  if (!v.host_blocked.empty()) {
    std::string s = "  inside NCCL on the host:";
    for (const auto& b : v.host_blocked)
      s += " rank " + std::to_string(b.rank) + " " + b.what + ";";
    s.pop_back();
    L.push_back(s);
  }
  if (!v.gpu.empty()) {
    std::string s = "  GPUs:";
    for (const auto& g : v.gpu) {
      s += " rank " + std::to_string(g.rank) +
           (g.started != g.completed ? " inside #" + std::to_string(g.started)
                                     : " idle after #" + std::to_string(g.completed)) +
           ";";
    }
    s.pop_back();
    L.push_back(s);
  }
  if (v.problem) {
    L.push_back("  likely culprit: " + ranks_word(v.culprits) + " - " + v.culprit_op);
  } else {
    L.push_back("  no disagreement found");
  }
  return v;
}

}  // namespace

bool Analysis::problem() const {
  if (!errors.empty()) return true;
  return std::any_of(comms.begin(), comms.end(), [](const CommVerdict& c) { return c.problem; });
}

Analysis analyze_dumps(const std::vector<DumpFile>& dumps) {
  Analysis a;
  a.files = dumps.size();
  UnionFind names;
  for (const DumpFile& d : dumps) {
    names.find(d.comm_id);
    for (const auto& al : d.aliases) names.join(d.comm_id, al);
  }
  std::map<std::string, std::vector<const DumpFile*>> by_comm;
  for (const DumpFile& d : dumps) by_comm[names.find(d.comm_id)].push_back(&d);
  for (const auto& [id, ds] : by_comm) a.comms.push_back(judge(id, ds));
  // Communicators with a problem first.
  std::stable_sort(a.comms.begin(), a.comms.end(), [](const CommVerdict& x, const CommVerdict& y) {
    return x.problem > y.problem;
  });
  return a;
}

Analysis analyze_dir(const std::string& dir) {
  const auto files = dump_files_in(dir);
  if (files.empty()) {
    throw TraceFileError(dir +
                         ": no ncclrt-trace-*.json files (set NCCLRT_TRACE_DIR for the job, "
                         "or call ncclrt::dump_traces)");
  }
  std::vector<DumpFile> dumps;
  std::vector<std::string> errors;
  for (const auto& f : files) {
    try {
      dumps.push_back(read_dump(f));
    } catch (const TraceFileError& e) {
      errors.push_back(e.what());
    }
  }
  Analysis a = analyze_dumps(dumps);
  a.errors = std::move(errors);
  a.files = files.size();
  return a;
}

std::string analysis_text(const Analysis& a) {
  std::ostringstream out;
  for (const auto& e : a.errors) out << "cannot read " << e << "\n";
  std::size_t bad = 0;
  for (const auto& c : a.comms) {
    for (const auto& l : c.lines) out << l << "\n";
    bad += c.problem ? 1 : 0;
  }
  out << a.files << " dump(s), " << a.comms.size() << " communicator(s): ";
  if (bad == 0) {
    out << "all ranks agree";
  } else {
    out << bad << " with a problem";
  }
  if (!a.errors.empty()) out << "; " << a.errors.size() << " file(s) unreadable";
  out << "\n";
  return out.str();
}

json analysis_json(const Analysis& a) {
  json out{{"version", 1}, {"files", a.files}, {"errors", a.errors}, {"problem", a.problem()}};
  out["communicators"] = json::array();
  auto rank_list = [](const std::vector<RankAt>& v) {
    json j = json::array();
    for (const auto& r : v) j.push_back({{"rank", r.rank}, {"what", r.what}});
    return j;
  };
  for (const auto& c : a.comms) {
    json g = json::array();
    for (const auto& x : c.gpu) {
      g.push_back({{"rank", x.rank}, {"started", x.started}, {"completed", x.completed}});
    }
    out["communicators"].push_back(
        {{"id", c.id},
         {"aliases", c.aliases},
         {"lineage", c.lineage},
         {"size", c.size},
         {"ranks", c.ranks},
         {"missing_ranks", c.missing},
         {"last_seq", c.last_seq},
         {"first_disagreement",
          c.first_disagreement == 0 ? json(nullptr) : json(c.first_disagreement)},
         {"expected", c.expected},
         {"not_issued", rank_list(c.not_issued)},
         {"desync", rank_list(c.desync)},
         {"label_mismatch", c.label_seq == 0 ? json(nullptr) : json(c.label_seq)},
         {"label_ranks", rank_list(c.label_odd)},
         {"host_blocked", rank_list(c.host_blocked)},
         {"gpu", g},
         {"gpu_culprits", c.gpu_culprits},
         {"culprits", c.culprits},
         {"culprit_op", c.culprit_op},
         {"problem", c.problem},
         {"verdict", c.lines}});
  }
  return out;
}

}  // namespace ncclrt_tool
