#include "engine/http/retry_policy.hpp"

#include <algorithm>
#include <charconv>

namespace troupe::engine::http {

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int attempts, std::optional<int> retry_after_s,
                                        std::mt19937_64& rng) {
  const int64_t max_ms = std::max(0, policy.backoff_max_ms);
  if (retry_after_s) {
    return std::chrono::milliseconds(std::min<int64_t>(int64_t{*retry_after_s} * 1000, max_ms));
  }
  int64_t cap = std::max(0, policy.backoff_ms);
  for (int i = 1; i < attempts && cap < max_ms; ++i) cap *= 2;
  cap = std::min(cap, max_ms);
  std::uniform_int_distribution<int64_t> dist(0, cap);
  return std::chrono::milliseconds(dist(rng));
}

std::optional<int> parse_retry_after(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r' || value.back() == '\n'))
    value.remove_suffix(1);
  int seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || ptr != value.data() + value.size() || seconds < 0) return std::nullopt;
  return seconds;
}

}  // namespace troupe::engine::http
