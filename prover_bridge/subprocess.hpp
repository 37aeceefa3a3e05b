// Child processes fed through stdin, for the prover driver. No temporary
// files: the input goes through a pipe, the output comes back through
// pipes.
//
// What callers may rely on: run_children() starts every child at once
// (each in its own process group), writes each one's input, collects
// stdout and stderr (each capped at max_output bytes; the rest is read and
// dropped), and returns only when every child has been reaped. A child
// still running at its deadline is killed with SIGKILL, together with
// anything it started in its process group, and reaped; its result says
// timed_out. A program that cannot be started is a result with
// started=false and the reason, never an exception. SIGPIPE from a child
// that exits without reading its input is absorbed. Safe to call from
// several threads at once.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace troupe::prover {

struct ChildSpec {
  std::string program;  // a path, or a name looked up in PATH
  std::vector<std::string> args;  // argv[1..]
  std::string input;    // written to stdin, which is then closed
  double timeout_s = 10;
  size_t max_output = 1 << 20;
};

struct ChildResult {
  bool started = false;
  std::string start_error;  // when !started: "cannot start 'x': No such file or directory"
  int start_errno = 0;
  int exit_code = -1;       // when it exited normally
  int signal = 0;           // when a signal ended it
  bool timed_out = false;   // killed at the deadline
  std::string out, err;
  double wall_ms = 0;
  double cpu_ms = 0;        // user + system time of the child
};

std::vector<ChildResult> run_children(const std::vector<ChildSpec>& specs);

}  // namespace troupe::prover
