#include "daemon/metrics.hpp"

#include <cstdio>

namespace troupe::daemon {

void Metrics::run_ended(const std::string& status) {
  if (status == "succeeded") succeeded_ += 1;
  else if (status == "cancelled") cancelled_ += 1;
  else failed_ += 1;
}

void Metrics::step(int64_t prompt_tokens, int64_t completion_tokens, double latency_ms, bool first_of_call) {
  steps_ += 1;
  prompt_tokens_ += prompt_tokens;
  completion_tokens_ += completion_tokens;
  if (!first_of_call) return;
  calls_ += 1;
  double s = latency_ms / 1000.0;
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (s <= kBuckets[i]) bucket_counts_[i] += 1;
  latency_count_ += 1;
  latency_sum_s_ += s;
}

std::string Metrics::render(const Gauges& g) const {
  std::string out;
  auto head = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto line = [&](const std::string& name, long long v) { out += name + " " + std::to_string(v) + "\n"; };
  head("troupe_daemon_runs", "gauge", "Runs by state: queued and running now; finished since the daemon started.");
  line("troupe_daemon_runs{state=\"queued\"}", g.queued);
  line("troupe_daemon_runs{state=\"running\"}", g.running);
  line("troupe_daemon_runs{state=\"succeeded\"}", succeeded_.load());
  line("troupe_daemon_runs{state=\"failed\"}", failed_.load());
  line("troupe_daemon_runs{state=\"cancelled\"}", cancelled_.load());
  head("troupe_daemon_runs_submitted_total", "counter", "Runs accepted since the daemon started.");
  line("troupe_daemon_runs_submitted_total", submitted_.load());
  head("troupe_daemon_queue_depth", "gauge", "Runs waiting for a free slot.");
  line("troupe_daemon_queue_depth", g.queued);
  head("troupe_daemon_steps_total", "counter", "Trajectory steps committed.");
  line("troupe_daemon_steps_total", steps_.load());
  head("troupe_daemon_calls_total", "counter", "Role calls answered by a backend.");
  line("troupe_daemon_calls_total", calls_.load());
  head("troupe_daemon_tokens_total", "counter", "Tokens of committed steps.");
  line("troupe_daemon_tokens_total{kind=\"prompt\"}", prompt_tokens_.load());
  line("troupe_daemon_tokens_total{kind=\"completion\"}", completion_tokens_.load());
  head("troupe_daemon_sse_clients", "gauge", "Open event streams.");
  line("troupe_daemon_sse_clients", g.sse_clients);
  head("troupe_daemon_http_requests_total", "counter", "HTTP requests received.");
  line("troupe_daemon_http_requests_total", http_requests_.load());
  head("troupe_daemon_call_latency_seconds", "histogram", "Role call latency (backend round trip).");
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    char le[32];
    std::snprintf(le, sizeof le, "%g", kBuckets[i]);
    line(std::string("troupe_daemon_call_latency_seconds_bucket{le=\"") + le + "\"}", bucket_counts_[i]);
  }
  line("troupe_daemon_call_latency_seconds_bucket{le=\"+Inf\"}", latency_count_);
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.6f", latency_sum_s_);
  out += std::string("troupe_daemon_call_latency_seconds_sum ") + sum + "\n";
  line("troupe_daemon_call_latency_seconds_count", latency_count_);
  return out;
}

}  // namespace troupe::daemon
