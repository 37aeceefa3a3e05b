// Internal to the process runner (subprocess.cpp): starts one sandboxed
// child as described in subprocess.hpp. Not a public interface.
//
// spawn_sandboxed() forks a supervisor (its own session, PR_SET_PDEATHSIG
// SIGTERM, namespaces when allowed) which forks the command and waits for
// it. The returned pid is the supervisor's. To stop the command, send the
// supervisor SIGTERM: it kills the command and every descendant, then
// exits; SIGKILL to its process group is the last resort. After the
// supervisor is reaped, read_sandbox_status() gives the command's own wait
// status and the isolation that was achieved.
#pragma once

#include <sys/types.h>

#include <string>

#include "process/subprocess.hpp"

namespace troupe::process::detail {

struct SandboxChild {
  pid_t pid = -1;       // the supervisor
  int status_fd = -1;   // read end: isolation report, then the command's wait status
  std::string workdir;  // removed by finish_sandbox()
  std::string isolation;
};

// `in`, `out`, `err`: the child's ends of its pipes (closed by the caller
// afterwards). False with `error` set when the child cannot start.
bool spawn_sandboxed(const ChildSpec& spec, int in, int out, int err, SandboxChild& child, std::string& error,
                     int& error_number);

// After the supervisor was reaped: the command's wait status (or
// `supervisor_status` when the supervisor could not report one); closes the
// status pipe and removes the working folder.
int finish_sandbox(SandboxChild& child, int supervisor_status);

}  // namespace troupe::process::detail
