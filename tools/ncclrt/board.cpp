#include "board.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace ncclrt_tool {
namespace {

using Clock = std::chrono::steady_clock;

double steady_seconds() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

// A whole number in [lo, hi] from the untrusted text of a line, or nullopt.
std::optional<long> number(const std::string& s, long lo, long hi) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  const long v = std::strtol(s.c_str(), nullptr, 10);
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

// Printable ASCII only, at most `cap` characters: a reason travels on one line.
std::string one_line(const std::string& s, std::size_t cap) {
  std::string out;
  for (char c : s) {
    if (out.size() == cap) break;
    out += (c >= 32 && c < 127) ? c : ' ';
  }
  return out;
}

bool send_all(int fd, const std::string& data) {
  std::size_t at = 0;
  while (at < data.size()) {
    const ssize_t n = ::send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += static_cast<std::size_t>(n);
  }
  return true;
}

struct AddrList {
  addrinfo* list = nullptr;
  AddrList(const std::string& host, const std::string& port, bool passive) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &list);
    if (rc != 0) {
      throw std::runtime_error("cannot resolve '" + host + "': " + ::gai_strerror(rc));
    }
  }
  AddrList(const AddrList&) = delete;
  AddrList& operator=(const AddrList&) = delete;
  ~AddrList() { ::freeaddrinfo(list); }
};

// Splits complete lines off `buffer`; false when a line is longer than the protocol allows.
bool take_lines(std::string& buffer, std::vector<std::string>& lines) {
  std::size_t start = 0;
  for (std::size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(buffer.substr(start, nl - start));
  }
  buffer.erase(0, start);
  return buffer.size() <= kBoardLineMax;
}

std::vector<std::string> words(const std::string& line, std::size_t max) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; out.size() + 1 < max && in >> w;) out.push_back(w);
  std::string rest;
  std::getline(in, rest);
  const auto first = rest.find_first_not_of(' ');
  if (first != std::string::npos) out.push_back(rest.substr(first));
  return out;
}

std::string seconds_text(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", s);
  return b;
}

}  // namespace

Blame blame(const std::vector<PeerState>& peers, int me, double stale_after_s,
            const std::function<std::string(int)>& step_text,
            const std::function<std::string(int)>& name) {
  Blame b;
  std::vector<std::string> what;
  auto add = [&](int p, std::string text) {
    b.processes.push_back(p);
    what.push_back(std::move(text));
  };
  const int n = static_cast<int>(peers.size());
  // The furthest step of those still at it (one that finished has left the others behind by
  // rights: it is not waiting for them).
  int furthest = -1;
  for (int p = 0; p < n; ++p) {
    const auto st = peers[p].status;
    if (st == PeerState::kAlive || st == PeerState::kFailed)
      furthest = std::max(furthest, peers[p].step);
  }
  for (int p = 0; p < n; ++p) {
    if (p != me && peers[p].status == PeerState::kExited) {
      add(p, name(p) + " exited " + step_text(peers[p].step));
    }
  }
  if (what.empty()) {
    for (int p = 0; p < n; ++p) {
      const PeerState& s = peers[p];
      if (p == me || s.silent_s <= stale_after_s) continue;
      if (s.status == PeerState::kUnseen) {
        add(p, name(p) + " never reached the board (" + seconds_text(s.silent_s) +
                   " s: it did not start, or is stuck before its communicator was made)");
      } else if (s.status == PeerState::kAlive) {
        add(p, name(p) + " stopped responding " + step_text(s.step) + " (silent for " +
                   seconds_text(s.silent_s) + " s: stopped, or its host is unreachable)");
      }
    }
  }
  if (what.empty()) {
    for (int p = 0; p < n; ++p) {
      const PeerState& s = peers[p];
      if (p != me && s.status == PeerState::kAlive && s.step < furthest) {
        add(p, name(p) + " is stuck " + step_text(s.step) + " while others are " +
                   step_text(furthest));
      }
    }
  }
  if (what.empty()) {
    int first = -1;  // the one that gave up first: silent the longest since
    for (int p = 0; p < n; ++p) {
      if (p == me || peers[p].status != PeerState::kFailed) continue;
      if (first < 0 || peers[p].silent_s > peers[first].silent_s) first = p;
    }
    if (first >= 0) add(first, name(first) + " gave up first: " + peers[first].reason);
  }
  b.certain = !what.empty();
  if (!b.certain) {
    const int step = me >= 0 && me < n ? peers[me].step : furthest;
    b.text = "no process is missing: every one is alive " + step_text(step) +
             " (NCCL itself did not finish: a network problem, or -T too short)";
    return b;
  }
  for (std::size_t i = 0; i < what.size(); ++i) b.text += (i ? "; " : "") + what[i];
  return b;
}

// ---- the board ----

BoardServer::BoardServer(const std::string& host, int processes, BoardClock clock)
    : processes_(processes), clock_(clock ? std::move(clock) : BoardClock(steady_seconds)) {
  AddrList addrs(host, "0", false);
  std::string why = "no address";
  for (addrinfo* a = addrs.list; a != nullptr && listen_fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, processes + 16) == 0) {
      sockaddr_storage bound{};
      socklen_t len = sizeof bound;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
      port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
      listen_fd_ = fd;
    } else {
      why = std::strerror(errno);
      ::close(fd);
    }
  }
  if (listen_fd_ < 0) {
    throw std::runtime_error("cannot serve the progress board on " + host + ": " + why);
  }
  thread_ = std::thread([this] { serve(); });
}

BoardServer::~BoardServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void BoardServer::finish(std::chrono::milliseconds wait) noexcept {
  {
    std::unique_lock<std::mutex> lock(m_);
    settled_.wait_for(lock, wait, [&] { return all_settled_; });
  }
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void BoardServer::serve() noexcept {
  struct Conn {
    int fd;
    int process = -1;
    std::string buffer;
  };
  struct Peer {
    PeerState state;
    double last = 0;
  };
  const double started = clock_();
  std::vector<Peer> peers(static_cast<std::size_t>(processes_));
  for (auto& p : peers) p.last = started;
  std::vector<Conn> conns;
  auto push_gone = [&](int process) {
    const std::string line = "gone " + std::to_string(process) + "\n";
    for (const Conn& c : conns) {
      if (c.process >= 0 && c.process != process) send_all(c.fd, line);
    }
  };
  auto table = [&] {
    const double now = clock_();
    std::string out = "table " + std::to_string(processes_) + "\n";
    for (int p = 0; p < processes_; ++p) {
      const Peer& e = peers[static_cast<std::size_t>(p)];
      const long silent_ms = static_cast<long>(std::max(0.0, now - e.last) * 1000);
      out += std::to_string(p) + " " + static_cast<char>(e.state.status) + " " +
             std::to_string(e.state.step) + " " + std::to_string(silent_ms) + " " + e.state.reason +
             "\n";
    }
    return out;
  };
  // One line from connection `c`; false drops the connection.
  auto handle = [&](Conn& c, const std::string& line) {
    const auto w = words(line, 3);
    if (w.empty()) return true;
    Peer* peer = c.process >= 0 ? &peers[static_cast<std::size_t>(c.process)] : nullptr;
    if (w[0] == "hello" && w.size() == 2 && peer == nullptr) {
      const auto p = number(w[1], 0, processes_ - 1);
      if (!p || peers[static_cast<std::size_t>(*p)].state.status != PeerState::kUnseen) {
        return false;  // not a process of this job, or one already here
      }
      c.process = static_cast<int>(*p);
      peer = &peers[static_cast<std::size_t>(*p)];
      peer->state.status = PeerState::kAlive;
      peer->state.step = 0;
      peer->last = clock_();
      return true;
    }
    if (w[0] == "table" && w.size() == 1) return send_all(c.fd, table());
    if (peer == nullptr) return false;  // anything else needs a hello first
    if (w[0] == "step" && w.size() == 2) {
      const auto s = number(w[1], 0, 1L << 30);
      if (!s) return false;
      if (peer->state.status == PeerState::kAlive) peer->state.step = static_cast<int>(*s);
      peer->last = clock_();
      return true;
    }
    if (w[0] == "fail" && w.size() >= 2) {
      const auto s = number(w[1], 0, 1L << 30);
      if (!s) return false;
      peer->state.status = PeerState::kFailed;
      peer->state.step = static_cast<int>(*s);
      peer->state.reason = one_line(w.size() > 2 ? w[2] : "", 400);
      peer->last = clock_();
      push_gone(c.process);
      return true;
    }
    if (w[0] == "done" && w.size() == 1) {
      if (peer->state.status == PeerState::kAlive) peer->state.status = PeerState::kDone;
      peer->last = clock_();
      return true;
    }
    return false;
  };
  auto drop = [&](std::size_t i) {
    Conn& c = conns[i];
    ::close(c.fd);
    if (c.process >= 0) {
      PeerState& s = peers[static_cast<std::size_t>(c.process)].state;
      if (s.status == PeerState::kAlive) {
        s.status = PeerState::kExited;
        push_gone(c.process);
      }
    }
    conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
  };
  while (!stop_) {
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
    for (const Conn& c : conns) fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 50) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0 && conns.size() >= static_cast<std::size_t>(processes_) + 16) {
        ::close(fd);  // more connections than a job of this size makes
      } else if (fd >= 0) {
        timeval limit{0, 200000};  // a process that stopped reading cannot stall the board
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
        conns.push_back({fd, -1, {}});
      }
    }
    // Connections from the poll's list only (fds[i + 1] is conns[i] until one is dropped).
    for (std::size_t i = fds.size() - 1; i >= 1; --i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Conn& c = conns[i - 1];
      char buf[4096];
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      bool keep = n > 0;
      if (keep) {
        c.buffer.append(buf, static_cast<std::size_t>(n));
        std::vector<std::string> lines;
        keep = take_lines(c.buffer, lines);
        for (const auto& line : lines) keep = keep && handle(c, line);
      }
      if (!keep) drop(i - 1);
    }
    bool settled = true;
    for (const Peer& p : peers)
      settled =
          settled && p.state.status != PeerState::kAlive && p.state.status != PeerState::kUnseen;
    if (settled) {
      std::lock_guard<std::mutex> lock(m_);
      all_settled_ = true;
      settled_.notify_all();
    }
  }
  for (const Conn& c : conns) ::close(c.fd);
}

// ---- a process's link ----

BoardClient::BoardClient(const std::string& host, int port, int process,
                         std::chrono::milliseconds deadline, std::chrono::milliseconds beat)
    : beat_(beat) {
  const auto until = Clock::now() + deadline;
  std::string why = "timed out";
  while (fd_ < 0) {
    AddrList addrs(host, std::to_string(port), false);
    for (addrinfo* a = addrs.list; a != nullptr && fd_ < 0; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        fd_ = fd;
      } else {
        why = std::strerror(errno);
        ::close(fd);
      }
    }
    if (fd_ >= 0) break;
    if (Clock::now() >= until) {
      throw std::runtime_error("cannot reach rank 0's progress board at " + host + ":" +
                               std::to_string(port) + ": " + why);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!send_line("hello " + std::to_string(process))) {
    ::close(fd_);
    throw std::runtime_error("rank 0's progress board at " + host + ":" + std::to_string(port) +
                             " closed the connection");
  }
  thread_ = std::thread([this] { run(); });
}

BoardClient::~BoardClient() {
  stop_ = true;
  ::shutdown(fd_, SHUT_RDWR);  // wakes the thread's poll
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

bool BoardClient::send_line(const std::string& line) noexcept {
  std::lock_guard<std::mutex> lock(write_m_);
  return send_all(fd_, line + "\n");
}

void BoardClient::fail(const std::string& reason) noexcept {
  send_line("fail " + std::to_string(step()) + " " + one_line(reason, 400));
}

void BoardClient::done() noexcept { send_line("done"); }

std::optional<std::vector<PeerState>> BoardClient::table(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(table_m_);
  table_.reset();
  if (closed_ || !send_line("table")) return std::nullopt;
  table_cv_.wait_for(lock, wait, [&] { return table_.has_value() || closed_; });
  return table_;
}

void BoardClient::run() noexcept {
  std::string buffer;
  std::vector<PeerState> rows;
  long expected = -1;  // rows of a table still to come
  auto next_beat = Clock::now();
  while (!stop_) {
    if (Clock::now() >= next_beat) {
      send_line("step " + std::to_string(step()));
      next_beat = Clock::now() + beat_;
    }
    pollfd p{fd_, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_beat - Clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    std::vector<std::string> lines;
    bool ok = n > 0;
    if (ok) {
      buffer.append(buf, static_cast<std::size_t>(n));
      ok = take_lines(buffer, lines);
    }
    for (const auto& line : lines) {
      const auto w = words(line, 5);
      if (expected > 0) {
        PeerState s;
        const auto silent = w.size() >= 4 ? number(w[3], 0, 1L << 30) : std::nullopt;
        if (w.size() >= 4 && w[1].size() == 1 && silent) {
          s.status = static_cast<PeerState::Status>(w[1][0]);
          s.step = w[2] == "-1" ? -1 : static_cast<int>(number(w[2], 0, 1L << 30).value_or(-1));
          s.silent_s = double(*silent) / 1000;
          if (w.size() == 5) s.reason = w[4];
        }
        rows.push_back(std::move(s));
        if (--expected == 0) {
          std::lock_guard<std::mutex> lock(table_m_);
          table_ = std::move(rows);
          rows.clear();
          table_cv_.notify_all();
        }
      } else if (w.size() == 2 && w[0] == "gone") {
        news_ = true;
      } else if (w.size() == 2 && w[0] == "table") {
        expected = number(w[1], 1, 1L << 20).value_or(-1);
        rows.clear();
      }
    }
    if (!ok) break;
  }
  std::lock_guard<std::mutex> lock(table_m_);
  closed_ = true;
  if (!stop_) news_ = true;  // the board went away: rank 0's process is gone
  table_cv_.notify_all();
}

}  // namespace ncclrt_tool
