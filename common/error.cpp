#include "common/error.hpp"

namespace troupe {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument: return "invalid argument";
    case ErrorCode::not_found: return "not found";
    case ErrorCode::io: return "io";
    case ErrorCode::parse: return "parse";
    case ErrorCode::http: return "http";
    case ErrorCode::network: return "network";
    case ErrorCode::timeout: return "timeout";
    case ErrorCode::cancelled: return "cancelled";
    case ErrorCode::budget_exhausted: return "budget exhausted";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::internal: return "internal";
  }
  return "unknown";
}

std::string Error::describe() const {
  std::string out = to_string(code);
  if (http_status != 0) {
    out += ' ';
    out += std::to_string(http_status);
  }
  out += ": ";
  out += message;
  return out;
}

Error Error::with_context(const std::string& context) const {
  Error e = *this;
  e.message = context + ": " + message;
  return e;
}

}  // namespace troupe
