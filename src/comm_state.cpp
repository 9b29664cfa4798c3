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

bool wait_ready(const Symbols& fn, abi::ncclComm_t comm, abi::ncclResult_t& state,
                Clock::time_point start, std::chrono::milliseconds limit) {
  for (unsigned polls = 0; state == abi::ncclInProgress; ++polls) {
    if (Clock::now() - start >= limit) return false;
    // Most enqueues finish within microseconds: yield first, then sleep so that a long wait
    // (a peer that is late) does not burn a core.
    if (polls < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(polls < 1024 ? 20 : 200));
    }
    const abi::ncclResult_t r = fn.ncclCommGetAsyncError(comm, &state);
    if (r != abi::ncclSuccess) state = r;
  }
  return true;
}

namespace {

// Records `reason` for the owner's next call and marks the handle gone; with `abort`, aborts it.
void give_up(CommState& state, std::exception_ptr reason, bool abort) noexcept {
  std::lock_guard<std::mutex> lock(state.mutex);
  if (!state.alive || state.poisoned.load()) return;
  trace_on_failure(state, reason);  // the flight recorder's dump, before NCCL is asked to abort
  state.reason = std::move(reason);
  state.poisoned.store(true);
  if (abort && !process_exiting()) bounded_abort(state.lib, state.comm);
  state.alive = false;
}

}  // namespace

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
