#include "engine/http/request_plan.hpp"
#include "common/hash.hpp"

#include <algorithm>

namespace troupe::engine::http {

const std::vector<std::string>& known_parameters() {
  static const std::vector<std::string> names = {"n",     "seed",  "logprobs", "top_k",
                                                 "min_p", "temperature", "top_p", "stop",
                                                 "continue_final_message", "return_token_ids"};
  return names;
}

bool is_known_parameter(std::string_view name) {
  const auto& names = known_parameters();
  return std::find(names.begin(), names.end(), name) != names.end();
}

int64_t seed_from_id(std::string_view id) {
  return static_cast<int64_t>(hash::fnv1a64(id) & 0x7fffffffull);
}

Result<std::vector<PlannedPart>> plan_request(const GenerateRequest& request, const PlanOptions& options) {
  const SamplingParams& sp = request.sampling;
  const std::string who = "request " + request.id + ": ";
  if (options.api == wire::Api::chat && request.kind != PromptKind::chat) {
    return Error{ErrorCode::unsupported, who + "a text prompt cannot be sent to /v1/chat/completions (api=chat); "
                                               "use api=completions"};
  }
  if (options.api == wire::Api::completions && request.kind != PromptKind::text) {
    return Error{ErrorCode::unsupported, who + "chat messages cannot be sent to /v1/completions (api=completions); "
                                               "use api=chat"};
  }
  if (request.kind == PromptKind::chat && request.messages.empty()) {
    return Error{ErrorCode::invalid_argument, who + "messages: must not be empty"};
  }
  if (request.continue_final_message &&
      (request.kind != PromptKind::chat || request.messages.back().role != "assistant")) {
    return Error{ErrorCode::invalid_argument,
                 who + "continue_final_message: the last message must be an assistant message"};
  }
  if (sp.n < 1) return Error{ErrorCode::invalid_argument, who + "n: must be at least 1, got " + std::to_string(sp.n)};
  if (sp.max_tokens < 0) return Error{ErrorCode::invalid_argument, who + "max_tokens: must not be negative"};

  auto unsupported = [&](const char* name) { return options.unsupported.count(name) > 0; };
  const std::pair<const char*, bool> set_params[] = {
      {"seed", sp.seed.has_value()},
      {"logprobs", sp.logprobs != 0},
      {"top_k", sp.top_k != 0},
      {"min_p", sp.min_p != 0.0},
      {"temperature", sp.temperature.has_value()},
      {"top_p", sp.top_p.has_value()},
      {"stop", !sp.stop.empty()},
      {"continue_final_message", request.continue_final_message},
  };
  for (const auto& [name, is_set] : set_params) {
    if (is_set && unsupported(name)) {
      return Error{ErrorCode::unsupported,
                   who + "\"" + name + "\" is set but the server cannot honour it (listed in unsupported); "
                                       "unset it or use a server that supports it"};
    }
  }

  // Token ids are asked for where the server can give them; elsewhere the
  // reply simply lacks them (the caller records them as unavailable).
  if (request.return_token_ids && unsupported("return_token_ids")) {
    GenerateRequest without = request;
    without.on_delta = nullptr;
    without.on_logprobs = nullptr;
    without.return_token_ids = false;
    return plan_request(without, options);
  }
  // With the ids, the sampled tokens' logprobs (chosen token only), where
  // the server takes "logprobs" and the request did not ask for more.
  if (request.return_token_ids && sp.logprobs == 0 && !unsupported("logprobs")) {
    GenerateRequest with = request;
    with.on_delta = nullptr;
    with.on_logprobs = nullptr;
    with.sampling.logprobs = -1;
    return plan_request(with, options);
  }
  std::vector<PlannedPart> parts;
  if (sp.n > 1 && unsupported("n")) {
    if (!options.emulate) {
      return Error{ErrorCode::unsupported, who + "\"n\"=" + std::to_string(sp.n) +
                                               " but the server cannot honour n > 1 (on_unsupported=refuse)"};
    }
    const bool send_seed = !unsupported("seed");
    const int64_t base = sp.seed ? *sp.seed : seed_from_id(request.id);
    GenerateRequest one = request;
    one.on_delta = nullptr;
    one.sampling.n = 1;
    for (int i = 0; i < sp.n; ++i) {
      if (send_seed) {
        one.sampling.seed = base + i;
      } else {
        one.sampling.seed.reset();
      }
      parts.push_back(PlannedPart{i, 1, wire::build_request_body(one, options.api, options.model, options.stream)});
    }
    return parts;
  }
  parts.push_back(PlannedPart{0, sp.n, wire::build_request_body(request, options.api, options.model, options.stream)});
  return parts;
}

}  // namespace troupe::engine::http
