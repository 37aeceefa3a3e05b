// The pieces of scale-out (docs/scale-out.md) that need no NATS server:
// idempotency keys on POST /v1/runs, the shared-run message, the `nats`
// config section, the daemon's answer when NATS is unusable, and the merged
// view of several stores that `troupe export --store ...` writes from.
#include <catch2/catch.hpp>

#include <simdjson.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "daemon/config.hpp"
#include "daemon/nats_queue.hpp"
#include "daemon/shared_run.hpp"
#include "daemon_harness.hpp"
#include "memory/export.hpp"
#include "memory/store.hpp"
#include "memory/store_merge.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::testing;

namespace {

std::vector<std::string> run_ids(const std::string& body) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  std::vector<std::string> out;
  if (p.parse(body).get(doc)) return out;
  simdjson::dom::array ids;
  if (doc["run_ids"].get(ids)) return out;
  for (auto id : ids) out.emplace_back(std::string_view(id.get_string()));
  return out;
}

memory::RunRecord run(const std::string& id, memory::RunStatus status, int64_t updated_ms, const std::string& answer) {
  memory::RunRecord r;
  r.id = id;
  r.workflow = "spoc";
  r.status = status;
  r.created_ms = 1;
  r.updated_ms = updated_ms;
  r.answer = answer;
  return r;
}

memory::StepRecord step(const std::string& run_id, uint64_t seq, const std::string& completion) {
  memory::StepRecord s;
  s.run_id = run_id;
  s.seq = seq;
  s.role = "solver";
  s.kind = "generate";
  s.prompt = {{"user", "q"}};
  s.completion = completion;
  s.label = true;
  return s;
}

}  // namespace

TEST_CASE("POST /v1/runs with an idempotency key sent twice returns the same runs and runs them once",
          "[daemon][idempotency]") {
  TestDaemon d;
  const std::string body = R"({"workflow":"spoc","idempotency_key":"batch-7","inputs":[{"question":"a"},{"question":"b"}]})";
  auto first = d.post("/v1/runs", body);
  REQUIRE(first);
  REQUIRE(first->status == 202);
  auto ids = run_ids(first->body);
  REQUIRE(ids.size() == 2);
  CHECK(ids[0] == daemon::keyed_run_id("batch-7", 1));
  CHECK(ids[1] == daemon::keyed_run_id("batch-7", 2));
  for (const auto& id : ids) d.events(id);  // both ended
  const int64_t calls = d.backend->calls();
  // Again, by the header this time: the same ids, nothing new runs.
  auto again = d.client->Post("/v1/runs", {{"Authorization", "Bearer s3cret"}, {"Idempotency-Key", "batch-7"}},
                              R"({"workflow":"spoc","inputs":[{"question":"a"},{"question":"b"}]})", "application/json");
  REQUIRE(again);
  CHECK(again->status == 202);
  CHECK(run_ids(again->body) == ids);
  CHECK(d.backend->calls() == calls);
  auto list = d.get("/v1/runs");
  REQUIRE(list);
  size_t listed = 0;
  for (size_t at = list->body.find("\"id\":"); at != std::string::npos; at = list->body.find("\"id\":", at + 1))
    ++listed;
  CHECK(listed == 2);
  // A different key: new runs. A bad key or two different keys: 400.
  auto other = d.post("/v1/runs", R"({"workflow":"spoc","idempotency_key":"batch-8","input":{"question":"a"}})");
  REQUIRE(other);
  CHECK(other->status == 202);
  CHECK(run_ids(other->body) == std::vector<std::string>{daemon::keyed_run_id("batch-8", 1)});
  auto spaced = d.post("/v1/runs", R"({"workflow":"spoc","idempotency_key":"has space","input":{"question":"a"}})");
  REQUIRE(spaced);
  CHECK(spaced->status == 400);
  CHECK(spaced->body.find("idempotency_key") != std::string::npos);
  auto differ = d.client->Post("/v1/runs", {{"Authorization", "Bearer s3cret"}, {"Idempotency-Key", "x"}},
                               R"({"workflow":"spoc","idempotency_key":"y","input":{"question":"a"}})",
                               "application/json");
  REQUIRE(differ);
  CHECK(differ->status == 400);
}

TEST_CASE("a shared run survives encoding, bad messages are refused naming the field, keyed ids are stable",
          "[daemon][nats]") {
  daemon::SharedRun r{"run-k1", "", "pipeline: spoc\n", "qwen", R"({"question":"x \"q\""})", "7", "42", "key", 1234};
  auto back = daemon::parse_shared_run(daemon::encode_shared_run(r));
  REQUIRE(back.ok());
  CHECK(*back == r);
  auto no_input = daemon::parse_shared_run(R"({"run_id":"r","workflow":"spoc"})");
  REQUIRE_FALSE(no_input.ok());
  CHECK(no_input.error().message.find("missing input") != std::string::npos);
  auto both = daemon::parse_shared_run(R"({"run_id":"r","workflow":"a","workflow_yaml":"b","input":"{}"})");
  REQUIRE_FALSE(both.ok());
  CHECK(both.error().message.find("exactly one") != std::string::npos);
  auto unknown = daemon::parse_shared_run(R"({"run_id":"r","workflow":"a","input":"{}","extra":"1"})");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message.find("'extra'") != std::string::npos);
  CHECK_FALSE(daemon::parse_shared_run("[1]").ok());
  CHECK(daemon::keyed_run_id("k", 1) == daemon::keyed_run_id("k", 1));
  CHECK(daemon::keyed_run_id("k", 1) != daemon::keyed_run_id("k", 2));
  CHECK(daemon::keyed_run_id("k", 1).rfind("run-k", 0) == 0);
  CHECK(daemon::keyed_run_id("k", 1).size() == 5 + 24);
}

TEST_CASE("daemon config: the nats section is read and checked", "[daemon][config][nats]") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("wf"));
  const std::string base = "workflows_dir: wf\nbackends:\n  demo: {kind: scripted, fixture: rules.yaml}\n";
  auto ok = daemon::parse_daemon_config(
      base + "nats: {url: \"nats://10.0.0.5:4222\", stream: RUNS2, consumer: workers, ack_wait_s: 2.5}\n",
      dir.file("troupe.yaml"));
  INFO((ok.ok() ? std::string() : ok.error().message));
  REQUIRE(ok.ok());
  CHECK(ok->nats.url == "nats://10.0.0.5:4222");
  CHECK(ok->nats.stream == "RUNS2");
  CHECK(ok->nats.consumer == "workers");
  CHECK(ok->nats.subject == "troupe.runs");
  CHECK(ok->nats.ack_wait_s == 2.5);
  auto off = daemon::parse_daemon_config(base, dir.file("troupe.yaml"));
  REQUIRE(off.ok());
  CHECK(off->nats.url.empty());
  struct Bad {
    std::string yaml, says;
  };
  for (const auto& bad : {Bad{"nats: {stream: X}\n", "missing required key 'url'"},
                          Bad{"nats: {url: \"nats://h\", stream: \"a.b\"}\n", "nats.stream"},
                          Bad{"nats: {url: \"nats://h\", subject: \"troupe.*\"}\n", "nats.subject"},
                          Bad{"nats: {url: \"nats://h\", ack_wait_s: 0.1}\n", "nats.ack_wait_s"},
                          Bad{"nats: {url: \"nats://h\", acks: 1}\n", "unknown key 'acks'"}}) {
    auto r = daemon::parse_daemon_config(base + bad.yaml, dir.file("troupe.yaml"));
    INFO(bad.yaml);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find(bad.says) != std::string::npos);
    CHECK(r.error().message.find("troupe.yaml:4:") != std::string::npos);
  }
}

TEST_CASE("a daemon whose NATS server cannot be used does not start, and says why", "[daemon][nats]") {
  // A port nothing listens on (bound, then closed).
  DaemonOptions o;
  o.extra_config = "nats: {url: \"nats://127.0.0.1:1\"}\n";
  try {
    TestDaemon d(o);
    FAIL("the daemon started without its NATS server");
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    INFO(what);
    if (daemon::nats_built_in()) {
      CHECK(what.find("cannot connect to nats://127.0.0.1:1") != std::string::npos);
    } else {
      CHECK(what.find("built without the NATS client") != std::string::npos);
      CHECK(what.find("libnats-dev") != std::string::npos);
    }
  }
}

TEST_CASE("merged stores hold each run once: the best status wins, its steps come from its store",
          "[daemon][merge]") {
  TempDir dir;
  std::vector<std::string> paths = {dir.file("a"), dir.file("b"), dir.file("c")};
  {
    auto a = memory::Store::open(paths[0]);
    auto b = memory::Store::open(paths[1]);
    auto c = memory::Store::open(paths[2]);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    REQUIRE(c.ok());
    // r1: running in a (its daemon died), succeeded in b.
    REQUIRE((*a)->write({step("r1", 0, "from a")}, {}, {run("r1", memory::RunStatus::running, 50, "")}).ok());
    REQUIRE((*b)->write({step("r1", 0, "from b"), step("r1", 1, "b again")}, {},
                        {run("r1", memory::RunStatus::succeeded, 40, "b")})
                .ok());
    // r2: succeeded twice (run twice): the later record wins.
    REQUIRE((*b)->write({step("r2", 0, "early")}, {}, {run("r2", memory::RunStatus::succeeded, 10, "early")}).ok());
    REQUIRE((*c)->write({step("r2", 0, "late")}, {}, {run("r2", memory::RunStatus::succeeded, 20, "late")}).ok());
    // r3: only in c; r4: failed in a, interrupted in c.
    REQUIRE((*c)->write({step("r3", 0, "only c")}, {}, {run("r3", memory::RunStatus::succeeded, 5, "c")}).ok());
    REQUIRE((*a)->write({}, {}, {run("r4", memory::RunStatus::failed, 1, "")}).ok());
    REQUIRE((*c)->write({}, {}, {run("r4", memory::RunStatus::interrupted, 9, "")}).ok());
  }
  std::vector<std::unique_ptr<memory::Store>> stores;
  for (const auto& p : paths) {
    memory::StoreOptions ro;
    ro.read_only = true;
    ro.create_if_missing = false;
    auto s = memory::Store::open(p, ro);
    REQUIRE(s.ok());
    stores.push_back(std::move(s.value()));
  }
  memory::MergedStore merged(std::move(stores));
  std::map<std::string, int> visits;
  std::map<std::string, std::string> answer;
  REQUIRE(merged.for_each_run(std::nullopt, [&](const memory::RunRecord& r) {
    visits[r.id] += 1;
    answer[r.id] = r.answer;
    return true;
  }).ok());
  CHECK(visits == std::map<std::string, int>{{"r1", 1}, {"r2", 1}, {"r3", 1}, {"r4", 1}});
  CHECK(answer["r1"] == "b");
  CHECK(answer["r2"] == "late");
  CHECK(merged.copies_skipped() == 3);  // a's r1, b's r2, c's r4
  auto r4 = merged.get_run("r4");
  REQUIRE(r4.ok());
  REQUIRE(*r4);
  CHECK((*r4)->status == memory::RunStatus::failed);
  auto steps = merged.read_steps("r1");
  REQUIRE(steps.ok());
  REQUIRE(steps->size() == 2);
  CHECK((*steps)[0].completion == "from b");
  // A status filter sees the winners only.
  std::set<std::string> running;
  REQUIRE(merged.for_each_run(memory::RunStatus::running, [&](const memory::RunRecord& r) {
    running.insert(r.id);
    return true;
  }).ok());
  CHECK(running.empty());
  // The export writers read it as one store: r1's two labelled steps, r2's and r3's one each.
  std::ostringstream out;
  auto stats = memory::export_jsonl(merged, memory::ExportFormat::sft, {}, out);
  REQUIRE(stats.ok());
  CHECK(stats->runs == 4);
  CHECK(stats->rows == 4);
  CHECK(out.str().find("from a") == std::string::npos);
  CHECK(out.str().find("early") == std::string::npos);
  CHECK_FALSE(merged.put_run(run("x", memory::RunStatus::queued, 1, "")).ok());
}
