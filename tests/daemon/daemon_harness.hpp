// An in-process daemon for API tests: a RunService over a scripted backend
// the test can inspect (held requests, cancellations), served by ApiServer
// on a free loopback port, plus a small SSE reader. Waiting is done on
// events (SSE, the backend's wait_held), never by sleeping.
#pragma once

#include <httplib.h>

#include <memory>
#include <string>
#include <vector>

#include "daemon/http_api.hpp"
#include "daemon/run_service.hpp"
#include "engine/json_read.hpp"
#include "engine/scripted/scripted_backend.hpp"
#include "support/temp_dir.hpp"

namespace troupe::testing {

// SPOC with prompts a fixture can match: the solver's says "SOLVE:", the
// verifier's "VERIFY".
inline const char* kSpocWorkflow = R"(pipeline: spoc
roles:
  solver:
    template: "SOLVE: {question}"
  verifier:
    template: "VERIFY {question} => {solution}"
params:
  max_turns: 3
)";

// TWICE: wrong (5) then, after the verifier's No, right (4); HANG: the
// solver's call is held until cancelled; PAUSE: the verifier's call is.
// Plain matches only: a regex like VERIFY[\s\S]*X recursed once per
// character of a 9 KiB question in libstdc++'s matcher and overflowed the
// scripted backend's thread stack under ASan (the form-body test, 1 run in 3).
inline const char* kFixture = R"(rules:
  - match: 'VERIFY PAUSE'
    hold: true
  - match: '=> First try: \boxed{5}'
    reply: "5 is wrong. Verdict: No"
  - match: "VERIFY"
    reply: "Checked. Verdict: Yes"
  - match: "judged it incorrect"
    reply: "Fixed: \\boxed{4}"
  - match: "SOLVE: HANG"
    hold: true
  - match: "SOLVE: TWICE"
    reply: "First try: \\boxed{5}"
  - match: "SOLVE:"
    reply: "So \\boxed{4}"
)";

struct SseEventRead {
  std::string id, event, data;
};

inline std::vector<SseEventRead> parse_sse(const std::string& text) {
  std::vector<SseEventRead> out;
  SseEventRead cur;
  bool any = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) {
      if (any) out.push_back(cur);
      cur = {};
      any = false;
    } else if (line[0] == ':') {
      continue;
    } else if (line.rfind("id: ", 0) == 0) {
      cur.id = line.substr(4), any = true;
    } else if (line.rfind("event: ", 0) == 0) {
      cur.event = line.substr(7), any = true;
    } else if (line.rfind("data: ", 0) == 0) {
      cur.data = line.substr(6), any = true;
    }
  }
  return out;
}

struct DaemonOptions {
  std::string token = "s3cret";
  int concurrency = 4;
  size_t max_body_bytes = 64 * 1024;
  std::string fixture = kFixture;
  std::string extra_config;  // appended to troupe.yaml
  bool keep_dir = false;
};

class TestDaemon {
 public:
  explicit TestDaemon(DaemonOptions o = {}, std::shared_ptr<TempDir> dir = nullptr)
      : opts_(std::move(o)), dir_(dir ? std::move(dir) : std::make_shared<TempDir>()) {
    std::filesystem::create_directories(dir_->path() / "workflows");
    write_file(dir_->file("workflows/spoc.yaml"), kSpocWorkflow);
    write_file(dir_->file("workflows/broken.yaml"), "pipeline: nope\n");
    write_file(dir_->file("rules.yaml"), opts_.fixture);
    std::string cfg = "listen: {host: 127.0.0.1, port: 0}\n";
    if (!opts_.token.empty()) cfg += "token: " + opts_.token + "\n";
    cfg += "workflows_dir: workflows\ndb: troupe.db\nconcurrency: " + std::to_string(opts_.concurrency) +
           "\nmax_body_bytes: " + std::to_string(opts_.max_body_bytes) +
           "\nbackends:\n  scripted: {kind: scripted, fixture: rules.yaml}\n" + opts_.extra_config;
    write_file(dir_->file("troupe.yaml"), cfg);
    auto c = daemon::load_daemon_config(dir_->file("troupe.yaml"));
    if (!c.ok()) throw std::runtime_error(c.error().message);
    auto fx = engine::ScriptedBackend::parse_fixture(opts_.fixture, "rules.yaml");
    if (!fx.ok()) throw std::runtime_error(fx.error().message);
    backend = std::make_shared<engine::ScriptedBackend>(std::move(fx.value()), "scripted");
    daemon::ServiceOptions so;
    so.backends["scripted"] = backend;
    auto s = daemon::RunService::start(std::move(c.value()), so);
    if (!s.ok()) throw std::runtime_error(s.error().message);
    service = std::move(s.value());
    api = std::make_unique<daemon::ApiServer>(*service);
    Status st = api->start();
    if (!st.ok()) throw std::runtime_error(st.error().message);
    client = std::make_unique<httplib::Client>("127.0.0.1", api->port());
    client->set_read_timeout(30, 0);
  }
  ~TestDaemon() { stop(); }

  void stop() {
    if (api) api->stop();
    if (service) service->shutdown(0);
    api.reset();
    service.reset();
  }

  std::shared_ptr<TempDir> dir() const { return dir_; }
  httplib::Headers auth() const { return {{"Authorization", "Bearer " + opts_.token}}; }

  httplib::Result get(const std::string& path) { return client->Get(path.c_str(), auth()); }
  httplib::Result post(const std::string& path, const std::string& body) {
    return client->Post(path.c_str(), auth(), body, "application/json");
  }
  httplib::Result del(const std::string& path) { return client->Delete(path.c_str(), auth()); }

  // Submits one question to the spoc workflow and returns its run id.
  std::string submit(const std::string& question) {
    auto r = post("/v1/runs", R"({"workflow":"spoc","inputs":[{"question":")" + question + R"("}]})");
    if (!r || r->status != 202) throw std::runtime_error("submit failed: " + (r ? r->body : std::string("no reply")));
    simdjson::dom::parser p;
    auto doc = p.parse(r->body);
    return std::string(std::string_view(doc["run_ids"].at(0)));
  }

  // The run's event stream read to its end (the connection closes after
  // the end event). `last_id` is sent as Last-Event-ID when not empty.
  std::vector<SseEventRead> events(const std::string& run_id, const std::string& last_id = "") {
    httplib::Headers h = auth();
    if (!last_id.empty()) h.emplace("Last-Event-ID", last_id);
    std::string body;
    // A client of its own: streams are read on other threads than `client`'s.
    httplib::Client c("127.0.0.1", api->port());
    c.set_read_timeout(30, 0);
    auto r = c.Get(("/v1/runs/" + run_id + "/events").c_str(), h, [&](const char* data, size_t n) {
      body.append(data, n);
      return true;
    });
    if (!r || r->status != 200) throw std::runtime_error("events failed");
    return parse_sse(body);
  }

  std::shared_ptr<engine::ScriptedBackend> backend;
  std::unique_ptr<daemon::RunService> service;
  std::unique_ptr<daemon::ApiServer> api;
  std::unique_ptr<httplib::Client> client;

 private:
  DaemonOptions opts_;
  std::shared_ptr<TempDir> dir_;
};

// A string field of a JSON body ("" when absent).
inline std::string json_string(const std::string& body, const char* key) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(body).get(doc)) return {};
  std::string_view v;
  if (doc[key].get(v)) return {};
  return std::string(v);
}

}  // namespace troupe::testing
