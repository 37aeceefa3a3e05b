// For tests that must show a process is gone: counts the live processes
// (zombies excluded) whose command line contains a string, by reading /proc.
// Tests start such processes with a unique argument (unique_sleep_seconds())
// so that nothing else on the machine matches. Header-only (the
// prover_bridge tests do not link the support library).
#pragma once

#include <dirent.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace troupe::testing {

// A `sleep` duration no other process uses: "5123.456789".
inline std::string unique_sleep_seconds() {
  static std::mt19937 rng(std::random_device{}());
  return std::to_string(5000 + rng() % 1000) + "." + std::to_string(100000 + rng() % 900000);
}

inline int processes_with(const std::string& needle) {
  int found = 0;
  DIR* proc = opendir("/proc");
  if (!proc) return 0;
  while (dirent* e = readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream cmd(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
    std::stringstream ss;
    ss << cmd.rdbuf();
    if (ss.str().find(needle) == std::string::npos) continue;
    std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    std::getline(stat, line);
    auto paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') continue;
    ++found;
  }
  closedir(proc);
  return found;
}

}  // namespace troupe::testing
