// Turning one GenerateRequest into the HTTP request bodies HttpBackend
// sends, given what the server cannot honour. Pure functions, no I/O.
//
// plan_request() checks the request (kind matches the API, n >= 1, a
// continuation ends with an assistant message) and the unsupported set:
// a parameter the request sets that the server cannot honour is refused
// with ErrorCode::unsupported naming it, except n > 1 with emulation,
// which becomes n parts with n=1 and distinct seeds (seed + i, or a seed
// derived from the request id + i when none is set and "seed" is not
// itself unsupported). return_token_ids is best-effort: it is left out
// when "return_token_ids" is unsupported, and it adds "logprobs" (chosen
// token only) to a request that asked for none unless "logprobs" is
// unsupported.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "engine/backend.hpp"
#include "engine/wire.hpp"

namespace troupe::engine::http {

struct PlannedPart {
  int choice_offset = 0;  // index of this part's first choice in the merged reply
  int n = 1;              // choices this part asks for
  std::string body;       // JSON request body
};

struct PlanOptions {
  wire::Api api = wire::Api::chat;
  std::string model;
  bool stream = false;
  std::set<std::string> unsupported;
  bool emulate = true;  // on_unsupported == "emulate"
};

Result<std::vector<PlannedPart>> plan_request(const GenerateRequest& request, const PlanOptions& options);

// The names accepted in HttpBackend::Config::unsupported.
bool is_known_parameter(std::string_view name);
const std::vector<std::string>& known_parameters();

// A non-negative 31-bit seed derived from `id` (FNV-1a), stable across runs.
int64_t seed_from_id(std::string_view id);

}  // namespace troupe::engine::http
