// The trajectory viewer's daemon side (docs/viewer.md): the embedded static
// files (content types, CSP, nothing but the table), the API still refusing
// without the token, GET /v1/runs/{id}/steps and /export. The page itself
// is driven in chromium by tests/browser/.
#include <catch2/catch.hpp>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "daemon/web_files.hpp"
#include "daemon_harness.hpp"
#include "memory/export.hpp"
#include "memory/store.hpp"

using namespace troupe;
using namespace troupe::testing;

namespace {

std::string expected_type(std::string_view path) {
  auto ext = path.substr(path.rfind('.'));
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  return "<no type for " + std::string(ext) + ">";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

std::string error_param(const std::string& body) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  std::string_view v;
  if (p.parse(body).get(doc) || doc["error"]["param"].get(v)) return {};
  return std::string(v);
}

}  // namespace

TEST_CASE("viewer: every embedded file is served without a token, with its content type and a strict CSP",
          "[daemon][viewer]") {
  TestDaemon d;
  auto files = daemon::web_files();
  std::set<std::string> paths;
  for (const auto& f : files) paths.insert(std::string(f.path));
  // The page and what it loads are in the table.
  REQUIRE(paths.count("/index.html"));
  REQUIRE(paths.count("/app.js"));
  REQUIRE(paths.count("/style.css"));
  for (const auto& f : files) {
    INFO(f.path);
    CHECK(f.content_type == expected_type(f.path));
    auto r = d.client->Get(std::string(f.path).c_str());  // no Authorization header
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("Content-Type") == expected_type(f.path));
    CHECK(r->body == f.body);
    std::string csp = r->get_header_value("Content-Security-Policy");
    CHECK(csp.find("default-src 'none'") != std::string::npos);
    CHECK(csp.find("script-src 'self'") != std::string::npos);
    CHECK(csp.find("connect-src 'self'") != std::string::npos);
    CHECK(csp.find("unsafe-inline") == std::string::npos);
    CHECK(csp.find("unsafe-eval") == std::string::npos);
    CHECK(r->get_header_value("X-Content-Type-Options") == "nosniff");
  }
  auto root = d.client->Get("/");
  REQUIRE(root);
  CHECK(root->status == 200);
  CHECK(root->get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK(root->body == daemon::find_web_file("/index.html")->body);
  // The page loads its script from a file (the CSP forbids inline script).
  CHECK(root->body.find("<script src=\"/app.js\"") != std::string::npos);
  CHECK(root->body.find("<script>") == std::string::npos);
}

TEST_CASE("viewer: paths outside the file table are not files: 404 with the token, 401 without", "[daemon][viewer]") {
  TestDaemon d;
  for (const char* path : {"/nope.js", "/index.htm", "/app.js/", "/web/app.js", "/daemon/web/app.js", "/../app.js",
                           "/%2e%2e/daemon/http_api.cpp", "/..%2fCMakeLists.txt", "/app.js%00.html", "//app.js",
                           "/embed.cmake", "/APP.JS"}) {
    INFO(path);
    auto with = d.get(path);
    REQUIRE(with);
    CHECK(with->status == 404);
    CHECK(with->get_header_value("Content-Security-Policy").empty());
    auto without = d.client->Get(path);
    REQUIRE(without);
    CHECK(without->status == 401);
  }
  // Only GET and HEAD read files.
  CHECK(d.client->Post("/app.js", "{}", "application/json")->status == 401);
  CHECK(d.client->Head("/app.js")->status == 200);
}

TEST_CASE("viewer: the API the page calls refuses requests without the token or with a wrong one",
          "[daemon][viewer]") {
  TestDaemon d;
  std::string id = d.submit("TWICE");
  d.events(id);
  httplib::Headers wrong = {{"Authorization", "Bearer wrong"}};
  for (const auto& headers : {httplib::Headers{}, wrong}) {
    for (const std::string& path : std::vector<std::string>{"/v1/runs", "/v1/events", "/v1/runs/" + id, "/v1/runs/" + id + "/steps",
                                   "/v1/runs/" + id + "/events", "/v1/runs/" + id + "/export?format=sft"}) {
      INFO(path);
      auto r = d.client->Get(path.c_str(), headers);
      REQUIRE(r);
      CHECK(r->status == 401);
      CHECK(r->body.find("TWICE") == std::string::npos);
    }
  }
}

TEST_CASE("viewer: GET /v1/runs/{id}/steps returns the store's steps in full and the run's pairs",
          "[daemon][viewer]") {
  TestDaemon d;
  std::string twice = d.submit("TWICE");  // No, then Yes: labels and a pair
  std::string once = d.submit("ONCE");
  d.events(twice);
  d.events(once);
  auto r = d.get("/v1/runs/" + twice + "/steps");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  auto stored = d.service->store().read_steps(twice);
  REQUIRE(stored.ok());
  REQUIRE(stored->size() >= 4);
  simdjson::dom::parser p;
  simdjson::dom::element doc = p.parse(r->body);
  CHECK(std::string_view(doc["run"]["id"]) == twice);
  simdjson::dom::array steps = doc["steps"];
  REQUIRE(steps.size() == stored->size());
  size_t i = 0;
  for (auto s : steps) {
    const auto& want = (*stored)[i++];
    CHECK(uint64_t(s["seq"]) == want.seq);
    CHECK(std::string_view(s["role"]) == want.role);
    CHECK(std::string_view(s["completion"]) == want.completion);
    simdjson::dom::array parents = s["parents"];
    CHECK(parents.size() == want.parents.size());
    simdjson::dom::array prompt = s["prompt"];
    REQUIRE(prompt.size() == want.prompt.size());
    if (!want.prompt.empty()) CHECK(std::string_view(prompt.at(0)["content"]) == want.prompt[0].content);
    CHECK(int64_t(s["prompt_tokens"]) == want.prompt_tokens);
    CHECK(int64_t(s["cached_prompt_tokens"]) == want.cached_prompt_tokens);
    CHECK(bool(s["replayed"]) == false);
    CHECK((s["verdict"].is_null() == !want.verdict.has_value()));
    CHECK((s["label"].is_null() == !want.label.has_value()));
  }
  size_t want_pairs = 0;
  REQUIRE(d.service->store().for_each_pair([&](const memory::PairRecord& pr) {
    want_pairs += pr.run_id == twice;
    return true;
  }).ok());
  REQUIRE(want_pairs > 0);
  simdjson::dom::array pairs = doc["pairs"];
  CHECK(pairs.size() == want_pairs);
  // The other run's trajectory has none of this run's pairs.
  simdjson::dom::parser p2;
  simdjson::dom::element other = p2.parse(d.get("/v1/runs/" + once + "/steps")->body);
  CHECK(simdjson::dom::array(other["pairs"]).size() == 0);
  CHECK(d.get("/v1/runs/run-nope/steps")->status == 404);
}

TEST_CASE("viewer: GET /v1/runs/{id}/export writes that run's rows with memory's exporters", "[daemon][viewer]") {
  TestDaemon d;
  std::string twice = d.submit("TWICE");
  std::string other = d.submit("TWICE");  // the same rows' shapes, another run
  d.events(twice);
  d.events(other);
  for (auto format : {memory::ExportFormat::sft, memory::ExportFormat::dpo, memory::ExportFormat::kto}) {
    std::string name = memory::to_string(format);
    INFO(name);
    auto r = d.get("/v1/runs/" + twice + "/export?format=" + name);
    REQUIRE(r);
    REQUIRE(r->status == 200);
    CHECK(r->get_header_value("Content-Type") == "application/x-ndjson");
    CHECK(r->get_header_value("Content-Disposition").find(twice + "-" + name + ".jsonl") != std::string::npos);
    // The same rows as the whole-store export, less the other run's.
    std::ostringstream all;
    auto stats = memory::export_jsonl(d.service->store(), format, {}, all);
    REQUIRE(stats.ok());
    auto all_rows = lines_of(all.str());
    auto run_rows = lines_of(r->body);
    REQUIRE(!run_rows.empty());
    CHECK(run_rows.size() * 2 == all_rows.size());
    CHECK(r->get_header_value("X-Troupe-Rows") == std::to_string(run_rows.size()));
    for (const auto& row : run_rows) CHECK(std::count(all_rows.begin(), all_rows.end(), row) >= 1);
  }
  auto bad = d.get("/v1/runs/" + twice + "/export?format=llamafactory-sft");
  CHECK(bad->status == 400);
  CHECK(error_param(bad->body) == "format");
  CHECK(d.get("/v1/runs/" + twice + "/export")->status == 400);
  CHECK(d.get("/v1/runs/run-nope/export?format=sft")->status == 404);
}

TEST_CASE("viewer: /steps marks the steps of calls the run's receipt says were replayed", "[daemon][viewer]") {
  TestDaemon d;
  // A resumed run as the director records it: the receipt names each call
  // by its journal key and says whether it was replayed; the journal maps a
  // key to the steps the call recorded.
  memory::WriteSet set;
  memory::RunRecord run;
  run.id = "run-resumed-1";
  run.workflow = "spoc";
  run.pipeline = "spoc";
  run.status = memory::RunStatus::succeeded;
  run.metrics_json = R"({"calls":2,"replayed_calls":1,"receipt":[)"
                     R"({"key":"k-solve","role":"solver","replayed":true},)"
                     R"({"key":"k-verify","role":"verifier","replayed":false}]})";
  set.runs.push_back(run);
  for (uint64_t seq : {0, 1, 2}) {
    memory::StepRecord s;
    s.run_id = run.id;
    s.seq = seq;
    s.role = seq == 0 ? "solver" : "verifier";
    s.kind = "step";
    s.completion = "c" + std::to_string(seq);
    if (seq > 0) s.parents = {0};
    set.steps.push_back(s);
  }
  memory::CallRecord solve, verify;
  solve.run_id = verify.run_id = run.id;
  solve.key = "k-solve";
  solve.step_seqs = {0};
  verify.key = "k-verify";
  verify.step_seqs = {1, 2};
  set.calls = {solve, verify};
  REQUIRE(d.service->store().commit(set).ok());

  auto r = d.get("/v1/runs/" + run.id + "/steps");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  simdjson::dom::parser p;
  simdjson::dom::element doc = p.parse(r->body);
  std::vector<bool> replayed;
  for (auto s : simdjson::dom::array(doc["steps"])) replayed.push_back(bool(s["replayed"]));
  CHECK(replayed == std::vector<bool>{true, false, false});
}

TEST_CASE("viewer: GET /v1/events streams each run's status changes, queued, running, then its end",
          "[daemon][viewer]") {
  TestDaemon d;
  std::mutex mu;
  std::condition_variable cv;
  std::string body, id;
  bool ended = false;
  auto has_end = [&] { return !id.empty() && body.find(R"("run_id":")" + id + R"(","status":"succeeded")") != std::string::npos; };
  httplib::Client c("127.0.0.1", d.api->port());
  c.set_read_timeout(30, 0);
  std::thread reader([&] {
    c.Get("/v1/events", d.auth(), [&](const char* data, size_t n) {
      std::lock_guard<std::mutex> lock(mu);
      body.append(data, n);
      ended = has_end();
      cv.notify_all();
      return !ended;  // hang up once the run's end is in
    });
    std::lock_guard<std::mutex> lock(mu);
    ended = true;
    cv.notify_all();
  });
  {
    // The stream says when its subscription is in place.
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return body.find(": ready") != std::string::npos || ended; }));
    REQUIRE(body.find(": ready") != std::string::npos);
  }
  std::string submitted = d.submit("ONCE");
  {
    std::unique_lock<std::mutex> lock(mu);
    id = submitted;
    ended = has_end();
    cv.wait_for(lock, std::chrono::seconds(30), [&] { return ended; });
  }
  reader.join();
  REQUIRE(has_end());
  std::vector<std::string> statuses;
  int64_t last_id = 0;
  for (const auto& e : parse_sse(body)) {
    CHECK(e.event == "run");
    CHECK(std::stoll(e.id) > last_id);
    last_id = std::stoll(e.id);
    if (json_string(e.data, "run_id") == id) statuses.push_back(json_string(e.data, "status"));
  }
  CHECK(statuses == std::vector<std::string>{"queued", "running", "succeeded"});
}
