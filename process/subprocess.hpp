// Child processes fed through stdin: the one process runner of troupe, used
// by the E prover driver and by IAD's command verifier. No temporary files
// for the data: the input goes through a pipe, the output comes back
// through pipes.
//
// What callers may rely on: run_children() starts every child at once
// (each in its own process group), writes each one's input, collects
// stdout and stderr (each capped at max_output bytes; the rest is read and
// dropped), and returns only when every child has been reaped. A child
// still running at its deadline, or when its `cancel` flag becomes true
// (checked at least every 50 ms), is killed together with everything it
// started in its process group, and reaped; its result says timed_out or
// cancelled. A program that cannot be started is a result with
// started=false and the reason, never an exception. SIGPIPE from a child
// that exits without reading its input is absorbed. Safe to call from
// several threads at once.
//
// A child with a `sandbox` runs untrusted commands (see docs/iad.md,
// "The command sandbox"). It gets:
//  - an environment of PATH=/usr/local/bin:/usr/bin:/bin, HOME, TMPDIR and
//    PWD = a fresh private temporary folder (its working folder, removed
//    afterwards), LANG=LC_ALL=C, and nothing else from the caller;
//  - no file descriptor of the caller but its three pipes;
//  - rlimits: CPU seconds, address space, file size, open files, and (in a
//    user namespace, where the kernel counts them per namespace) processes;
//  - its own session, under a small supervisor process that is the child
//    run_children() knows. When the kernel allows (a user namespace, or
//    root), the command runs as PID 1 of new PID and network namespaces:
//    no network but a loopback that is down, and when it ends or is killed
//    every process it started dies with it, `setsid` or not. Otherwise the
//    supervisor is a child subreaper and kills every descendant it
//    inherited (a process that escaped with setsid and was orphaned is
//    still its descendant) when the command ends or is killed. Which of the
//    two happened is ChildResult::isolation.
//  - death with the calling thread: the supervisor has PR_SET_PDEATHSIG,
//    so a caller that dies (the daemon killed) takes the command with it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace troupe::process {

// Limits of a sandboxed child (0 = leave that limit as inherited).
struct Sandbox {
  double cpu_s = 10;                          // RLIMIT_CPU (SIGXCPU, then SIGKILL one second later)
  uint64_t address_space_bytes = 1ull << 30;  // RLIMIT_AS
  uint64_t max_file_bytes = 16ull << 20;      // RLIMIT_FSIZE (a bigger write fails, SIGXFSZ)
  int max_open_files = 64;                    // RLIMIT_NOFILE
  int max_processes = 32;                     // RLIMIT_NPROC, set only inside a user namespace
  bool namespaces = true;                     // try new user, PID and network namespaces
};

struct ChildSpec {
  std::string program;  // a path, or a name looked up in PATH
  std::vector<std::string> args;  // argv[1..]
  std::string input;    // written to stdin, which is then closed
  double timeout_s = 10;
  size_t max_output = 1 << 20;
  std::optional<Sandbox> sandbox{};  // unset: the caller's environment, no limits
  // When set and it becomes true, the child is killed and reported cancelled.
  std::shared_ptr<const std::atomic<bool>> cancel{};
};

struct ChildResult {
  bool started = false;
  std::string start_error;  // when !started: "cannot start 'x': No such file or directory"
  int start_errno = 0;
  int exit_code = -1;       // when it exited normally
  int signal = 0;           // when a signal ended it
  bool timed_out = false;   // killed at the deadline
  bool cancelled = false;   // killed because `cancel` became true
  std::string out, err;
  double wall_ms = 0;
  double cpu_ms = 0;        // user + system time of the child (and what it waited for)
  // Sandboxed children: "pid+net namespaces", or "subreaper (namespaces
  // refused: <reason>)" / "subreaper (namespaces off)". Empty otherwise.
  std::string isolation;
};

std::vector<ChildResult> run_children(const std::vector<ChildSpec>& specs);

}  // namespace troupe::process
