// The sandboxed start of one child (see sandbox_spawn.hpp, subprocess.hpp).
//
// Everything between fork() and execve() below runs in a copy of a
// multi-threaded process, so it only makes system calls: every string and
// array it needs is prepared before the fork.
#include "process/sandbox_spawn.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace troupe::process::detail {
namespace {

namespace fs = std::filesystem;

// What the supervisor reports first on its status pipe.
enum Isolation : int { kNamespaces = 1, kSubreaper = 2, kSubreaperOff = 3 };
struct Report {
  int isolation = 0;
  int error = 0;  // why namespaces were refused
};

// Prepared before the fork.
struct Plan {
  std::string program;
  std::vector<std::string> arg_store, env_store;
  std::vector<char*> argv, envp;
  std::string workdir, uid_map, gid_map;
  pid_t parent = 0;
  Sandbox limits;
};

// A program name resolved the way a shell would, in the caller's PATH.
std::string resolve(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return program;
}

// Async-signal-safe helpers for the forked side.
void write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

bool write_file(const char* path, const std::string& text) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t w = ::write(fd, text.data(), text.size());
  ::close(fd);
  return w == static_cast<ssize_t>(text.size());
}

void close_from(int first) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, first, ~0U, 0) == 0) return;
#endif
  struct rlimit rl{};
  int max = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? static_cast<int>(rl.rlim_cur) : 4096;
  for (int fd = first; fd < max; ++fd) ::close(fd);
}

void limit(int resource, uint64_t soft, uint64_t hard) {
  struct rlimit rl{static_cast<rlim_t>(soft), static_cast<rlim_t>(hard)};
  ::setrlimit(resource, &rl);
}

// Kills every child of this (single-threaded, subreaper) process and reaps
// them, including descendants re-parented here when their parents die.
void kill_descendants() {
  char buf[4096];
  for (int round = 0; round < 5000; ++round) {
    int fd = ::open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t n = ::read(fd, buf, sizeof buf - 1);
      ::close(fd);
      pid_t pid = 0;
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] >= '0' && buf[i] <= '9') {
          pid = pid * 10 + (buf[i] - '0');
        } else if (pid > 0) {
          ::kill(-pid, SIGKILL);
          ::kill(pid, SIGKILL);
          pid = 0;
        }
      }
      if (pid > 0) {
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
      }
    }
    int status = 0;
    pid_t w;
    while ((w = ::waitpid(-1, &status, WNOHANG)) > 0) {
    }
    if (w < 0 && errno == ECHILD) return;
    struct timespec pause{0, 1000000};  // 1 ms: let the killed ones exit
    ::nanosleep(&pause, nullptr);
  }
}

[[noreturn]] void run_command(const Plan& p) {
  // Default signal handling and an empty mask for the command.
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGXCPU, SIGXFSZ}) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  close_from(3);
  const Sandbox& l = p.limits;
  if (l.cpu_s > 0) {
    auto s = static_cast<uint64_t>(std::ceil(l.cpu_s));
    limit(RLIMIT_CPU, s, s + 1);
  }
  if (l.address_space_bytes) limit(RLIMIT_AS, l.address_space_bytes, l.address_space_bytes);
  if (l.max_file_bytes) limit(RLIMIT_FSIZE, l.max_file_bytes, l.max_file_bytes);
  if (l.max_open_files) limit(RLIMIT_NOFILE, l.max_open_files, l.max_open_files);
  limit(RLIMIT_CORE, 0, 0);
  if (::chdir(p.workdir.c_str()) != 0) ::_exit(126);
  ::execve(p.program.c_str(), p.argv.data(), p.envp.data());
  ::_exit(127);
}

// The supervisor: fd 0-2 are the command's pipes, fd 3 the status pipe.
[[noreturn]] void supervise(const Plan& p) {
  ::setsid();
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &stop, nullptr);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != p.parent) ::_exit(125);  // the caller is already gone
  close_from(4);

  Report report;
  bool user_ns = false;
  if (!p.limits.namespaces) {
    report.isolation = kSubreaperOff;
  } else if (::unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET) == 0) {
    user_ns = true;
    report.isolation = kNamespaces;
    // Keep the caller's ids inside (an unmapped id would be "nobody").
    write_file("/proc/self/setgroups", "deny");
    write_file("/proc/self/uid_map", p.uid_map);
    write_file("/proc/self/gid_map", p.gid_map);
  } else {
    int first = errno;
    // Root without user namespaces (some container runtimes) can still
    // make the PID and network namespaces.
    if (::unshare(CLONE_NEWPID | CLONE_NEWNET) == 0) {
      report.isolation = kNamespaces;
    } else {
      report.isolation = kSubreaper;
      report.error = first;
    }
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  write_all(3, &report, sizeof report);

  pid_t cmd = ::fork();
  if (cmd == 0) {
    if (user_ns && p.limits.max_processes > 0)
      limit(RLIMIT_NPROC, static_cast<uint64_t>(p.limits.max_processes),
            static_cast<uint64_t>(p.limits.max_processes));
    run_command(p);
  }
  int status = 0;
  if (cmd < 0) {
    status = 127 << 8;
  } else {
    for (;;) {
      int sig = 0;
      if (::sigwait(&stop, &sig) != 0) continue;
      if (sig == SIGTERM) {
        ::kill(cmd, SIGKILL);
        while (::waitpid(cmd, &status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      pid_t w = ::waitpid(cmd, &status, WNOHANG);
      if (w == cmd) break;
    }
  }
  // The command is over: nothing it started may outlive it.
  kill_descendants();
  write_all(3, &status, sizeof status);
  ::_exit(0);
}

}  // namespace

bool spawn_sandboxed(const ChildSpec& spec, int in, int out, int err, SandboxChild& child, std::string& error,
                     int& error_number) {
  Plan p;
  p.limits = *spec.sandbox;
  p.program = resolve(spec.program);
  if (::access(p.program.c_str(), X_OK) != 0) {
    error_number = errno;
    error = "cannot start '" + spec.program + "': " + std::strerror(errno);
    return false;
  }
  std::error_code ec;
  std::string tmpl = (fs::temp_directory_path(ec) / "troupe-sandbox-XXXXXX").string();
  if (ec) tmpl = "/tmp/troupe-sandbox-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  if (!::mkdtemp(name.data())) {
    error_number = errno;
    error = "cannot create the sandbox's working folder: " + std::string(std::strerror(errno));
    return false;
  }
  p.workdir = name.data();
  p.arg_store.push_back(spec.program);
  p.arg_store.insert(p.arg_store.end(), spec.args.begin(), spec.args.end());
  p.env_store = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + p.workdir, "TMPDIR=" + p.workdir,
                 "PWD=" + p.workdir, "LANG=C", "LC_ALL=C"};
  for (auto& a : p.arg_store) p.argv.push_back(a.data());
  p.argv.push_back(nullptr);
  for (auto& e : p.env_store) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);
  p.uid_map = std::to_string(::getuid()) + " " + std::to_string(::getuid()) + " 1\n";
  p.gid_map = std::to_string(::getgid()) + " " + std::to_string(::getgid()) + " 1\n";
  p.parent = ::getpid();

  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
    error_number = errno;
    error = "cannot create a pipe: " + std::string(std::strerror(errno));
    fs::remove_all(p.workdir, ec);
    return false;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    // Pipes onto 0-3 (dup2 clears close-on-exec), then the supervisor.
    int fds[4] = {in, out, err, status_pipe[1]};
    for (int i = 0; i < 4; ++i) {
      // Move each out of the way first so dup2 onto a low number cannot
      // clobber one still to be placed.
      fds[i] = ::fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
    }
    for (int i = 0; i < 4; ++i) ::dup2(fds[i], i);
    supervise(p);
  }
  ::close(status_pipe[1]);
  if (pid < 0) {
    error_number = errno;
    error = "cannot start '" + spec.program + "': fork: " + std::strerror(errno);
    ::close(status_pipe[0]);
    fs::remove_all(p.workdir, ec);
    return false;
  }
  child.pid = pid;
  child.status_fd = status_pipe[0];
  child.workdir = p.workdir;
  Report report;
  ssize_t n;
  while ((n = ::read(child.status_fd, &report, sizeof report)) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof report)) {
    if (report.isolation == kNamespaces) child.isolation = "pid+net namespaces";
    else if (report.isolation == kSubreaperOff) child.isolation = "subreaper (namespaces off)";
    else child.isolation = "subreaper (namespaces refused: " + std::string(std::strerror(report.error)) + ")";
  } else {
    child.isolation = "unknown (the supervisor ended early)";
  }
  return true;
}

int finish_sandbox(SandboxChild& child, int supervisor_status) {
  int status = supervisor_status;
  if (child.status_fd >= 0) {
    int reported = 0;
    ssize_t n;
    while ((n = ::read(child.status_fd, &reported, sizeof reported)) < 0 && errno == EINTR) {
    }
    if (n == static_cast<ssize_t>(sizeof reported)) status = reported;
    ::close(child.status_fd);
    child.status_fd = -1;
  }
  if (!child.workdir.empty()) {
    std::error_code ec;
    fs::remove_all(child.workdir, ec);
    child.workdir.clear();
  }
  return status;
}

}  // namespace troupe::process::detail
