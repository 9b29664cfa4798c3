#include "trace_analysis.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "trace_text.hpp"

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
// The ranks of 0..size-1 not in `present` (sorted), as ranks_word writes them, without listing
// them one by one.
std::string gaps_word(const std::vector<int>& present, int size) {
  std::string out;
  std::int64_t count = 0;
  const auto add = [&](int a, int b) {  // a..b-1
    if (a >= b) return;
    count += b - a;
    if (!out.empty()) out += ",";
    out += std::to_string(a);
    if (b - 1 > a) out += (b - 1 == a + 1 ? "," : "-") + std::to_string(b - 1);
  };
  int next = 0;
  for (int r : present) {
    add(next, r);
    next = r + 1;
  }
  add(next, size);
  return (count == 1 ? "rank " : "ranks ") + out;
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
  std::snprintf(b, sizeof b, "%.1f s before its dump", seconds_between(t, dump));
  return b;
}

std::string describe(const DumpEntry& e) {
  std::string s = e.op;
  if (e.op_kind != 0) s += " #" + std::to_string(e.seq);
  if (!e.result) s += " (NCCL had not returned)";
  return s;
}

std::string file_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Signatures and labels, each kept once and compared by number.
class Pool {
 public:
  std::uint32_t id(const std::string& s) {
    const auto [it, added] = ids_.emplace(s, static_cast<std::uint32_t>(texts_.size()));
    if (added) texts_.push_back(&it->first);
    return it->second;
  }
  std::string_view text(std::uint32_t id) const { return *texts_[id]; }

 private:
  std::unordered_map<std::string, std::uint32_t> ids_;  // nodes: the keys never move
  std::vector<const std::string*> texts_;
};

// What the verdict needs of one dump: its header and, per collective, what must match.
struct Facts {
  DumpHeader head;
  struct Coll {
    std::uint64_t seq;
    std::uint32_t sig, label;
  };
  std::vector<Coll> colls;       // by seq, one each (the latest record of it)
  std::uint64_t first_held = 0;  // the first collective the ring still holds; else collectives
  std::string last;              // the last entry, described ("": none)
  bool last_pending = false;     // NCCL had not returned from it
  bool last_is_coll = false;
  std::string last_coll;  // the last collective, described ("": none)
  std::int64_t last_coll_ns = 0;

  const Coll* at(std::uint64_t seq) const {
    const auto it = std::lower_bound(colls.begin(), colls.end(), seq,
                                     [](const Coll& c, std::uint64_t s) { return c.seq < s; });
    return it != colls.end() && it->seq == seq ? &*it : nullptr;
  }
};

Facts facts_of(const DumpFile& d, Pool& pool) {
  Facts f;
  f.head = d;
  f.head.notes = {};
  const DumpEntry* last_coll = nullptr;
  for (const DumpEntry& e : d.entries) {
    if (e.op_kind != 1) continue;
    f.colls.push_back({e.seq, pool.id(signature(e)), pool.id(e.label)});
    last_coll = &e;
  }
  // By seq; of a seq recorded twice, the later record.
  std::stable_sort(f.colls.begin(), f.colls.end(),
                   [](const Facts::Coll& a, const Facts::Coll& b) { return a.seq < b.seq; });
  std::vector<Facts::Coll> one;
  for (std::size_t i = 0; i < f.colls.size(); ++i) {
    if (i + 1 < f.colls.size() && f.colls[i + 1].seq == f.colls[i].seq) continue;
    one.push_back(f.colls[i]);
  }
  f.colls = std::move(one);
  f.first_held = f.colls.empty() ? d.collectives : f.colls.front().seq;
  if (!d.entries.empty()) {
    const DumpEntry& e = d.entries.back();
    f.last = describe(e);
    f.last_pending = !e.result;
    f.last_is_coll = e.op_kind == 1;
  }
  if (last_coll != nullptr) {
    f.last_coll = describe(*last_coll);
    f.last_coll_ns = last_coll->time_ns;
  }
  return f;
}

// The side of a split vote that looks wrong: the smaller group (both when even).
template <class Map>
std::vector<int> minority(const Map& groups, std::string* majority) {
  std::size_t best = 0;
  for (const auto& [sig, ranks] : groups) best = std::max(best, ranks.size());
  std::vector<std::string_view> top;
  for (const auto& [sig, ranks] : groups) {
    if (ranks.size() == best) top.push_back(sig);
  }
  std::vector<int> out;
  if (top.size() == 1) {
    majority->assign(top[0].begin(), top[0].end());
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

// The verdict on one communicator, step by step.
class Judge {
 public:
  Judge(const CommDumps& group, const std::vector<Facts>& facts, const Pool& pool) : pool_(pool) {
    v_.id = group.id;
    v_.aliases = group.aliases;
    for (std::size_t i : group.members) {
      const DumpHeader& d = facts[i].head;
      v_.size = std::max(v_.size, d.size);
      if (v_.lineage.empty() || d.comm_id == group.id) v_.lineage = d.lineage;
    }
    for (const auto& r : group.ranks) {
      const Facts& f = facts[r.used];
      views_[r.rank] = &f;
      if (r.of > 1) v_.used.push_back({r.rank, f.head.path, f.head.trigger, r.of});
    }
  }

  CommVerdict run(std::size_t& listed) {
    list_ranks(listed);
    walk_collectives();
    blocked_on_host();
    graph_replays();
    gpu_progress();
    pick_culprits();
    write_lines();
    return std::move(v_);
  }

 private:
  // Ranks with a dump, and those without one (listed up to what `listed` allows).
  void list_ranks(std::size_t& listed) {
    for (const auto& [r, f] : views_) v_.ranks.push_back(r);
    v_.missing_count = static_cast<std::uint64_t>(v_.size) - v_.ranks.size();
    const auto add = [&](int from, int to) {
      for (int r = from; r < to && listed > 0; ++r, --listed) v_.missing.push_back(r);
    };
    int next = 0;
    for (int r : v_.ranks) {
      add(next, r);
      next = r + 1;
    }
    add(next, v_.size);
  }

  // The first collective number at which the ranks disagree, and labels on the way. Only the
  // numbers some rank still holds are visited (each with the ranks that hold it), and the first
  // that some rank never issued: time in proportion to the entries, whatever the counts say.
  void walk_collectives() {
    std::uint64_t lo = 1, hi = 0, fewest = std::numeric_limits<std::uint64_t>::max();
    for (const auto& [r, f] : views_) {
      lo = std::max(lo, f->first_held);
      hi = std::max(hi, f->head.collectives);
      fewest = std::min(fewest, f->head.collectives);
    }
    v_.last_seq = hi;
    struct Held {
      std::uint64_t seq;
      int rank;
      const Facts::Coll* coll;
    };
    std::vector<Held> held;
    for (const auto& [r, f] : views_) {
      for (const auto& c : f->colls) {
        if (c.seq >= lo && c.seq <= hi) held.push_back({c.seq, r, &c});
      }
    }
    std::sort(held.begin(), held.end(), [](const Held& a, const Held& b) {
      return std::make_pair(a.seq, a.rank) < std::make_pair(b.seq, b.rank);
    });
    // From this number on, some rank never issued it (0: every rank issued all).
    const std::uint64_t cut = fewest < hi ? std::max(lo, fewest + 1) : 0;
    for (std::size_t i = 0; i < held.size() || cut != 0;) {
      const std::uint64_t s =
          i < held.size() && (cut == 0 || held[i].seq < cut) ? held[i].seq : cut;
      std::map<std::string_view, std::vector<int>> sigs, labels;
      for (; i < held.size() && held[i].seq == s; ++i) {
        sigs[pool_.text(held[i].coll->sig)].push_back(held[i].rank);
        labels[pool_.text(held[i].coll->label)].push_back(held[i].rank);
      }
      std::vector<int> absent;
      if (cut != 0 && s >= cut) {
        for (const auto& [r, f] : views_) {
          if (f->head.collectives < s) absent.push_back(r);
        }
      }
      if (v_.label_seq == 0 && labels.size() > 1) {
        std::string common;
        const auto odd = minority(labels, &common);
        v_.label_seq = s;
        for (int r : odd) {
          const std::string_view label = pool_.text(views_.at(r)->at(s)->label);
          v_.label_odd.push_back({r, label.empty() ? "no label" : "'" + std::string(label) + "'"});
        }
        if (!common.empty()) v_.label_odd.push_back({-1, "'" + common + "'"});
      }
      if (absent.empty() && sigs.size() <= 1) continue;
      v_.first_disagreement = s;
      std::string common;
      const auto odd = sigs.size() > 1 ? minority(sigs, &common) : std::vector<int>{};
      v_.expected = !common.empty() ? common : sigs.empty() ? "" : std::string(sigs.begin()->first);
      for (int r : odd) v_.desync.push_back({r, std::string(pool_.text(views_.at(r)->at(s)->sig))});
      for (int r : absent) {
        const Facts& f = *views_.at(r);
        std::string what = "never issued it";
        if (!f.last_coll.empty()) {
          what += " (last collective: " + f.last_coll + ", " +
                  seconds_before(f.last_coll_ns, f.head.dump_time_ns);
          if (!f.last_is_coll) what += "; then " + f.last;
          what += ")";
        } else if (!f.last.empty()) {
          what += " (last: " + f.last + ")";
        }
        v_.not_issued.push_back({r, what});
      }
      break;
    }
  }

  // Ranks inside an NCCL call that has not returned.
  void blocked_on_host() {
    for (const auto& [r, f] : views_) {
      if (!f->last.empty() && f->last_pending) v_.host_blocked.push_back({r, f->last});
    }
  }

  // GPUs idle while others wait inside an operation. A GPU writes "started s", runs s, writes
  // "completed s": it is inside s while the two differ (in a replayed graph the completed number
  // can be the graph's last, above the started one). Progress is ordered by (replays begun, seq):
  // a GPU idle in a later replay of a graph than one that waits is ahead of it, not a culprit.
  void gpu_progress() {
    std::vector<int> idle;
    for (const auto& [r, f] : views_) {
      if (!f->head.progress) continue;
      const DumpProgress& p = *f->head.progress;
      v_.gpu.push_back({r, p.started, p.completed});
      (p.started != p.completed ? waiting_ : idle).push_back(r);
    }
    const auto ahead = [&](int r) {
      for (const auto& [range, launches] : graphs_) {
        const auto mine = launches.find(r);
        if (mine == launches.end()) continue;
        for (int w : waiting_) {
          const auto theirs = launches.find(w);
          if (theirs != launches.end() && mine->second > theirs->second) return true;
        }
      }
      return false;
    };
    idle.erase(std::remove_if(idle.begin(), idle.end(), ahead), idle.end());
    if (!waiting_.empty() && !idle.empty()) v_.gpu_culprits = idle;
  }

  // A graph (the same collectives) on several ranks whose replays began a different number of
  // times: the ranks with the fewest are behind, wherever inside a replay each GPU is (a rank
  // idle after #12 in replay 5 is behind one idle after #3 in replay 6).
  void graph_replays() {
    for (const auto& [r, f] : views_) {
      if (!f->head.progress) continue;
      for (const DumpGraph& g : f->head.progress->graphs) {
        auto& launches = graphs_[{g.first_seq, g.last_seq}][r];
        launches = std::max(launches, g.launches);
      }
    }
    for (const auto& [range, by_rank] : graphs_) {
      std::map<std::uint64_t, std::vector<int>> by_launches;
      for (const auto& [r, l] : by_rank) by_launches[l].push_back(r);
      if (by_launches.size() < 2) continue;
      CommVerdict::Replay rp;
      rp.first_seq = range.first;
      rp.last_seq = range.second;
      rp.launches.assign(by_rank.begin(), by_rank.end());
      const auto& [fewest, behind] = *by_launches.begin();
      rp.behind = behind;
      bool stopped = true;  // every rank behind is idle: it finished the replay and began no other
      for (int r : behind) {
        const DumpProgress& p = *views_.at(r)->head.progress;
        stopped = stopped && p.started == p.completed;
      }
      const std::string graph = "replay " + std::to_string(fewest) +
                                " of the graph holding collectives #" +
                                std::to_string(range.first) + "-#" + std::to_string(range.second);
      std::string others;
      for (auto it = std::next(by_launches.begin()); it != by_launches.end(); ++it) {
        others += (others.empty() ? "; " : ", ") + ranks_word(it->second) +
                  (it->second.size() == 1 ? " is" : " are") + " in replay " +
                  std::to_string(it->first);
      }
      rp.what = ranks_word(behind) +
                (stopped              ? " stopped after "
                 : behind.size() == 1 ? " is still in "
                                      : " are still in ") +
                graph + others;
      replay_ops_.push_back((stopped ? "stopped after " : "still in ") + graph + others);
      v_.replays.push_back(std::move(rp));
    }
  }

  // The likely culprits, the first of: a desync; ranks that never issued the first disagreeing
  // collective (or the few that issued one the others never did); idle GPUs while others wait;
  // ranks behind in a graph's replays; ranks with no dump; ranks whose labels differ.
  void pick_culprits() {
    if (v_.first_disagreement != 0) {
      const std::uint64_t s = v_.first_disagreement;
      std::vector<int> issued, absent;
      for (const auto& [r, f] : views_) (f->head.collectives >= s ? issued : absent).push_back(r);
      const std::string op = "collective #" + std::to_string(s) +
                             (v_.expected.empty() ? "" : " (" + v_.expected + ")");
      if (!v_.desync.empty()) {
        for (const auto& d : v_.desync) v_.culprits.push_back(d.rank);
        v_.culprit_op = op;
      } else if (absent.size() <= issued.size()) {
        v_.culprits = absent;
        v_.culprit_op = op;
      } else {
        v_.culprits = issued;
        v_.culprit_op = op + ", which the other ranks never issued";
      }
    }
    if (v_.culprits.empty() && !v_.gpu_culprits.empty()) {
      v_.culprits = v_.gpu_culprits;
      const Facts& w = *views_.at(waiting_.front());
      const std::uint64_t inside = w.head.progress->started;
      const Facts::Coll* c = w.at(inside);
      v_.culprit_op =
          "collective #" + std::to_string(inside) +
          (c != nullptr ? " (" + std::string(pool_.text(c->sig)) + ")" : std::string()) +
          ", which the GPUs of " + ranks_word(waiting_) + " wait in";
    }
    if (v_.culprits.empty() && !v_.replays.empty()) {
      v_.culprits = v_.replays.front().behind;
      v_.culprit_op = replay_ops_.front();
    }
    if (v_.culprits.empty() && v_.missing_count > 0) {
      v_.culprits = v_.missing;
      culprits_missing_ = true;
      v_.culprit_op =
          "no dump: it may have died (killed, crashed) or hung before it could write one";
    }
    if (v_.culprits.empty() && !culprits_missing_ && v_.label_seq != 0) {
      for (const auto& l : v_.label_odd) {
        if (l.rank >= 0) v_.culprits.push_back(l.rank);
      }
      v_.culprit_op = "labels differ from collective #" + std::to_string(v_.label_seq);
    }
    v_.problem = !v_.culprits.empty() || culprits_missing_;
  }

  // The replay a rank's GPU is in, where it is inside a graph ("": none known).
  std::string replay_of(int rank, std::uint64_t seq) const {
    const Facts& f = *views_.at(rank);
    for (const DumpGraph& g : f.head.progress->graphs) {
      if (seq >= g.first_seq && seq <= g.last_seq)
        return " in replay " + std::to_string(g.launches);
    }
    return "";
  }

  // The verdict in a few lines.
  void write_lines() {
    auto& L = v_.lines;
    std::string head = "communicator " + v_.id + " (" + v_.lineage + ", " +
                       std::to_string(v_.size) + " ranks): dumps from " +
                       (v_.ranks.empty() ? "no rank" : ranks_word(v_.ranks));
    if (v_.missing_count > 0) head += "; none from " + gaps_word(v_.ranks, v_.size);
    L.push_back(head);
    for (const auto& u : v_.used) {
      L.push_back("  rank " + std::to_string(u.rank) + " has " + std::to_string(u.of) +
                  " dumps: used " + file_name(u.file) +
                  (u.trigger == "failure" ? " (the first written at a failure)" : " (the latest)"));
    }
    if (v_.first_disagreement != 0) {
      std::vector<int> issuers;
      for (const auto& [r, f] : views_) {
        if (f->head.collectives >= v_.first_disagreement) issuers.push_back(r);
      }
      L.push_back("  first disagreement: collective #" + std::to_string(v_.first_disagreement) +
                  (v_.expected.empty() ? "" : " (" + v_.expected + ")") + ", issued by " +
                  (issuers.empty() ? "no rank" : ranks_word(issuers)));
      for (const auto& n : v_.not_issued) {
        L.push_back("  rank " + std::to_string(n.rank) + " " + n.what);
      }
      for (const auto& d : v_.desync) {
        L.push_back("  desync: rank " + std::to_string(d.rank) + " issued " + d.what +
                    (v_.expected.empty() ? "" : " where the others issued " + v_.expected));
      }
    } else if (!v_.ranks.empty()) {
      L.push_back("  all ranks with a dump issued the same " + std::to_string(v_.last_seq) +
                  " collectives");
    }
    if (v_.label_seq != 0) {
      std::string s = "  labels differ from collective #" + std::to_string(v_.label_seq) + ":";
      for (const auto& l : v_.label_odd) {
        s += l.rank >= 0 ? " rank " + std::to_string(l.rank) + " says " + l.what + ";"
                         : " the others say " + l.what;
      }
      L.push_back(s);
    }
    if (!v_.host_blocked.empty()) {
      std::string s = "  inside NCCL on the host:";
      for (const auto& b : v_.host_blocked)
        s += " rank " + std::to_string(b.rank) + " " + b.what + ";";
      s.pop_back();
      L.push_back(s);
    }
    if (!v_.gpu.empty()) {
      std::string s = "  GPUs:";
      for (const auto& g : v_.gpu) {
        s +=
            " rank " + std::to_string(g.rank) +
            (g.started != g.completed
                 ? " inside #" + std::to_string(g.started) + replay_of(g.rank, g.started)
                 : " idle after #" + std::to_string(g.completed) + replay_of(g.rank, g.completed)) +
            ";";
      }
      s.pop_back();
      L.push_back(s);
    }
    for (const auto& rp : v_.replays) L.push_back("  graph replays: " + rp.what);
    if (v_.problem) {
      L.push_back("  likely culprit: " +
                  (culprits_missing_ ? gaps_word(v_.ranks, v_.size) : ranks_word(v_.culprits)) +
                  " - " + v_.culprit_op);
    } else {
      L.push_back("  no disagreement found");
    }
    for (auto& l : L) l = printable(l);
  }

  const Pool& pool_;
  std::map<int, const Facts*> views_;  // per rank, the dump that speaks for it
  CommVerdict v_;
  std::vector<int> waiting_;  // ranks whose GPU is inside an operation
  // Per graph (its first and last collective), per rank, how many replays began.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::map<int, std::uint64_t>> graphs_;
  std::vector<std::string> replay_ops_;  // per replay, what the culprit line says of it
  bool culprits_missing_ = false;        // the culprits are the ranks without a dump
};

// Dumps in, one at a time, each reduced to its facts at once; the verdicts out.
class Analyzer {
 public:
  void add(const DumpFile& d) { facts_.push_back(facts_of(d, pool_)); }
  void error(std::string e) { errors_.push_back(std::move(e)); }

  Analysis finish(std::size_t files) {
    std::vector<const DumpHeader*> heads;
    for (const Facts& f : facts_) heads.push_back(&f.head);
    Analysis a;
    std::size_t listed = kMaxListedRanks;
    for (const CommDumps& g : group_dumps(heads)) {
      a.comms.push_back(Judge(g, facts_, pool_).run(listed));
    }
    // Communicators with a problem first.
    std::stable_sort(
        a.comms.begin(), a.comms.end(),
        [](const CommVerdict& x, const CommVerdict& y) { return x.problem > y.problem; });
    a.errors = std::move(errors_);
    a.files = files;
    return a;
  }

 private:
  Pool pool_;
  std::vector<Facts> facts_;
  std::vector<std::string> errors_;
};

}  // namespace

bool Analysis::problem() const {
  if (!errors.empty()) return true;
  return std::any_of(comms.begin(), comms.end(), [](const CommVerdict& c) { return c.problem; });
}

Analysis analyze_dumps(const std::vector<DumpFile>& dumps) {
  Analyzer an;
  for (const DumpFile& d : dumps) an.add(d);
  return an.finish(dumps.size());
}

Analysis analyze_dir(const std::string& dir) {
  const auto files = dump_set(dir);
  Analyzer an;
  std::uint64_t total = 0;
  for (const auto& f : files) {
    std::optional<DumpFile> d;
    try {
      d = read_dump(f);
    } catch (const TraceFileError& e) {
      an.error(e.what());
      continue;
    } catch (const std::exception& e) {  // out of memory, say: this file only
      an.error(printable(f + ": cannot read it: " + why_text(e)));
      continue;
    }
    count_dir_bytes(dir, *d, total);
    an.add(*d);
  }
  return an.finish(files.size());
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
    json replays = json::array();
    for (const auto& rp : c.replays) {
      json launches = json::array();
      for (const auto& [r, l] : rp.launches) launches.push_back({{"rank", r}, {"launches", l}});
      replays.push_back({{"first_seq", rp.first_seq},
                         {"last_seq", rp.last_seq},
                         {"launches", launches},
                         {"behind", rp.behind},
                         {"what", rp.what}});
    }
    json used = json::array();
    for (const auto& u : c.used) {
      used.push_back(
          {{"rank", u.rank}, {"file", printable(u.file)}, {"trigger", u.trigger}, {"dumps", u.of}});
    }
    out["communicators"].push_back(
        {{"id", c.id},
         {"aliases", c.aliases},
         {"lineage", c.lineage},
         {"size", c.size},
         {"ranks", c.ranks},
         {"missing_ranks", c.missing},
         {"missing_count", c.missing_count},
         {"dumps_used", used},
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
         {"replays", replays},
         {"culprits", c.culprits},
         {"culprit_op", c.culprit_op},
         {"problem", c.problem},
         {"verdict", c.lines}});
  }
  return out;
}

}  // namespace ncclrt_tool
