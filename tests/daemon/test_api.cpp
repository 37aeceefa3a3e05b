// The daemon's HTTP API over real HTTP (tests/daemon/daemon_harness.hpp):
// auth, run submission and listing, errors, cancellation, SSE resume,
// metrics and the OpenAI-compatible front.
#include <catch2/catch.hpp>

#include <set>

#include "common/json_writer.hpp"
#include "daemon_harness.hpp"
#include "support/raw_socket.hpp"

using namespace troupe;
using namespace troupe::testing;

namespace {

std::vector<std::string> ids_of(const std::vector<SseEventRead>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.id);
  return out;
}

std::string error_message(const std::string& body) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(body).get(doc)) return "<not json: " + body + ">";
  std::string_view m;
  if (doc["error"]["message"].get(m)) return "<no error.message: " + body + ">";
  std::string_view code;
  if (doc["error"]["code"].get(code)) return "<no string error.code>";
  return std::string(m);
}

}  // namespace

TEST_CASE("health answers without a token, every other route is 401 without the bearer token", "[daemon]") {
  TestDaemon d;
  auto h = d.client->Get("/health");
  REQUIRE(h);
  CHECK(h->status == 200);
  httplib::Headers none;
  httplib::Headers wrong = {{"Authorization", "Bearer nope"}};
  for (const auto& headers : {none, wrong}) {
    CHECK(d.client->Get("/v1/runs", headers)->status == 401);
    CHECK(d.client->Get("/v1/runs/run-x", headers)->status == 401);
    CHECK(d.client->Get("/v1/runs/run-x/events", headers)->status == 401);
    CHECK(d.client->Delete("/v1/runs/run-x", headers)->status == 401);
    CHECK(d.client->Get("/metrics", headers)->status == 401);
    CHECK(d.client->Get("/v1/models", headers)->status == 401);
    auto p = d.client->Post("/v1/runs", headers, R"({"workflow":"spoc","input":{"question":"x"}})", "application/json");
    CHECK(p->status == 401);
    CHECK(error_message(p->body).find("bearer token") != std::string::npos);
    CHECK(d.client->Post("/v1/chat/completions", headers, "{}", "application/json")->status == 401);
  }
  // Nothing was submitted by the refused requests.
  CHECK(d.backend->calls() == 0);
  CHECK(d.get("/v1/runs")->body == R"({"runs":[]})");
}

TEST_CASE("POST /v1/runs commits queued runs that then run, GET shows them, filters list them", "[daemon]") {
  TestDaemon d;
  auto r = d.post("/v1/runs", R"({"workflow":"spoc","inputs":[{"id":"a","question":"2+2?","answer":"4"},{"id":"b","question":"TWICE"}]})");
  REQUIRE(r);
  REQUIRE(r->status == 202);
  simdjson::dom::parser p;
  auto ids = p.parse(r->body)["run_ids"].get_array();
  REQUIRE(ids.size() == 2);
  std::string a(std::string_view(ids.at(0))), b(std::string_view(ids.at(1)));
  CHECK(r->get_header_value("Location") == "/v1/runs/" + a);

  // The events end with the run; then the record is final.
  auto ea = d.events(a);
  REQUIRE(!ea.empty());
  CHECK(ea.back().event == "end");
  auto eb = d.events(b);
  // TWICE: solve (5), verify (No), solve again (4), verify (Yes).
  CHECK(ids_of(eb) == std::vector<std::string>{"0", "1", "2", "3", "4"});
  CHECK(json_string(eb[0].data, "role") == "solver");
  CHECK(json_string(eb[1].data, "role") == "verifier");
  CHECK(json_string(eb[2].data, "completion") == "Fixed: \\boxed{4}");
  CHECK(json_string(eb.back().data, "status") == "succeeded");

  auto ga = d.get("/v1/runs/" + a);
  REQUIRE(ga->status == 200);
  CHECK(json_string(ga->body, "status") == "succeeded");
  CHECK(json_string(ga->body, "answer") == "4");
  CHECK(json_string(ga->body, "item_id") == "a");
  CHECK(json_string(ga->body, "workflow") == "spoc");
  CHECK(ga->body.find(R"("correct":true)") != std::string::npos);

  auto all = d.get("/v1/runs?status=succeeded&workflow=spoc");
  REQUIRE(all->status == 200);
  CHECK(all->body.find(a) != std::string::npos);
  CHECK(all->body.find(b) != std::string::npos);
  CHECK(d.get("/v1/runs?status=queued")->body == R"({"runs":[]})");
  CHECK(d.get("/v1/runs?workflow=other")->body == R"({"runs":[]})");
  // Pages follow id order (ids of one batch share a millisecond and need
  // not sort in submission order).
  std::string first = std::min(a, b), second = std::max(a, b);
  auto one = d.get("/v1/runs?limit=1");
  CHECK(json_string(one->body, "next_after") == first);
  auto next = d.get("/v1/runs?limit=1&after=" + first);
  CHECK(next->body.find(second) != std::string::npos);
  CHECK(next->body.find(first + "\"") == std::string::npos);
  CHECK(d.get("/v1/runs/run-none")->status == 404);
}

TEST_CASE("bad requests are 400/404 with the one error shape, workflow names cannot reach outside the folder",
          "[daemon]") {
  TestDaemon d;
  auto check = [&](const std::string& body, int status, const std::string& says) {
    auto r = d.post("/v1/runs", body);
    REQUIRE(r);
    CHECK(r->status == status);
    CHECK_THAT(error_message(r->body), Catch::Contains(says));
  };
  check("{not json", 400, "invalid JSON");
  check("[1,2]", 400, "expected a JSON object");
  check(R"({"workflow":"spoc","input":{"question":"x"},"bogus":1})", 400, "bogus: unknown field");
  check(R"({"workflow":"spoc","inputs":[]})", 400, "at least one input");
  check(R"({"workflow":"spoc","inputs":[{"nope":1}]})", 400, "inputs:1: missing \"question\"");
  check(R"({"workflow":"nope","input":{"question":"x"}})", 404, "no workflow named 'nope'");
  check(R"({"workflow":"../troupe","input":{"question":"x"}})", 400, "no paths");
  check(R"({"workflow":"/etc/passwd","input":{"question":"x"}})", 400, "no paths");
  check(R"({"workflow":"workflows/spoc","input":{"question":"x"}})", 400, "no paths");
  check(R"({"workflow":"..","input":{"question":"x"}})", 400, "no paths");
  check(R"({"workflow":"broken","input":{"question":"x"}})", 400, "unknown pipeline");
  check(R"({"workflow":"spoc","backend":"gpt","input":{"question":"x"}})", 400, "no backend named 'gpt'");
  check(R"({"workflow_yaml":"pipeline: spoc\nparams:\n  max_turnz: 2\n","input":{"question":"x"}})", 400,
        "inline.yaml:3:3: unknown key 'max_turnz'");
  check(R"({"workflow":"spoc","workflow_yaml":"pipeline: spoc","input":{"question":"x"}})", 400, "either workflow");
  CHECK(d.backend->calls() == 0);
  CHECK(d.get("/v1/runs")->body == R"({"runs":[]})");
  auto q = d.get("/v1/runs?status=weird");
  CHECK(q->status == 400);
  CHECK(d.get("/v1/runs?limit=0")->status == 400);
  CHECK(d.get("/v1/runs/x/events")->status == 404);
  CHECK(d.del("/v1/runs/run-none")->status == 404);
  auto ev = d.client->Get("/v1/runs/x/events", {{"Authorization", "Bearer s3cret"}, {"Last-Event-ID", "abc"}});
  CHECK(ev->status == 400);
  CHECK_THAT(error_message(ev->body), Catch::Contains("Last-Event-ID"));
}

TEST_CASE("a request body over max_body_bytes is refused with 413", "[daemon]") {
  DaemonOptions o;
  o.max_body_bytes = 1024;
  TestDaemon d(o);
  std::string big(2000, 'x');
  auto r = d.post("/v1/runs", R"({"workflow":"spoc","input":{"question":")" + big + R"("}})");
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(error_message(r->body) == "request body too large");
  CHECK(d.backend->calls() == 0);
}

TEST_CASE("an inline workflow runs on the daemon's backend without a backend section", "[daemon]") {
  TestDaemon d;
  std::string yaml = std::string(kSpocWorkflow);
  std::string body = R"({"workflow_yaml":)" + json_quote(yaml) + R"(,"input":{"question":"2+2"}})";
  auto r = d.post("/v1/runs", body);
  REQUIRE(r->status == 202);
  simdjson::dom::parser p;
  std::string id(std::string_view(p.parse(r->body)["run_ids"].at(0)));
  auto ev = d.events(id);
  CHECK(json_string(ev.back().data, "status") == "succeeded");
  auto g = d.get("/v1/runs/" + id);
  CHECK(json_string(g->body, "workflow") == "inline");
  // The bound text (with the daemon's backend) is stored under the hash.
  std::string hash = json_string(g->body, "workflow_hash");
  auto text = d.service->store().get_blob(hash);
  REQUIRE(text.ok());
  REQUIRE(text->has_value());
  CHECK_THAT(**text, Catch::Contains("kind: scripted"));
}

TEST_CASE("DELETE cancels a running run: its in-flight generation is cancelled in the engine", "[daemon]") {
  TestDaemon d;
  std::string id = d.submit("HANG");
  d.backend->wait_held(1);  // the solver's request is in the engine now
  CHECK(json_string(d.get("/v1/runs/" + id)->body, "status") == "running");
  auto c = d.del("/v1/runs/" + id);
  REQUIRE(c);
  CHECK(c->status == 202);
  auto ev = d.events(id);
  REQUIRE(!ev.empty());
  CHECK(ev.back().event == "end");
  CHECK(json_string(ev.back().data, "status") == "cancelled");
  CHECK(d.backend->released_by_cancel() == 1);
  CHECK(d.backend->held() == 0);
  CHECK(json_string(d.get("/v1/runs/" + id)->body, "status") == "cancelled");
  // Cancelling again: the run has finished.
  CHECK(d.del("/v1/runs/" + id)->status == 409);
}

TEST_CASE("DELETE of a queued run cancels it before it starts, the queue moves on", "[daemon]") {
  DaemonOptions o;
  o.concurrency = 1;
  TestDaemon d(o);
  std::string blocker = d.submit("HANG");
  d.backend->wait_held(1);
  std::string queued = d.submit("2+2");
  CHECK(json_string(d.get("/v1/runs/" + queued)->body, "status") == "queued");
  auto c = d.del("/v1/runs/" + queued);
  CHECK(c->status == 200);
  CHECK(json_string(c->body, "status") == "cancelled");
  auto ev = d.events(queued);
  CHECK(ids_of(ev) == std::vector<std::string>{"0"});  // only the end event: no steps
  CHECK(json_string(ev[0].data, "status") == "cancelled");
  int64_t calls_before = d.backend->calls();
  std::string next = d.submit("2+2");
  CHECK(d.del("/v1/runs/" + blocker)->status == 202);
  CHECK(json_string(d.events(next).back().data, "status") == "succeeded");
  CHECK(d.backend->calls() == calls_before + 2);  // the cancelled run never called the backend
}

TEST_CASE("SSE: Last-Event-ID resumes after that event, live and from the store, with no duplicates", "[daemon]") {
  DaemonOptions o;
  o.concurrency = 1;
  TestDaemon d(o);
  // Live: the stream is opened while the run is still queued behind a held one.
  std::string blocker = d.submit("HANG");
  d.backend->wait_held(1);
  std::string id = d.submit("TWICE");
  std::vector<SseEventRead> live;
  std::thread reader([&] { live = d.events(id, "1"); });
  // The reader is subscribed once the hub counts it; then let the run go.
  while (d.service->hub().subscriptions() == 0) std::this_thread::yield();
  CHECK(d.del("/v1/runs/" + blocker)->status == 202);
  reader.join();
  CHECK(ids_of(live) == std::vector<std::string>{"2", "3", "4"});
  CHECK(live[0].event == "step");
  CHECK(live.back().event == "end");
  // Live events carry the commit time; the store cannot know it.
  CHECK(live[0].data.find("committed_us") != std::string::npos);

  // From the store, after the run ended.
  auto all = d.events(id);
  CHECK(ids_of(all) == std::vector<std::string>{"0", "1", "2", "3", "4"});
  CHECK(all[0].data.find("committed_us") == std::string::npos);
  auto tail = d.events(id, "2");
  CHECK(ids_of(tail) == std::vector<std::string>{"3", "4"});
  CHECK(tail[0].data == all[3].data);
  auto none = d.events(id, "4");
  CHECK(none.empty());
}

TEST_CASE("metrics count runs by state, steps, calls, tokens and call latency", "[daemon]") {
  TestDaemon d;
  std::string id = d.submit("TWICE");
  d.events(id);
  auto m = d.get("/metrics");
  REQUIRE(m->status == 200);
  const std::string& t = m->body;
  CHECK_THAT(t, Catch::Contains("troupe_daemon_runs{state=\"succeeded\"} 1\n"));
  CHECK_THAT(t, Catch::Contains("troupe_daemon_runs{state=\"running\"} 0\n"));
  CHECK_THAT(t, Catch::Contains("troupe_daemon_queue_depth 0\n"));
  auto steps = d.service->store().read_steps(id);
  REQUIRE(steps.ok());
  int64_t prompt = 0, completion = 0;
  for (const auto& s : *steps) prompt += s.prompt_tokens, completion += s.completion_tokens;
  CHECK_THAT(t, Catch::Contains("troupe_daemon_steps_total " + std::to_string(steps->size()) + "\n"));
  CHECK_THAT(t, Catch::Contains("troupe_daemon_calls_total 4\n"));
  CHECK_THAT(t, Catch::Contains("troupe_daemon_tokens_total{kind=\"prompt\"} " + std::to_string(prompt) + "\n"));
  CHECK_THAT(t, Catch::Contains("troupe_daemon_tokens_total{kind=\"completion\"} " + std::to_string(completion) + "\n"));
  CHECK_THAT(t, Catch::Contains("troupe_daemon_call_latency_seconds_count 4\n"));
  CHECK_THAT(t, Catch::Contains("troupe_daemon_call_latency_seconds_bucket{le=\"+Inf\"} 4\n"));
}

TEST_CASE("OpenAI front: a pipeline model answers a chat completion with the run's final answer", "[daemon]") {
  TestDaemon d;
  auto models = d.get("/v1/models");
  REQUIRE(models->status == 200);
  CHECK_THAT(models->body, Catch::Contains(R"("id":"spoc/scripted")"));
  CHECK_THAT(models->body, !Catch::Contains("broken/"));

  auto r = d.post("/v1/chat/completions",
                  R"({"model":"spoc/scripted","messages":[{"role":"user","content":"TWICE"}]})");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  std::string run_id = r->get_header_value("X-Troupe-Run-Id");
  REQUIRE(!run_id.empty());
  simdjson::dom::parser p;
  auto doc = p.parse(r->body);
  CHECK(std::string_view(doc["object"]) == "chat.completion");
  CHECK(std::string_view(doc["model"]) == "spoc/scripted");
  CHECK(std::string_view(doc["choices"].at(0)["message"]["content"]) == "4");
  CHECK(std::string_view(doc["choices"].at(0)["finish_reason"]) == "stop");
  auto run = d.get("/v1/runs/" + run_id);
  CHECK(json_string(run->body, "status") == "succeeded");
  CHECK(json_string(run->body, "answer") == "4");
  CHECK(int64_t(doc["usage"]["prompt_tokens"]) > 0);

  // Streamed: a role chunk, the answer, [DONE].
  std::string body;
  httplib::Headers h = d.auth();
  auto s = d.client->Post("/v1/chat/completions", h,
                          R"({"model":"spoc/scripted","stream":true,"messages":[{"role":"user","content":"2+2"}]})",
                          "application/json");
  REQUIRE(s->status == 200);
  CHECK(!s->get_header_value("X-Troupe-Run-Id").empty());
  CHECK_THAT(s->body, Catch::Contains(R"("content":"4")"));
  CHECK_THAT(s->body, Catch::EndsWith("data: [DONE]\n\n"));

  auto unknown = d.post("/v1/chat/completions", R"({"model":"gpt-4","messages":[{"role":"user","content":"x"}]})");
  CHECK(unknown->status == 404);
  CHECK_THAT(error_message(unknown->body), Catch::Contains("model 'gpt-4' does not exist"));
  auto bad = d.post("/v1/chat/completions", R"({"model":"spoc/scripted","messages":"x"})");
  CHECK(bad->status == 400);
}

// Hidden: in-process, the first service's shutdown does not return while the
// test still owns the backend holding the verifier's request (known issue,
// see docs/daemon.md). The same behaviour is covered by the process test
// "SIGTERM: ..." in test_process.cpp, which passes.
TEST_CASE("runs left running by a shutdown are resumed under the same id by the next start", "[daemon][.]") {
  std::string id;
  auto dir = std::make_shared<TempDir>();
  {
    TestDaemon d({}, dir);
    id = d.submit("PAUSE");
    d.backend->wait_held(1);  // the solver's step is committed; the verifier's call is in flight
    d.stop();                  // grace 0: the run is left for the next start
  }
  {
    memory::StoreOptions ro;
    ro.read_only = true;
    auto store = memory::Store::open(dir->file("troupe.db"), ro);
    REQUIRE(store.ok());
    auto rec = (*store)->get_run(id);
    REQUIRE(rec.ok());
    REQUIRE(rec->has_value());
    CHECK((*rec)->status == memory::RunStatus::running);
    auto steps = (*store)->read_steps(id);
    REQUIRE(steps.ok());
    CHECK(steps->size() == 1);
  }
  DaemonOptions o;
  o.fixture = std::string(kFixture).replace(std::string(kFixture).find("hold: true"), 10, "reply: \"Verdict: Yes\"");
  TestDaemon d2(o, dir);
  CHECK(d2.service->resumed_runs() == 1);
  auto ev = d2.events(id);
  REQUIRE(!ev.empty());
  CHECK(json_string(ev.back().data, "status") == "succeeded");
  CHECK(json_string(d2.get("/v1/runs/" + id)->body, "answer") == "4");
}

TEST_CASE("OpenAI front: parameters a pipeline cannot honour are 400 naming them, no-op values pass", "[daemon]") {
  TestDaemon d;
  auto with = [&](const std::string& extra) {
    return d.post("/v1/chat/completions",
                  R"({"model":"spoc/scripted","messages":[{"role":"user","content":"2+2"}],)" + extra + "}");
  };
  for (auto [extra, param] : std::vector<std::pair<std::string, std::string>>{
           {R"("n":2)", "n"},
           {R"("stop":["\n"])", "stop"},
           {R"("stop":"x")", "stop"},
           {R"("max_tokens":16)", "max_tokens"},
           {R"("temperature":0.2)", "temperature"},
           {R"("seed":7)", "seed"},
           {R"("logprobs":true)", "logprobs"},
           {R"("top_p":0.5)", "top_p"},
           {R"("tools":[{"type":"function","function":{"name":"f"}}])", "tools"},
           {R"("response_format":{"type":"json_object"})", "response_format"}}) {
    INFO(extra);
    auto r = with(extra);
    REQUIRE(r);
    CHECK(r->status == 400);
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    REQUIRE(p.parse(r->body).get(doc) == simdjson::SUCCESS);
    CHECK(std::string_view(doc["error"]["param"]) == param);
    CHECK_THAT(error_message(r->body), Catch::StartsWith(param + ": not supported by a pipeline model"));
  }
  auto ok = with(R"("n":1,"stop":null,"logprobs":false,"user":"u")");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  auto empty_stop = with(R"("stop":[])");
  REQUIRE(empty_stop);
  CHECK(empty_stop->status == 200);
  // Null and no-op tool parameters, keys that change nothing and unknown keys pass.
  auto noop = with(R"("tools":null,"tool_choice":"none","metadata":{"a":"b"},"store":false,"parallel_tool_calls":true,"some_future_knob":1)");
  REQUIRE(noop);
  CHECK(noop->status == 200);
  auto tools = with(R"("tools":[{"type":"function","function":{"name":"f"}}])");
  REQUIRE(tools);
  CHECK(tools->status == 400);
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(tools->body).get(doc) == simdjson::SUCCESS);
  CHECK(std::string_view(doc["error"]["param"]) == "tools");
}

TEST_CASE("OpenAI front: models/{id}, /v1/responses answers the run's answer, 401 asks for a bearer token",
          "[daemon]") {
  TestDaemon d;
  auto one = d.client->Get("/v1/models/spoc/scripted", d.auth());
  REQUIRE(one);
  CHECK(one->status == 200);
  CHECK(one->body.find("\"id\":\"spoc/scripted\"") != std::string::npos);
  auto missing = d.client->Get("/v1/models/nope/x", d.auth());
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto responses = d.post("/v1/responses", R"({"model":"spoc/scripted","instructions":"be brief","input":"2+2"})");
  REQUIRE(responses);
  CHECK(responses->status == 200);
  {
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    REQUIRE(p.parse(responses->body).get(doc) == simdjson::SUCCESS);
    CHECK(std::string_view(doc["object"]) == "response");
    CHECK(std::string_view(doc["status"]) == "completed");
    CHECK(std::string_view(doc["output"].at(0)["content"].at(0)["text"]) == "4");
  }
  auto streamed = d.post("/v1/responses", R"({"model":"spoc/scripted","input":"2+2","stream":true})");
  REQUIRE(streamed);
  CHECK(streamed->body.find("event: response.created") != std::string::npos);
  CHECK(streamed->body.find("\"delta\":\"4\"") != std::string::npos);
  CHECK(streamed->body.find("event: response.completed") != std::string::npos);
  auto hot = d.post("/v1/responses", R"({"model":"spoc/scripted","input":"2+2","temperature":0.3})");
  REQUIRE(hot);
  CHECK(hot->status == 400);
  CHECK_THAT(error_message(hot->body), Catch::StartsWith("temperature: not supported by a pipeline model"));
  auto denied = d.client->Get("/v1/models");
  REQUIRE(denied);
  CHECK(denied->status == 401);
  CHECK(denied->get_header_value("WWW-Authenticate") == "Bearer");
  auto chat = d.post("/v1/chat/completions", R"({"model":"spoc/scripted","messages":[{"role":"user","content":"2+2"}]})");
  REQUIRE(chat);
  CHECK(chat->body.find("\"system_fingerprint\":\"troupe-") != std::string::npos);
}

TEST_CASE("a body sent as a form (curl -d) is 415 naming the content type, not 413", "[daemon]") {
  TestDaemon d;
  std::string body = R"({"workflow":"spoc","input":{"question":")" + std::string(9 * 1024, 'x') + R"("}})";
  for (const char* path : {"/v1/runs", "/v1/chat/completions"}) {
    INFO(path);
    auto r = d.client->Post(path, d.auth(), body, "application/x-www-form-urlencoded");
    REQUIRE(r);
    CHECK(r->status == 415);
    CHECK_THAT(error_message(r->body), Catch::Contains("'application/x-www-form-urlencoded'"));
  }
  auto json = d.client->Post("/v1/runs", d.auth(), body, "application/json");
  REQUIRE(json);
  CHECK(json->status == 202);
}

TEST_CASE("OpenAI front: a non-streamed completion whose client hangs up cancels its run", "[daemon]") {
  TestDaemon d;
  {
    RawSocket client(d.api->port());
    std::string body = R"({"model":"spoc/scripted","messages":[{"role":"user","content":"HANG"}]})";
    REQUIRE(client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret\r\n"
                        "Content-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body));
    d.backend->wait_held(1);  // the solver's call waits in the backend
  }  // the client closes its connection
  bool cancelled = false;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       !cancelled && std::chrono::steady_clock::now() < deadline;) {
    auto r = d.get("/v1/runs?status=cancelled");
    REQUIRE(r);
    cancelled = r->body.find("\"id\"") != std::string::npos;
    if (!cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling with a deadline
  }
  CHECK(cancelled);
  CHECK(d.backend->released_by_cancel() == 1);
}
