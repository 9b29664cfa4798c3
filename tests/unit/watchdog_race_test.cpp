// The watchdog aborts a communicator while another thread waits on it. The watchdog watches CUDA
// events, so this test runs with a stand-in CUDA driver (tests/stand_ins/fake_cuda.c, found as
// libcuda.so.1 through the LD_LIBRARY_PATH its ctest entry sets) whose work never finishes, over
// the recording stand-in NCCL, whose nonblocking communicator stays ncclInProgress and which
// aborts the process on any call on a communicator that was freed, or freed while the call ran.
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <ncclrt/ncclrt.hpp>
#include <random>
#include <thread>

#include "test_support.hpp"

using namespace ncclrt;
using ncclrt_test::expect_error;
using ncclrt_test::ScopedEnv;
using Clock = std::chrono::steady_clock;

namespace {

template <class F>
F symbol(const char* library, const char* name) {
  void* h = ::dlopen(library, RTLD_NOW);
  return h ? reinterpret_cast<F>(::dlsym(h, name)) : nullptr;
}

// The stand-in driver's controls (see fake_cuda.c); null members when the libcuda.so.1 this
// process finds is another one.
struct FakeCuda {
  void (*hold_queries)(int) = symbol<void (*)(int)>("libcuda.so.1", "fake_cuda_hold_queries");
  int (*live_events)() = symbol<int (*)()>("libcuda.so.1", "fake_cuda_live_events");
  int (*stream_queries)() = symbol<int (*)()>("libcuda.so.1", "fake_cuda_stream_queries");
  bool found() const { return hold_queries && live_events && stream_queries; }
};

// The recording stand-in's counters and controls.
struct FakeNccl {
  int (*live_comms)() = symbol<int (*)()>(RECORDING_NCCL_22809, "fake_live_comms");
  int (*calls)() = symbol<int (*)()>(RECORDING_NCCL_22809, "fake_calls");
  int (*was_called)(const char*) = symbol<int (*)(const char*)>(RECORDING_NCCL_22809,
                                                                "fake_was_called");
  void (*clear_seen)() = symbol<void (*)()>(RECORDING_NCCL_22809, "fake_clear_seen");
  void (*set_query_us)(int) = symbol<void (*)(int)>(RECORDING_NCCL_22809, "fake_set_query_us");
};

// Holds the stand-in driver's event queries (so the watchdog cannot act) for a scope; released
// however the scope ends, so that a failing check never leaves the watchdog thread blocked.
class HeldQueries {
 public:
  explicit HeldQueries(const FakeCuda& cuda) : cuda_(cuda) { cuda_.hold_queries(1); }
  ~HeldQueries() { release(); }
  void release() { cuda_.hold_queries(0); }
  HeldQueries(const HeldQueries&) = delete;
  HeldQueries& operator=(const HeldQueries&) = delete;

 private:
  const FakeCuda& cuda_;
};

// The watchdog on for a scope, and off (its thread joined) at its end.
struct WatchdogOn {
  explicit WatchdogOn(std::chrono::milliseconds poll) { Watchdog::enable(poll); }
  ~WatchdogOn() { Watchdog::disable(); }
  WatchdogOn(const WatchdogOn&) = delete;
  WatchdogOn& operator=(const WatchdogOn&) = delete;
};

// Waits until `ready()` or `limit` passes; whether it became true.
template <class F>
bool eventually(F ready, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (!ready()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return true;
}

// The waits another thread can end, each ncclrt's own wait on a nonblocking communicator.
enum class Wait { kFinalize, kSynchronize, kGroupEnd };
const char* name_of(Wait w) {
  return w == Wait::kFinalize ? "finalize" : w == Wait::kSynchronize ? "synchronize" : "group end";
}

}  // namespace

// The owner hands the work of a stream to the watchdog with a 1 ms deadline, then waits on the
// communicator (finalize, synchronize or a group's end; none of them ever completes here). Once
// the owner is inside its wait, the watchdog is let see the deadline passed: it aborts the
// communicator at some point of the owner's polling (a random delay moves that point), and the
// owner's wait must end with the watchdog's reason, without a call on the freed communicator
// (the stand-in NCCL would abort the process) and within seconds.
TEST(Concurrency, TheWatchdogEndsAnotherThreadsWaitWithItsReason) {
  const FakeCuda cuda;
  ASSERT_TRUE(cuda.found()) << "the libcuda.so.1 found is not the stand-in driver: run this test "
                               "with LD_LIBRARY_PATH="
                            << FAKE_CUDA_DIR << " (its ctest entry sets it)";
  ASSERT_EQ(detail::driver_problem(), "");
  auto lib = Library::open(RECORDING_NCCL_22809);
  const FakeNccl nccl;
  ASSERT_TRUE(nccl.live_comms && nccl.calls && nccl.was_called && nccl.clear_seen &&
              nccl.set_query_us);
  // Set before the watchdog thread starts, which reads it inside the stand-in.
  ScopedEnv busy("FAKE_OP_IN_PROGRESS", "1000000000");  // nothing NCCL is asked ever completes
  const WatchdogOn watchdog(std::chrono::milliseconds(1));
  auto* const stream = reinterpret_cast<CUstream_st*>(0x5000);
  float* const buf = reinterpret_cast<float*>(0x6000);
  Config config;
  config.timeout = std::chrono::seconds(30);  // no wait of the owner ends by its own deadline
  std::mt19937 rng(20240607);
  constexpr int kIterations = 300;
  constexpr auto kBound = std::chrono::seconds(20);  // far beyond what any step needs
  int aborted_while_waiting = 0;
  for (int i = 0; i < kIterations && !HasFailure(); ++i) {
    const Wait wait = static_cast<Wait>(i % 3);
    SCOPED_TRACE(std::string("iteration ") + std::to_string(i) + ", " + name_of(wait));
    nccl.set_query_us(i / 3 % 2 ? 50 : 0);  // half the time each poll holds the lock 50 us
    HeldQueries held(cuda);
    Communicator c = Communicator::init_rank(lib, 2, 0, lib->unique_id(), config);
    const int live = nccl.live_comms();
    const int calls = nccl.calls();
    const int stream_queries = cuda.stream_queries();
    nccl.clear_seen();

    std::exception_ptr ended;
    std::promise<void> finished;
    std::future<void> waiter_done = finished.get_future();
    std::thread waiter([&] {
      try {
        c.watch(stream, std::chrono::milliseconds(1));
        switch (wait) {
          case Wait::kFinalize:
            c.finalize();
            break;
          case Wait::kSynchronize:
            c.synchronize(stream, std::chrono::seconds(30));
            break;
          case Wait::kGroupEnd: {
            Group group(*lib);
            c.all_reduce(buf, buf, 4, ReduceOp::kSum, stream);
            group.end();
            break;
          }
        }
      } catch (...) {
        ended = std::current_exception();
      }
      finished.set_value();
    });
    // Inside the wait: the owner's last NCCL call outside the lock has been made (finalize:
    // ncclCommFinalize; group: ncclGroupStart, ncclAllReduce, ncclGroupEnd), or synchronize
    // polls the stream.
    const bool inside = eventually(
        [&] {
          if (waiter_done.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
            return true;  // ended before the watchdog could act: the checks below say how
          }
          switch (wait) {
            case Wait::kFinalize:
              return nccl.calls() >= calls + 1;
            case Wait::kSynchronize:
              return cuda.stream_queries() > stream_queries;
            case Wait::kGroupEnd:
              return nccl.calls() >= calls + 3;
          }
          return false;
        },
        kBound);
    EXPECT_TRUE(inside) << "the owner never reached its wait";
    if (waiter_done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      ++aborted_while_waiting;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 4 ? rng() % 1500 : 0));
    held.release();  // the watchdog sees the deadline passed and aborts
    if (waiter_done.wait_for(kBound) != std::future_status::ready) {
      ADD_FAILURE() << "the owner's " << name_of(wait) << " did not end after the watchdog's abort";
      std::fflush(nullptr);
      std::abort();  // the waiting thread uses `c`: no safe way on
    }
    waiter.join();

    expect_error<TimeoutError>(
        [&] {
          if (ended) std::rethrow_exception(ended);
        },
        {"watchdog: work watched did not finish within 1 ms", "rank 0 of 2", "aborted",
         "make a new communicator"});
    // Aborted once, by the watchdog (on its helper thread, which may still be returning), and
    // its event destroyed.
    EXPECT_TRUE(eventually([&] { return nccl.live_comms() == live - 1; }, kBound))
        << nccl.live_comms() << " live communicators, expected " << live - 1;
    EXPECT_TRUE(nccl.was_called("ncclCommAbort"));
    EXPECT_TRUE(eventually([&] { return cuda.live_events() == 0; }, kBound))
        << cuda.live_events() << " events left";
    // The owner's next call says why, without calling NCCL.
    expect_error<TimeoutError>([&] { c.check(); }, {"watchdog: work watched did not finish"});
  }
  // Every wait was entered before the watchdog acted: the abort always met a waiting thread.
  EXPECT_EQ(aborted_while_waiting, kIterations);
  nccl.set_query_us(0);
}
