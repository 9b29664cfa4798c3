#include "comm_state.hpp"

#include <cstdlib>
#include <future>
#include <thread>

#include "log_internal.hpp"

namespace ncclrt::detail {
namespace {

std::atomic<bool> g_exiting{false};

std::chrono::milliseconds abort_timeout() {
  const char* v = std::getenv("NCCLRT_ABORT_TIMEOUT_MS");
  char* end = nullptr;
  const long ms = v ? std::strtol(v, &end, 10) : 0;
  return std::chrono::milliseconds(v && end && *end == '\0' && ms > 0 ? ms : 10000);
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

bool bounded_abort(std::shared_ptr<const Library> lib, abi::ncclComm_t comm) noexcept {
  const auto fn = lib->raw().ncclCommAbort ? lib->raw().ncclCommAbort : lib->raw().ncclCommDestroy;
  try {
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    std::thread([fn, comm, done, keep = std::move(lib)] {
      fn(comm);
      done->set_value();
    }).detach();
    if (finished.wait_for(abort_timeout()) == std::future_status::ready) return true;
    log(LogLevel::kError, "ncclCommAbort did not return within " +
                              std::to_string(abort_timeout().count()) +
                              " ms; ncclrt goes on without waiting for it");
    return false;
  } catch (...) {
    fn(comm);  // no thread could be made: call it here
    return true;
  }
}

std::string rank_text(int rank, int nranks) {
  return "rank " + std::to_string(rank) + " of " + std::to_string(nranks);
}

}  // namespace ncclrt::detail
