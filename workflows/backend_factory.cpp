#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "engine/http/http_backend.hpp"
#include "engine/local/local_backend.hpp"
#include "engine/router/router_backend.hpp"
#include "engine/scripted/scripted_backend.hpp"
#include "workflows/runner.hpp"

namespace troupe::workflows {

namespace {

// Several endpoints (urls, replicas) behind one RouterBackend.
Result<std::shared_ptr<engine::Backend>> make_router(const BackendConfig& cfg, std::vector<engine::router::Endpoint> eps) {
  engine::router::RouterConfig rc;
  rc.policy = cfg.routing.policy;
  rc.beta = cfg.routing.beta;
  rc.overload_ratio = cfg.routing.overload_ratio;
  rc.eject_after = cfg.routing.eject_after;
  rc.health_interval = std::chrono::milliseconds(static_cast<int64_t>(cfg.routing.health_interval_s * 1000));
  auto r = engine::router::RouterBackend::create(rc, std::move(eps));
  if (!r.ok()) return r.error().with_context("backend");
  return std::shared_ptr<engine::Backend>(std::move(r.value()));
}

}  // namespace

Result<std::shared_ptr<engine::Backend>> make_backend(const BackendConfig& cfg) {
  if ((cfg.kind == BackendKind::http && cfg.urls.size() > 1) || (cfg.kind == BackendKind::local && cfg.replicas > 1)) {
    // Each endpoint is this section with one URL (or one replica); a router
    // fails over between servers, so each child retries once at most.
    BackendConfig one = cfg;
    one.urls.clear();
    one.replicas = 1;
    std::vector<engine::router::Endpoint> eps;
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.routing.health_timeout_s * 1000));
    size_t count = cfg.kind == BackendKind::http ? cfg.urls.size() : static_cast<size_t>(cfg.replicas);
    for (size_t i = 0; i < count; ++i) {
      engine::router::Endpoint ep;
      if (cfg.kind == BackendKind::http) {
        one.url = cfg.urls[i];
        one.max_retries = std::min(cfg.max_retries, 1);
        ep.name = one.url;
        ep.probe = engine::router::http_health_probe(one.url, timeout);
      } else {
        ep.name = to_string(cfg.kind) + "#" + std::to_string(i);
      }
      auto b = make_backend(one);
      if (!b.ok()) return b.error().with_context("backend endpoint " + ep.name);
      ep.backend = std::move(b.value());
      eps.push_back(std::move(ep));
    }
    return make_router(cfg, std::move(eps));
  }
  if (cfg.kind == BackendKind::scripted) {
    auto fx = engine::ScriptedBackend::load_fixture(cfg.fixture);
    if (!fx.ok()) return fx.error();
    return std::shared_ptr<engine::Backend>(
        std::make_shared<engine::ScriptedBackend>(std::move(fx.value()), cfg.model.empty() ? "scripted" : cfg.model));
  }
  if (cfg.kind == BackendKind::http) {
    engine::HttpBackend::Config hc;
    hc.base_url = cfg.url;
    hc.model = cfg.model;
    hc.api = cfg.api;
    if (!cfg.api_key_env.empty()) {
      const char* key = std::getenv(cfg.api_key_env.c_str());
      if (!key || !*key)
        return Error{ErrorCode::invalid_argument,
                     "api_key_env names the environment variable '" + cfg.api_key_env + "', which is not set"};
      hc.api_key = key;
    }
    hc.stream = cfg.stream;
    hc.timeout_s = cfg.timeout_s;
    hc.connect_timeout_s = cfg.connect_timeout_s;
    hc.max_in_flight = cfg.max_in_flight;
    hc.max_retries = cfg.max_retries;
    hc.backoff_ms = cfg.backoff_ms;
    hc.backoff_max_ms = cfg.backoff_max_ms;
    hc.unsupported = {cfg.unsupported.begin(), cfg.unsupported.end()};
    hc.on_unsupported = cfg.on_unsupported;
    auto b = engine::HttpBackend::create(std::move(hc));
    if (!b.ok()) return b.error();
    return std::shared_ptr<engine::Backend>(std::move(b.value()));
  }
  if (cfg.kind == BackendKind::local) {
    engine::local::LocalEngineOptions o;
    o.model_path = cfg.model_file;
    o.tokenizer_path = cfg.tokenizer;
    o.chat_template = cfg.chat_template;
    o.threads = cfg.threads;
    o.kv_budget_bytes = static_cast<size_t>(cfg.kv_mb) << 20;
    o.model_name = cfg.model;
    o.context_length = cfg.context_length;
    auto kv_type = engine::local::parse_kv_type(cfg.kv_type);
    if (!kv_type.ok()) return kv_type.error();
    o.kv_type = *kv_type;
    auto device = engine::local::parse_device(cfg.device);
    if (!device.ok()) return device.error();
    o.device = *device;
    auto b = engine::local::make_local_backend(o);
    if (!b.ok()) return b.error();
    return std::shared_ptr<engine::Backend>(std::move(b.value()));
  }
  return Error{ErrorCode::invalid_argument,
               "unknown backend kind '" + to_string(cfg.kind) + "' (expected http, scripted or local)"};
}

}  // namespace troupe::workflows
