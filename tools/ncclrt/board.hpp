// `ncclrt bench` across processes: a side channel, independent of NCCL, that says which process
// of the job is missing when a wait on NCCL fails. Once a collective has failed NCCL cannot be
// asked, so rank 0's process serves a small board over TCP: every process reports the step it is
// at several times a second from a thread of its own, says when it finishes or gives up, and may
// ask for everyone's state. The board knows at once when a process exits (its connection closes)
// and sees a stopped one fall silent; it tells every other process when one is gone, so that
// their waits end without a deadline too.
//
// Protocol, text lines of at most kBoardLineMax bytes:
//   process -> board   hello P | step S | fail S REASON | done | table
//   board -> process   gone P  | table N, then N lines "P STATUS STEP SILENT_MS REASON"
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ncclrt_tool {

constexpr std::size_t kBoardLineMax = 512;

/// What the board knows of one process of the job.
struct PeerState {
  enum Status : char {
    kUnseen = 'u',  // has not said hello
    kAlive = 'a',
    kDone = 'd',    // finished the sweep
    kFailed = 'f',  // gave up, saying why (`reason`)
    kExited = 'x',  // its connection closed before it said done or fail
  };
  Status status = kUnseen;
  int step = -1;        // the last step it reported
  double silent_s = 0;  // since its last word (since the board started, when unseen)
  std::string reason;
};

/// Who is to blame for a failed wait, as a sentence.
struct Blame {
  std::vector<int> processes;
  std::string text;
  bool certain = false;  // false: nobody is missing that the board can see
};

/// Whom `peers` (indexed by process) point at, seen from process `me` whose wait failed. In
/// order: processes that exited; that never said hello or fell silent for more than
/// `stale_after_s` (stopped, or their host is gone); that are alive but behind the furthest step
/// (stuck); that gave up before `me` (their reason says why). `step_text` says where a step is
/// ("in the 1048576-byte row"), `name` who a process is ("rank 3 (host a, pid 12)").
Blame blame(const std::vector<PeerState>& peers, int me, double stale_after_s,
            const std::function<std::string(int)>& step_text,
            const std::function<std::string(int)>& name);

/// Seconds on a clock the board reads (steady by default; tests pass their own).
using BoardClock = std::function<double()>;

/// The board, served by a thread of rank 0's process for `processes` processes. Binds `host`
/// (an address of this machine every process can reach: the launcher's rendezvous host) on a
/// port the system picks. Throws std::runtime_error when it cannot listen.
class BoardServer {
 public:
  BoardServer(const std::string& host, int processes, BoardClock clock = {});
  BoardServer(const BoardServer&) = delete;  // owns a thread and its sockets
  BoardServer& operator=(const BoardServer&) = delete;
  ~BoardServer();
  int port() const noexcept { return port_; }
  /// Waits up to `wait` for every process to finish or go, then stops serving.
  void finish(std::chrono::milliseconds wait) noexcept;

 private:
  void serve() noexcept;
  int listen_fd_ = -1;
  int port_ = 0;
  int processes_;
  BoardClock clock_;
  std::atomic<bool> stop_{false};
  std::mutex m_;
  std::condition_variable settled_;
  bool all_settled_ = false;
  std::thread thread_;
};

/// One process's link to the board: a thread reports the current step every `beat` and listens
/// for news of processes gone.
class BoardClient {
 public:
  /// Connects to host:port as process `process`, retrying until `deadline`; throws
  /// std::runtime_error when it cannot.
  BoardClient(const std::string& host, int port, int process, std::chrono::milliseconds deadline,
              std::chrono::milliseconds beat = std::chrono::milliseconds(200));
  BoardClient(const BoardClient&) = delete;  // owns a thread and its socket
  BoardClient& operator=(const BoardClient&) = delete;
  ~BoardClient();
  void set_step(int step) noexcept { step_.store(step, std::memory_order_relaxed); }
  int step() const noexcept { return step_.load(std::memory_order_relaxed); }
  /// Whether the board said a process is gone, or the board itself went away.
  bool news() const noexcept { return news_.load(std::memory_order_relaxed); }
  /// Everyone's state, or nullopt when the board does not answer within `wait`.
  std::optional<std::vector<PeerState>> table(std::chrono::milliseconds wait);
  /// Tells the board this process gives up (`reason`: whom it blames) or finished.
  void fail(const std::string& reason) noexcept;
  void done() noexcept;

 private:
  void run() noexcept;
  bool send_line(const std::string& line) noexcept;
  int fd_ = -1;
  std::chrono::milliseconds beat_;
  std::atomic<int> step_{0};
  std::atomic<bool> news_{false};
  std::atomic<bool> stop_{false};
  std::mutex write_m_;
  std::mutex table_m_;
  std::condition_variable table_cv_;
  std::optional<std::vector<PeerState>> table_;
  bool closed_ = false;  // the board went away
  std::thread thread_;
};

}  // namespace ncclrt_tool
