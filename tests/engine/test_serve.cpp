// OpenAIServer over in-test backends, and HttpBackend -> OpenAIServer round trips.
#include <catch2/catch.hpp>

#include <httplib.h>
#include <simdjson.h>

#include <condition_variable>
#include <future>
#include <map>
#include <mutex>

#include "engine/http/http_backend.hpp"
#include "engine/serve/openai_server.hpp"
#include "engine/sse.hpp"
#include "support/raw_socket.hpp"

using namespace troupe;
using namespace troupe::engine;
using namespace troupe::testing;
using namespace std::chrono_literals;

namespace {

// Answers at once: choice i is "echo <last message>" (+ " #i" when n > 1),
// streamed word by word through on_delta. The prompt "fail" is an upstream
// error; the prompt "call" with tools also calls the first tool.
class EchoBackend : public Backend {
 public:
  void submit(GenerateRequest r, GenerateCallback done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_ = r;
    }
    std::string prompt = r.kind == PromptKind::chat ? r.messages.back().content : r.prompt;
    if (prompt == "fail") {
      done(Error{ErrorCode::http, "upstream exploded", 503, true});
      return;
    }
    GenerateResult res;
    res.request_id = r.id;
    for (int i = 0; i < r.sampling.n; ++i) {
      Choice c;
      c.index = i;
      c.text = "echo " + prompt + (r.sampling.n > 1 ? " #" + std::to_string(i) : "");
      if (prompt == "call" && !r.tools.empty() && r.tool_choice != ToolChoice::none)
        c.tool_calls.push_back({"call_1", r.tools[0].name, R"({"x":1})"});
      if (r.on_delta) {
        r.on_delta(i, "echo ");
        r.on_delta(i, c.text.substr(5));
      }
      res.choices.push_back(c);
    }
    res.usage = {3, 1, 2};
    done(std::move(res));
  }
  void cancel(const std::string&) override {}
  BackendInfo info() const override { return {"echo", "echo-model", ""}; }
  GenerateRequest last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  std::mutex mu_;
  GenerateRequest last_;
};

// Sends one delta, then holds the request until cancel().
class HeldBackend : public Backend {
 public:
  void submit(GenerateRequest r, GenerateCallback done) override {
    if (r.on_delta) r.on_delta(0, "partial ");
    std::lock_guard<std::mutex> lock(mu_);
    held_[r.id] = std::move(done);
  }
  void cancel(const std::string& id) override {
    GenerateCallback done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = held_.find(id);
      if (it == held_.end()) return;
      done = std::move(it->second);
      held_.erase(it);
    }
    done(Error{ErrorCode::cancelled, "cancelled"});
    cancelled_.set_value(id);
  }
  BackendInfo info() const override { return {"held", "held", ""}; }
  std::future<std::string> cancelled() { return cancelled_.get_future(); }

 private:
  std::mutex mu_;
  std::map<std::string, GenerateCallback> held_;
  std::promise<std::string> cancelled_;
};

struct Served {
  std::shared_ptr<EchoBackend> backend = std::make_shared<EchoBackend>();
  std::unique_ptr<OpenAIServer> server;
  explicit Served(OpenAIServer::Options o = {}) {
    o.model = "served-model";
    server = std::make_unique<OpenAIServer>(backend, o);
    REQUIRE(server->start().ok());
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(20, 0);
    return c;
  }
};

simdjson::dom::element parse(simdjson::dom::parser& p, const std::string& s) {
  simdjson::dom::element e;
  INFO(s);
  REQUIRE(p.parse(s).get(e) == simdjson::SUCCESS);
  return e;
}

std::string str(simdjson::dom::element e) { return std::string(e.get_string().value()); }

const char* kChat = R"({"model":"served-model","messages":[{"role":"user","content":"hi"}],"max_tokens":8})";

}  // namespace

TEST_CASE("serve: a chat completion comes back in OpenAI's shape", "[serve]") {
  Served s;
  auto res = s.client().Post("/v1/chat/completions", kChat, "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  simdjson::dom::parser p;
  auto e = parse(p, res->body);
  CHECK(str(e["object"]) == "chat.completion");
  CHECK(str(e["model"]) == "served-model");
  CHECK(str(e["choices"].at(0)["message"]["content"]) == "echo hi");
  CHECK(str(e["choices"].at(0)["finish_reason"]) == "stop");
  CHECK(e["usage"]["prompt_tokens_details"]["cached_tokens"].get_int64().value() == 1);
  CHECK(s.backend->last().sampling.max_tokens == 8);
}

TEST_CASE("serve: a completions request is answered with text choices", "[serve]") {
  Served s;
  auto res = s.client().Post("/v1/completions", R"({"prompt":"Q","n":2})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  simdjson::dom::parser p;
  auto e = parse(p, res->body);
  CHECK(str(e["object"]) == "text_completion");
  CHECK(str(e["model"]) == "served-model");
  CHECK(str(e["choices"].at(1)["text"]) == "echo Q #1");
}

TEST_CASE("serve: a stream sends deltas, finishes, usage and [DONE]", "[serve][stream]") {
  Served s;
  auto res = s.client().Post(
      "/v1/chat/completions",
      R"({"messages":[{"role":"user","content":"yo"}],"n":2,"stream":true,"stream_options":{"include_usage":true}})",
      "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type").find("text/event-stream") != std::string::npos);
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(res->body, events);
  StreamAccumulator acc(2);
  for (const auto& ev : events) REQUIRE(acc.add(ev.data, nullptr).ok());
  CHECK(acc.saw_done());
  REQUIRE(acc.all_finished());
  auto r = acc.result(FinishReason::error, "");
  CHECK(r.choices[0].text == "echo yo #0");
  CHECK(r.choices[1].text == "echo yo #1");
  CHECK(r.usage.prompt_tokens == 3);
  CHECK(res->body.find("\"role\":\"assistant\"") != std::string::npos);
}

TEST_CASE("serve: a stream with tools holds the text to the end, then sends the calls and finishes tool_calls",
          "[serve][stream][structured]") {
  Served s;
  const std::string tools = R"("tools":[{"type":"function","function":{"name":"f"}}],"stream":true)";
  auto called = s.client().Post(
      "/v1/chat/completions", R"({"messages":[{"role":"user","content":"call"}],)" + tools + "}", "application/json");
  REQUIRE(called);
  CHECK(called->status == 200);
  CHECK_FALSE(s.backend->last().on_delta);  // nothing is streamed as it is generated
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(called->body, events);
  std::vector<std::string> data;
  for (const auto& ev : events)
    if (ev.data != "[DONE]") data.push_back(ev.data);
  REQUIRE(data.size() == 2);
  simdjson::dom::parser p;
  auto calls = parse(p, data[0])["choices"].at(0);
  CHECK(str(calls["delta"]["content"]) == "echo call");
  CHECK(str(calls["delta"]["tool_calls"].at(0)["function"]["name"]) == "f");
  CHECK(str(calls["delta"]["tool_calls"].at(0)["function"]["arguments"]) == R"({"x":1})");
  CHECK(calls["finish_reason"].is_null());
  simdjson::dom::parser p2;
  auto finish = parse(p2, data[1])["choices"].at(0);
  CHECK(str(finish["finish_reason"]) == "tool_calls");
  CHECK(finish["delta"]["tool_calls"].error() == simdjson::NO_SUCH_FIELD);
  // No call: the held text comes whole in the finish chunk, which reads stop.
  auto plain = s.client().Post(
      "/v1/chat/completions", R"({"messages":[{"role":"user","content":"yo"}],)" + tools + "}", "application/json");
  REQUIRE(plain);
  events.clear();
  parser.feed(plain->body, events);
  REQUIRE(events.size() == 2);
  simdjson::dom::parser p3;
  auto whole = parse(p3, events[0].data)["choices"].at(0);
  CHECK(str(whole["delta"]["content"]) == "echo yo");
  CHECK(str(whole["finish_reason"]) == "stop");
  // tool_choice "none": streamed as generated.
  auto none = s.client().Post("/v1/chat/completions",
                              R"({"messages":[{"role":"user","content":"call"}],"tool_choice":"none",)" + tools + "}",
                              "application/json");
  REQUIRE(none);
  CHECK(s.backend->last().on_delta);
}

TEST_CASE("serve: /v1/models names the model and /health answers 200", "[serve]") {
  Served s;
  auto cli = s.client();
  auto models = cli.Get("/v1/models");
  REQUIRE(models);
  simdjson::dom::parser p;
  CHECK(str(parse(p, models->body)["data"].at(0)["id"]) == "served-model");
  auto health = cli.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  auto missing = cli.Get("/v1/nothing");
  REQUIRE(missing);
  CHECK(missing->status == 404);
}

TEST_CASE("serve: bad JSON and bad fields are 400 naming the problem", "[serve][errors]") {
  Served s;
  auto cli = s.client();
  simdjson::dom::parser p;
  auto bad = cli.Post("/v1/chat/completions", "{oops", "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(str(parse(p, bad->body)["error"]["message"]).find("invalid JSON") != std::string::npos);
  auto field = cli.Post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"a"},{"role":5}]})",
                        "application/json");
  REQUIRE(field);
  CHECK(field->status == 400);
  auto e = parse(p, field->body);
  CHECK(str(e["error"]["message"]) == "messages[1].role: expected string, got integer");
  CHECK(str(e["error"]["param"]) == "messages[1].role");
  CHECK(str(e["error"]["type"]) == "invalid_request_error");
}

TEST_CASE("serve: a body over the limit is 413 with an OpenAI error", "[serve][errors]") {
  OpenAIServer::Options o;
  o.max_body_bytes = 1024;
  Served s(o);
  std::string big = R"({"messages":[{"role":"user","content":")" + std::string(4096, 'a') + "\"}]}";
  auto res = s.client().Post("/v1/chat/completions", big, "application/json");
  REQUIRE(res);
  CHECK(res->status == 413);
  simdjson::dom::parser p;
  CHECK(str(parse(p, res->body)["error"]["message"]).find("too large") != std::string::npos);
}

TEST_CASE("serve: a missing or wrong bearer token is 401", "[serve][errors]") {
  OpenAIServer::Options o;
  o.bearer_token = "sekrit";
  Served s(o);
  auto cli = s.client();
  auto none = cli.Post("/v1/chat/completions", kChat, "application/json");
  REQUIRE(none);
  CHECK(none->status == 401);
  auto wrong = cli.Post("/v1/chat/completions", {{"Authorization", "Bearer nope"}}, kChat, "application/json");
  REQUIRE(wrong);
  CHECK(wrong->status == 401);
  auto right = cli.Post("/v1/chat/completions", {{"Authorization", "Bearer sekrit"}}, kChat, "application/json");
  REQUIRE(right);
  CHECK(right->status == 200);
  auto health = cli.Get("/health");
  CHECK(health->status == 200);
}

TEST_CASE("serve: a backend error is a 5xx carrying its message", "[serve][errors]") {
  Served s;
  auto res = s.client().Post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"fail"}]})",
                             "application/json");
  REQUIRE(res);
  CHECK(res->status == 502);
  simdjson::dom::parser p;
  CHECK(str(parse(p, res->body)["error"]["message"]) == "upstream exploded");
}

TEST_CASE("serve: a port in use is a clear start error, stop is idempotent", "[serve]") {
  Served s;
  OpenAIServer::Options o;
  o.port = s.server->port();
  OpenAIServer second(s.backend, o);
  auto st = second.start();
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message.find("cannot listen") != std::string::npos);
  s.server->stop();
  s.server->stop();
}

TEST_CASE("serve: a client that leaves mid-stream cancels the backend request", "[serve][stream]") {
  auto held = std::make_shared<HeldBackend>();
  auto cancelled = held->cancelled();
  OpenAIServer::Options o;
  o.keepalive_ms = 50;
  OpenAIServer server(held, o);
  REQUIRE(server.start().ok());
  HttpBackend::Config cfg;
  cfg.base_url = server.base_url();
  cfg.stream = true;
  auto client = HttpBackend::create(cfg);
  REQUIRE(client.ok());
  auto done = std::make_shared<std::promise<void>>();
  GenerateRequest r;
  r.id = "leaving";
  r.messages = {{"user", "hold"}};
  Backend* b = client->get();
  r.on_delta = [b](int, const std::string&) { b->cancel("leaving"); };
  (*client)->submit(r, [done](Result<GenerateResult>) { done->set_value(); });
  REQUIRE(done->get_future().wait_for(10s) == std::future_status::ready);
  REQUIRE(cancelled.wait_for(10s) == std::future_status::ready);
  CHECK(cancelled.get().rfind("chatcmpl", 0) == 0);
}

TEST_CASE("serve: HttpBackend round trip through OpenAIServer, streaming and not, n=2", "[serve][roundtrip]") {
  Served s;
  for (bool stream : {false, true}) {
    for (const char* api : {"chat", "completions"}) {
      INFO("stream=" << stream << " api=" << api);
      HttpBackend::Config cfg;
      cfg.base_url = s.server->base_url();
      cfg.api = api;
      cfg.stream = stream;
      auto backend = HttpBackend::create(cfg);
      REQUIRE(backend.ok());
      GenerateRequest r;
      if (std::string(api) == "chat") {
        r.messages = {{"user", "ping"}};
      } else {
        r.kind = PromptKind::text;
        r.prompt = "ping";
      }
      r.sampling.n = 2;
      r.sampling.seed = 5;
      std::mutex mu;
      std::map<int, std::string> streamed;
      r.on_delta = [&](int i, const std::string& d) {
        std::lock_guard<std::mutex> lock(mu);
        streamed[i] += d;
      };
      auto p = std::make_shared<std::promise<Result<GenerateResult>>>();
      auto f = p->get_future();
      (*backend)->submit(r, [p](Result<GenerateResult> res) { p->set_value(std::move(res)); });
      REQUIRE(f.wait_for(20s) == std::future_status::ready);
      auto res = f.get();
      REQUIRE(res.ok());
      REQUIRE(res->choices.size() == 2);
      CHECK(res->choices[0].text == "echo ping #0");
      CHECK(res->choices[1].text == "echo ping #1");
      CHECK(res->usage.cached_prompt_tokens == 1);
      CHECK(*s.backend->last().sampling.seed == 5);
      if (stream) {
        CHECK(streamed[1] == "echo ping #1");
      } else {
        CHECK(streamed.empty());
      }
    }
  }
}

namespace {

// Holds every request until cancel(); counts what it holds and cancels.
class HoldingBackend : public Backend {
 public:
  void submit(GenerateRequest r, GenerateCallback done) override {
    std::lock_guard<std::mutex> lock(mu_);
    held_[r.id] = std::move(done);
    cv_.notify_all();
  }
  void cancel(const std::string& id) override {
    GenerateCallback done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = held_.find(id);
      if (it == held_.end()) return;
      done = std::move(it->second);
      held_.erase(it);
      ++cancelled_;
    }
    cv_.notify_all();
    done(Error{ErrorCode::cancelled, "cancelled"});
  }
  BackendInfo info() const override { return {"holding", "served-model", ""}; }
  // Whether `pred(held, cancelled)` came true within 10 s.
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return pred(held_.size(), cancelled_); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, GenerateCallback> held_;
  int cancelled_ = 0;
};

std::string raw_post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

TEST_CASE("serve: a non-streamed request whose client hangs up is cancelled in the backend", "[serve][limits]") {
  auto backend = std::make_shared<HoldingBackend>();
  OpenAIServer::Options o;
  o.model = "served-model";
  OpenAIServer server(backend, o);
  REQUIRE(server.start().ok());
  {
    RawSocket client(server.port());
    REQUIRE(client.send(raw_post("/v1/chat/completions", kChat)));
    REQUIRE(backend->wait([](size_t held, int) { return held == 1; }));
  }  // the client closes its connection
  CHECK(backend->wait([](size_t held, int cancelled) { return held == 0 && cancelled == 1; }));
  httplib::Client c("127.0.0.1", server.port());
  auto m = c.Get("/metrics");
  REQUIRE(m);
  CHECK_THAT(m->body, Catch::Contains("troupe_serve_client_disconnects_total 1\n"));
}

TEST_CASE("serve: /health answers while slow clients fill the connection cap and every worker is busy",
          "[serve][limits]") {
  auto backend = std::make_shared<HoldingBackend>();
  OpenAIServer::Options o;
  o.model = "served-model";
  o.limits.max_connections = 6;
  o.limits.workers = 2;
  o.limits.header_timeout_s = 1;
  OpenAIServer server(backend, o);
  REQUIRE(server.start().ok());
  // Both workers generate (held) ...
  std::vector<std::unique_ptr<RawSocket>> busy;
  for (int i = 0; i < 2; ++i) {
    busy.push_back(std::make_unique<RawSocket>(server.port()));
    REQUIRE(busy.back()->send(raw_post("/v1/chat/completions", kChat)));
  }
  REQUIRE(backend->wait([](size_t held, int) { return held == 2; }));
  // ... and more clients than the cap send half a header and stall.
  std::vector<std::unique_ptr<RawSocket>> slow;
  for (int i = 0; i < 10; ++i) {
    slow.push_back(std::make_unique<RawSocket>(server.port()));
    REQUIRE(slow.back()->send("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"));
  }
  httplib::Client c("127.0.0.1", server.port());
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(5, 0);
  auto health = c.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  // Every slow client is answered 503 (evicted at the cap) or 408 (header
  // timeout) and closed; none is left hanging.
  int refused = 0, timed_out = 0;
  for (auto& s : slow) {
    std::string reply = s->read_until_closed(10s);
    CHECK(s->closed());
    int status = raw_status(reply);
    CHECK((status == 503 || status == 408));
    refused += status == 503;
    timed_out += status == 408;
  }
  CHECK(refused > 0);
  CHECK(timed_out > 0);
  server.stop();
}

TEST_CASE("serve: a model name other than the served one is 404 as in vLLM, none means the served one",
          "[serve][errors]") {
  Served s;
  auto other = s.client().Post("/v1/chat/completions", R"({"model":"gpt-4","messages":[{"role":"user","content":"hi"}]})",
                               "application/json");
  REQUIRE(other);
  CHECK(other->status == 404);
  simdjson::dom::parser p;
  auto e = parse(p, other->body);
  CHECK(str(e["error"]["message"]) == "The model `gpt-4` does not exist.");
  CHECK(str(e["error"]["param"]) == "model");
  auto none = s.client().Post("/v1/completions", R"({"prompt":"hi","max_tokens":2})", "application/json");
  REQUIRE(none);
  CHECK(none->status == 200);
}

TEST_CASE("serve: messages are read as vLLM reads them: any role reaches the backend, null content is empty",
          "[serve]") {
  Served s;
  auto r = s.client().Post(
      "/v1/chat/completions",
      R"({"model":"served-model","messages":[{"role":"narrator","content":null},{"role":"user","content":"hi"}]})",
      "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  auto last = s.backend->last();
  REQUIRE(last.messages.size() == 2);
  CHECK(last.messages[0].role == "narrator");
  CHECK(last.messages[0].content.empty());
}

TEST_CASE("serve: a body sent as a form (curl -d) is 415 naming the content type, whatever its size",
          "[serve][errors]") {
  Served s;
  std::string body = R"({"model":"served-model","messages":[{"role":"user","content":")" + std::string(9 * 1024, 'x') +
                     R"("}]})";
  auto form = s.client().Post("/v1/chat/completions", body, "application/x-www-form-urlencoded");
  REQUIRE(form);
  CHECK(form->status == 415);
  CHECK_THAT(form->body, Catch::Contains("application/x-www-form-urlencoded"));
  auto json = s.client().Post("/v1/chat/completions", body, "application/json; charset=utf-8");
  REQUIRE(json);
  CHECK(json->status == 200);
}

TEST_CASE("serve: a completions prompt list is answered with choices indexed prompt x n, streamed or not",
          "[serve][issue16]") {
  Served s;
  auto res = s.client().Post("/v1/completions", R"({"prompt":["A","B"],"n":2})", "application/json");
  REQUIRE(res);
  REQUIRE(res->status == 200);
  simdjson::dom::parser p;
  auto e = parse(p, res->body);
  auto choices = e["choices"].get_array().value();
  REQUIRE(choices.size() == 4);
  const char* want[] = {"echo A #0", "echo A #1", "echo B #0", "echo B #1"};
  for (size_t i = 0; i < 4; ++i) {
    CHECK(choices.at(i)["index"].get_int64().value() == static_cast<int64_t>(i));
    CHECK(str(choices.at(i)["text"]) == want[i]);
  }
  CHECK(e["usage"]["prompt_tokens"].get_int64().value() == 6);  // 3 per prompt
  auto streamed = s.client().Post("/v1/completions", R"({"prompt":["A","B"],"stream":true})", "application/json");
  REQUIRE(streamed);
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(streamed->body, events);
  StreamAccumulator acc(2);
  for (const auto& ev : events) REQUIRE(acc.add(ev.data, nullptr).ok());
  REQUIRE(acc.all_finished());
  auto r = acc.result(FinishReason::error, "");
  CHECK(r.choices[0].text == "echo A");
  CHECK(r.choices[1].text == "echo B");
}

TEST_CASE("serve: a request without max_tokens gets the server's default, max_completion_tokens is read",
          "[serve][issue16]") {
  OpenAIServer::Options o;
  o.default_max_tokens = 4096;
  Served s(o);
  auto res = s.client().Post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}]})",
                             "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(s.backend->last().sampling.max_tokens == 4096);
  res = s.client().Post("/v1/chat/completions",
                        R"({"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":9})",
                        "application/json");
  REQUIRE(res);
  CHECK(s.backend->last().sampling.max_tokens == 9);
}

TEST_CASE("serve: without a chat template, chat is a 400 naming --chat-template before any stream starts",
          "[serve][issue16]") {
  OpenAIServer::Options o;
  o.chat_unavailable = "no chat template; start with --chat-template chatml";
  Served s(o);
  for (const char* body : {R"({"messages":[{"role":"user","content":"hi"}]})",
                           R"({"messages":[{"role":"user","content":"hi"}],"stream":true})"}) {
    auto res = s.client().Post("/v1/chat/completions", body, "application/json");
    REQUIRE(res);
    CHECK(res->status == 400);
    CHECK(res->body.find("--chat-template") != std::string::npos);
  }
  auto resp = s.client().Post("/v1/responses", R"({"input":"hi","stream":true})", "application/json");
  REQUIRE(resp);
  CHECK(resp->status == 400);
  auto text = s.client().Post("/v1/completions", R"({"prompt":"hi"})", "application/json");
  REQUIRE(text);
  CHECK(text->status == 200);
}

TEST_CASE("serve: GET /v1/models/{id}, 401 with WWW-Authenticate, string error codes", "[serve][issue16]") {
  OpenAIServer::Options o;
  o.bearer_token = "sekrit";
  Served s(o);
  auto cli = s.client();
  httplib::Headers auth = {{"Authorization", "Bearer sekrit"}};
  auto model = cli.Get("/v1/models/served-model", auth);
  REQUIRE(model);
  CHECK(model->status == 200);
  simdjson::dom::parser p;
  CHECK(str(parse(p, model->body)["id"]) == "served-model");
  auto missing = cli.Get("/v1/models/other", auth);
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(str(parse(p, missing->body)["error"]["code"]) == "not_found");
  auto denied = cli.Post("/v1/chat/completions", kChat, "application/json");
  REQUIRE(denied);
  CHECK(denied->status == 401);
  CHECK(denied->get_header_value("WWW-Authenticate") == "Bearer");
  CHECK(str(parse(p, denied->body)["error"]["code"]) == "invalid_api_key");
  auto bad = cli.Post("/v1/chat/completions", auth, R"({"messages":[],"tools":null})", "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(str(parse(p, bad->body)["error"]["code"]) == "invalid_request");
}

TEST_CASE("serve: /v1/responses answers a response object, and streams OpenAI's events in order",
          "[serve][issue16][responses]") {
  Served s;
  auto res = s.client().Post(
      "/v1/responses",
      R"({"model":"served-model","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"hey"}]}],"max_output_tokens":12,"store":false})",
      "application/json");
  REQUIRE(res);
  REQUIRE(res->status == 200);
  simdjson::dom::parser p;
  auto e = parse(p, res->body);
  CHECK(str(e["object"]) == "response");
  CHECK(str(e["status"]) == "completed");
  CHECK(str(e["output"].at(0)["content"].at(0)["text"]) == "echo hey");
  CHECK(e["usage"]["input_tokens"].get_int64().value() == 3);
  auto last = s.backend->last();
  REQUIRE(last.messages.size() == 2);
  CHECK(last.messages[0].role == "system");
  CHECK(last.messages[0].content == "be brief");
  CHECK(last.sampling.max_tokens == 12);

  auto streamed = s.client().Post("/v1/responses", R"({"input":"yo","stream":true})", "application/json");
  REQUIRE(streamed);
  REQUIRE(streamed->status == 200);
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(streamed->body, events);
  std::vector<std::string> types;
  std::string text;
  int64_t seq = -1;
  for (const auto& ev : events) {
    auto d = parse(p, ev.data);
    types.push_back(str(d["type"]));
    CHECK(d["sequence_number"].get_int64().value() == seq + 1);
    seq = d["sequence_number"].get_int64().value();
    if (types.back() == "response.output_text.delta") text += str(d["delta"]);
  }
  CHECK(text == "echo yo");
  REQUIRE(types.size() >= 9);
  CHECK(types.front() == "response.created");
  CHECK(types[1] == "response.in_progress");
  CHECK(types[2] == "response.output_item.added");
  CHECK(types[3] == "response.content_part.added");
  CHECK(types.back() == "response.completed");
  CHECK(types[types.size() - 2] == "response.output_item.done");
  CHECK(types[types.size() - 4] == "response.output_text.done");
  CHECK(streamed->body.find("[DONE]") == std::string::npos);

  auto bad = s.client().Post("/v1/responses", R"({"input":"x","previous_response_id":"resp_1"})", "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(str(parse(p, bad->body)["error"]["param"]) == "previous_response_id");
}
