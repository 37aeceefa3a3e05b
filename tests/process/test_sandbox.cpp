// The process runner's sandbox (process/subprocess.hpp): what a
// sandboxed command can see (no caller environment, a private working
// folder, no network where namespaces work), the limits it cannot exceed,
// and that nothing it starts outlives it — when it ends, at its deadline,
// when cancelled; with namespaces and with the subreaper fallback.
#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "process/subprocess.hpp"
#include "support/process_scan.hpp"

using namespace troupe::process;
using troupe::testing::processes_with;

namespace {

ChildResult run_sandboxed(const std::string& script, Sandbox sandbox = {}, double timeout_s = 10,
                          std::shared_ptr<const std::atomic<bool>> cancel = nullptr, const std::string& input = "") {
  ChildSpec spec;
  spec.input = input;
  spec.program = "/bin/sh";
  spec.args = {"-c", script};
  spec.timeout_s = timeout_s;
  spec.sandbox = sandbox;
  spec.cancel = std::move(cancel);
  return run_children({spec}).at(0);
}

// Reads two durations from stdin (so that only the sleepers' command lines
// hold them), starts a background sleeper and one escaped with setsid, then
// runs `tail`.
std::string spawner(const std::string& tail) {
  return "read a b; sleep $a >/dev/null 2>&1 & setsid sleep $b >/dev/null 2>&1 & " + tail;
}

}  // namespace

TEST_CASE("a sandboxed command sees none of the caller's environment and works in a private folder",
          "[subprocess][sandbox]") {
  ::setenv("TROUPE_SANDBOX_SECRET", "s3cret-value", 1);
  auto r = run_sandboxed("env; echo cwd=$(pwd)");
  ::unsetenv("TROUPE_SANDBOX_SECRET");
  REQUIRE(r.started);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("s3cret-value") == std::string::npos);
  CHECK(r.out.find("TROUPE_SANDBOX_SECRET") == std::string::npos);
  CHECK(r.out.find("PATH=/usr/local/bin:/usr/bin:/bin\n") != std::string::npos);
  CHECK(r.out.find("LANG=C\n") != std::string::npos);
  auto home = r.out.find("HOME=");
  REQUIRE(home != std::string::npos);
  std::string dir = r.out.substr(home + 5, r.out.find('\n', home) - home - 5);
  CHECK(dir.find("troupe-sandbox-") != std::string::npos);
  CHECK(r.out.find("cwd=" + dir + "\n") != std::string::npos);
  CHECK_FALSE(std::ifstream(dir).good());  // removed afterwards
}

TEST_CASE("a sandboxed command cannot exceed its limits: file size, CPU time, open files, memory",
          "[subprocess][sandbox]") {
  Sandbox s;
  s.max_file_bytes = 1 << 20;
  s.cpu_s = 1;
  s.max_open_files = 32;
  s.address_space_bytes = 256ull << 20;
  auto r = run_sandboxed("ulimit -n; ulimit -v; (head -c 3000000 /dev/zero > big) 2>/dev/null; wc -c < big", s);
  REQUIRE(r.started);
  CHECK(r.out == "32\n262144\n1048576\n");
  // CPU: killed by SIGXCPU (or the SIGKILL after it), long before the deadline.
  auto spin = run_sandboxed("while :; do :; done", s, 30);
  CHECK_FALSE(spin.timed_out);
  CHECK((spin.signal == SIGXCPU || spin.signal == SIGKILL));
  CHECK(spin.wall_ms < 10000);
}

TEST_CASE("nothing a sandboxed command starts outlives it, setsid or not", "[subprocess][sandbox]") {
  for (bool namespaces : {true, false}) {
    DYNAMIC_SECTION((namespaces ? "namespaces where allowed" : "subreaper fallback")) {
      Sandbox s;
      s.namespaces = namespaces;
      // Ends normally, leaving two sleepers behind.
      std::string a = troupe::testing::unique_sleep_seconds(), b = troupe::testing::unique_sleep_seconds();
      auto r = run_sandboxed(spawner("echo started"), s, 10, nullptr, a + " " + b + "\n");
      INFO(r.isolation);
      CHECK(r.out == "started\n");
      CHECK(r.exit_code == 0);
      CHECK(processes_with(a) == 0);
      CHECK(processes_with(b) == 0);
      if (!namespaces) CHECK(r.isolation == "subreaper (namespaces off)");

      // Killed at its deadline.
      a = troupe::testing::unique_sleep_seconds(), b = troupe::testing::unique_sleep_seconds();
      auto t = run_sandboxed(spawner("exec sleep 1000"), s, 0.5, nullptr, a + " " + b + "\n");
      CHECK(t.timed_out);
      CHECK(t.wall_ms < 5000);
      CHECK(processes_with(a) == 0);
      CHECK(processes_with(b) == 0);

      // Cancelled from another thread.
      a = troupe::testing::unique_sleep_seconds(), b = troupe::testing::unique_sleep_seconds();
      auto flag = std::make_shared<std::atomic<bool>>(false);
      std::thread canceller([flag, b] {
        // Cancel once the escaped sleeper exists (bounded wait).
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (processes_with(b) == 0 && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        flag->store(true);
      });
      auto c = run_sandboxed(spawner("exec sleep 1000"), s, 60, flag, a + " " + b + "\n");
      canceller.join();
      CHECK(c.cancelled);
      CHECK_FALSE(c.timed_out);
      CHECK(c.wall_ms < 10000);
      CHECK(processes_with(a) == 0);
      CHECK(processes_with(b) == 0);
    }
  }
}

TEST_CASE("a sandboxed command has no network where the kernel allows namespaces", "[subprocess][sandbox]") {
  auto r = run_sandboxed("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
  REQUIRE(r.started);
  if (r.isolation != "pid+net namespaces") {
    WARN("network isolation not available here (" << r.isolation << "): assertion skipped");
    return;
  }
  CHECK(r.out == "lo\n");  // only the loopback of a fresh network namespace (and it is down)
}

TEST_CASE("a program the sandbox cannot find is a start error, not an exception", "[subprocess][sandbox]") {
  ChildSpec spec;
  spec.program = "/nonexistent/troupe-no-such-program";
  spec.sandbox = Sandbox{};
  auto r = run_children({spec}).at(0);
  CHECK_FALSE(r.started);
  CHECK(r.start_error.find("No such file") != std::string::npos);
}
