// A reusable barrier for threads that drive one rank each (std::barrier is C++20). Shared by
// `ncclrt bench` and the GPU tests.
#pragma once

#include <condition_variable>
#include <mutex>

namespace ncclrt_tool {

class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    const int gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen != gen_; });
    }
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_, count_ = 0, gen_ = 0;
};

}  // namespace ncclrt_tool
