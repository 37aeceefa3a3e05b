// The trust model and cancels that hold, against a real `troupe daemon`
// process (docs/daemon.md, "Trust model"): an inline workflow cannot name a
// program or a file; a command verifier from the workflows folder runs
// sandboxed; DELETE and SIGTERM reach a run blocked in a command, and a
// cancelled run is never run again after a restart.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/json_writer.hpp"
#include "daemon_harness.hpp"
#include "process_harness.hpp"
#include "support/process_scan.hpp"

using namespace troupe;
using namespace troupe::testing;

namespace {

const char* kToken = "tok-trust-9f1c2e";

// The daemon reads its token from the environment: a verifier that could
// read the daemon's environment would print it.
struct TokenEnv {
  TokenEnv() { ::setenv("TROUPE_TRUST_TEST_TOKEN", kToken, 1); }
  ~TokenEnv() { ::unsetenv("TROUPE_TRUST_TEST_TOKEN"); }
};

std::string iad_workflow(const std::string& command, const std::string& extra = "") {
  return "pipeline: iad\nparams:\n  candidates: 1\n  rounds: 0\n  verifier: command\n  verifier_timeout_s: 60\n" +
         extra + "  verifier_command: " + json_quote(command) + "\n";
}

struct Setup {
  TokenEnv env;
  TempDir dir;
  std::string marker;  // the blocking verifier appends a line per run
  std::string sleeper = unique_sleep_seconds();  // what the blocking verifier leaves behind (setsid)
  std::string blocker = unique_sleep_seconds();  // what it blocks in

  Setup() {
    namespace fs = std::filesystem;
    fs::create_directories(dir.path() / "workflows");
    marker = dir.file("marker");
    write_file(dir.file("rules.yaml"), "rules:\n  - {match: 'Problem:', reply: 'So \\boxed{4}'}\n");
    write_file(dir.file("workflows/blocking.yaml"),
               iad_workflow("echo run >> " + marker + "; setsid sleep " + sleeper + " >/dev/null 2>&1 & exec sleep " +
                            blocker));
    write_file(dir.file("troupe.yaml"),
               "listen: {host: 127.0.0.1, port: 0}\ntoken_env: TROUPE_TRUST_TEST_TOKEN\nworkflows_dir: workflows\n"
               "db: troupe.db\nshutdown_grace_s: 1\nbackends:\n  scripted: {kind: scripted, fixture: rules.yaml}\n");
  }
  std::string config() const { return dir.file("troupe.yaml"); }
  int marker_lines() const {
    std::ifstream in(marker);
    int n = 0;
    std::string line;
    while (std::getline(in, line)) ++n;
    return n;
  }
  // Polls (with a deadline) until the blocking verifier has started `n` times.
  bool wait_marker(int n) const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (marker_lines() < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }
};

httplib::Headers auth() { return {{"Authorization", std::string("Bearer ") + kToken}}; }

httplib::Result post_run(httplib::Client& c, const std::string& body) {
  return c.Post("/v1/runs", auth(), body, "application/json");
}

std::string submit(httplib::Client& c, const std::string& workflow) {
  auto r = post_run(c, R"({"workflow":")" + workflow + R"(","input":{"question":"2+2","gold":"4"}})");
  if (!r || r->status != 202) throw std::runtime_error("submit failed: " + (r ? r->body : std::string("no reply")));
  simdjson::dom::parser p;
  return std::string(std::string_view(p.parse(r->body)["run_ids"].at(0)));
}

std::vector<SseEventRead> events(httplib::Client& c, const std::string& id) {
  std::string body;
  c.Get(("/v1/runs/" + id + "/events").c_str(), auth(), [&](const char* d, size_t n) {
    body.append(d, n);
    return true;
  });
  return parse_sse(body);
}

// Polls (with a deadline) until no live process has any of `needles` in its command line.
bool gone_within(double seconds, const std::vector<std::string>& needles) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    int alive = 0;
    for (const auto& n : needles) alive += processes_with(n);
    if (alive == 0) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string error_of(const std::string& body) {
  simdjson::dom::parser p;
  std::string_view v;
  if (p.parse(body)["error"]["message"].get(v)) return body;
  return std::string(v);
}

}  // namespace

TEST_CASE("an inline workflow may not name a program or a file: 400 naming the key, nothing runs",
          "[daemon][process][trust]") {
  Setup s;
  std::string touched = s.dir.file("touched");
  // A fake prover that would leave a mark if it were ever run.
  std::string prover = s.dir.file("fake-prover.sh");
  write_file(prover, "#!/bin/sh\ntouch " + touched + "\necho 'E 3.0'\n");
  std::filesystem::permissions(prover, std::filesystem::perms::owner_all);
  DaemonProcess d({"--config", s.config()});
  httplib::Client c("127.0.0.1", d.port());

  auto refused = [&](const std::string& yaml, const std::string& key) {
    auto r = post_run(c, R"({"workflow_yaml":)" + json_quote(yaml) + R"(,"input":{"question":"2+2","gold":"4"}})");
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->status == 400);
    std::string msg = error_of(r->body);
    CHECK_THAT(msg, Catch::StartsWith("inline.yaml:"));
    CHECK_THAT(msg, Catch::Contains(key));
    return msg;
  };
  refused(iad_workflow("touch " + touched), "params.verifier: 'command'");
  refused("pipeline: iad\nparams:\n  verifier_command: 'touch " + touched + "'\n", "params.verifier_command");
  refused("pipeline: linc\nparams:\n  prover: " + prover + "\n", "params.prover");
  // A file param: the same answer whether or not the file exists.
  std::string a = refused("pipeline: archon\nparams:\n  config: /etc/passwd\n", "params.config");
  std::string b = refused("pipeline: archon\nparams:\n  config: /etc/no-such-file-9f1c\n", "params.config");
  CHECK(a == b);
  refused("pipeline: spoc\nbackend: {kind: scripted, fixture: /etc/passwd}\n", "backend.fixture");
  refused("pipeline: spoc\nbackend: {kind: http, url: 'http://x', model: m, api_key_env: TROUPE_TRUST_TEST_TOKEN}\n",
          "backend.api_key_env");
  CHECK_FALSE(std::filesystem::exists(touched));
  CHECK(s.marker_lines() == 0);
  CHECK(d.stop(SIGTERM) == 0);
}

TEST_CASE("a workflow in the folder may name files only inside it, the error does not tell what exists outside",
          "[daemon][process][trust]") {
  Setup s;
  write_file(s.dir.file("outside.json"), "{\"layers\": []}");
  write_file(s.dir.file("workflows/out1.yaml"), "pipeline: archon\nparams:\n  config: ../outside.json\n");
  write_file(s.dir.file("workflows/out2.yaml"), "pipeline: archon\nparams:\n  config: ../missing.json\n");
  std::filesystem::create_symlink(s.dir.file("outside.json"), s.dir.file("workflows/link.json"));
  write_file(s.dir.file("workflows/out3.yaml"), "pipeline: archon\nparams:\n  config: link.json\n");
  DaemonProcess d({"--config", s.config()});
  httplib::Client c("127.0.0.1", d.port());
  std::vector<std::string> messages;
  for (const char* name : {"out1", "out2", "out3"}) {
    auto r = post_run(c, R"({"workflow":")" + std::string(name) + R"(","input":{"question":"x"}})");
    REQUIRE(r);
    CHECK(r->status == 400);
    std::string msg = error_of(r->body);
    CHECK_THAT(msg, Catch::Contains(std::string(name) + ".yaml:3:11: params.config: must name a file inside the workflows folder"));
    messages.push_back(msg.substr(msg.find(": params.config")));
  }
  CHECK(messages[0] == messages[1]);
  CHECK(d.stop(SIGTERM) == 0);
}

TEST_CASE("a command verifier from the workflows folder runs sandboxed: no daemon environment, limits, no network, "
          "nothing it started survives",
          "[daemon][process][trust]") {
  Setup s;
  std::string a = unique_sleep_seconds(), b = unique_sleep_seconds();
  write_file(s.dir.file("check.sh"),
             "env\n"
             "echo limits=$(ulimit -v),$(ulimit -n)\n"
             "(head -c 3000000 /dev/zero > big) 2>/dev/null; echo big=$(wc -c < big)\n"
             "echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ,)\n"
             "setsid sleep " + a + " >/dev/null 2>&1 &\n"
             "sleep " + b + " >/dev/null 2>&1 &\n"
             "echo PASS\n");
  write_file(s.dir.file("workflows/sandboxed.yaml"),
             iad_workflow("sh " + s.dir.file("check.sh"), "  verifier_file_mb: 1\n  verifier_memory_mb: 512\n"));
  DaemonProcess d({"--config", s.config()});
  httplib::Client c("127.0.0.1", d.port());
  std::string id = submit(c, "sandboxed");
  auto ev = events(c, id);
  REQUIRE(!ev.empty());
  CHECK(json_string(ev.back().data, "status") == "succeeded");
  std::string record;
  for (const auto& e : ev)
    if (e.event == "step" && json_string(e.data, "role") == "verifier") record = json_string(e.data, "completion");
  REQUIRE(!record.empty());
  std::string out = json_string(record, "stdout");
  INFO(out);
  CHECK(out.find(kToken) == std::string::npos);
  CHECK(out.find("TROUPE_TRUST_TEST_TOKEN") == std::string::npos);
  CHECK(out.find("PATH=/usr/local/bin:/usr/bin:/bin\n") != std::string::npos);
  CHECK(out.find("limits=524288,64\n") != std::string::npos);
  CHECK(out.find("big=1048576\n") != std::string::npos);  // verifier_file_mb: 1
  CHECK(out.find("PASS") != std::string::npos);
  CHECK(processes_with(a) == 0);
  CHECK(processes_with(b) == 0);
  std::string isolation = json_string(record, "isolation");
  if (isolation == "pid+net namespaces") {
    CHECK(out.find("ifaces=lo,\n") != std::string::npos);
  } else {
    WARN("no network namespace here (" << isolation << "): the no-network assertion is skipped");
  }
  CHECK(d.stop(SIGTERM) == 0);
}

TEST_CASE("DELETE of a run blocked in a command verifier: cancelled at once, its processes die, a restart does "
          "not run it again",
          "[daemon][process][trust]") {
  Setup s;
  std::string id;
  {
    DaemonProcess d({"--config", s.config()});
    httplib::Client c("127.0.0.1", d.port());
    id = submit(c, "blocking");
    REQUIRE(s.wait_marker(1));
    auto started = std::chrono::steady_clock::now();
    auto del = c.Delete(("/v1/runs/" + id).c_str(), auth());
    REQUIRE(del);
    CHECK(del->status == 202);
    // Durable before the 202: the stored status already says so.
    auto g = c.Get(("/v1/runs/" + id).c_str(), auth());
    CHECK(json_string(g->body, "status") == "cancelled");
    auto ev = events(c, id);
    REQUIRE(!ev.empty());
    CHECK(ev.back().event == "end");
    CHECK(json_string(ev.back().data, "status") == "cancelled");
    // The stream ends from the stored status; the command is killed within
    // moments (the runner checks the run's cancel flag every 50 ms).
    CHECK(gone_within(5, {s.blocker, s.sleeper}));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
    CHECK(d.stop(SIGTERM) == 0);
  }
  DaemonProcess d2({"--config", s.config()});
  CHECK_THAT(d2.log(), Catch::Contains("0 run(s) resumed"));
  httplib::Client c2("127.0.0.1", d2.port());
  CHECK(json_string(c2.Get(("/v1/runs/" + id).c_str(), auth())->body, "status") == "cancelled");
  CHECK(d2.stop(SIGTERM) == 0);
  CHECK(s.marker_lines() == 1);  // the command ran once, before the cancel
}

TEST_CASE("SIGTERM while a run is blocked in a command verifier: the daemon exits within its grace and keeps "
          "every committed step",
          "[daemon][process][trust]") {
  Setup s;
  DaemonProcess d({"--config", s.config()});
  httplib::Client c("127.0.0.1", d.port());
  std::string id = submit(c, "blocking");
  REQUIRE(s.wait_marker(1));  // the solver's step is committed; the verifier runs
  bool in_time = false;
  // shutdown_grace_s is 1; a few seconds more for the flush on a busy CI machine.
  int code = d.stop_within(SIGTERM, 6, &in_time);
  CHECK(in_time);
  CHECK(code == 0);
  CHECK_THAT(d.log(), Catch::Contains("troupe daemon: stopped"));
  CHECK(processes_with(s.blocker) == 0);
  CHECK(processes_with(s.sleeper) == 0);
  memory::StoreOptions ro;
  ro.read_only = true;
  auto store = memory::Store::open(s.dir.file("troupe.db"), ro);
  REQUIRE(store.ok());
  auto run = (*store)->get_run(id);
  REQUIRE(run.ok());
  REQUIRE(*run);
  CHECK((*run)->status == memory::RunStatus::running);  // left for the next start
  auto steps = (*store)->read_steps(id);
  REQUIRE(steps.ok());
  REQUIRE(steps->size() == 1);
  CHECK((*steps)[0].role == "solver");
}

TEST_CASE("a command verifier never outlives the daemon: SIGKILL of the daemon takes it down", "[daemon][process][trust]") {
  Setup s;
  DaemonProcess d({"--config", s.config()});
  httplib::Client c("127.0.0.1", d.port());
  submit(c, "blocking");
  REQUIRE(s.wait_marker(1));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (processes_with(s.blocker) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // /proc may be read mid-exec
  REQUIRE(processes_with(s.blocker) >= 1);
  d.stop(SIGKILL);
  // The supervisor hears of its parent's death (PR_SET_PDEATHSIG) and kills
  // everything the command started.
  CHECK(gone_within(5, {s.blocker, s.sleeper}));
}
