// The survivors' agreement on who failed, and a store of it in a shared directory.
#include "ncclrt/agreement.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

#include "comm_state.hpp"  // detail::expired, detail::rank_text
#include "ncclrt/error.hpp"
#include "ncclrt/library.hpp"
#include "unique_name.hpp"

namespace ncclrt {
namespace detail {
namespace {

// 8 random bytes as hex: from /dev/urandom (getrandom() is not in glibc 2.17, which the
// manylinux wheels build against), else the clock (the rest of the name still tells this
// process's calls apart).
std::string random_hex() {
  unsigned char bytes[8] = {};
  bool got = false;
  const int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    got = ::read(fd, bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes);
    ::close(fd);
  }
  if (!got) {
    auto t =
        static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    for (unsigned char& b : bytes) {
      b = static_cast<unsigned char>(t);
      t >>= 8;
    }
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace

std::string unique_name(std::string_view host, long pid, unsigned long long count) {
  std::string out;
  for (char c : host.substr(0, 64)) {
    const bool plain = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-';
    out += plain ? c : '_';
  }
  if (out.empty()) out = "unknown-host";
  return out + "." + std::to_string(pid) + "." + std::to_string(count) + "." + random_hex();
}

std::string unique_name() {
  static std::atomic<unsigned long long> count{0};
  return unique_name(host_name(), static_cast<long>(::getpid()), count.fetch_add(1));
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "unknown-host";
  return name;
}

}  // namespace detail

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string errno_text() { return std::strerror(errno); }

// The decision is "failed:" and the ranks, comma-separated: never empty, because some stores
// (torch's compare_set) treat an empty value as absent.
constexpr const char* kPrefix = "failed:";

// After the window, this long for the decision to be written and read.
constexpr milliseconds kDecisionGrace(1000);
// Longer windows are this one: "until it is done", without overflowing a time point.
constexpr milliseconds kLongestWindow(std::chrono::hours(24 * 30));

std::string join(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) s += (s.empty() ? "" : ",") + std::to_string(r);
  return kPrefix + s;
}

// The decision at `key`, sorted; every rank in it must be one of `size` (a decision of another
// agreement, or another program's value, is refused).
std::vector<int> parse(const std::string& text, const std::string& key, int size) {
  auto not_ranks = [&] {
    return Error("agree_on_failed_ranks: the store's decision at '" + key + "' is not a list of " +
                 "ranks: '" + text + "' (another program writes under the same scope?)");
  };
  if (text.rfind(kPrefix, 0) != 0) throw not_ranks();
  std::vector<int> out;
  std::stringstream in(text.substr(std::strlen(kPrefix)));
  for (std::string item; std::getline(in, item, ',');) {
    int r = 0;
    try {
      std::size_t used = 0;
      r = std::stoi(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw not_ranks();
    }
    if (r < 0 || r >= size) {
      throw Error("agree_on_failed_ranks: the store's decision at '" + key + "' names rank " +
                  std::to_string(r) + ", which a communicator of " + std::to_string(size) +
                  " does not have: it was made for another communicator (the scope must be new " +
                  "for each failure, and `size` the same on every rank)");
    }
    out.push_back(r);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void check_key(const std::string& key) {
  if (key.empty() || key.find("..") != std::string::npos || key.front() == '/') {
    throw UsageError("DirectoryStore: the key '" + key + "' must be a relative path without '..'");
  }
}

std::string octal(unsigned mode) {
  std::ostringstream s;
  s << '0' << std::oct << (mode & 07777u);
  return s.str();
}

// Makes `dir` with mode 0700, or checks that the one there is a directory (not a symbolic link)
// of this user that no one else may use: else another local user could have made it beforehand
// and could read or plant what the store holds.
void make_private(const std::string& dir) {
  const std::filesystem::path path(dir);
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw UsageError("DirectoryStore: cannot make the private directory '" + dir +
                     "': " + errno_text() + "; pass a directory this user can create");
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    throw UsageError("DirectoryStore: cannot use the private directory '" + dir +
                     "': " + errno_text() + "; pass a directory this user can create");
  }
  std::string why;
  if (S_ISLNK(st.st_mode)) {
    why = "it is a symbolic link";
  } else if (!S_ISDIR(st.st_mode)) {
    why = "it is not a directory";
  } else if (st.st_uid != ::geteuid()) {
    why = "it belongs to uid " + std::to_string(st.st_uid) + ", not to this user (uid " +
          std::to_string(::geteuid()) + ")";
  } else if ((st.st_mode & 077) != 0) {
    why = "other users may use it (mode " + octal(st.st_mode) + ")";
  } else if ((st.st_mode & 0700) != 0700) {
    why = "this user may not write or search it (mode " + octal(st.st_mode) + ")";
  }
  if (!why.empty()) {
    throw UsageError("DirectoryStore: '" + dir + "' cannot hold a private store: " + why +
                     ". A private store needs a directory of this user that no one else may use " +
                     "(mode 0700, not a symbolic link): remove '" + dir +
                     "' if it is yours to remove, or pass another directory");
  }
}

// What the caller of a bounded store call sequence and its helper thread share.
template <class T>
struct Shared {
  std::mutex m;
  std::condition_variable cv;
  std::string call;        // the store call made last, e.g. "get('job/alive/3')"
  bool abandoned = false;  // the caller gave up: no further store call
  bool done = false;
  T result{};
  std::exception_ptr error;
};

// Ends the helper thread, without another store call, once the caller has given up.
struct Abandoned {};

// The store as the helper thread calls it: each call is announced (for the TimeoutError) and
// none is made once the caller has given up.
class Calls {
 public:
  Calls(AgreementStore& store, std::mutex& m, std::string& call, bool& abandoned)
      : store_(store), m_(m), call_(call), abandoned_(abandoned) {}
  bool create(const std::string& key, const std::string& value) {
    enter("create('" + key + "')");
    return store_.create(key, value);
  }
  std::optional<std::string> get(const std::string& key) {
    enter("get('" + key + "')");
    return store_.get(key);
  }

 private:
  void enter(std::string call) {
    std::lock_guard<std::mutex> lock(m_);
    if (abandoned_) throw Abandoned{};
    call_ = std::move(call);
  }
  AgreementStore& store_;
  std::mutex& m_;
  std::string& call_;
  bool& abandoned_;
};

// How a bounded sequence of store calls names itself when it runs out of time.
struct Bound {
  std::string fn;     // "agree_on_failed_ranks"
  std::string where;  // "rank 2 of 4, scope 'job/epoch1'"
  std::string why;    // what has passed
};

// Runs `body(calls)` on a helper thread and returns its result, so that a store call that never
// returns (a store whose host is gone) cannot hold the caller past `start + limit`: TimeoutError
// then names that call, which is left running (the store must outlive it). The helper owns what
// it uses, except the store.
template <class T, class Body>
T bounded(AgreementStore& store, Clock::time_point start, milliseconds limit, const Bound& bound,
          Body body) {
  auto shared = std::make_shared<Shared<T>>();
  auto run = [shared, &store, body] {
    T result{};
    std::exception_ptr error;
    try {
      Calls calls(store, shared->m, shared->call, shared->abandoned);
      result = body(calls);
    } catch (const Abandoned&) {
      return;
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(shared->m);
      shared->result = std::move(result);
      shared->error = std::move(error);
      shared->done = true;
    }
    shared->cv.notify_all();
  };
  std::thread helper;
  try {
    helper = std::thread(run);
  } catch (const std::system_error&) {
    run();  // no thread to be had: call the store here, without the bound
  }
  std::unique_lock<std::mutex> lock(shared->m);
  if (!shared->cv.wait_until(lock, start + limit, [&] { return shared->done; })) {
    shared->abandoned = true;
    const std::string call = shared->call.empty() ? "first call" : shared->call;
    lock.unlock();
    helper.detach();
    throw detail::expired(
        bound.fn + ": the store's " + call + " did not return", limit, bound.where, bound.why,
        "That call was left running (the store must outlive it). Use a store that outlives the "
        "failed ranks and answers (a TCPStore hosted by a rank that died does not), or a longer "
        "window for a slow one");
  }
  lock.unlock();
  if (helper.joinable()) helper.join();
  if (shared->error) std::rethrow_exception(shared->error);
  return std::move(shared->result);
}

// The agreement itself, on the helper thread; the window counts from `start`.
std::vector<int> agree(Calls& store, const std::string& scope, int rank, int size,
                       milliseconds window, Clock::time_point start) {
  const std::string decision = scope + "/failed";
  auto alive_key = [&](int r) { return scope + "/alive/" + std::to_string(r); };
  // A mark no other call writes, so that the answer of a store that compares values (torch's
  // compare_set) is exact: a mark already there is one of an earlier agreement in this scope.
  if (!store.create(alive_key(rank), "alive " + detail::unique_name())) {
    throw UsageError("agree_on_failed_ranks: the scope '" + scope + "' was used before: " +
                     detail::rank_text(rank, size) + " already marked itself alive there ('" +
                     alive_key(rank) + "' exists), so its marks and decision are stale. The " +
                     "scope must be new for each failure (e.g. count the failures: 'job/epoch1')");
  }
  std::vector<bool> seen(static_cast<std::size_t>(size), false);
  seen[static_cast<std::size_t>(rank)] = true;
  // Every rank below `next` has been seen: a poll reads the decision and the marks from the
  // first rank not yet seen up to the first still missing (about two reads, whatever the size).
  int next = 0;
  auto read = [&](int r) {
    auto i = static_cast<std::size_t>(r);
    if (!seen[i]) seen[i] = store.get(alive_key(r)).has_value();
    return seen[i];
  };
  milliseconds interval(5);
  std::optional<std::string> decided = store.get(decision);
  while (!decided) {
    while (next < size && read(next)) ++next;
    const auto elapsed = Clock::now() - start;
    if (next == size || elapsed >= window) {
      std::vector<int> failed;
      for (int r = next; r < size; ++r) {
        if (!read(r)) failed.push_back(r);
      }
      store.create(decision, join(failed));  // the first decision stands
      decided = store.get(decision);
      if (!decided) {
        throw Error("agree_on_failed_ranks: the store lost the decision at '" + decision + "'");
      }
      break;
    }
    // Polls thin out (a large job's ranks all poll one store), but the window's end is kept.
    std::this_thread::sleep_for(std::min<Clock::duration>(interval, window - elapsed));
    interval = std::min(interval * 2, milliseconds(50));
    decided = store.get(decision);
  }
  std::vector<int> failed = parse(*decided, decision, size);
  if (std::binary_search(failed.begin(), failed.end(), rank)) {
    throw Error("agree_on_failed_ranks: " + detail::rank_text(rank, size) +
                " was counted as failed by the other survivors of '" + scope +
                "' (it marked itself alive after they decided); this rank must leave " +
                "the job. A longer window tolerates slower detection");
  }
  return failed;
}

}  // namespace

DirectoryStore::DirectoryStore(std::string directory, Access access)
    : dir_(std::move(directory)), access_(access) {
  // "/tmp/x/" would make lstat follow a symbolic link at /tmp/x.
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  if (access_ == Access::kPrivate) {
    make_private(dir_);
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || !std::filesystem::is_directory(dir_)) {
    throw UsageError("DirectoryStore: cannot use '" + dir_ + "' as a directory (" + ec.message() +
                     "); pass a directory every rank can write");
  }
}

bool DirectoryStore::create(const std::string& key, const std::string& value) {
  check_key(key);
  const std::filesystem::path path = std::filesystem::path(dir_) / key;
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  // Written whole to a file no other writer names (ranks on other hosts of a shared file system
  // may have this pid), then linked into place: link() fails if the key exists, so exactly one
  // writer wins and a reader never sees half a value.
  const std::string tmp = (path.parent_path() / (".tmp." + detail::unique_name())).string();
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
  check_key(key);
  std::ifstream in(std::filesystem::path(dir_) / key, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<int> agree_on_failed_ranks(AgreementStore& store, const std::string& scope, int rank,
                                       int size, std::chrono::milliseconds window) {
  if (size < 1 || rank < 0 || rank >= size) {
    throw UsageError("agree_on_failed_ranks: " + detail::rank_text(rank, size) +
                     " is not a rank of the communicator");
  }
  if (scope.empty()) throw UsageError("agree_on_failed_ranks: the scope is empty");
  if (window.count() < 0) throw UsageError("agree_on_failed_ranks: the window is negative");
  window = std::min(window, kLongestWindow);
  const auto start = Clock::now();
  return bounded<std::vector<int>>(
      store, start, window + kDecisionGrace,
      {"agree_on_failed_ranks", detail::rank_text(rank, size) + ", scope '" + scope + "'",
       "the window (" + std::to_string(window.count()) + " ms) and " +
           std::to_string(kDecisionGrace.count()) + " ms for the decision have passed"},
      [scope, rank, size, window, start](Calls& calls) {
        return agree(calls, scope, rank, size, window, start);
      });
}

Recovery recover(Communicator& comm, AgreementStore& store, const std::string& scope,
                 std::chrono::milliseconds window, const Config& config) {
  if (!comm.valid() && !comm.revoked()) {
    throw UsageError(
        "recover: the communicator is not live (destroyed, aborted or moved from); "
        "detect failures with synchronize(..., OnFailure::kLeave), which leaves it "
        "alive for the recovery");
  }
  if (scope.empty()) throw UsageError("recover: the scope is empty");
  if (window.count() < 0) throw UsageError("recover: the window is negative");
  window = std::min(window, kLongestWindow);
  const int rank = comm.rank(), size = comm.size();
  const std::shared_ptr<const Library> lib = comm.library();
  const std::string where = detail::rank_text(rank, size) + ", scope '" + scope + "'";
  const milliseconds limit = window + kDecisionGrace;
  auto latched_key = [scope](int r) { return scope + "/latched/" + std::to_string(r); };
  const Bound store_bound{"recover", where, std::to_string(limit.count()) + " ms have passed"};

  Recovery out;
  bool no_revoke = false;  // NCCL < 2.28.7: the shrink aborts the old communicator's work instead
  if (!comm.revoked()) {
    try {
      comm.revoke(config.timeout);
      out.revoked = true;
    } catch (const UnsupportedError&) {
      no_revoke = true;
    } catch (const TimeoutError&) {  // ncclrt aborted it: no shrink from here either
    } catch (const NcclError&) {     // NCCL latched the failure (ncclRemoteError)
    }
  } else {
    out.revoked = true;
  }
  const bool latched = !out.revoked && !no_revoke;
  if (latched) {  // before this rank marks itself alive: every survivor sees it afterwards
    bounded<bool>(store, Clock::now(), limit, store_bound, [key = latched_key(rank)](Calls& calls) {
      calls.create(key, "latched " + detail::unique_name());
      return true;
    });
  }
  out.failed = agree_on_failed_ranks(store, scope, rank, size, window);
  const std::vector<int>& failed = out.failed;
  auto survivor = [&failed](int r) { return !std::binary_search(failed.begin(), failed.end(), r); };
  const bool rebuild =
      latched ||
      bounded<bool>(store, Clock::now(), limit, store_bound,
                    // By value: a helper left running past the bound outlives this frame.
                    [failed, rank, size, latched_key](Calls& calls) {
                      for (int r = 0; r < size; ++r) {
                        if (r == rank || std::binary_search(failed.begin(), failed.end(), r)) {
                          continue;
                        }
                        if (calls.get(latched_key(r))) return true;
                      }
                      return false;
                    });
  if (!rebuild) {
    out.comm = failed.empty()
                   ? comm.split(0, rank, config)
                   : comm.shrink(failed, config,
                                 no_revoke ? ShrinkMode::kAbortParent : ShrinkMode::kDefault);
    return out;
  }

  // A new communicator from scratch: the first survivor makes the unique id.
  comm.abort();
  int first = 0;
  while (!survivor(first)) ++first;
  const int new_rank =
      rank -
      static_cast<int>(std::lower_bound(failed.begin(), failed.end(), rank) - failed.begin());
  const int new_size = size - static_cast<int>(failed.size());
  const std::string id_key = scope + "/unique_id";
  const auto start = Clock::now();
  const Bound bound{"recover", where,
                    "the first survivor (rank " + std::to_string(first) +
                        ") published no unique id at '" + id_key + "' within " +
                        std::to_string(window.count()) + " ms"};
  UniqueId id;
  if (rank == first) {
    id = lib->unique_id();
    const bool wrote = bounded<bool>(
        store, start, limit, bound,
        [id_key, hex = id.to_hex()](Calls& calls) { return calls.create(id_key, hex); });
    if (!wrote) {
      throw UsageError("recover: '" + id_key + "' was written before (" + where +
                       "): the scope must be new for each failure");
    }
  } else {
    const std::string hex = bounded<std::string>(
        store, start, limit, bound, [id_key, window, start, bound](Calls& calls) {
          milliseconds interval(5);
          for (;;) {
            if (auto v = calls.get(id_key)) return *v;
            const auto elapsed = Clock::now() - start;
            if (elapsed >= window) {
              throw detail::expired("recover: no unique id to join", window, bound.where, bound.why,
                                    "The first survivor failed after the agreement, or its "
                                    "store writes do not reach this rank: recover again with a "
                                    "new scope, or restart the job");
            }
            std::this_thread::sleep_for(std::min<Clock::duration>(interval, window - elapsed));
            interval = std::min(interval * 2, milliseconds(50));
          }
        });
    try {
      id = UniqueId::from_hex(hex);
    } catch (const UsageError& e) {
      throw UsageError("recover: the value at '" + id_key + "' (" + where +
                       ") is no unique id: " + e.what() +
                       ". Another program writes under this scope? Pass a scope of your own");
    }
  }
  out.comm = Communicator::init_rank(lib, new_size, new_rank, id, config);
  out.rebuilt = true;
  return out;
}

}  // namespace ncclrt
