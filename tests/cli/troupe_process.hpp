// A `troupe` subcommand (serve, daemon) as a separate process: started with
// fork/exec, its stderr read through a pipe until a line matches the
// readiness pattern (no polling, no sleeps), stopped with a signal and
// reaped for its exit code. Group 1 of the pattern is the port it listens on.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/cli_harness.hpp"

namespace troupe::testing {

class TroupeProcess {
 public:
  TroupeProcess(const std::string& subcommand, const std::vector<std::string>& args, const std::string& ready) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      dup2(fds[1], 2);
      close(fds[0]);
      close(fds[1]);
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      std::vector<std::string> all = {troupe_binary(), subcommand};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    err_ = fdopen(fds[0], "r");
    std::regex ready_re(ready);
    char line[4096];
    while (fgets(line, sizeof line, err_)) {
      log_ += line;
      std::smatch m;
      std::string l(line);
      if (std::regex_search(l, m, ready_re)) {
        port_ = std::stoi(m[1]);
        return;
      }
    }
    int code = wait_exit();
    throw std::runtime_error("troupe " + subcommand + " exited (" + std::to_string(code) + ") before it was ready:\n" +
                             log_);
  }
  TroupeProcess(const TroupeProcess&) = delete;
  TroupeProcess& operator=(const TroupeProcess&) = delete;
  ~TroupeProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      wait_exit();
    }
    if (err_) fclose(err_);
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Sends `sig` and waits for the exit code (-1 when killed by a signal);
  // the rest of stderr is appended to log().
  int stop(int sig = SIGTERM) {
    if (reaped_) return -1;
    kill(pid_, sig);
    return wait_exit();
  }
  // Sends `sig` and waits at most `seconds` for the process to exit; a
  // process still there is killed (SIGKILL) and *in_time set false. Returns
  // the exit code as stop() does.
  int stop_within(int sig, double seconds, bool* in_time) {
    *in_time = true;
    if (reaped_) return -1;
    kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        *in_time = false;
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      usleep(10000);  // polling an exit with a deadline
    }
    reaped_ = true;
    char line[4096];
    while (err_ && fgets(line, sizeof line, err_)) log_ += line;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  const std::string& log() const { return log_; }

 private:
  int wait_exit() {
    char line[4096];
    while (err_ && fgets(line, sizeof line, err_)) log_ += line;
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  pid_t pid_ = -1;
  FILE* err_ = nullptr;
  int port_ = 0;
  bool reaped_ = false;
  std::string log_;
};

}  // namespace troupe::testing
