// One thread for all communicators: it polls the events that Communicator::watch recorded and
// aborts a communicator whose watched work passes its deadline or which reports an error.
#include "ncclrt/watchdog.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "comm_state.hpp"
#include "cuda_driver.hpp"
#include "flight_recorder.hpp"
#include "nccl_error.hpp"
#include "ncclrt/communicator.hpp"
#include "ncclrt/error.hpp"

namespace ncclrt {
namespace {

using Clock = std::chrono::steady_clock;

struct Entry {
  std::shared_ptr<detail::CommState> state;
  void* event;
  Clock::time_point deadline;
  std::chrono::milliseconds budget;
};

class WatchdogThread {
 public:
  static WatchdogThread& get() {
    static WatchdogThread* d =
        new WatchdogThread;  // never destroyed: its thread may still run at exit
    return *d;
  }

  void enable(std::chrono::milliseconds poll) {
    std::lock_guard<std::mutex> lock(m_);
    poll_ = poll;
    if (running_) return;
    running_ = true;
    thread_ = std::thread([this] { loop(); });
  }

  void disable() noexcept {
    std::thread t;
    {
      std::lock_guard<std::mutex> lock(m_);
      if (!running_) return;
      running_ = false;
      t = std::move(thread_);
    }
    cv_.notify_all();
    if (t.joinable()) t.join();
    std::lock_guard<std::mutex> lock(m_);
    for (auto& e : entries_) detail::destroy_event(e.event);
    entries_.clear();
  }

  bool enabled() noexcept {
    std::lock_guard<std::mutex> lock(m_);
    return running_;
  }

  void add(Entry e) {
    std::lock_guard<std::mutex> lock(m_);
    if (!running_) {
      detail::destroy_event(e.event);
      throw UsageError("watch: the watchdog is off; call ncclrt::Watchdog::enable() first");
    }
    entries_.push_back(std::move(e));
  }

 private:
  // Checks the entries with m_ released (a check may dump and abort: I/O and NCCL), so that
  // watch() and disable() never wait on them; entries added meanwhile are kept.
  void loop() {
    std::unique_lock<std::mutex> lock(m_);
    while (running_) {
      cv_.wait_for(lock, poll_);
      if (!running_ || detail::process_exiting()) break;
      std::vector<Entry> checking;
      checking.swap(entries_);
      lock.unlock();
      std::vector<Entry> keep;
      for (auto& e : checking) {
        if (check(e)) {
          keep.push_back(std::move(e));
        } else {
          detail::destroy_event(e.event);
        }
      }
      lock.lock();
      for (auto& e : entries_) keep.push_back(std::move(e));
      entries_.swap(keep);
    }
  }

  // Whether to keep watching `e`; aborts its communicator when its time is up or it failed.
  // Never waits for the communicator's lock: while another thread holds it (asking NCCL), the
  // error check waits for the next round and only the deadline is checked.
  static bool check(const Entry& e) {
    detail::CommState& hs = *e.state;
    if (hs.poisoned.load()) return false;
    abi::ncclResult_t async = abi::ncclSuccess;
    {
      std::unique_lock<std::mutex> lock(hs.mutex, std::try_to_lock);
      if (lock.owns_lock()) {
        if (!hs.alive) return false;
        const auto& fn = hs.lib->raw();
        if (fn.ncclCommGetAsyncError) fn.ncclCommGetAsyncError(hs.comm, &async);
      }
    }
    if (detail::event_state(e.event) == detail::StreamState::kDone) return false;
    if (async != abi::ncclSuccess && async != abi::ncclInProgress) {
      std::exception_ptr reason;
      try {
        detail::throw_nccl_error(*hs.lib, async, "the communicator (found by the watchdog)",
                                 nullptr, hs.where);
      } catch (...) {
        reason = std::current_exception();
      }
      detail::abort_with_reason(hs, reason);
      return false;
    }
    if (Clock::now() >= e.deadline) {
      detail::abort_with_reason(
          hs, std::make_exception_ptr(
                  detail::expired("watchdog: work watched did not finish", e.budget, hs.where,
                                  "a peer may be missing or stuck",
                                  std::string(detail::kWasAborted) + "; make a new communicator")));
      return false;
    }
    return true;
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::thread thread_;
  std::vector<Entry> entries_;
  std::chrono::milliseconds poll_{100};
  bool running_ = false;
};

}  // namespace

void Watchdog::enable(std::chrono::milliseconds poll) {
  if (poll.count() <= 0) throw UsageError("Watchdog::enable: the poll interval must be positive");
  WatchdogThread::get().enable(poll);
}
void Watchdog::disable() noexcept { WatchdogThread::get().disable(); }
bool Watchdog::enabled() noexcept { return WatchdogThread::get().enabled(); }

void Communicator::watch(CUstream_st* stream, std::chrono::milliseconds deadline) const {
  require_live("watch");
  if (!Watchdog::enabled()) {
    throw UsageError("watch: the watchdog is off; call ncclrt::Watchdog::enable() first");
  }
  if (deadline.count() <= 0) throw UsageError("watch: the deadline must be positive");
  void* event = detail::record_event(stream);
  WatchdogThread::get().add(Entry{shared_, event, Clock::now() + deadline, deadline});
}

}  // namespace ncclrt
