// Nearest-name suggestions ("did you mean ..."), shared by the library (NCCL_* variables) and the
// ncclrt command (subcommands, options). Header-only: the command links the library through its
// public interface, which this is not part of.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace ncclrt::util {

// Edit distance: insertions, deletions and substitutions.
inline std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The candidates within `max_distance` edits of `word`, nearest first (ties keep the candidates'
// order), at most `count` of them.
inline std::vector<std::string> nearest_names(const std::string& word,
                                              const std::vector<std::string>& candidates,
                                              std::size_t max_distance, std::size_t count) {
  std::vector<std::pair<std::size_t, const std::string*>> near;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d <= max_distance) near.emplace_back(d, &c);
  }
  std::stable_sort(near.begin(), near.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < near.size() && i < count; ++i) out.push_back(*near[i].second);
  return out;
}

}  // namespace ncclrt::util
