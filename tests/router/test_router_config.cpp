// Several endpoints from configuration: the daemon's backends section with
// `urls`, and workflows::make_backend building a RouterBackend from a
// backend section (servers, or local replicas of a real model file).
#include <catch2/catch.hpp>

#include <filesystem>
#include <future>

#include "daemon/config.hpp"
#include "engine/router/router_backend.hpp"
#include "support/fake_vllm.hpp"
#include "support/temp_dir.hpp"
#include "workflows/runner.hpp"

using namespace troupe;

namespace {

Result<engine::GenerateResult> call(engine::Backend& b, engine::GenerateRequest r) {
  std::promise<Result<engine::GenerateResult>> p;
  auto f = p.get_future();
  b.submit(std::move(r), [&p](Result<engine::GenerateResult> res) { p.set_value(std::move(res)); });
  return f.get();
}

}  // namespace

TEST_CASE("daemon config: a backend with urls and routing loads, and its key differs from one server's",
          "[router][daemon]") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.file("wf"));
  const std::string text =
      "workflows_dir: wf\n"
      "backends:\n"
      "  pool:\n"
      "    kind: http\n"
      "    model: m\n"
      "    urls:\n"
      "      - http://127.0.0.1:8001\n"
      "      - http://127.0.0.1:8002\n"
      "    routing:\n"
      "      beta: 0.75\n"
      "      health_interval_s: 1\n"
      "  one: {kind: http, url: \"http://127.0.0.1:8001\", model: m}\n";
  auto c = daemon::parse_daemon_config(text, dir.file("troupe.yaml"));
  INFO((c.ok() ? std::string() : c.error().message));
  REQUIRE(c.ok());
  REQUIRE(c->backends.size() == 2);
  const auto& pool = c->backends[0].config;
  CHECK(pool.urls == std::vector<std::string>{"http://127.0.0.1:8001", "http://127.0.0.1:8002"});
  CHECK(pool.routing.beta == 0.75);
  CHECK(pool.routing.health_interval_s == 1);
  CHECK(daemon::backend_key(pool) != daemon::backend_key(c->backends[1].config));

  auto bad = daemon::parse_daemon_config(
      "workflows_dir: wf\nbackends:\n  pool: {kind: http, model: m, urls: [\"http://a:1\"], routing: {beta: -1}}\n",
      dir.file("troupe.yaml"));
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("backends.pool") && Catch::Contains("backend.routing.beta"));
}

TEST_CASE("make_backend puts a router in front of several urls, and keeps one url a plain client", "[router]") {
  testing::FakeVllm s0, s1;
  workflows::BackendConfig cfg;
  cfg.kind = workflows::BackendKind::http;
  cfg.model = "fake-model";
  cfg.urls = {s0.base_url(), s1.base_url()};
  cfg.url = cfg.urls.front();
  cfg.routing.health_interval_s = 0;
  auto b = workflows::make_backend(cfg);
  REQUIRE(b.ok());
  CHECK((*b)->info().kind == "router");
  auto* router = dynamic_cast<engine::router::RouterBackend*>(b->get());
  REQUIRE(router != nullptr);
  engine::GenerateRequest r;
  r.messages.push_back({"user", "hello"});
  REQUIRE(call(**b, r).ok());
  CHECK(s0.request_count() + s1.request_count() == 1);

  cfg.urls.clear();
  auto one = workflows::make_backend(cfg);
  REQUIRE(one.ok());
  CHECK((*one)->info().kind == "http");

  cfg.urls = {s0.base_url(), s1.base_url()};
  cfg.routing.beta = -1;
  auto refused = workflows::make_backend(cfg);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message, Catch::Contains("routing.beta"));
}

TEST_CASE("make_backend runs local replicas of a model file behind a router", "[router]") {
  const std::string model = std::string(TROUPE_SHARED_DIR) + "/models/stories260K/stories260K.bin";
  const std::string tok = std::string(TROUPE_SHARED_DIR) + "/models/stories260K/tok512.bin";
  if (!std::filesystem::exists(model) || !std::filesystem::exists(tok)) {
    WARN("skipped: " + model + " is not present");
    return;
  }
  workflows::BackendConfig cfg;
  cfg.kind = workflows::BackendKind::local;
  cfg.model_file = model;
  cfg.tokenizer = tok;
  cfg.threads = 1;
  cfg.kv_mb = 8;
  cfg.replicas = 2;
  cfg.routing.health_interval_s = 0;
  auto b = workflows::make_backend(cfg);
  INFO((b.ok() ? std::string() : b.error().message));
  REQUIRE(b.ok());
  CHECK((*b)->info().endpoint == "local#0,local#1");
  engine::GenerateRequest r;
  r.kind = engine::PromptKind::text;
  r.prompt = "Once upon a time";
  r.sampling.max_tokens = 4;
  r.sampling.temperature = 0;
  auto res = call(**b, r);
  INFO((res.ok() ? std::string() : res.error().message));
  REQUIRE(res.ok());
  CHECK(res->usage.completion_tokens >= 1);
}
