// RouterBackend: one Backend over several child backends (inference
// servers, or local engines), spreading requests by prefix affinity and
// load, with health checks, ejection and failover (docs/routing.md).
//
// What callers may rely on, beyond the Backend contract (engine/backend.hpp):
// - Routing (policy "affinity"): each endpoint keeps a PrefixIndex of the
//   prompts recently sent to it. A request goes to the admitted endpoint
//   with the highest score = matched share - beta * relative load, where the
//   matched share is the request's prompt characters that endpoint holds as
//   a prefix (0..1) and relative load is its requests in flight divided by
//   (mean in flight over admitted endpoints + 1). An endpoint is overloaded
//   when its in-flight count exceeds overload_ratio * (the mean over the
//   other admitted endpoints + 1); overloaded endpoints are passed over
//   while any candidate is not. Ties go to the fewer in flight, then to
//   the next in turn (a counter that advances per request). The prompt is recorded at the chosen endpoint when the
//   request is sent, so concurrent samples of one prompt follow the first.
//   "round_robin" takes admitted endpoints in turn; "least_load" the one
//   with the fewest in flight. Both still record prefixes (for metrics).
// - Health: every health_interval (0 = only when check_health_now() is
//   called) each endpoint with a probe is probed (the probe bounds its own
//   time). A failed probe ejects an endpoint; so do eject_after consecutive
//   failed requests (retryable errors: network, timeout, 429/5xx). A passing
//   probe re-admits it; an endpoint without a probe is re-admitted at the
//   next health round. Ejected endpoints get no requests while any endpoint
//   is admitted; when none is, requests go to all of them as if admitted.
// - Failover: a request that fails with a retryable error before any text
//   reached on_delta is sent again to another endpoint that has not failed
//   it (each endpoint at most once per request); otherwise its error is
//   returned, prefixed "router: endpoint <name>: ". `done` is called exactly
//   once per submit(), after the last attempt; GenerateResult.attempts sums
//   the children's attempts (a failed one counts 1).
// - cancel() reaches the endpoint that holds the request at the time.
// - stats() and metrics_text() read counters per endpoint at any time.
// - The destructor stops health checks, cancels what is in flight, waits
//   for every callback, then releases the children.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "engine/backend.hpp"

namespace troupe::engine::router {

struct RouterConfig {
  std::string policy = "affinity";  // "affinity" | "round_robin" | "least_load"
  double beta = 0.5;                // weight of relative load against matched share
  double overload_ratio = 2.0;      // >= 1; see above
  int eject_after = 3;              // consecutive failed requests that eject an endpoint
  std::chrono::milliseconds health_interval{5000};  // 0 = no periodic checks
  size_t block_chars = 64;          // prefix blocks, in characters
  size_t index_capacity = 1 << 16;  // blocks remembered per endpoint
};

struct Endpoint {
  std::string name;                  // for metrics and errors: the URL, "local#2"
  std::shared_ptr<Backend> backend;  // not null
  std::function<bool()> probe;       // health check; empty = none
};

struct EndpointStats {
  std::string name;
  int64_t requests = 0;             // attempts sent to it
  int64_t failures = 0;             // attempts that ended in an error (not cancelled)
  int64_t in_flight = 0;
  int64_t routed_by_affinity = 0;   // chosen with a matched share > 0
  int64_t matched_prefix_chars = 0; // summed over requests sent to it
  int64_t prompt_chars = 0;         // summed likewise
  int64_t ejections = 0;
  int64_t failovers_from = 0;       // failed attempts sent again elsewhere
  bool ejected = false;
  size_t indexed_blocks = 0;
};

// Checks `config` (policy name, beta >= 0, overload_ratio >= 1, eject_after
// >= 1, block_chars >= 1, index_capacity >= 1); the Error names the key.
Status validate(const RouterConfig& config);

class RouterBackend : public Backend {
 public:
  // Errors: an invalid config, no endpoints, or an endpoint without backend.
  static Result<std::unique_ptr<RouterBackend>> create(RouterConfig config, std::vector<Endpoint> endpoints);
  ~RouterBackend() override;
  RouterBackend(const RouterBackend&) = delete;
  RouterBackend& operator=(const RouterBackend&) = delete;

  void submit(GenerateRequest request, GenerateCallback done) override;
  void cancel(const std::string& request_id) override;
  // kind "router", the first child's model, endpoints joined by ','.
  BackendInfo info() const override;

  // Probes every endpoint once, on the caller's thread, and applies the
  // results (ejection / re-admission) before returning.
  void check_health_now();
  std::vector<EndpointStats> stats() const;
  // Prometheus text: troupe_router_* series labelled {backend="<label>",
  // endpoint="<name>"} (router_metrics_text() with this router alone).
  std::string metrics_text(const std::string& label) const;

  class Impl;

 private:
  explicit RouterBackend(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Prometheus text for several routers, each metric family once (HELP and
// TYPE lines, then every router's series), labelled as metrics_text() does.
std::string router_metrics_text(const std::vector<std::pair<std::string, const RouterBackend*>>& routers);

// The text a request's prefix is read from: chat messages (role and
// content, tool calls), tools first; a text prompt as it is.
std::string prompt_key_text(const GenerateRequest& request);

// A probe that GETs <root>/health, falling back to <root>/v1/models when
// /health answers 404, and passes on a 2xx within timeout. <root> is
// base_url without a trailing "/v1". Safe to call from any thread.
std::function<bool()> http_health_probe(const std::string& base_url, std::chrono::milliseconds timeout);

}  // namespace troupe::engine::router
