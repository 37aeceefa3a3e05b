// RouterBackend (engine/router) over HttpBackends talking to several
// vLLM-shaped fake servers on their own ports: prefix affinity, load
// spreading, ejection with failover, re-admission, health rounds, metrics
// and config errors. Health rounds are driven by check_health_now() or by
// a short interval awaited through the server's own count of checks.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/http/http_backend.hpp"
#include "engine/router/prefix_index.hpp"
#include "engine/router/router_backend.hpp"
#include "support/fake_vllm.hpp"

using namespace troupe;
using namespace troupe::engine;
using namespace troupe::engine::router;
using troupe::testing::FakeReply;
using troupe::testing::FakeVllm;

namespace {

std::vector<Endpoint> endpoints_for(const std::vector<FakeVllm*>& servers) {
  std::vector<Endpoint> eps;
  for (FakeVllm* s : servers) {
    HttpBackend::Config c;
    c.base_url = s->base_url();
    c.model = "fake-model";
    c.max_retries = 0;  // failover is the router's job here
    c.timeout_s = 30;
    auto b = HttpBackend::create(c);
    REQUIRE(b.ok());
    eps.push_back(Endpoint{s->base_url(), std::shared_ptr<Backend>(std::move(b.value())),
                           http_health_probe(s->base_url(), std::chrono::milliseconds(2000))});
  }
  return eps;
}

std::unique_ptr<RouterBackend> make_router(const std::vector<FakeVllm*>& servers, RouterConfig cfg = {}) {
  cfg.health_interval = std::chrono::milliseconds(0);  // rounds only when a test asks
  auto r = RouterBackend::create(cfg, endpoints_for(servers));
  REQUIRE(r.ok());
  return std::move(r.value());
}

// A prompt of one run: a long run-specific head, then `turns` growing
// user/assistant exchanges (as IAD-like continuations do).
GenerateRequest run_request(const std::string& run, int turns) {
  GenerateRequest r;
  std::string head;
  for (int i = 0; i < 8; ++i) head += "Run " + run + " states its problem, part " + std::to_string(i) + ". ";
  r.messages.push_back({"system", "You solve problems step by step."});
  r.messages.push_back({"user", head});
  for (int t = 0; t < turns; ++t) {
    r.messages.push_back({"assistant", "Step " + std::to_string(t) + " of run " + run + " reasons about the problem."});
    r.messages.push_back({"user", "Continue from step " + std::to_string(t) + "."});
  }
  r.sampling.max_tokens = 8;
  return r;
}

// Counts callbacks per request and lets a test wait for a number of them.
struct Callbacks {
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  int ok = 0;
  std::vector<Result<GenerateResult>> results;

  GenerateCallback make() {
    return [this](Result<GenerateResult> r) {
      std::lock_guard<std::mutex> lock(mu);
      ++calls;
      if (r.ok()) ++ok;
      results.push_back(std::move(r));
      cv.notify_all();
    };
  }
  bool wait(int n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(30), [&] { return calls >= n; });
  }
};

Result<GenerateResult> call(Backend& b, GenerateRequest r) {
  std::promise<Result<GenerateResult>> p;
  auto f = p.get_future();
  b.submit(std::move(r), [&p](Result<GenerateResult> res) { p.set_value(std::move(res)); });
  return f.get();
}

std::vector<int> counts(const std::vector<FakeVllm*>& servers) {
  std::vector<int> out;
  for (auto* s : servers) out.push_back(s->request_count());
  return out;
}

int servers_used(const std::vector<int>& before, const std::vector<int>& after) {
  int used = 0;
  for (size_t i = 0; i < before.size(); ++i) used += after[i] > before[i];
  return used;
}

}  // namespace

TEST_CASE("prefix index: shared leading blocks match, a changed head does not, old blocks are forgotten",
          "[router]") {
  PrefixIndex idx(8);
  std::string a(200, 'a');
  auto ca = block_chain(a, 64);
  REQUIRE(ca.keys.size() == 4);
  CHECK(idx.matched_chars(ca) == 0);
  idx.insert(ca);
  CHECK(idx.matched_chars(ca) == 200);
  CHECK(idx.matched_chars(block_chain(a + "more text", 64)) == 192);  // three full blocks, not the short tail
  CHECK(idx.matched_chars(block_chain("b" + a.substr(1), 64)) == 0);
  for (char c : std::string("bcdefghij")) idx.insert(block_chain(std::string(64, c), 64));
  CHECK(idx.size() == 8);
  CHECK(idx.matched_chars(ca) == 0);  // evicted, least recently used first
}

TEST_CASE("affinity sends every turn of a run to one server, round robin spreads them", "[router]") {
  FakeVllm s0, s1, s2;
  std::vector<FakeVllm*> servers{&s0, &s1, &s2};
  {
    auto router = make_router(servers);
    for (const std::string run : {"alpha", "beta", "gamma"}) {
      auto before = counts(servers);
      for (int turn = 0; turn < 6; ++turn) REQUIRE(call(*router, run_request(run, turn)).ok());
      auto after = counts(servers);
      CHECK(servers_used(before, after) == 1);
    }
    int64_t affinity = 0;
    for (const auto& st : router->stats()) affinity += st.routed_by_affinity;
    CHECK(affinity == 15);  // all but the first request of each run
  }
  RouterConfig rr;
  rr.policy = "round_robin";
  auto router = make_router(servers, rr);
  auto before = counts(servers);
  for (int turn = 0; turn < 6; ++turn) REQUIRE(call(*router, run_request("delta", turn)).ok());
  auto after = counts(servers);
  for (size_t i = 0; i < servers.size(); ++i) CHECK(after[i] - before[i] == 2);
}

TEST_CASE("samples of one prompt stay on one server until it is loaded, then spread", "[router]") {
  FakeVllm s0, s1;
  s0.set_default(FakeReply::stall(std::chrono::seconds(60)));  // nothing finishes: load only grows
  s1.set_default(FakeReply::stall(std::chrono::seconds(60)));
  Callbacks cb;
  {
    auto router = make_router({&s0, &s1});
    for (int i = 0; i < 8; ++i) router->submit(run_request("same", 1), cb.make());
    auto st = router->stats();
    // The first three follow the prefix; past overload_ratio x (others + 1)
    // the other server takes over and, holding the prefix too, shares the rest.
    CHECK(std::max(st[0].requests, st[1].requests) >= 3);
    CHECK(std::min(st[0].requests, st[1].requests) >= 3);
    CHECK(st[0].requests + st[1].requests == 8);
    CHECK(st[0].in_flight + st[1].in_flight == 8);
  }  // the router's destructor cancels them: one callback each
  REQUIRE(cb.wait(8));
  CHECK(cb.calls == 8);
  CHECK(cb.ok == 0);
}

TEST_CASE("a dead server is ejected and the call retried on another with one callback", "[router]") {
  FakeVllm s0, s1;
  s0.stop();  // connection refused from now on
  RouterConfig cfg;
  cfg.eject_after = 1;
  auto router = make_router({&s0, &s1}, cfg);
  Callbacks cb;
  router->submit(run_request("first", 0), cb.make());  // a fresh router starts its turn at server 0
  REQUIRE(cb.wait(1));
  REQUIRE(cb.results[0].ok());
  CHECK(cb.results[0]->attempts == 2);
  CHECK(s1.request_count() == 1);
  auto st = router->stats();
  CHECK(st[0].failures == 1);
  CHECK(st[0].failovers_from == 1);
  CHECK(st[0].ejected);
  CHECK(st[0].ejections == 1);
  CHECK_FALSE(st[1].ejected);
  // Ejected: new runs go to the live server only.
  for (const std::string run : {"x", "y", "z"}) REQUIRE(call(*router, run_request(run, 0)).ok());
  CHECK(router->stats()[0].requests == 1);
  CHECK(s1.request_count() == 4);
  // Exactly one callback per request, also after the router is gone.
  router.reset();
  CHECK(cb.calls == 1);
}

TEST_CASE("when every server fails a request the caller gets one error naming the last server", "[router]") {
  FakeVllm s0, s1;
  s0.set_default(FakeReply::openai_error(503, "overloaded"));
  s1.set_default(FakeReply::openai_error(503, "overloaded"));
  auto router = make_router({&s0, &s1});
  Callbacks cb;
  router->submit(run_request("doomed", 0), cb.make());
  REQUIRE(cb.wait(1));
  REQUIRE_FALSE(cb.results[0].ok());
  CHECK(cb.results[0].error().http_status == 503);
  CHECK_THAT(cb.results[0].error().message, Catch::Contains("router: endpoint http://127.0.0.1:"));
  CHECK(s0.request_count() == 1);
  CHECK(s1.request_count() == 1);
  // A 4xx is the request's fault, not the server's: not sent elsewhere.
  s0.set_default(FakeReply::openai_error(400, "bad request"));
  s1.set_default(FakeReply::openai_error(400, "bad request"));
  REQUIRE_FALSE(call(*router, run_request("bad", 0)).ok());
  CHECK(s0.request_count() + s1.request_count() == 3);
  router.reset();
  CHECK(cb.calls == 1);
}

TEST_CASE("a failed health check ejects a server and a passing one re-admits it", "[router]") {
  FakeVllm s0, s1;
  auto router = make_router({&s0, &s1});
  s0.set_health_status(503);
  router->check_health_now();
  CHECK(router->stats()[0].ejected);
  for (const std::string run : {"a", "b", "c", "d"}) REQUIRE(call(*router, run_request(run, 0)).ok());
  CHECK(s0.request_count() == 0);
  CHECK(s1.request_count() == 4);

  s0.set_health_status(200);
  router->check_health_now();
  CHECK_FALSE(router->stats()[0].ejected);
  for (const std::string run : {"e", "f", "g", "h"}) REQUIRE(call(*router, run_request(run, 0)).ok());
  CHECK(s0.request_count() >= 1);  // new runs, nothing cached anywhere: taken in turn
  CHECK(router->stats()[0].ejections == 1);
}

TEST_CASE("periodic health rounds run at the configured interval and eject a failing server", "[router]") {
  FakeVllm s0, s1;
  s0.set_health_status(500);
  RouterConfig cfg;
  cfg.health_interval = std::chrono::milliseconds(5);
  auto made = RouterBackend::create(cfg, endpoints_for({&s0, &s1}));
  REQUIRE(made.ok());
  // A round probes s0, then s1, then applies; s0's second check starts the
  // round after the first was applied.
  REQUIRE(s0.wait_for_health_checks(2, std::chrono::seconds(30)));
  CHECK(made.value()->stats()[0].ejected);
  CHECK_FALSE(made.value()->stats()[1].ejected);
}

TEST_CASE("router metrics name each endpoint in Prometheus text", "[router]") {
  FakeVllm s0, s1;
  auto router = make_router({&s0, &s1});
  REQUIRE(call(*router, run_request("m", 0)).ok());
  REQUIRE(call(*router, run_request("m", 1)).ok());
  std::string text = router->metrics_text("pool");
  CHECK_THAT(text, Catch::Contains("# TYPE troupe_router_requests_total counter"));
  CHECK_THAT(text, Catch::Contains("troupe_router_requests_total{backend=\"pool\",endpoint=\"" + s0.base_url() + "\"} 2"));
  CHECK_THAT(text, Catch::Contains("troupe_router_affinity_routed_total{backend=\"pool\",endpoint=\"" + s0.base_url() +
                                   "\"} 1"));
  CHECK_THAT(text, Catch::Contains("troupe_router_ejected{backend=\"pool\",endpoint=\"" + s1.base_url() + "\"} 0"));
  CHECK(router->info().kind == "router");
  CHECK(router->info().endpoint == s0.base_url() + "," + s1.base_url());
}

TEST_CASE("invalid router configs are refused with the key named", "[router]") {
  FakeVllm s0;
  auto with = [&](RouterConfig c) { return RouterBackend::create(c, endpoints_for({&s0})); };
  RouterConfig c;
  c.beta = -1;
  auto r = with(c);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("routing.beta: must be at least 0"));
  c = {};
  c.policy = "random";
  REQUIRE_FALSE(with(c).ok());
  CHECK_THAT(with(c).error().message, Catch::Contains("routing.policy"));
  c = {};
  c.overload_ratio = 0.5;
  CHECK_THAT(with(c).error().message, Catch::Contains("routing.overload_ratio"));
  c = {};
  c.eject_after = 0;
  CHECK_THAT(with(c).error().message, Catch::Contains("routing.eject_after"));
  auto none = RouterBackend::create(RouterConfig{}, {});
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.error().message, Catch::Contains("no endpoints"));
}
