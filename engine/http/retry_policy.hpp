// When and how long HttpBackend waits before sending a request again.
//
// backoff_delay(): exponential backoff with full jitter, uniform in
// [0, min(backoff_max_ms, backoff_ms * 2^(attempts-1))] after `attempts`
// failed attempts; a server's Retry-After (seconds) replaces the jitter and
// is capped at backoff_max_ms. parse_retry_after() reads the delta-seconds
// form of the header (an HTTP-date is ignored: nullopt).
#pragma once

#include <chrono>
#include <optional>
#include <random>
#include <string_view>

namespace troupe::engine::http {

struct RetryPolicy {
  int max_retries = 3;
  int backoff_ms = 250;
  int backoff_max_ms = 10'000;
};

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int attempts, std::optional<int> retry_after_s,
                                        std::mt19937_64& rng);

std::optional<int> parse_retry_after(std::string_view value);

}  // namespace troupe::engine::http
