#include "engine/serve/http_guard.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/wire.hpp"

namespace troupe::engine {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxHeaderBytes = 16 * 1024;

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s < 0 ? 0 : s));
}

// Waits for `events` on fd until `deadline`, in slices so a stopping server
// is noticed. True when ready (or hung up: the following read/write reports it).
bool wait_fd(int fd, short events, Clock::time_point deadline, const std::atomic<bool>* stopping) {
  for (;;) {
    if (stopping && stopping->load()) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 200)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

// httplib's view of one request on a connection: the header, already peeked
// complete by the poller, is read in one go; the body straight from the
// socket with a deadline; nothing is read past the request, so the
// connection can go back to the poller afterwards.
class ConnStream : public httplib::Stream {
 public:
  ConnStream(int fd, const HttpLimits& limits, const std::atomic<bool>* stopping)
      : fd_(fd), limits_(limits), stopping_(stopping) {}

  bool read_header(size_t n) {
    head_.resize(n);
    auto deadline = Clock::now() + seconds(limits_.read_timeout_s);
    size_t got = 0;
    while (got < n) {
      if (!wait_fd(fd_, POLLIN, deadline, stopping_)) return false;
      ssize_t r = ::recv(fd_, head_.data() + got, n - got, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    body_deadline_ = Clock::now() + seconds(limits_.read_timeout_s);
    return true;
  }

  bool is_readable() const override {
    if (pos_ < head_.size()) return true;
    return wait_fd(fd_, POLLIN, body_deadline_, stopping_);
  }
  bool is_writable() const override {
    return wait_fd(fd_, POLLOUT, Clock::now() + seconds(limits_.write_timeout_s), stopping_);
  }
  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < head_.size()) {
      size_t n = std::min(size, head_.size() - pos_);
      std::memcpy(ptr, head_.data() + pos_, n);
      pos_ += n;
      return static_cast<ssize_t>(n);
    }
    for (;;) {
      if (!wait_fd(fd_, POLLIN, body_deadline_, stopping_)) return -1;
      ssize_t r = ::recv(fd_, ptr, size, 0);
      if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      return r;
    }
  }
  ssize_t write(const char* ptr, size_t size) override {
    for (;;) {
      if (!is_writable()) return -1;
      ssize_t r = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      return r;
    }
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(false, ip, port); }
  socket_t socket() const override { return fd_; }

  bool gone() const {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
    char c;
    return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }

  bool close_after = false;

 private:
  void address(bool peer, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof(a);
    int r = peer ? ::getpeername(fd_, reinterpret_cast<sockaddr*>(&a), &len)
                 : ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    if (r != 0) return;
    char buf[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
      auto* s = reinterpret_cast<sockaddr_in*>(&a);
      ::inet_ntop(AF_INET, &s->sin_addr, buf, sizeof(buf));
      port = ntohs(s->sin_port);
    } else if (a.ss_family == AF_INET6) {
      auto* s = reinterpret_cast<sockaddr_in6*>(&a);
      ::inet_ntop(AF_INET6, &s->sin6_addr, buf, sizeof(buf));
      port = ntohs(s->sin6_port);
    }
    ip = buf;
  }

  int fd_;
  const HttpLimits& limits_;
  const std::atomic<bool>* stopping_;
  std::string head_;
  size_t pos_ = 0;
  Clock::time_point body_deadline_{};
};

thread_local ConnStream* t_conn = nullptr;

std::string quick_reply(int status, const char* reason, std::string_view message) {
  std::string body = wire::write_error_body(message, status >= 500 ? "server_error" : "invalid_request_error", "",
                                            wire::error_code_for_status(status));
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                    "\r\nContent-Type: application/json\r\nConnection: close\r\n";
  if (status == 503) out += "Retry-After: 1\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return out;
}

}  // namespace

// The poller (connections waiting for a complete header, or lingering
// after a refusal) and the two worker pools of one listen().
struct GuardedHttpServer::Core {
  struct Job {
    int fd;
    size_t header_len;
  };
  struct Waiting {
    Clock::time_point since, deadline;
    bool kept_alive = false;  // back after a reply: idle until its next request starts
    bool got_bytes = false;
  };

  GuardedHttpServer& server;
  HttpLimits lim;
  int ep = -1, wake = -1;
  std::atomic<bool> stopping{false};
  std::atomic<int> open{0};
  std::atomic<int64_t> rejected{0}, evicted{0}, header_timeouts{0};

  // How a connection reaches the poller: just accepted, back after a reply
  // (kept alive), or to be closed once the client has read the reply.
  enum class Arrival { accepted, kept_alive, closing };

  std::mutex mu;  // guards incoming, main_jobs, quick_jobs
  std::condition_variable cv;
  std::vector<std::pair<int, Arrival>> incoming;
  std::deque<Job> main_jobs, quick_jobs;

  std::thread poller;
  std::vector<std::thread> pool;
  bool shut = false;

  // Poller thread only.
  std::unordered_map<int, Waiting> waiting;
  std::unordered_map<int, Clock::time_point> lingering;

  Core(GuardedHttpServer& s, HttpLimits l) : server(s), lim(l) {
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, wake, &ev);
    poller = std::thread([this] { poll_loop(); });
    for (int i = 0; i < std::max(1, lim.workers); ++i) pool.emplace_back([this] { work(false); });
    for (int i = 0; i < std::max(1, lim.quick_workers); ++i) pool.emplace_back([this] { work(true); });
  }
  ~Core() {
    shutdown();
    if (ep >= 0) ::close(ep);
    if (wake >= 0) ::close(wake);
  }

  void notify_poller() {
    uint64_t one = 1;
    (void)!::write(wake, &one, sizeof(one));
  }

  // From the accept thread (accepted) or a worker (after a reply).
  void adopt(int fd, Arrival how) {
    if (how == Arrival::accepted) open.fetch_add(1);
    if (how == Arrival::closing) {
      // Half-close: the client reads the reply to its end instead of a
      // reset for what it sent that was never read (a refused body).
      ::shutdown(fd, SHUT_WR);
      open.fetch_sub(1);
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      incoming.emplace_back(fd, how);
    }
    notify_poller();
  }

  void close_fd(int fd) {
    ::close(fd);
    open.fetch_sub(1);
  }

  // Answers and half-closes; the poller drains what the client still sends
  // for a moment, so the client reads the reply instead of a reset.
  void refuse(int fd, int status, const char* reason, std::string_view message, bool in_epoll) {
    std::string r = quick_reply(status, reason, message);
    (void)!::send(fd, r.data(), r.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    open.fetch_sub(1);
    waiting.erase(fd);
    linger(fd, in_epoll);
  }

  // Poller: drains what the client still sends for up to a second, then
  // closes (already half-closed and no longer counted as open).
  void linger(int fd, bool in_epoll) {
    if (!in_epoll) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
      ev.data.fd = fd;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ::close(fd);
        return;
      }
    }
    lingering[fd] = Clock::now() + std::chrono::seconds(1);
  }

  void drop_waiting(int fd) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    waiting.erase(fd);
    close_fd(fd);
  }

  void drop_lingering(int fd) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    lingering.erase(fd);
    ::close(fd);
  }

  void take_incoming() {
    std::vector<std::pair<int, Arrival>> in;
    {
      std::lock_guard<std::mutex> lock(mu);
      in.swap(incoming);
    }
    auto now = Clock::now();
    for (auto [fd, how] : in) {
      if (how == Arrival::closing) {
        if (stopping) ::close(fd);
        else linger(fd, false);
        continue;
      }
      if (stopping) {
        close_fd(fd);
        continue;
      }
      const bool kept = how == Arrival::kept_alive;
      if (!kept && open.load() > lim.max_connections) {
        // Make room by dropping the connection that has waited longest
        // for its header; with none waiting, refuse the new one.
        auto oldest = waiting.end();
        for (auto it = waiting.begin(); it != waiting.end(); ++it)
          if (oldest == waiting.end() || it->second.since < oldest->second.since) oldest = it;
        if (oldest == waiting.end()) {
          rejected.fetch_add(1);
          refuse(fd, 503, "Service Unavailable", "too many connections; retry later", false);
          continue;
        }
        evicted.fetch_add(1);
        refuse(oldest->first, 503, "Service Unavailable", "too many connections; retry later", true);
      }
      Waiting w;
      w.since = now;
      w.kept_alive = kept;
      w.deadline = now + seconds(kept ? lim.keep_alive_s : lim.header_timeout_s);
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
      ev.data.fd = fd;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close_fd(fd);
        continue;
      }
      waiting[fd] = w;
    }
  }

  void on_readable(int fd, uint32_t events, char* buf) {
    if (auto l = lingering.find(fd); l != lingering.end()) {
      size_t drained = 0;
      for (;;) {
        ssize_t r = ::recv(fd, buf, kMaxHeaderBytes, MSG_DONTWAIT);
        if (r > 0 && (drained += static_cast<size_t>(r)) < (1u << 20)) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        drop_lingering(fd);
        return;
      }
    }
    auto it = waiting.find(fd);
    if (it == waiting.end()) return;
    ssize_t n = ::recv(fd, buf, kMaxHeaderBytes, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) return drop_waiting(fd);
    Waiting& w = it->second;
    if (w.kept_alive && !w.got_bytes) w.deadline = Clock::now() + seconds(lim.header_timeout_s);
    w.got_bytes = true;
    std::string_view seen(buf, static_cast<size_t>(n));
    size_t end = seen.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (static_cast<size_t>(n) >= kMaxHeaderBytes)
        return refuse(fd, 431, "Request Header Fields Too Large", "request header over 16 KiB", true);
      if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) return drop_waiting(fd);  // can never complete
      return;
    }
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    waiting.erase(it);
    // "METHOD /path?query HTTP/1.1": the lane is picked on method and path.
    std::string_view line = seen.substr(0, seen.find("\r\n"));
    size_t sp1 = line.find(' ');
    std::string_view method = line.substr(0, sp1);
    std::string_view path = sp1 == std::string_view::npos ? std::string_view{} : line.substr(sp1 + 1);
    path = path.substr(0, std::min(path.find(' '), path.find('?')));
    bool quick = server.quick_ && server.quick_(method, path);
    {
      std::lock_guard<std::mutex> lock(mu);
      (quick ? quick_jobs : main_jobs).push_back(Job{fd, end + 4});
    }
    cv.notify_all();
  }

  void expire(Clock::time_point now) {
    std::vector<int> late;
    for (const auto& [fd, w] : waiting)
      if (w.deadline <= now) late.push_back(fd);
    for (int fd : late) {
      const Waiting& w = waiting[fd];
      if (w.kept_alive && !w.got_bytes) {
        drop_waiting(fd);  // an idle kept-alive connection: closed quietly
      } else {
        header_timeouts.fetch_add(1);
        refuse(fd, 408, "Request Timeout", "the request header did not arrive in time", true);
      }
    }
    late.clear();
    for (const auto& [fd, until] : lingering)
      if (until <= now) late.push_back(fd);
    for (int fd : late) drop_lingering(fd);
  }

  void poll_loop() {
    std::vector<char> buf(kMaxHeaderBytes);
    epoll_event events[64];
    auto next_expiry = Clock::now();
    while (!stopping) {
      int n = ::epoll_wait(ep, events, 64, 100);
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake) {
          uint64_t v;
          (void)!::read(wake, &v, sizeof(v));
          take_incoming();
        } else {
          on_readable(fd, events[i].events, buf.data());
        }
      }
      auto now = Clock::now();
      if (now >= next_expiry) {
        expire(now);
        next_expiry = now + std::chrono::milliseconds(100);
      }
    }
    take_incoming();  // closes what arrived meanwhile
    for (const auto& [fd, w] : waiting) close_fd(fd);
    waiting.clear();
    for (const auto& [fd, until] : lingering) ::close(fd);
    lingering.clear();
  }

  void work(bool quick) {
    std::deque<Job>& jobs = quick ? quick_jobs : main_jobs;
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stopping.load() || !jobs.empty(); });
        if (stopping) {
          while (!jobs.empty()) {
            close_fd(jobs.front().fd);
            jobs.pop_front();
          }
          return;
        }
        job = jobs.front();
        jobs.pop_front();
      }
      server.serve_one(*this, job.fd, job.header_len);
    }
  }

  void shutdown() {
    if (shut) return;
    shut = true;
    stopping = true;
    notify_poller();
    cv.notify_all();
    if (poller.joinable()) poller.join();
    for (auto& t : pool)
      if (t.joinable()) t.join();
    // Connections handed back after the poller ended.
    std::lock_guard<std::mutex> lock(mu);
    for (auto [fd, how] : incoming) {
      if (how == Arrival::closing) ::close(fd);
      else close_fd(fd);
    }
    incoming.clear();
  }
};

namespace {

class InlineQueue : public httplib::TaskQueue {
 public:
  explicit InlineQueue(std::shared_ptr<GuardedHttpServer::Core> core) : core_(std::move(core)) {}
  // httplib's accept loop hands each accepted socket over as a task that
  // calls process_and_close_socket(); run here, that only adopts it.
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { core_->shutdown(); }

 private:
  std::shared_ptr<GuardedHttpServer::Core> core_;
};

}  // namespace

GuardedHttpServer::GuardedHttpServer(HttpLimits limits, std::function<bool(std::string_view, std::string_view)> quick)
    : limits_(limits), quick_(std::move(quick)) {
  new_task_queue = [this] {
    auto core = std::make_shared<Core>(*this, limits_);
    std::lock_guard<std::mutex> lock(core_mu_);
    core_ = core;
    return new InlineQueue(core);
  };
  set_keep_alive_timeout(static_cast<time_t>(std::max(1.0, limits_.keep_alive_s)));
}

GuardedHttpServer::~GuardedHttpServer() {
  std::shared_ptr<Core> core;
  {
    std::lock_guard<std::mutex> lock(core_mu_);
    core = core_;
  }
  if (core) core->shutdown();
}

// On the accept thread, which also made core_ (new_task_queue).
bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  core_->adopt(sock, Core::Arrival::accepted);
  return true;
}

void GuardedHttpServer::serve_one(Core& core, int fd, size_t header_len) {
  ConnStream stream(fd, limits_, &core.stopping);
  if (!stream.read_header(header_len)) return core.close_fd(fd);
  bool closed = false;
  t_conn = &stream;
  bool ok = process_request(stream, core.stopping.load(), closed, nullptr);
  t_conn = nullptr;
  if (core.stopping) return core.close_fd(fd);
  core.adopt(fd, !ok || closed || stream.close_after ? Core::Arrival::closing : Core::Arrival::kept_alive);
}

GuardedHttpServer::StreamSlot& GuardedHttpServer::StreamSlot::operator=(StreamSlot&& o) noexcept {
  if (this != &o) {
    if (count_) count_->fetch_sub(1);
    count_ = o.count_;
    o.count_ = nullptr;
  }
  return *this;
}

GuardedHttpServer::StreamSlot::~StreamSlot() {
  if (count_) count_->fetch_sub(1);
}

GuardedHttpServer::StreamSlot GuardedHttpServer::try_stream_slot() {
  if (limits_.max_streams <= 0) {
    streams_.fetch_add(1);
    return StreamSlot(&streams_);
  }
  int n = streams_.load();
  while (n < limits_.max_streams)
    if (streams_.compare_exchange_weak(n, n + 1)) return StreamSlot(&streams_);
  streams_refused_.fetch_add(1);
  return StreamSlot();
}

bool GuardedHttpServer::client_gone() { return t_conn && t_conn->gone(); }

void GuardedHttpServer::close_after_reply() {
  if (t_conn) t_conn->close_after = true;
}

GuardedHttpServer::Counts GuardedHttpServer::counts() const {
  Counts c;
  c.streams_refused = streams_refused_.load();
  std::shared_ptr<Core> core;
  {
    std::lock_guard<std::mutex> lock(core_mu_);
    core = core_;
  }
  if (core) {
    c.rejected = core->rejected.load();
    c.evicted = core->evicted.load();
    c.header_timeouts = core->header_timeouts.load();
  }
  return c;
}

bool tokens_equal(std::string_view presented, std::string_view expected) {
  unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    // Past the presented length, compare with a byte that differs from
    // anything, so the loop does the same work either way.
    unsigned char p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    unsigned char e = static_cast<unsigned char>(expected[i]);
    diff |= static_cast<unsigned char>(p ^ e);
  }
  return diff == 0;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

std::optional<std::string> non_json_content_type(const httplib::Request& req) {
  bool has_body = !req.get_header_value("Transfer-Encoding").empty() ||
                  (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0");
  if (!has_body || !req.has_header("Content-Type")) return std::nullopt;
  std::string type = req.get_header_value("Content-Type");
  std::string media = type.substr(0, type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
  for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (media == "application/json" || (media.size() > 5 && media.compare(media.size() - 5, 5, "+json") == 0))
    return std::nullopt;
  return type;
}

}  // namespace troupe::engine
