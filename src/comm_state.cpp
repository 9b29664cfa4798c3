#include "comm_state.hpp"

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "flight_recorder.hpp"
#include "log_internal.hpp"

namespace ncclrt::detail {
namespace {

std::atomic<bool> g_exiting{false};

// A positive number of milliseconds from the environment, else `fallback`.
std::chrono::milliseconds env_milliseconds(const char* name, std::chrono::milliseconds fallback) {
  const char* v = std::getenv(name);
  char* end = nullptr;
  const long long ms = v ? std::strtoll(v, &end, 10) : 0;
  return v && end && end != v && *end == '\0' && ms > 0 ? std::chrono::milliseconds(ms) : fallback;
}

std::chrono::milliseconds abort_timeout() {
  return env_milliseconds("NCCLRT_ABORT_TIMEOUT_MS", std::chrono::milliseconds(10000));
}

}  // namespace

// At process exit NCCL and the CUDA runtime may already be torn down: destructors then make no
// NCCL call (the operating system reclaims everything).
bool process_exiting() noexcept { return g_exiting.load(); }

void note_exit_once() {
  static const bool registered = [] {
    std::atexit([] { g_exiting.store(true); });
    return true;
  }();
  (void)registered;
}

std::optional<abi::ncclResult_t> bounded_call(std::function<abi::ncclResult_t()> call,
                                              std::function<void(abi::ncclResult_t)> late,
                                              std::chrono::milliseconds limit) noexcept {
  struct Shared {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    bool abandoned = false;
    abi::ncclResult_t result = abi::ncclSuccess;
  };
  try {
    auto shared = std::make_shared<Shared>();
    std::thread([shared, call, late] {
      const abi::ncclResult_t r = call();
      bool abandoned;
      {
        std::lock_guard<std::mutex> lock(shared->m);
        shared->done = true;
        shared->result = r;
        abandoned = shared->abandoned;
      }
      shared->cv.notify_all();
      if (abandoned && late) late(r);
    }).detach();
    std::unique_lock<std::mutex> lock(shared->m);
    if (shared->cv.wait_for(lock, limit, [&] { return shared->done; })) return shared->result;
    shared->abandoned = true;
    return std::nullopt;
  } catch (...) {
    return call();  // no thread could be made: call it here
  }
}

bool bounded_abort(std::shared_ptr<const Library> lib, abi::ncclComm_t comm) noexcept {
  const auto fn = lib->raw().ncclCommAbort ? lib->raw().ncclCommAbort : lib->raw().ncclCommDestroy;
  const auto limit = abort_timeout();
  if (bounded_call([fn, comm, keep = std::move(lib)] { return fn(comm); }, nullptr, limit)) {
    return true;
  }
  log(LogLevel::kError, "ncclCommAbort did not return within " + std::to_string(limit.count()) +
                            " ms; ncclrt goes on without waiting for it");
  return false;
}

std::chrono::milliseconds default_timeout() {
  return env_milliseconds("NCCLRT_TIMEOUT_MS", std::chrono::minutes(10));
}

bool query_async(CommState& state, abi::ncclResult_t& out) noexcept {
  std::lock_guard<std::mutex> lock(state.mutex);
  if (!state.alive || state.poisoned.load()) return false;
  const abi::ncclResult_t r = state.lib->raw().ncclCommGetAsyncError(state.comm, &out);
  if (r != abi::ncclSuccess) out = r;
  return true;
}

namespace {

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "an unknown failure";
  }
}

// Records `reason` for the owner's next call and lets the handle go (under the lock, so that no
// other thread calls NCCL on it from then on); then, with the lock released, writes the flight
// recorder's dump and, with `abort`, aborts it within NCCLRT_ABORT_TIMEOUT_MS.
void give_up(CommState& state, std::exception_ptr reason, bool abort) noexcept {
  abi::ncclComm_t comm;
  {
    std::lock_guard<std::mutex> lock(state.mutex);
    if (!state.alive || state.poisoned.load()) return;
    state.reason = std::move(reason);
    state.poisoned.store(true);
    state.alive = false;
    comm = state.comm;
  }
  // `reason` is written once, before `poisoned`, and read only after it: no lock needed here.
  if (state.trace.rank >= 0) {
    trace_on_failure(state, state.reason);  // the dump comes before NCCL is asked to abort
  } else {
    trace_on_failure(what_of(state.reason).c_str());  // a creation: no record of its own yet
  }
  if (abort && !process_exiting()) bounded_abort(state.lib, comm);
}

}  // namespace

abi::ncclResult_t wait_out(CommState& state, abi::ncclResult_t first, Clock::time_point start,
                           std::chrono::milliseconds limit, const Expiry& expiry,
                           const std::vector<std::shared_ptr<CommState>>& also) {
  abi::ncclResult_t r = first;
  for (unsigned polls = 0; r == abi::ncclInProgress; ++polls) {
    if (Clock::now() - start >= limit) {
      auto e = std::make_exception_ptr(
          expired(expiry.what, limit, state.where, expiry.why, expiry.then));
      give_up(state, e, true);
      for (const auto& other : also) give_up(*other, e, true);
      std::rethrow_exception(e);
    }
    // Most enqueues finish within microseconds: yield first, then sleep so that a long wait
    // (a peer that is late) does not burn a core.
    if (polls < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(polls < 1024 ? 20 : 200));
    }
    if (!query_async(state, r)) {
      if (state.poisoned.load()) std::rethrow_exception(state.reason);
      throw UsageError(expiry.what + " (" + state.where +
                       "): the communicator was destroyed or aborted while ncclrt waited for it");
    }
  }
  return r;
}

void abort_with_reason(CommState& state, std::exception_ptr reason) noexcept {
  give_up(state, std::move(reason), true);
}

void abandon_with_reason(CommState& state, std::exception_ptr reason) noexcept {
  give_up(state, std::move(reason), false);
}

void keep_reachable(std::shared_ptr<void> slot) {
  static std::mutex m;
  static auto* kept = new std::vector<std::shared_ptr<void>>;  // never destroyed
  std::lock_guard<std::mutex> lock(m);
  kept->push_back(std::move(slot));
}

std::string rank_text(int rank, int nranks) {
  return "rank " + std::to_string(rank) + " of " + std::to_string(nranks);
}

TimeoutError expired(const std::string& what, std::chrono::milliseconds limit,
                     const std::string& where, const std::string& why, const std::string& then) {
  std::string text = what + " within " + std::to_string(limit.count()) + " ms (" + where + ")";
  if (!why.empty()) text += ": " + why;
  return TimeoutError(text + ". " + then);
}

}  // namespace ncclrt::detail
