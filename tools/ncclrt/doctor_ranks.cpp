// `ncclrt doctor` across ranks: every rank's findings merged into one list naming the ranks
// where they differ, the findings' form on the wire of the all_gather, and the live check's
// verdict. Pure functions, no system calls.
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "doctor.hpp"

namespace ncclrt_tool {
namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

std::vector<MergedFinding> merge_reports(const std::vector<RankReport>& reports) {
  std::vector<MergedFinding> out;
  auto same = [](const Finding& a, const Finding& b) {
    return a.severity == b.severity && a.check == b.check && a.id == b.id && a.text == b.text &&
           a.todo == b.todo;
  };
  std::vector<const RankReport*> order;
  for (const auto& r : reports) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(),
                   [](const RankReport* a, const RankReport* b) { return a->rank < b->rank; });
  std::map<int, std::string> host_of;
  for (const auto* r : order) {
    host_of[r->rank] = r->host;
    for (const auto& f : r->findings) {
      auto it = std::find_if(out.begin(), out.end(),
                             [&](const MergedFinding& m) { return same(m.finding, f); });
      if (it == out.end()) {
        out.push_back({f, {}, {}});
        it = out.end() - 1;
      }
      if (it->ranks.empty() || it->ranks.back() != r->rank) it->ranks.push_back(r->rank);
    }
  }
  for (auto& m : out) {
    if (m.ranks.size() == order.size()) {
      m.ranks.clear();
      continue;
    }
    for (int rank : m.ranks) {
      const std::string& h = host_of[rank];
      if (std::find(m.hosts.begin(), m.hosts.end(), h) == m.hosts.end()) m.hosts.push_back(h);
    }
  }
  return out;
}

std::string where_text(const MergedFinding& f) {
  if (f.ranks.empty()) return {};
  std::string ranks;
  for (std::size_t i = 0; i < f.ranks.size();) {
    std::size_t j = i;
    while (j + 1 < f.ranks.size() && f.ranks[j + 1] == f.ranks[j] + 1) ++j;
    ranks += (ranks.empty() ? "" : ", ") + std::to_string(f.ranks[i]) +
             (j > i ? "-" + std::to_string(f.ranks[j]) : "");
    i = j + 1;
  }
  const bool one = f.ranks.size() == 1;
  return std::string(one ? "rank " : "ranks ") + ranks + " (" +
         (f.hosts.size() == 1 ? "host " : "hosts ") + joined(f.hosts) + ")";
}

int exit_status(const std::vector<MergedFinding>& findings) noexcept {
  for (const auto& f : findings) {
    if (f.finding.severity == Severity::kError) return 1;
  }
  return 0;
}

namespace {
std::string clean(std::string s) {
  for (char& c : s) {
    if (c == '\x1e' || c == '\x1f' || c == '\0') c = ' ';
  }
  return s;
}
}  // namespace

std::string pack_findings(const std::vector<Finding>& findings, std::size_t capacity,
                          std::uint32_t* dropped) {
  std::string out;
  std::uint32_t left_out = 0;
  for (const auto& f : findings) {
    const std::string one = std::to_string(static_cast<int>(f.severity)) + '\x1f' + clean(f.check) +
                            '\x1f' + clean(f.id) + '\x1f' + clean(f.text) + '\x1f' + clean(f.todo) +
                            '\x1e';
    if (out.size() + one.size() > capacity) {
      ++left_out;
      continue;
    }
    out += one;
  }
  if (dropped) *dropped = left_out;
  return out;
}

std::vector<Finding> unpack_findings(const std::string& bytes) {
  std::vector<Finding> out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    const std::size_t end = bytes.find('\x1e', at);
    if (end == std::string::npos) break;  // a finding cut short
    std::vector<std::string> f;
    for (std::size_t p = at; f.size() < 5;) {
      const std::size_t q = std::min(bytes.find('\x1f', p), end);
      f.push_back(bytes.substr(p, q - p));
      if (q >= end) break;
      p = q + 1;
    }
    at = end + 1;
    if (f.size() != 5 || f[0].size() != 1 || f[0][0] < '0' || f[0][0] > '2') continue;
    out.push_back({static_cast<Severity>(f[0][0] - '0'), f[1], f[2], f[3], f[4]});
  }
  return out;
}

std::vector<MergedFinding> check_live(const std::vector<LiveResult>& results) {
  std::vector<MergedFinding> out;
  if (results.empty()) return out;
  auto one = [](const LiveResult& r) { return MergedFinding{{}, {r.rank}, {r.host}}; };
  const std::string size = bytes_text(results.front().elements * 4);
  std::set<std::string> hosts;
  for (const auto& r : results) hosts.insert(r.host);
  bool wrong = false;
  for (const auto& r : results) {
    for (const auto& [what, n] :
         {std::pair<const char*, std::uint64_t>{"all_reduce", r.all_reduce_wrong},
          {"send/recv ring", r.ring_wrong}}) {
      if (n == 0) continue;
      wrong = true;
      MergedFinding m = one(r);
      m.finding = error(
          "live", "live_wrong_data",
          std::string(what) + " of " + size + " gave wrong data: " + std::to_string(n) + " of " +
              std::to_string(r.elements) + " elements on GPU " + std::to_string(r.device),
          "rerun with NCCL_DEBUG=INFO; try NCCL_P2P_DISABLE=1, then "
          "NCCL_SHM_DISABLE=1, to find the transport at fault");
      out.push_back(m);
    }
  }
  // The times: the slowest rank named where it takes over twice the median.
  auto median_of = [&](double LiveResult::*field) {
    std::vector<double> v;
    for (const auto& r : results) v.push_back(r.*field);
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  char buf[256];
  const double ar = median_of(&LiveResult::all_reduce_us);
  const double ring = median_of(&LiveResult::ring_us);
  const double init = median_of(&LiveResult::init_seconds);
  std::snprintf(buf, sizeof buf,
                "%d rank%s on %zu host%s: init %.2f s, all_reduce of %s %.0f us, send/recv "
                "ring of %s %.0f us (medians)%s",
                static_cast<int>(results.size()), results.size() == 1 ? "" : "s", hosts.size(),
                hosts.size() == 1 ? "" : "s", init, size.c_str(), ar, size.c_str(), ring,
                wrong ? "" : "; data checked, correct on every rank");
  out.insert(out.begin(), MergedFinding{ok("live", "live_ok", buf), {}, {}});
  for (const auto& [what, field, median] : {std::tuple<const char*, double LiveResult::*, double>{
                                                "all_reduce", &LiveResult::all_reduce_us, ar},
                                            {"send/recv ring", &LiveResult::ring_us, ring}}) {
    const auto member = field;  // a lambda may not capture a structured binding in C++17
    const auto slowest = std::max_element(
        results.begin(), results.end(),
        [member](const LiveResult& a, const LiveResult& b) { return a.*member < b.*member; });
    if (results.size() > 2 && (*slowest).*field > 2 * median && (*slowest).*field > 100) {
      MergedFinding m = one(*slowest);
      std::snprintf(buf, sizeof buf, "%s took %.0f us here against a median of %.0f us", what,
                    (*slowest).*field, median);
      m.finding = warn("live", "live_slow_rank", buf,
                       "compare this host's NICs, links and GPU clocks with the others' "
                       "(NCCL_DEBUG=INFO shows the transports chosen)");
      out.push_back(m);
    }
  }
  return out;
}

}  // namespace ncclrt_tool
