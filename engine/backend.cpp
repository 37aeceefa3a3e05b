#include "engine/backend.hpp"

namespace troupe::engine {

const char* to_string(FinishReason r) {
  switch (r) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::cancelled: return "cancelled";
    case FinishReason::error: return "error";
  }
  return "error";
}

std::string apply_stop_strings(std::string& text, const std::vector<std::string>& stop) {
  size_t best = std::string::npos;
  std::string matched;
  for (const auto& s : stop) {
    if (s.empty()) continue;
    size_t pos = text.find(s);
    if (pos != std::string::npos && (best == std::string::npos || pos < best)) {
      best = pos;
      matched = s;
    }
  }
  if (best != std::string::npos) text.resize(best);
  return matched;
}

}  // namespace troupe::engine
