// Several daemons sharing work through NATS JetStream (docs/scale-out.md):
// a real `nats-server -js` on a free port with its store in the test's
// folder, three `troupe daemon` processes pointed at it, each with its own
// store. One daemon (A, concurrency 1) takes a run its scripted backend
// holds forever and is SIGKILLed while the request is in flight; JetStream
// redelivers the run after the ack wait (1 s here) to B or C, whose backends
// answer it. Runs are submitted to all three (some twice under the same
// idempotency key). Then: every run ended once across the three stores,
// the killed daemon's run finished elsewhere (restarted, A records it
// interrupted and does not run it again), and the merged view
// (memory::MergedStore, and `troupe export --store ...`) has each run once.
// Skipped with a message when this build has no NATS client or nats-server
// is not installed (scripts/setup installs both).
#include <catch2/catch.hpp>

#include <httplib.h>
#include <simdjson.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "daemon/nats_queue.hpp"
#include "daemon/process_harness.hpp"
#include "memory/store.hpp"
#include "memory/store_merge.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using troupe::testing::DaemonProcess;

namespace {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string find_nats_server() {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/usr/local/bin:/usr/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string candidate = path.substr(start, end - start) + "/nats-server";
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// `nats-server -js` as a child process: ready when it logs "Server is ready".
class NatsServer {
 public:
  NatsServer(const std::string& binary, int port, const std::string& store_dir) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(fds[1], 2);
      close(fds[0]);
      close(fds[1]);
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      std::string p = std::to_string(port);
      execl(binary.c_str(), binary.c_str(), "-js", "-a", "127.0.0.1", "-p", p.c_str(), "-sd", store_dir.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    err_ = fdopen(fds[0], "r");
    char line[4096];
    while (fgets(line, sizeof line, err_)) {
      log_ += line;
      if (std::string(line).find("Server is ready") != std::string::npos) return;
    }
    FAIL("nats-server exited before it was ready:\n" << log_);
  }
  ~NatsServer() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    if (err_) fclose(err_);
  }

 private:
  pid_t pid_ = -1;
  FILE* err_ = nullptr;
  std::string log_;
};

struct Node {
  std::string name, config, db, request_log;
};

// A daemon's folder: config, workflow, fixture. `holds_slow`: its backend
// never answers the slow question (the run waits until the daemon dies).
Node make_node(const testing::TempDir& dir, const std::string& name, int nats_port, int concurrency,
               bool holds_slow) {
  Node n;
  n.name = name;
  std::string folder = dir.file(name);
  std::filesystem::create_directories(folder + "/workflows");
  n.config = folder + "/troupe.yaml";
  n.db = folder + "/db";
  n.request_log = folder + "/requests.log";
  std::string fixture = folder + "/fixture.yaml";
  std::string slow_rule = holds_slow ? "  - match: 'What is 5 * 5? (slow)'\n    hold: true\n"
                                     : "  - match: 'What is 5 * 5? (slow)'\n    reply: \"5 * 5 = 25.\\n\\\\boxed{25}\"\n";
  testing::write_file(fixture, "request_log: \"" + n.request_log + "\"\n"
                               "rules:\n"
                               "  - match: 'Proposed solution:'\n"
                               "    reply: \"Each step checks out.\\nVerdict: Yes\"\n" +
                                   slow_rule +
                                   "  - match: 'What is 6 * 7?'\n"
                                   "    reply: \"6 * 7 = 42.\\n\\\\boxed{42}\"\n");
  testing::write_file(folder + "/workflows/spoc.yaml",
                      "name: spoc\npipeline: spoc\n"
                      "backend: {kind: scripted, fixture: \"" + fixture + "\"}\n"
                      "roles:\n"
                      "  solver: {sampling: {temperature: 0.0, max_tokens: 64}}\n"
                      "  verifier: {sampling: {temperature: 0.0, max_tokens: 64}, parse_retries: 0}\n"
                      "params: {max_turns: 2}\n");
  testing::write_file(n.config, "listen: {host: 127.0.0.1, port: 0}\n"
                                "workflows_dir: workflows\n"
                                "db: db\n"
                                "concurrency: " + std::to_string(concurrency) + "\n"
                                "shutdown_grace_s: 5\n"
                                "backends:\n"
                                "  scripted: {kind: scripted, fixture: \"" + fixture + "\"}\n"
                                "nats: {url: \"nats://127.0.0.1:" + std::to_string(nats_port) + "\", "
                                "ack_wait_s: 1, duplicate_window_s: 60}\n");
  return n;
}

httplib::Client client(const DaemonProcess& d) {
  httplib::Client c("127.0.0.1", d.port());
  c.set_connection_timeout(2, 0);
  c.set_read_timeout(10, 0);
  return c;
}

std::vector<std::string> submit(const DaemonProcess& d, const std::vector<std::string>& questions,
                                const std::string& key = "") {
  std::string body = "{\"workflow\":\"spoc\",";
  if (!key.empty()) body += "\"idempotency_key\":\"" + key + "\",";
  body += "\"inputs\":[";
  for (size_t i = 0; i < questions.size(); ++i)
    body += std::string(i ? "," : "") + "{\"question\":\"" + questions[i] + "\"}";
  body += "]}";
  auto c = client(d);
  auto r = c.Post("/v1/runs", body, "application/json");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 202);
  simdjson::dom::parser p;
  simdjson::dom::element doc = p.parse(r->body);
  std::vector<std::string> ids;
  for (auto id : doc["run_ids"].get_array()) ids.emplace_back(std::string_view(id.get_string()));
  REQUIRE(ids.size() == questions.size());
  return ids;
}

// The run's status on `d`, "" when it does not hold it.
std::string status_on(const DaemonProcess& d, const std::string& id, std::string* not_found_body = nullptr) {
  auto c = client(d);
  auto r = c.Get(("/v1/runs/" + id).c_str());
  if (!r) return "?";
  if (r->status == 404) {
    if (not_found_body) *not_found_body = r->body;
    return "";
  }
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(r->body).get(doc)) return "?";
  std::string_view s;
  if (doc["status"].get(s)) return "?";
  return std::string(s);
}

bool ended_status(const std::string& s) {
  return s == "succeeded" || s == "failed" || s == "cancelled";
}

std::unique_ptr<memory::Store> open_read_only(const std::string& path) {
  memory::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto s = memory::Store::open(path, o);
  INFO(path << ": " << (s.ok() ? "" : s.error().message));
  REQUIRE(s.ok());
  return std::move(s.value());
}

}  // namespace

TEST_CASE("nats scale-out: three daemons share runs, a SIGKILLed daemon's run is redelivered, every run once",
          "[daemon][nats]") {
  if (!daemon::nats_built_in()) {
    WARN("this build has no NATS client (libnats-dev was not found at configure time): scale-out test skipped");
    return;
  }
  const std::string nats_server = find_nats_server();
  if (nats_server.empty()) {
    WARN("nats-server is not installed (scripts/setup installs it): scale-out test skipped");
    return;
  }
  testing::TempDir dir;
  const int nats_port = free_port();
  std::filesystem::create_directories(dir.file("jetstream"));
  NatsServer server(nats_server, nats_port, dir.file("jetstream"));

  Node a = make_node(dir, "a", nats_port, 1, /*holds_slow=*/true);
  Node b = make_node(dir, "b", nats_port, 3, false);
  Node c = make_node(dir, "c", nats_port, 3, false);

  // A alone takes the slow run; its backend holds the request.
  auto da = std::make_unique<DaemonProcess>(std::vector<std::string>{"--config", a.config});
  const std::string slow = submit(*da, {"What is 5 * 5? (slow)"}).front();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (testing::read_file(a.request_log).empty()) {  // another process: poll with a deadline
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(status_on(*da, slow) == "running");

  DaemonProcess db({"--config", b.config});
  DaemonProcess dc({"--config", c.config});
  std::set<std::string> expected = {slow};
  std::vector<const DaemonProcess*> fronts = {da.get(), &db, &dc};
  for (int i = 0; i < 9; ++i)
    for (const auto& id : submit(*fronts[i % 3], {"What is 6 * 7?"})) expected.insert(id);
  // Keyed requests sent twice, to different daemons: the same run ids, run once.
  std::vector<std::string> keyed;
  for (int i = 0; i < 3; ++i) {
    std::string key = "scale-out-key-" + std::to_string(i);
    auto first = submit(*fronts[i % 3], {"What is 6 * 7?", "What is 6 * 7?"}, key);
    auto again = submit(*fronts[(i + 1) % 3], {"What is 6 * 7?", "What is 6 * 7?"}, key);
    CHECK(first == again);
    CHECK(first[0] != first[1]);
    for (const auto& id : first) {
      expected.insert(id);
      keyed.push_back(id);
    }
  }
  REQUIRE(expected.size() == 1 + 9 + 6);

  // A dies with the slow run in flight: JetStream redelivers it after the ack wait.
  CHECK(da->stop(SIGKILL) == -1);
  da.reset();

  std::map<std::string, std::string> where;  // run id -> "b" or "c"
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (where.size() < expected.size()) {  // other processes: poll with a deadline
    INFO("ended so far: " << where.size() << " of " << expected.size());
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    for (const auto& id : expected) {
      if (where.count(id)) continue;
      if (ended_status(status_on(db, id))) where[id] = "b";
      else if (ended_status(status_on(dc, id))) where[id] = "c";
    }
    if (where.size() < expected.size()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // A daemon that does not hold a run says so, and where to look.
  const std::string& holder = where[slow];
  std::string body;
  CHECK(status_on(holder == "b" ? dc : db, slow, &body).empty());
  CHECK(body.find("stored by the daemon that ran them") != std::string::npos);

  // A starts again: the run it had from NATS is JetStream's, finished
  // elsewhere; A records it interrupted and does not run it again.
  da = std::make_unique<DaemonProcess>(std::vector<std::string>{"--config", a.config});
  CHECK(status_on(*da, slow) == "interrupted");
  bool in_time = false;
  CHECK(da->stop_within(SIGTERM, 20, &in_time) == 0);
  da.reset();
  std::string a_requests = testing::read_file(a.request_log);
  CHECK(std::count(a_requests.begin(), a_requests.end(), '\n') == 1);
  CHECK(db.stop_within(SIGTERM, 20, &in_time) == 0);
  CHECK(dc.stop_within(SIGTERM, 20, &in_time) == 0);

  // Each store on its own: every run succeeded exactly once across the three.
  std::map<std::string, std::vector<std::string>> copies;  // run id -> "store:status"
  for (const Node* n : {&a, &b, &c}) {
    auto store = open_read_only(n->db);
    REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& r) {
      copies[r.id].push_back(n->name + ":" + memory::to_string(r.status));
      return true;
    }).ok());
  }
  for (const auto& id : expected) {
    INFO("run " << id);
    auto& list = copies[id];
    int succeeded = 0;
    for (const auto& s : list) succeeded += s.find(":succeeded") != std::string::npos;
    CHECK(succeeded == 1);
  }
  CHECK(copies.size() == expected.size());  // nothing else was run
  // The killed daemon holds the slow run as interrupted; B or C finished it.
  std::vector<std::string> slow_copies = copies[slow];
  std::sort(slow_copies.begin(), slow_copies.end());
  REQUIRE(slow_copies.size() == 2);
  CHECK(slow_copies[0] == "a:interrupted");
  CHECK((slow_copies[1] == "b:succeeded" || slow_copies[1] == "c:succeeded"));
  // Work was shared: both survivors ran some of it.
  size_t on_b = 0;
  for (const auto& [id, w] : where) on_b += w == "b";
  CHECK(on_b > 0);
  CHECK(on_b < expected.size());

  // The merged view: each run once, its winning (succeeded) record, steps from that store.
  std::vector<std::unique_ptr<memory::Store>> stores;
  for (const Node* n : {&a, &b, &c}) stores.push_back(open_read_only(n->db));
  memory::MergedStore merged(std::move(stores));
  std::map<std::string, int> seen;
  REQUIRE(merged.for_each_run(std::nullopt, [&](const memory::RunRecord& r) {
    seen[r.id] += 1;
    CHECK(r.status == memory::RunStatus::succeeded);
    auto steps = merged.read_steps(r.id);
    CHECK(steps.ok());
    if (steps.ok()) CHECK(steps->size() >= 2);  // solver and verifier
    return true;
  }).ok());
  CHECK(seen.size() == expected.size());
  for (const auto& [id, n] : seen) {
    INFO("run " << id);
    CHECK(n == 1);
    CHECK(expected.count(id) == 1);
  }
  CHECK(merged.copies_skipped() == 1);  // A's unfinished copy of the slow run

  // The CLI writes the merged export and says how many copies it left out.
  std::string out = dir.file("merged.jsonl");
  std::string cmd = testing::troupe_binary() + " export --format kto --store " + a.db + " --store " + b.db +
                    " --store " + c.db + " --out " + out + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string said;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) said.append(buf, n);
  int rc = ::pclose(p);
  INFO(said);
  CHECK(rc == 0);
  CHECK(said.find("merged 3 stores; 1 copies") != std::string::npos);
  CHECK(said.find("from " + std::to_string(expected.size()) + " runs") != std::string::npos);
}
