// Clocks. now_unix_ms() is wall-clock time for records and ids;
// Stopwatch measures elapsed time on the monotonic clock (never goes back).
// format_utc()/parse_time() convert between milliseconds since the epoch
// and ISO-8601 UTC text ("2026-11-28T13:45:00Z"); parse_time also accepts a
// bare date and relative ages ("90s", "15m", "2h", "7d" = that long ago).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace troupe {

int64_t now_unix_ms();

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void reset() { start_ = std::chrono::steady_clock::now(); }
  double elapsed_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  }
  double elapsed_s() const { return elapsed_ms() / 1000.0; }

 private:
  std::chrono::steady_clock::time_point start_;
};

std::string format_utc(int64_t unix_ms);
// Milliseconds since the epoch, or nullopt when `text` is not a time.
std::optional<int64_t> parse_time(std::string_view text, int64_t now_ms);

}  // namespace troupe
