// The survivors' agreement on who failed, and a store of it in a shared directory.
#include "ncclrt/agreement.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "ncclrt/error.hpp"

namespace ncclrt {
namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text() { return std::strerror(errno); }

// The decision is "failed:" and the ranks, comma-separated: never empty, because some stores
// (torch's compare_set) treat an empty value as absent.
constexpr const char* kPrefix = "failed:";

std::string join(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) s += (s.empty() ? "" : ",") + std::to_string(r);
  return kPrefix + s;
}

std::vector<int> parse(const std::string& text, const std::string& key) {
  std::vector<int> out;
  if (text.rfind(kPrefix, 0) != 0) {
    throw Error("agree_on_failed_ranks: the store's decision at '" + key + "' is not a list of " +
                "ranks: '" + text + "' (another program writes under the same scope?)");
  }
  std::stringstream in(text.substr(std::strlen(kPrefix)));
  for (std::string item; std::getline(in, item, ',');) {
    try {
      std::size_t used = 0;
      out.push_back(std::stoi(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw Error("agree_on_failed_ranks: the store's decision at '" + key + "' is not a list of " +
                  "ranks: '" + text + "' (another program writes under the same scope?)");
    }
  }
  return out;
}

}  // namespace

DirectoryStore::DirectoryStore(std::string directory) : dir_(std::move(directory)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || !std::filesystem::is_directory(dir_)) {
    throw UsageError("DirectoryStore: cannot use '" + dir_ + "' as a directory (" + ec.message() +
                     "); pass a directory every rank can write");
  }
}

bool DirectoryStore::create(const std::string& key, const std::string& value) {
  if (key.empty() || key.find("..") != std::string::npos || key.front() == '/') {
    throw UsageError("DirectoryStore: the key '" + key + "' must be a relative path without '..'");
  }
  const std::filesystem::path path = std::filesystem::path(dir_) / key;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  // Written whole to a file of this process, then linked into place: link() fails if the key
  // exists, so exactly one writer wins and a reader never sees half a value.
  const std::string tmp = path.string() + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("DirectoryStore: cannot create '" + tmp + "': " + errno_text());
  const bool written =
      ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  ::close(fd);
  if (!written) {
    ::unlink(tmp.c_str());
    throw Error("DirectoryStore: cannot write '" + tmp + "': " + errno_text());
  }
  const int linked = ::link(tmp.c_str(), path.c_str());
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (linked == 0) return true;
  if (link_errno == EEXIST) return false;
  errno = link_errno;
  throw Error("DirectoryStore: cannot create '" + path.string() + "': " + errno_text());
}

std::optional<std::string> DirectoryStore::get(const std::string& key) {
  std::ifstream in(std::filesystem::path(dir_) / key, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<int> agree_on_failed_ranks(AgreementStore& store, const std::string& scope, int rank,
                                       int size, std::chrono::milliseconds window) {
  if (size < 1 || rank < 0 || rank >= size) {
    throw UsageError("agree_on_failed_ranks: rank " + std::to_string(rank) + " of " +
                     std::to_string(size) + " is not a rank of the communicator");
  }
  if (scope.empty()) throw UsageError("agree_on_failed_ranks: the scope is empty");
  if (window.count() < 0) throw UsageError("agree_on_failed_ranks: the window is negative");
  const std::string decision = scope + "/failed";
  auto alive_key = [&](int r) { return scope + "/alive/" + std::to_string(r); };
  store.create(alive_key(rank), "1");
  const auto start = Clock::now();
  std::vector<bool> seen(static_cast<std::size_t>(size), false);
  seen[static_cast<std::size_t>(rank)] = true;
  std::optional<std::string> decided = store.get(decision);
  while (!decided) {
    bool all = true;
    for (int r = 0; r < size; ++r) {
      auto i = static_cast<std::size_t>(r);
      if (!seen[i]) seen[i] = store.get(alive_key(r)).has_value();
      all = all && seen[i];
    }
    if (all || Clock::now() - start >= window) {
      std::vector<int> failed;
      for (int r = 0; r < size; ++r) {
        if (!seen[static_cast<std::size_t>(r)]) failed.push_back(r);
      }
      store.create(decision, join(failed));  // the first decision stands
      decided = store.get(decision);
      if (!decided) {
        throw Error("agree_on_failed_ranks: the store lost the decision at '" + decision + "'");
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    decided = store.get(decision);
  }
  std::vector<int> failed = parse(*decided, decision);
  std::sort(failed.begin(), failed.end());
  if (std::binary_search(failed.begin(), failed.end(), rank)) {
    throw Error("agree_on_failed_ranks: rank " + std::to_string(rank) + " of " +
                std::to_string(size) + " was counted as failed by the other survivors of '" +
                scope + "' (it marked itself alive after they decided); this rank must leave " +
                "the job. A longer window tolerates slower detection");
  }
  return failed;
}

}  // namespace ncclrt
