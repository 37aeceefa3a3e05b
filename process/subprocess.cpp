#include "process/subprocess.hpp"

#include "process/sandbox_spawn.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

extern char** environ;

namespace troupe::process {
namespace {

using Clock = std::chrono::steady_clock;

struct Child {
  pid_t pid = -1;
  int in = -1, out = -1, err = -1;
  size_t written = 0;
  bool reaped = false;
  bool killed = false;  // stopping it was asked for (deadline or cancel)
  Clock::time_point start, deadline;
  Clock::time_point hard_kill = Clock::time_point::max();  // sandboxed: SIGKILL the group if still there
  std::optional<detail::SandboxChild> sandbox;
};

// A sandboxed child gets a second to let its supervisor kill every
// descendant before its whole group is killed.
constexpr auto kSupervisorGrace = std::chrono::seconds(1);

// Stops a child: a sandboxed one through its supervisor (SIGTERM), a plain
// one with SIGKILL to its process group.
void stop_child(Child& c) {
  c.killed = true;
  if (c.sandbox) {
    ::kill(c.pid, SIGTERM);
    c.hard_kill = Clock::now() + kSupervisorGrace;
  } else {
    ::kill(-c.pid, SIGKILL);
    ::kill(c.pid, SIGKILL);
  }
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Reads what is available; closes the fd at end of file or on error.
void drain(int& fd, std::string& sink, size_t cap) {
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      size_t room = sink.size() < cap ? cap - sink.size() : 0;
      sink.append(buf, std::min(room, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close_fd(fd);
    return;
  }
}

// Blocks SIGPIPE on this thread while children run, and swallows a pending
// one before restoring the mask.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~SigpipeGuard() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    timespec zero{0, 0};
    while (sigtimedwait(&set, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
};

// A child with the caller's environment, in a process group of its own.
bool spawn_plain(const ChildSpec& spec, int in, int out, int err, pid_t& pid, ChildResult& r) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(spec.program.c_str()));
  for (const auto& a : spec.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int rc = posix_spawnp(&pid, spec.program.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    r.start_errno = rc;
    r.start_error = "cannot start '" + spec.program + "': " + std::strerror(rc);
    return false;
  }
  return true;
}

bool start(const ChildSpec& spec, Child& c, ChildResult& r) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) {
    r.start_errno = errno;
    r.start_error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return false;
  }
  if (::pipe2(out, O_CLOEXEC) != 0) {
    r.start_errno = errno;
    ::close(in[0]);
    ::close(in[1]);
    r.start_error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return false;
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    r.start_errno = errno;
    for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
    r.start_error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return false;
  }
  // The child's ends are closed here once it has them (or failed to start).
  bool ok;
  if (spec.sandbox) {
    detail::SandboxChild sc;
    ok = detail::spawn_sandboxed(spec, in[0], out[1], err[1], sc, r.start_error, r.start_errno);
    r.isolation = sc.isolation;
    c.pid = sc.pid;
    if (ok) c.sandbox = std::move(sc);
  } else {
    ok = spawn_plain(spec, in[0], out[1], err[1], c.pid, r);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  if (!ok) {
    ::close(in[1]);
    ::close(out[0]);
    ::close(err[0]);
    return false;
  }
  c.in = in[1];
  c.out = out[0];
  c.err = err[0];
  for (int fd : {c.in, c.out, c.err}) set_nonblocking(fd);
  c.start = Clock::now();
  c.deadline = c.start + std::chrono::microseconds(static_cast<int64_t>(spec.timeout_s * 1e6));
  r.started = true;
  if (spec.input.empty()) close_fd(c.in);
  return true;
}

void record_status(int status, const rusage& ru, ChildResult& r) {
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

}  // namespace

std::vector<ChildResult> run_children(const std::vector<ChildSpec>& specs) {
  SigpipeGuard guard;
  std::vector<ChildResult> results(specs.size());
  std::vector<Child> kids(specs.size());
  for (size_t i = 0; i < specs.size(); ++i)
    if (!start(specs[i], kids[i], results[i])) kids[i].reaped = true;

  for (;;) {
    auto now = Clock::now();
    bool active = false;
    bool waiting_exit = false;  // a child closed its pipes but has not exited
    std::vector<pollfd> fds;
    std::vector<std::pair<size_t, int>> owners;  // (child, which: 0 in, 1 out, 2 err)
    auto next_deadline = Clock::time_point::max();
    for (size_t i = 0; i < kids.size(); ++i) {
      Child& c = kids[i];
      if (c.reaped) continue;
      int status = 0;
      rusage ru{};
      pid_t w = ::wait4(c.pid, &status, WNOHANG, &ru);
      if (w == c.pid) {
        if (c.sandbox) status = detail::finish_sandbox(*c.sandbox, status);
        record_status(status, ru, results[i]);
        // The child is gone: take what its pipes still hold, then stop
        // anything it left behind in its group.
        ::kill(-c.pid, SIGKILL);
        close_fd(c.in);
        if (c.out >= 0) drain(c.out, results[i].out, specs[i].max_output);
        if (c.err >= 0) drain(c.err, results[i].err, specs[i].max_output);
        close_fd(c.out);
        close_fd(c.err);
        c.reaped = true;
        results[i].wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - c.start).count();
        continue;
      }
      if (!c.killed && now >= c.deadline) {
        results[i].timed_out = true;
        stop_child(c);
        close_fd(c.in);
      } else if (!c.killed && specs[i].cancel && specs[i].cancel->load()) {
        results[i].cancelled = true;
        stop_child(c);
        close_fd(c.in);
      }
      if (c.killed && now >= c.hard_kill) {
        ::kill(-c.pid, SIGKILL);
        ::kill(c.pid, SIGKILL);
        c.hard_kill = Clock::time_point::max();
      }
      active = true;
      if (!c.killed) next_deadline = std::min(next_deadline, c.deadline);
      if (!c.killed && specs[i].cancel) next_deadline = std::min(next_deadline, now + std::chrono::milliseconds(50));
      if (c.in >= 0) {
        fds.push_back({c.in, POLLOUT, 0});
        owners.push_back({i, 0});
      }
      if (c.out >= 0) {
        fds.push_back({c.out, POLLIN, 0});
        owners.push_back({i, 1});
      }
      if (c.err >= 0) {
        fds.push_back({c.err, POLLIN, 0});
        owners.push_back({i, 2});
      }
      if (c.in < 0 && c.out < 0 && c.err < 0) waiting_exit = true;
      if (c.killed) waiting_exit = true;  // stopping: reap soon
    }
    if (!active) break;
    int timeout_ms = 1000;
    if (next_deadline != Clock::time_point::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - now).count() + 1;
      timeout_ms = static_cast<int>(std::clamp<int64_t>(left, 0, 1000));
    }
    if (waiting_exit) timeout_ms = std::min(timeout_ms, 2);
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      auto [i, which] = owners[k];
      Child& c = kids[i];
      if (which == 0) {
        const std::string& input = specs[i].input;
        if (fds[k].revents & (POLLERR | POLLHUP | POLLNVAL)) {
          close_fd(c.in);
          continue;
        }
        ssize_t w = ::write(c.in, input.data() + c.written, input.size() - c.written);
        if (w > 0) c.written += static_cast<size_t>(w);
        else if (w < 0 && errno != EAGAIN && errno != EINTR) close_fd(c.in);  // EPIPE: the child stopped reading
        if (c.written >= input.size()) close_fd(c.in);
      } else {
        drain(which == 1 ? c.out : c.err, which == 1 ? results[i].out : results[i].err, specs[i].max_output);
      }
    }
  }
  // Only reached early if poll() itself failed: kill and reap whatever is left.
  for (size_t i = 0; i < kids.size(); ++i) {
    Child& c = kids[i];
    if (c.reaped) continue;
    if (c.sandbox) ::kill(c.pid, SIGTERM);  // its supervisor stops what the command started
    else ::kill(-c.pid, SIGKILL);
    int status = 0;
    rusage ru{};
    while (::wait4(c.pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    if (c.sandbox) status = detail::finish_sandbox(*c.sandbox, status);
    ::kill(-c.pid, SIGKILL);
    record_status(status, ru, results[i]);
    results[i].timed_out = true;
    for (int* fd : {&c.in, &c.out, &c.err}) close_fd(*fd);
    c.reaped = true;
  }
  return results;
}

}  // namespace troupe::process
