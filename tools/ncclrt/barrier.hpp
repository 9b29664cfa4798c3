// A reusable barrier for threads that drive one rank each (std::barrier is C++20). Shared by
// `ncclrt bench` and the GPU tests.
#pragma once

#include <condition_variable>
#include <mutex>
#include <stdexcept>

namespace ncclrt_tool {

/// What Barrier::wait throws once another thread has broken the barrier.
struct BarrierBroken : std::runtime_error {
  BarrierBroken() : std::runtime_error("another thread failed") {}
};

class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  /// Throws BarrierBroken once the barrier is broken (before or while waiting).
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    const int gen = gen_;
    if (broken_) throw BarrierBroken();
    if (++count_ == n_) {
      count_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen != gen_ || broken_; });
      if (gen == gen_) throw BarrierBroken();
    }
  }
  /// A thread that will not come: every wait, now and later, throws.
  void break_all() {
    std::lock_guard<std::mutex> lock(m_);
    broken_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_, count_ = 0, gen_ = 0;
  bool broken_ = false;
};

}  // namespace ncclrt_tool
