// `troupe daemon` as a process: SIGTERM leaves a consistent store and exits
// 0, and `troupe export` reads the store while the daemon writes it.
#include <catch2/catch.hpp>

#include <filesystem>

#include "daemon_harness.hpp"
#include "process_harness.hpp"
#include "support/raw_socket.hpp"

using namespace troupe;
using namespace troupe::testing;

namespace {

struct Setup {
  TempDir dir;
  explicit Setup(const std::string& fixture) {
    std::filesystem::create_directories(dir.path() / "workflows");
    write_file(dir.file("workflows/spoc.yaml"), kSpocWorkflow);
    write_file(dir.file("rules.yaml"), fixture);
    write_file(dir.file("troupe.yaml"),
               "listen: {host: 127.0.0.1, port: 0}\ntoken: tok\nworkflows_dir: workflows\ndb: troupe.db\n"
               "shutdown_grace_s: 0\nbackends:\n  scripted: {kind: scripted, fixture: rules.yaml}\n");
  }
  std::string config() const { return dir.file("troupe.yaml"); }
  std::string db() const { return dir.file("troupe.db"); }
};

httplib::Headers auth() { return {{"Authorization", "Bearer tok"}}; }

std::string submit(httplib::Client& c, const std::string& question) {
  auto r = c.Post("/v1/runs", auth(), R"({"workflow":"spoc","input":{"question":")" + question + R"("}})",
                  "application/json");
  if (!r || r->status != 202) throw std::runtime_error("submit failed");
  simdjson::dom::parser p;
  return std::string(std::string_view(p.parse(r->body)["run_ids"].at(0)));
}

// Reads the run's events until `stop_after` events have arrived (or the end).
std::vector<SseEventRead> read_events(httplib::Client& c, const std::string& id, size_t stop_after) {
  std::string body;
  std::vector<SseEventRead> got;
  c.Get(("/v1/runs/" + id + "/events").c_str(), auth(), [&](const char* d, size_t n) {
    body.append(d, n);
    got = parse_sse(body);
    return got.size() < stop_after;
  });
  return got;
}

std::optional<memory::RunRecord> read_run(const std::string& db, const std::string& id, size_t* steps) {
  memory::StoreOptions ro;
  ro.read_only = true;
  auto store = memory::Store::open(db, ro);
  if (!store.ok()) throw std::runtime_error(store.error().message);
  auto r = (*store)->get_run(id);
  auto s = (*store)->read_steps(id);
  if (steps) *steps = s.ok() ? s->size() : 0;
  return r.ok() ? *r : std::nullopt;
}

}  // namespace

TEST_CASE("SIGTERM: the daemon exits 0, finished runs are final, the in-flight run is checkpointed and resumed",
          "[daemon][process]") {
  Setup s(kFixture);
  std::string done_id, held_id;
  {
    DaemonProcess d({"--config", s.config()});
    httplib::Client c("127.0.0.1", d.port());
    done_id = submit(c, "2+2");
    CHECK(read_events(c, done_id, 100).back().event == "end");
    held_id = submit(c, "PAUSE");
    // The solver's step is committed; the verifier's call is in flight.
    auto first = read_events(c, held_id, 1);
    REQUIRE(first.size() == 1);
    CHECK(json_string(first[0].data, "role") == "solver");
    CHECK(d.stop(SIGTERM) == 0);
    CHECK_THAT(d.log(), Catch::Contains("troupe daemon: stopped"));
  }
  size_t steps = 0;
  auto done = read_run(s.db(), done_id, &steps);
  REQUIRE(done);
  CHECK(done->status == memory::RunStatus::succeeded);
  CHECK(steps == 2);
  auto held = read_run(s.db(), held_id, &steps);
  REQUIRE(held);
  CHECK(held->status == memory::RunStatus::running);  // left for the next start
  CHECK(steps == 1);

  // The next start resumes it (the verifier answers this time).
  std::string fixture = kFixture;
  fixture.replace(fixture.find("hold: true"), 10, "reply: \"Verdict: Yes\"");
  write_file(s.dir.file("rules.yaml"), fixture);
  DaemonProcess d2({"--config", s.config()});
  CHECK_THAT(d2.log(), Catch::Contains("1 run(s) resumed"));
  httplib::Client c2("127.0.0.1", d2.port());
  auto ev = read_events(c2, held_id, 100);
  REQUIRE(!ev.empty());
  CHECK(json_string(ev.back().data, "status") == "succeeded");
  CHECK(d2.stop(SIGTERM) == 0);
  auto after = read_run(s.db(), held_id, &steps);
  CHECK(after->status == memory::RunStatus::succeeded);
  CHECK(after->answer == "4");
  CHECK(steps == 2);
}

TEST_CASE("troupe export and troupe runs read the store while the daemon runs", "[daemon][process]") {
  Setup s(kFixture);
  DaemonProcess d({"--config", s.config()});
  httplib::Client c("127.0.0.1", d.port());
  std::string done_id = submit(c, "2+2");
  read_events(c, done_id, 100);
  std::string held_id = submit(c, "PAUSE");
  // In progress: its solver step is committed, its verifier call in flight.
  REQUIRE(read_events(c, held_id, 1).size() == 1);

  auto exp = run_troupe("export --db " + shell_quote(s.db()) + " --format sft --out " +
                        shell_quote(s.dir.file("sft.jsonl")));
  CHECK(exp.exit_code == 0);
  INFO(exp.output);
  std::string sft = read_file(s.dir.file("sft.jsonl"));
  CHECK_THAT(sft, Catch::Contains("SOLVE: 2+2"));
  CHECK_THAT(sft, Catch::Contains("boxed{4}"));
  auto runs = run_troupe("runs --db " + shell_quote(s.db()));
  CHECK(runs.exit_code == 0);
  CHECK_THAT(runs.output, Catch::Contains(done_id));
  CHECK_THAT(runs.output, Catch::Contains(held_id));
  CHECK_THAT(runs.output, Catch::Contains("running"));
  CHECK(d.stop(SIGTERM) == 0);
}

TEST_CASE("limits: /health answers while event streams and slow clients are over their caps, the extra ones get 503 "
          "or 408",
          "[daemon][process][limits]") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "workflows");
  write_file(dir.file("workflows/spoc.yaml"), kSpocWorkflow);
  write_file(dir.file("rules.yaml"), kFixture);
  write_file(dir.file("troupe.yaml"),
             "listen: {host: 127.0.0.1, port: 0}\ntoken: tok\nworkflows_dir: workflows\ndb: troupe.db\n"
             "shutdown_grace_s: 0\nhttp_threads: 4\nmax_event_streams: 2\nmax_connections: 8\n"
             "header_timeout_s: 1\nbackends:\n  scripted: {kind: scripted, fixture: rules.yaml}\n");
  DaemonProcess d({"--config", dir.file("troupe.yaml")});
  httplib::Client c("127.0.0.1", d.port());
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(5, 0);
  const std::string run = submit(c, "HANG");  // held by the backend: its stream stays open
  const std::string events = "GET /v1/runs/" + run + "/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n\r\n";

  std::vector<std::unique_ptr<RawSocket>> streams;
  for (int i = 0; i < 2; ++i) {
    streams.push_back(std::make_unique<RawSocket>(d.port()));
    REQUIRE(streams.back()->send(events));
    CHECK(raw_status(streams.back()->read_until("\r\n\r\n", std::chrono::seconds(10))) == 200);
  }
  RawSocket third(d.port());
  REQUIRE(third.send(events));
  std::string refused = third.read_until("}}", std::chrono::seconds(10));  // the end of the error body
  CHECK(raw_status(refused) == 503);
  CHECK_THAT(refused, Catch::Contains("max_event_streams"));

  std::vector<std::unique_ptr<RawSocket>> slow;
  for (int i = 0; i < 12; ++i) {
    slow.push_back(std::make_unique<RawSocket>(d.port()));
    REQUIRE(slow.back()->send("GET /v1/runs HTTP/1.1\r\nHost: t\r\n"));
  }
  auto health = c.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  auto record = c.Get(("/v1/runs/" + run).c_str(), auth());
  REQUIRE(record);
  CHECK(record->status == 200);
  for (auto& s : slow) {
    int status = raw_status(s->read_until_closed(std::chrono::seconds(10)));
    CHECK(s->closed());
    CHECK((status == 503 || status == 408));
  }
  CHECK(d.stop() == 0);
}
