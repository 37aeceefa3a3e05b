// Runs the troupe binary as a user would and captures its exit code and
// output (stdout and stderr together).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace troupe::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

inline std::string troupe_binary() { return std::string(TROUPE_BINARY_DIR) + "/cli/troupe"; }

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out.push_back(c);
  }
  return out + "'";
}

// `args` is appended to the binary path as shell words (quote them).
inline CommandResult run_troupe(const std::string& args, const std::string& cwd = "") {
  std::string cmd = (cwd.empty() ? "" : "cd " + shell_quote(cwd) + " && ") + shell_quote(troupe_binary()) + " " +
                    args + " 2>&1 </dev/null";
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace troupe::testing
