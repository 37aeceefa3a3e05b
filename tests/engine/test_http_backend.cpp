// HttpBackend against FakeVllm over real HTTP on 127.0.0.1.
#include <catch2/catch.hpp>

#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <set>

#include "common/clock.hpp"
#include "engine/http/http_backend.hpp"
#include "support/fake_vllm.hpp"
#include "support/backend_call.hpp"

using namespace troupe;
using namespace troupe::engine;
using troupe::testing::FakeReply;
using troupe::testing::FakeVllm;
using namespace std::chrono_literals;

namespace {

using Future = std::future<Result<GenerateResult>>;

HttpBackend::Config fast_config(const FakeVllm& server) {
  HttpBackend::Config c;
  c.base_url = server.base_url();
  c.model = "fake-model";
  c.timeout_s = 10;
  c.connect_timeout_s = 2;
  c.max_retries = 3;
  c.backoff_ms = 5;
  c.backoff_max_ms = 40;
  return c;
}

std::unique_ptr<HttpBackend> make(const HttpBackend::Config& c) {
  auto b = HttpBackend::create(c);
  REQUIRE(b.ok());
  return std::move(b).value();
}

GenerateRequest ask(const std::string& text = "2+2?") {
  GenerateRequest r;
  r.messages = {{"user", text}};
  r.sampling.max_tokens = 16;
  return r;
}

Future submit(Backend& b, GenerateRequest r) { return testing::submit_future(b, std::move(r)); }

Result<GenerateResult> wait(Future& f, std::chrono::seconds limit = 20s) {
  REQUIRE(f.wait_for(limit) == std::future_status::ready);
  return f.get();
}

simdjson::dom::element parse(simdjson::dom::parser& p, const std::string& s) {
  simdjson::dom::element e;
  REQUIRE(p.parse(s).get(e) == simdjson::SUCCESS);
  return e;
}

}  // namespace

TEST_CASE("http: a plain chat request gets the server's reply", "[http]") {
  FakeVllm server;
  server.push(FakeReply::text({"four"}));
  auto cfg = fast_config(server);
  cfg.api_key = "sk-test";
  auto backend = make(cfg);
  auto f = submit(*backend, ask());
  auto r = wait(f);
  REQUIRE(r.ok());
  REQUIRE(r->choices.size() == 1);
  CHECK(r->choices[0].text == "four");
  CHECK(r->attempts == 1);
  CHECK(r->usage.prompt_tokens == 7);
  CHECK(r->latency_ms > 0);
  CHECK_FALSE(r->request_id.empty());
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].path == "/v1/chat/completions");
  CHECK(reqs[0].authorization == "Bearer sk-test");
  CHECK(backend->info().endpoint == server.base_url() + "/v1/chat/completions");
}

TEST_CASE("http: completions api posts the prompt to /v1/completions, a /v1 base URL is not doubled", "[http]") {
  FakeVllm server;
  server.push(FakeReply::text({" 4"}));
  auto cfg = fast_config(server);
  cfg.api = "completions";
  cfg.base_url = server.base_url() + "/v1/";
  auto backend = make(cfg);
  GenerateRequest r;
  r.kind = PromptKind::text;
  r.prompt = "Q: 2+2?\nA:";
  auto f = submit(*backend, r);
  auto res = wait(f);
  REQUIRE(res.ok());
  CHECK(res->choices[0].text == " 4");
  CHECK(server.requests().at(0).path == "/v1/completions");
}

TEST_CASE("http: a 500 then a 200 succeeds with attempts == 2", "[http][retry]") {
  FakeVllm server;
  server.push(FakeReply::openai_error(500, "engine overloaded"));
  server.push(FakeReply::text({"ok now"}));
  auto backend = make(fast_config(server));
  auto f = submit(*backend, ask());
  auto r = wait(f);
  REQUIRE(r.ok());
  CHECK(r->attempts == 2);
  CHECK(r->choices[0].text == "ok now");
  CHECK(server.request_count() == 2);
}

TEST_CASE("http: 429 with Retry-After waits that long, then succeeds", "[http][retry]") {
  FakeVllm server;
  server.push(FakeReply::rate_limited(1));
  server.push(FakeReply::text({"after the wait"}));
  auto cfg = fast_config(server);
  cfg.backoff_max_ms = 5000;
  auto backend = make(cfg);
  Stopwatch sw;
  auto f = submit(*backend, ask());
  auto r = wait(f);
  REQUIRE(r.ok());
  CHECK(r->attempts == 2);
  CHECK(sw.elapsed_ms() >= 950);
  CHECK(r->latency_ms >= 950);
}

TEST_CASE("http: a connection reset mid-stream before any delta is retried", "[http][stream]") {
  FakeVllm server;
  server.push(FakeReply::reset_mid_stream(1));
  server.push(FakeReply::text({"whole answer here"}));
  auto cfg = fast_config(server);
  cfg.stream = true;
  auto backend = make(cfg);
  auto f = submit(*backend, ask());
  auto r = wait(f);
  REQUIRE(r.ok());
  CHECK(r->attempts == 2);
  CHECK(r->choices[0].text == "whole answer here");
  CHECK(r->usage.completion_tokens == 4);
}

TEST_CASE("http: a connection reset after deltas were delivered fails the unfinished choice, not retried",
          "[http][stream]") {
  FakeVllm server;
  server.push(FakeReply::reset_mid_stream(2));
  auto cfg = fast_config(server);
  cfg.stream = true;
  auto backend = make(cfg);
  std::string seen;
  auto req = ask();
  req.on_delta = [&](int index, const std::string& d) {
    CHECK(index == 0);
    seen += d;
  };
  auto f = submit(*backend, req);
  auto r = wait(f);
  REQUIRE(r.ok());
  REQUIRE(r->choices.size() == 1);
  CHECK(r->choices[0].finish == FinishReason::error);
  CHECK(r->choices[0].text == "Hello from ");
  CHECK(seen == "Hello from ");
  CHECK_FALSE(r->choices[0].error.empty());
  CHECK(server.request_count() == 1);
}

TEST_CASE("http: a truncated SSE stream (no finish, no [DONE]) is retried when nothing was delivered",
          "[http][stream]") {
  FakeVllm server;
  server.push(FakeReply::truncated_stream(1));
  server.push(FakeReply::truncated_stream(1));
  server.push(FakeReply::text({"complete"}));
  auto cfg = fast_config(server);
  cfg.stream = true;
  auto backend = make(cfg);
  auto f = submit(*backend, ask());
  auto r = wait(f);
  REQUIRE(r.ok());
  CHECK(r->attempts == 3);
  CHECK(r->choices[0].text == "complete");
  CHECK(r->choices[0].finish == FinishReason::stop);
}

TEST_CASE("http: a truncated SSE stream after deltas marks the choice failed", "[http][stream]") {
  FakeVllm server;
  server.push(FakeReply::truncated_stream(1));
  auto cfg = fast_config(server);
  cfg.stream = true;
  auto backend = make(cfg);
  auto req = ask();
  req.on_delta = [](int, const std::string&) {};
  auto f = submit(*backend, req);
  auto r = wait(f);
  REQUIRE(r.ok());
  CHECK(r->choices[0].finish == FinishReason::error);
  CHECK(r->choices[0].error.find("stream ended") != std::string::npos);
  CHECK(server.request_count() == 1);
}

TEST_CASE("http: a stall beyond the timeout is a timeout error after retries", "[http][retry]") {
  FakeVllm server;
  server.set_default(FakeReply::stall(10s));
  auto cfg = fast_config(server);
  cfg.timeout_s = 0.25;
  cfg.max_retries = 1;
  auto backend = make(cfg);
  auto f = submit(*backend, ask());
  auto r = wait(f);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::timeout);
  CHECK(r.error().message.find("after 2 attempts") != std::string::npos);
  CHECK(server.request_count() == 2);
}

TEST_CASE("http: malformed JSON in a 200 body is a clear parse error, not retried", "[http]") {
  FakeVllm server;
  server.push(FakeReply::malformed_json());
  auto backend = make(fast_config(server));
  auto f = submit(*backend, ask());
  auto r = wait(f);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::parse);
  CHECK(r.error().message.find("invalid JSON") != std::string::npos);
  CHECK(server.request_count() == 1);
}

TEST_CASE("http: each error shape gives an Error with the server's message and status", "[http][errors]") {
  FakeVllm server;
  server.push(FakeReply::openai_error(400, "openai says no"));
  server.push(FakeReply::flat_error(422, "flat says no"));
  server.push(FakeReply::llamacpp_error(501, "Only one completion choice is allowed"));
  server.push(FakeReply::http_status(404, "<html>not here</html>"));
  auto cfg = fast_config(server);
  cfg.max_retries = 0;
  auto backend = make(cfg);
  const std::pair<int, const char*> expected[] = {
      {400, "openai says no"}, {422, "flat says no"}, {501, "Only one completion choice is allowed"},
      {404, "<html>not here</html>"}};
  for (const auto& [status, message] : expected) {
    INFO(message);
    auto f = submit(*backend, ask());
    auto r = wait(f);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::http);
    CHECK(r.error().http_status == status);
    CHECK(r.error().message.find(message) != std::string::npos);
  }
}

TEST_CASE("http: a 400 is not retried", "[http][retry]") {
  FakeVllm server;
  server.push(FakeReply::openai_error(400, "bad messages"));
  server.set_default(FakeReply::text({"must not be reached"}));
  auto backend = make(fast_config(server));
  auto f = submit(*backend, ask());
  auto r = wait(f);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().http_status == 400);
  CHECK(r.error().message.find("after") == std::string::npos);
  CHECK(server.request_count() == 1);
}

TEST_CASE("http: no more than max_in_flight requests reach the server at once", "[http]") {
  FakeVllm server;
  FakeReply slow = FakeReply::text({"slow"});
  slow.delay = 60ms;
  server.set_default(slow);
  auto cfg = fast_config(server);
  cfg.max_in_flight = 2;
  auto backend = make(cfg);
  std::vector<Future> fs;
  for (int i = 0; i < 6; ++i) fs.push_back(submit(*backend, ask()));
  for (auto& f : fs) REQUIRE(wait(f).ok());
  CHECK(server.request_count() == 6);
  CHECK(server.peak_concurrency() == 2);
}

TEST_CASE("http: cancelling a queued and an in-flight request answers both at once", "[http][cancel]") {
  FakeVllm server;
  server.set_default(FakeReply::stall(30s));
  auto cfg = fast_config(server);
  cfg.max_in_flight = 1;
  auto backend = make(cfg);
  auto first = ask();
  first.id = "in-flight";
  auto second = ask();
  second.id = "queued";
  auto f1 = submit(*backend, first);
  auto f2 = submit(*backend, second);
  REQUIRE(server.wait_for_requests(1, 10s));
  Stopwatch sw;
  backend->cancel("queued");
  auto r2 = wait(f2, 5s);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().code == ErrorCode::cancelled);
  backend->cancel("in-flight");
  auto r1 = wait(f1, 5s);
  REQUIRE_FALSE(r1.ok());
  CHECK(r1.error().code == ErrorCode::cancelled);
  CHECK(sw.elapsed_ms() < 3000);
  CHECK(server.request_count() == 1);
  backend->cancel("in-flight");  // already finished: a no-op
  backend->cancel("never-submitted");
}

TEST_CASE("http: cancelling a stream keeps the text so far and marks it cancelled", "[http][cancel]") {
  FakeVllm server;
  FakeReply slow = FakeReply::text({"one two three four five"});
  slow.chunk_delay = 5s;
  server.push(slow);
  auto cfg = fast_config(server);
  cfg.stream = true;
  auto backend = make(cfg);
  auto first_delta = std::make_shared<std::promise<void>>();
  auto once = std::make_shared<std::once_flag>();
  auto req = ask();
  req.id = "streaming";
  req.on_delta = [first_delta, once](int, const std::string&) {
    std::call_once(*once, [&] { first_delta->set_value(); });
  };
  auto f = submit(*backend, req);
  REQUIRE(first_delta->get_future().wait_for(10s) == std::future_status::ready);
  backend->cancel("streaming");
  auto r = wait(f, 5s);
  REQUIRE(r.ok());
  CHECK(r->choices[0].finish == FinishReason::cancelled);
  CHECK(r->choices[0].text == "one ");
}

TEST_CASE("http: n unsupported with emulate sends n requests with distinct seeds and merges them", "[http][n]") {
  FakeVllm server;
  server.push(FakeReply::text({"a"}));
  server.push(FakeReply::text({"b"}));
  server.push(FakeReply::text({"c"}));
  auto cfg = fast_config(server);
  cfg.unsupported = {"n"};
  auto backend = make(cfg);
  simdjson::dom::parser p;

  SECTION("with a seed: seed + i") {
    auto req = ask();
    req.sampling.n = 3;
    req.sampling.seed = 100;
    auto f = submit(*backend, req);
    auto r = wait(f);
    REQUIRE(r.ok());
    REQUIRE(r->choices.size() == 3);
    std::multiset<std::string> texts;
    for (int i = 0; i < 3; ++i) {
      CHECK(r->choices[static_cast<size_t>(i)].index == i);
      texts.insert(r->choices[static_cast<size_t>(i)].text);
    }
    CHECK(texts == std::multiset<std::string>{"a", "b", "c"});
    CHECK(r->usage.prompt_tokens == 21);
    CHECK(r->attempts == 1);
    std::set<int64_t> seeds;
    for (const auto& body : server.bodies()) {
      auto e = parse(p, body);
      simdjson::dom::element n;
      CHECK(e["n"].get(n) != simdjson::SUCCESS);
      seeds.insert(e["seed"].get_int64().value());
    }
    CHECK(seeds == std::set<int64_t>{100, 101, 102});
  }
  SECTION("without a seed: distinct derived seeds") {
    auto req = ask();
    req.sampling.n = 3;
    auto f = submit(*backend, req);
    REQUIRE(wait(f).ok());
    std::set<int64_t> seeds;
    for (const auto& body : server.bodies()) seeds.insert(parse(p, body)["seed"].get_int64().value());
    CHECK(seeds.size() == 3);
  }
}

TEST_CASE("http: n is sent as is when the server supports it", "[http][n]") {
  FakeVllm server;
  server.push(FakeReply::text({"x", "y"}));
  auto cfg = fast_config(server);
  cfg.stream = true;
  auto backend = make(cfg);
  auto req = ask();
  req.sampling.n = 2;
  std::mutex mu;
  std::map<int, std::string> streamed;
  req.on_delta = [&](int i, const std::string& d) {
    std::lock_guard<std::mutex> lock(mu);
    streamed[i] += d;
  };
  auto f = submit(*backend, req);
  auto r = wait(f);
  REQUIRE(r.ok());
  REQUIRE(r->choices.size() == 2);
  CHECK(r->choices[1].text == "y");
  CHECK(streamed[0] == "x");
  CHECK(streamed[1] == "y");
  CHECK(server.request_count() == 1);
}

TEST_CASE("http: refuse mode and unsupported parameters that cannot be emulated are refused up front",
          "[http][n]") {
  FakeVllm server;
  auto cfg = fast_config(server);
  cfg.unsupported = {"n", "seed", "logprobs"};
  cfg.on_unsupported = "refuse";
  auto backend = make(cfg);
  auto req = ask();
  req.sampling.n = 2;
  auto f = submit(*backend, req);
  REQUIRE(f.wait_for(0s) == std::future_status::ready);  // answered inside submit()
  auto r = f.get();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::unsupported);
  CHECK(r.error().message.find("\"n\"") != std::string::npos);

  cfg.on_unsupported = "emulate";
  auto emulating = make(cfg);
  auto seeded = ask();
  seeded.sampling.seed = 1;
  auto f2 = submit(*emulating, seeded);
  auto r2 = wait(f2);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().code == ErrorCode::unsupported);
  CHECK(r2.error().message.find("\"seed\"") != std::string::npos);
  auto lp = ask();
  lp.sampling.logprobs = 2;
  auto f3 = submit(*emulating, lp);
  CHECK(wait(f3).error().message.find("\"logprobs\"") != std::string::npos);
  CHECK(server.request_count() == 0);
}

TEST_CASE("http: nothing listening is a network error after retries", "[http][retry]") {
  int port = 0;
  {
    FakeVllm gone;
    port = gone.port();
  }
  HttpBackend::Config cfg;
  cfg.base_url = "http://127.0.0.1:" + std::to_string(port);
  cfg.max_retries = 2;
  cfg.backoff_ms = 1;
  cfg.backoff_max_ms = 5;
  auto backend = make(cfg);
  auto f = submit(*backend, ask());
  auto r = wait(f);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::network);
  CHECK(r.error().retryable);
  CHECK(r.error().message.find("after 3 attempts") != std::string::npos);
}

TEST_CASE("http: destroying the backend with requests in flight delivers every callback exactly once",
          "[http][lifecycle]") {
  FakeVllm server;
  server.set_default(FakeReply::stall(30s));
  std::mutex mu;
  std::map<std::string, int> calls;
  {
    auto cfg = fast_config(server);
    cfg.max_in_flight = 2;
    auto backend = make(cfg);
    for (int i = 0; i < 5; ++i) {
      auto req = ask();
      req.id = "r" + std::to_string(i);
      backend->submit(req, [&, id = req.id](Result<GenerateResult> r) {
        CHECK_FALSE(r.ok());
        std::lock_guard<std::mutex> lock(mu);
        ++calls[id];
      });
    }
    REQUIRE(server.wait_for_requests(2, 10s));
  }
  REQUIRE(calls.size() == 5);
  for (const auto& [id, n] : calls) CHECK(n == 1);
}

TEST_CASE("http: a callback may submit again, a duplicate id is refused", "[http][lifecycle]") {
  FakeVllm server;
  auto backend = make(fast_config(server));
  auto second = std::make_shared<std::promise<Result<GenerateResult>>>();
  auto req = ask();
  req.id = "first";
  backend->submit(req, [&, second](Result<GenerateResult> r) {
    REQUIRE(r.ok());
    auto again = ask();
    again.id = "second";
    backend->submit(again, [second](Result<GenerateResult> r2) { second->set_value(std::move(r2)); });
  });
  auto f = second->get_future();
  REQUIRE(wait(f).ok());

  FakeReply slow = FakeReply::text({"x"});
  slow.delay = 200ms;
  server.push(slow);
  auto a = ask();
  a.id = "dup";
  auto fa = submit(*backend, a);
  auto fb = submit(*backend, a);
  auto rb = wait(fb);
  REQUIRE_FALSE(rb.ok());
  CHECK(rb.error().message.find("duplicate") != std::string::npos);
  CHECK(wait(fa).ok());
}

TEST_CASE("http: create() rejects bad configs with clear errors", "[http]") {
  HttpBackend::Config c;
  c.base_url = "ftp://x";
  CHECK(HttpBackend::create(c).error().message.find("base_url") != std::string::npos);
  c.base_url = "http://127.0.0.1:1";
  c.max_in_flight = 0;
  CHECK(HttpBackend::create(c).error().message.find("max_in_flight") != std::string::npos);
  c.max_in_flight = 1;
  c.unsupported = {"temprature"};
  CHECK(HttpBackend::create(c).error().message.find("temprature") != std::string::npos);
  c.unsupported = {};
  c.api = "embeddings";
  CHECK(HttpBackend::create(c).error().message.find("api") != std::string::npos);
  c.api = "chat";
  c.on_unsupported = "ignore";
  CHECK(HttpBackend::create(c).error().message.find("on_unsupported") != std::string::npos);
}

TEST_CASE("http: a text prompt on the chat api is refused up front", "[http]") {
  FakeVllm server;
  auto backend = make(fast_config(server));
  GenerateRequest r;
  r.kind = PromptKind::text;
  r.prompt = "raw";
  auto f = submit(*backend, r);
  auto res = wait(f);
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().code == ErrorCode::unsupported);
}
