// Counters and a latency histogram for GET /metrics, rendered in the
// Prometheus text exposition format. Thread-safe (atomics and one mutex
// for the histogram); nothing grows with the number of runs.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace troupe::daemon {

struct Gauges {
  int64_t queued = 0;
  int64_t running = 0;
  int64_t sse_clients = 0;
};

class Metrics {
 public:
  void run_submitted(int64_t n) { submitted_ += n; }
  // status: succeeded | failed | cancelled
  void run_ended(const std::string& status);
  // One committed step; `first_of_call` when it is the first candidate of a
  // role call (its latency is observed once per call).
  void step(int64_t prompt_tokens, int64_t completion_tokens, double latency_ms, bool first_of_call);
  void http_request() { http_requests_ += 1; }

  std::string render(const Gauges& g) const;

  static constexpr std::array<double, 13> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1,     2.5,  5,     10,   30,  60};

 private:
  std::atomic<int64_t> submitted_{0}, succeeded_{0}, failed_{0}, cancelled_{0};
  std::atomic<int64_t> steps_{0}, calls_{0}, prompt_tokens_{0}, completion_tokens_{0}, http_requests_{0};
  mutable std::mutex mu_;
  std::array<int64_t, kBuckets.size()> bucket_counts_{};
  int64_t latency_count_ = 0;
  double latency_sum_s_ = 0;
};

}  // namespace troupe::daemon
