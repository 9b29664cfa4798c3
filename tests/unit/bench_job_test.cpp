// `ncclrt bench` across processes, without a GPU: whether a launcher started this process, how
// the ranks' figures of a row combine, and how the progress board names a missing process (its
// rules as a function of values, and the board itself with threads, raw sockets and a fake clock).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "barrier.hpp"
#include "board.hpp"
#include "job.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using ncclrt_tool::blame;
using ncclrt_tool::BoardClient;
using ncclrt_tool::BoardServer;
using ncclrt_tool::PeerState;
using ncclrt_tool::RankTime;

ncclrt::EnvLookup env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

}  // namespace

TEST(BenchJob, TimesCombineAsNcclTestsAverageAcrossRanks) {
  using ncclrt_tool::combine_ranks;
  // Four ranks: rank 2 the slowest; wrong elements on ranks 1 and 3.
  const std::vector<RankTime> r = {{2.0, 0}, {1.0, 5}, {6.0, 0}, {3.0, 2}};
  EXPECT_DOUBLE_EQ(combine_ranks(r, 0).seconds, 2.0);  // rank 0's
  EXPECT_DOUBLE_EQ(combine_ranks(r, 1).seconds, 3.0);  // the mean
  EXPECT_DOUBLE_EQ(combine_ranks(r, 2).seconds, 1.0);  // the least
  EXPECT_DOUBLE_EQ(combine_ranks(r, 3).seconds, 6.0);  // the most
  for (int a = 0; a <= 3; ++a) {
    EXPECT_EQ(combine_ranks(r, a).wrong, 7) << a;  // summed whatever -a says
    EXPECT_EQ(combine_ranks(r, a).slowest, 2) << a;
  }
  // Ranks of one thread (-g 2) carry the thread's time: the mean over ranks is the mean over
  // threads, as nccl-tests averages threads.
  const std::vector<RankTime> g2 = {{1.0, 0}, {1.0, 0}, {4.0, 0}, {4.0, 1}};
  EXPECT_DOUBLE_EQ(combine_ranks(g2, 1).seconds, 2.5);
  EXPECT_EQ(combine_ranks(g2, 1).slowest, 2);  // the lowest of equals
  EXPECT_EQ(combine_ranks({{5.0, 0}}, 1).slowest, 0);
  EXPECT_EQ(combine_ranks({}, 1).wrong, 0);
}

TEST(BenchJob, RanksOfAProcessAreNumberedProcessByProcess) {
  EXPECT_EQ(ncclrt_tool::ranks_of(3, 1), "rank 3");
  EXPECT_EQ(ncclrt_tool::ranks_of(1, 4), "ranks 4-7");
  EXPECT_EQ(ncclrt_tool::ranks_of(0, 2), "ranks 0-1");
}

TEST(BenchJob, ALauncherIsFoundFromItsVariables) {
  using ncclrt_tool::bench_launch;
  // None: alone under auto and ignore; "require" says what it looked for.
  EXPECT_FALSE(bench_launch("auto", env({})));
  EXPECT_FALSE(bench_launch("ignore", env({})));
  try {
    (void)bench_launch("require", env({}));
    ADD_FAILURE() << "no error";
  } catch (const ncclrt::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("no launcher variables found"), std::string::npos);
  }
  // torchrun's four processes.
  const auto torchrun = env({{"RANK", "2"},
                             {"WORLD_SIZE", "4"},
                             {"LOCAL_RANK", "0"},
                             {"MASTER_ADDR", "10.0.0.1"},
                             {"MASTER_PORT", "29500"}});
  const auto info = bench_launch("auto", torchrun);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->launcher, "torchrun");
  EXPECT_EQ(info->rank, 2);
  EXPECT_EQ(info->size, 4);
  EXPECT_EQ(info->comm_id, "10.0.0.1:29501");
  EXPECT_FALSE(bench_launch("ignore", torchrun));
  // One process: alone under auto, a job of one under require.
  const auto one = env({{"SLURM_PROCID", "0"},
                        {"SLURM_NTASKS", "1"},
                        {"SLURM_LOCALID", "0"},
                        {"NCCL_COMM_ID", "h:1"}});
  EXPECT_FALSE(bench_launch("auto", one));
  ASSERT_TRUE(bench_launch("require", one));
  EXPECT_EQ(bench_launch("require", one)->size, 1);
  // Variables that are there but incomplete: an error naming the one missing, and the way out.
  try {
    (void)bench_launch("auto", env({{"RANK", "0"}}));
    ADD_FAILURE() << "no error";
  } catch (const ncclrt::UsageError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("WORLD_SIZE is not set"), std::string::npos) << m;
    EXPECT_NE(m.find("--launcher ignore"), std::string::npos) << m;
  }
  try {
    (void)bench_launch("auto", env({{"OMPI_COMM_WORLD_RANK", "0"},
                                    {"OMPI_COMM_WORLD_SIZE", "2"},
                                    {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}}));
    ADD_FAILURE() << "no error";
  } catch (const ncclrt::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("no rendezvous address"), std::string::npos);
  }
  EXPECT_TRUE(ncclrt_tool::launcher_mode_known("require"));
  EXPECT_FALSE(ncclrt_tool::launcher_mode_known("yes"));
}

namespace {

PeerState peer(PeerState::Status status, int step, double silent = 0, std::string reason = "") {
  PeerState p;
  p.status = status;
  p.step = step;
  p.silent_s = silent;
  p.reason = std::move(reason);
  return p;
}

std::string step_text(int s) { return "at step " + std::to_string(s); }
std::string name(int p) { return "rank " + std::to_string(p); }

ncclrt_tool::Blame blame_of(const std::vector<PeerState>& peers, int me) {
  return blame(peers, me, 1.5, step_text, name);
}

}  // namespace

TEST(BenchBoard, BlamesAProcessThatExitedFirst) {
  using P = PeerState;
  // Rank 3 exited at step 5; rank 1 is also silent: the exit explains it.
  const auto b = blame_of(
      {peer(P::kAlive, 5), peer(P::kAlive, 5, 9.0), peer(P::kAlive, 5), peer(P::kExited, 5)}, 0);
  EXPECT_TRUE(b.certain);
  EXPECT_EQ(b.processes, std::vector<int>{3});
  EXPECT_EQ(b.text, "rank 3 exited at step 5");
}

TEST(BenchBoard, BlamesAProcessThatFellSilentOrNeverCame) {
  using P = PeerState;
  // Rank 2 stopped (SIGSTOP, a host gone): silent past 1.5 s.
  auto b = blame_of({peer(P::kAlive, 4), peer(P::kAlive, 4, 0.2), peer(P::kAlive, 4, 3.25)}, 1);
  EXPECT_TRUE(b.certain);
  EXPECT_EQ(b.processes, std::vector<int>{2});
  EXPECT_NE(b.text.find("rank 2 stopped responding at step 4 (silent for 3.2 s"), std::string::npos)
      << b.text;
  // Silent for less than 1.5 s is not yet stopped.
  b = blame_of({peer(P::kAlive, 4), peer(P::kAlive, 4, 1.4)}, 0);
  EXPECT_FALSE(b.certain);
  EXPECT_TRUE(b.processes.empty());
  EXPECT_NE(b.text.find("no process is missing: every one is alive at step 4"), std::string::npos)
      << b.text;
  // Never said hello.
  b = blame_of({peer(P::kAlive, 0), peer(P::kUnseen, -1, 20.0)}, 0);
  EXPECT_EQ(b.processes, std::vector<int>{1});
  EXPECT_NE(b.text.find("rank 1 never reached the board"), std::string::npos) << b.text;
  // Its own silence never counts: `me` is the one asking.
  b = blame_of({peer(P::kAlive, 4, 30.0), peer(P::kAlive, 4)}, 0);
  EXPECT_FALSE(b.certain);
}

TEST(BenchBoard, BlamesAProcessStuckBehindTheOthers) {
  using P = PeerState;
  const auto b =
      blame_of({peer(P::kAlive, 7), peer(P::kAlive, 3), peer(P::kAlive, 7), peer(P::kDone, 9)}, 0);
  EXPECT_EQ(b.processes, std::vector<int>{1});
  // Not rank 2, level with this one; and a finished one waits for nobody.
  EXPECT_EQ(b.text, "rank 1 is stuck at step 3 while others are at step 7");
}

TEST(BenchBoard, EchoesTheFirstProcessThatGaveUp) {
  using P = PeerState;
  // Ranks 1 and 2 gave up; 1 first (silent the longest since): its reason names the culprit.
  const auto b = blame_of({peer(P::kAlive, 6), peer(P::kFailed, 6, 0.9, "rank 3 stopped"),
                           peer(P::kFailed, 6, 0.3, "rank 1 gave up"), peer(P::kAlive, 6)},
                          0);
  EXPECT_TRUE(b.certain);
  EXPECT_EQ(b.processes, std::vector<int>{1});
  EXPECT_EQ(b.text, "rank 1 gave up first: rank 3 stopped");
}

namespace {

// A fake clock for the board: seconds that advance only when the test says.
struct FakeClock {
  std::atomic<double> now{1000.0};
  ncclrt_tool::BoardClock fn() {
    return [this] { return now.load(); };
  }
};

// A process that speaks the protocol by hand: it says what it is told and then nothing, as a
// stopped process does.
class RawPeer {
 public:
  explicit RawPeer(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;
  ~RawPeer() { close(); }
  bool ok() const { return ok_; }
  void say(const std::string& text) {
    ASSERT_EQ(::send(fd_, text.data(), text.size(), MSG_NOSIGNAL), ssize_t(text.size()));
  }
  // Whether the board closed the connection within a second.
  bool dropped() {
    timeval limit{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    char c;
    for (;;) {
      const ssize_t n = ::recv(fd_, &c, 1, 0);
      if (n == 0) return true;
      if (n < 0) return false;
    }
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 3s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!f()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace

// Three processes: two real links and one that goes silent at step 5, then exits. The board sees
// the silence on its own clock, says so in its table, and tells the others when it exits.
TEST(BenchBoard, SeesASilentProcessAndTellsTheOthersWhenOneExits) {
  FakeClock clock;
  BoardServer server("127.0.0.1", 3, clock.fn());
  ASSERT_GT(server.port(), 0);
  BoardClient p0("127.0.0.1", server.port(), 0, 2s, 20ms);
  BoardClient p1("127.0.0.1", server.port(), 1, 2s, 20ms);
  RawPeer p2(server.port());
  ASSERT_TRUE(p2.ok());
  p2.say("hello 2\nstep 5\n");
  p0.set_step(5);
  p1.set_step(5);
  std::optional<std::vector<PeerState>> t;
  ASSERT_TRUE(eventually([&] {
    t = p0.table(1s);
    return t && (*t)[0].step == 5 && (*t)[1].step == 5 && (*t)[2].status == PeerState::kAlive;
  }));
  // Four seconds pass on the board's clock: the real links beat, the raw one does not.
  clock.now = clock.now + 4.0;
  ASSERT_TRUE(eventually([&] {
    t = p0.table(1s);
    return t && (*t)[0].silent_s < 1 && (*t)[1].silent_s < 1;
  }));
  EXPECT_EQ((*t)[2].status, PeerState::kAlive);
  EXPECT_EQ((*t)[2].step, 5);
  EXPECT_DOUBLE_EQ((*t)[2].silent_s, 4.0);
  auto b = blame_of(*t, 0);
  EXPECT_EQ(b.processes, std::vector<int>{2});
  EXPECT_NE(b.text.find("rank 2 stopped responding at step 5 (silent for 4.0 s"), std::string::npos)
      << b.text;
  EXPECT_FALSE(p0.news());
  // It exits: both links hear of it without asking, and the table says it exited.
  p2.close();
  EXPECT_TRUE(eventually([&] { return p0.news() && p1.news(); }));
  t = p1.table(1s);
  ASSERT_TRUE(t);
  EXPECT_EQ((*t)[2].status, PeerState::kExited);
  EXPECT_EQ(blame_of(*t, 1).text, "rank 2 exited at step 5");
}

TEST(BenchBoard, AProcessThatGivesUpIsHeardWithItsReason) {
  BoardServer server("127.0.0.1", 2);
  BoardClient p0("127.0.0.1", server.port(), 0, 2s, 20ms);
  BoardClient p1("127.0.0.1", server.port(), 1, 2s, 20ms);
  p1.set_step(7);
  ASSERT_TRUE(eventually([&] {
    const auto t = p0.table(1s);
    return t && (*t)[1].step == 7;
  }));
  p1.fail("rank 5 stopped\nresponding");  // one line on the wire
  ASSERT_TRUE(eventually([&] { return p0.news(); }));
  const auto t = p0.table(1s);
  ASSERT_TRUE(t);
  EXPECT_EQ((*t)[1].status, PeerState::kFailed);
  EXPECT_EQ((*t)[1].step, 7);
  EXPECT_EQ((*t)[1].reason, "rank 5 stopped responding");
  EXPECT_EQ(blame_of(*t, 0).text, "rank 1 gave up first: rank 5 stopped responding");
  // Done and failed: the board has nobody left to wait for.
  p0.done();
  const auto start = std::chrono::steady_clock::now();
  server.finish(5s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

// Rank 0's process (the board's host) goes: every link hears of it and gets no table.
TEST(BenchBoard, TheBoardGoingIsNews) {
  auto server = std::make_unique<BoardServer>("127.0.0.1", 2);
  BoardClient p1("127.0.0.1", server->port(), 1, 2s, 20ms);
  EXPECT_FALSE(p1.news());
  server.reset();
  EXPECT_TRUE(eventually([&] { return p1.news(); }));
  EXPECT_FALSE(p1.table(200ms));
}

// What arrives on the board's port is untrusted: a process number outside the job, a second
// hello for a process already there, a line past the limit, or words before a hello close that
// connection and change nothing.
TEST(BenchBoard, RefusesWhatNoProcessOfTheJobWouldSay) {
  BoardServer server("127.0.0.1", 2);
  BoardClient p0("127.0.0.1", server.port(), 0, 2s, 20ms);
  ASSERT_TRUE(eventually([&] {
    const auto t = p0.table(1s);
    return t && (*t)[0].status == PeerState::kAlive;
  }));
  for (const std::string& bad :
       {std::string("hello 2\n"), std::string("hello -1\n"), std::string("hello 0\n"),
        std::string("step 3\n"), std::string("fail 1 x\n"), std::string(600, 'a'),
        std::string("hello 1\nstep 99999999999\n"), std::string("hello 1\nfrob\n")}) {
    RawPeer r(server.port());
    ASSERT_TRUE(r.ok());
    r.say(bad);
    EXPECT_TRUE(r.dropped()) << bad.substr(0, 40);
  }
  const auto t = p0.table(1s);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[0].status, PeerState::kAlive);
  // The raw "hello 1" lines came and went: process 1 is marked exited, never taken over.
  EXPECT_EQ((*t)[1].status, PeerState::kExited);
}

TEST(BenchBoard, NoBoardToReachIsAnError) {
  int port = 0;
  {
    BoardServer gone("127.0.0.1", 1);
    port = gone.port();
  }
  try {
    BoardClient c("127.0.0.1", port, 0, 200ms);
    ADD_FAILURE() << "connected";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot reach rank 0's progress board at 127.0.0.1:"),
              std::string::npos)
        << e.what();
  }
}

TEST(BenchBarrier, ABrokenBarrierReleasesTheThreadsWaitingAtIt) {
  ncclrt_tool::Barrier barrier(3);
  std::atomic<int> released{0};
  std::vector<std::thread> waiting;
  for (int i = 0; i < 2; ++i) {
    waiting.emplace_back([&] {
      try {
        barrier.wait();
      } catch (const ncclrt_tool::BarrierBroken&) {
        ++released;
      }
    });
  }
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(released.load(), 0);
  barrier.break_all();
  for (auto& t : waiting) t.join();
  EXPECT_EQ(released.load(), 2);
  EXPECT_THROW(barrier.wait(), ncclrt_tool::BarrierBroken);  // and every later wait
}
