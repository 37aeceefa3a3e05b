#include "actors/roles.hpp"

#include <limits>
#include <memory>

#include "common/json_writer.hpp"
#include "scoring/answer.hpp"
#include "scoring/verdict.hpp"

namespace troupe::actors {
namespace {

std::string sampling_json(const engine::SamplingParams& s) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("n", s.n);
  if (s.temperature) w.field("temperature", *s.temperature);
  if (s.top_p) w.field("top_p", *s.top_p);
  if (s.top_k) w.field("top_k", s.top_k);
  if (s.min_p != 0) w.field("min_p", s.min_p);
  if (s.seed) w.field("seed", *s.seed);
  w.field("max_tokens", s.max_tokens);
  if (s.logprobs != 0) w.field("logprobs", s.logprobs);
  if (s.repetition_penalty != 1.0) w.field("repetition_penalty", s.repetition_penalty);
  if (s.frequency_penalty != 0.0) w.field("frequency_penalty", s.frequency_penalty);
  if (s.presence_penalty != 0.0) w.field("presence_penalty", s.presence_penalty);
  if (!s.stop.empty()) {
    w.key("stop").begin_array();
    for (const auto& x : s.stop) w.value(x);
    w.end_array();
  }
  w.end_object();
  return out;
}

// One role call in progress: the request, the reply so far, retries left.
struct Call {
  RoleTask task;
  engine::GenerateRequest request;
  RoleOutput out;
  int retries_left = 0;
  caf::typed_response_promise<RoleOutput> promise;
};

struct RoleState {
  RoleSpec spec;
  engine_gateway gateway;
  static inline const char* name = "role";
};

// The token-exact part of a candidate: ids, logprobs (top-k as JSON when
// asked), and what the backend did not report.
void take_tokens(Candidate& cand, const engine::Choice& c, const engine::GenerateResult& result, int logprobs_asked) {
  cand.token_ids = c.token_ids;
  for (const auto& lp : c.logprobs) cand.logprobs.push_back(lp.logprob);
  if (logprobs_asked > 0 && !c.logprobs.empty()) {
    JsonWriter w(cand.top_logprobs_json);
    w.begin_array();
    for (const auto& lp : c.logprobs) {
      w.begin_array();
      for (const auto& t : lp.top) w.begin_object().field("token", t.token).field("logprob", t.logprob).end_object();
      w.end_array();
    }
    w.end_array();
  }
  const bool produced = !c.text.empty() || !c.token_ids.empty() || !c.logprobs.empty();
  if (result.prompt_token_ids.empty()) cand.unavailable.push_back("prompt_token_ids");
  if (c.token_ids.empty() && produced) cand.unavailable.push_back("completion_token_ids");
  if (c.logprobs.empty() && produced) cand.unavailable.push_back("logprobs");
  // A final end-of-sequence token may come without a logprob (the local
  // engine reports none for it): NaN keeps the values aligned with the ids.
  if (c.logprobs.size() + 1 == c.token_ids.size() && !c.logprobs.empty())
    cand.logprobs.push_back(std::numeric_limits<double>::quiet_NaN());
  if (!c.token_ids.empty() && !c.logprobs.empty() && cand.logprobs.size() != c.token_ids.size()) {
    cand.logprobs.clear();  // not aligned with the ids: not usable as per-token values
    cand.unavailable.push_back("logprobs");
  }
}

Candidate parse_candidate(RoleKind kind, const engine::Choice& c) {
  Candidate cand;
  cand.text = c.text;
  cand.finish = engine::to_string(c.finish);
  cand.stop_string = c.stop_string;
  if (kind == RoleKind::solver) {
    if (auto a = scoring::extract_final_answer(c.text)) cand.answer = *a;
  } else if (kind == RoleKind::verifier) {
    switch (scoring::parse_verdict(c.text)) {
      case scoring::Verdict::yes: cand.verdict = 1; break;
      case scoring::Verdict::no: cand.verdict = 0; break;
      case scoring::Verdict::unknown: cand.verdict = -1; break;
    }
  }
  return cand;
}

void ask(role_actor::stateful_pointer<RoleState> self, std::shared_ptr<Call> call) {
  self->request(self->state.gateway, caf::infinite, generate_atom_v, call->task.run_id, call->request)
      .then(
          [self, call](GenerateOutcome& g) {
            RoleOutput& out = call->out;
            out.calls += 1;
            out.latency_ms += g.result.latency_ms;
            if (!g.ok) {
              out.ok = false;
              out.error_code = g.error_code;
              out.error = g.error;
              call->promise.deliver(std::move(out));
              return;
            }
            out.prompt_tokens += g.result.usage.prompt_tokens;
            out.cached_prompt_tokens += g.result.usage.cached_prompt_tokens;
            out.completion_tokens += g.result.usage.completion_tokens;
            std::vector<Candidate> cands;
            bool unparsed = false;
            out.prompt_token_ids = g.result.prompt_token_ids;
            out.token_info = g.result.token_info;
            for (const auto& c : g.result.choices) {
              cands.push_back(parse_candidate(self->state.spec.kind, c));
              take_tokens(cands.back(), c, g.result, call->request.sampling.logprobs);
              if (self->state.spec.kind == RoleKind::verifier && cands.back().verdict < 0 &&
                  c.finish != engine::FinishReason::cancelled)
                unparsed = true;
            }
            out.candidates = std::move(cands);
            if (unparsed && call->retries_left > 0) {
              // Re-ask: a verdict is required. A fresh seed, so a seeded
              // backend does not repeat itself.
              call->retries_left -= 1;
              call->request.id += "-retry";
              if (call->request.sampling.seed) *call->request.sampling.seed += 1;
              ask(self, call);
              return;
            }
            call->promise.deliver(std::move(out));
          },
          [self, call](caf::error& err) {
            RoleOutput& out = call->out;
            out.ok = false;
            out.error_code = static_cast<int>(ErrorCode::internal);
            out.error = "engine gateway: " + self->system().render(err);
            call->promise.deliver(std::move(out));
          });
}

role_actor::behavior_type role(role_actor::stateful_pointer<RoleState> self, RoleSpec spec,
                               engine_gateway gateway) {
  self->state.spec = std::move(spec);
  self->state.gateway = std::move(gateway);
  return {
      [self](RoleTask& task) -> caf::result<RoleOutput> {
        const RoleSpec& spec = self->state.spec;
        auto call = std::make_shared<Call>();
        call->promise = self->make_response_promise<RoleOutput>();
        call->retries_left = spec.parse_retries;
        engine::GenerateRequest& req = call->request;
        req.id = task.request_id;
        req.model = task.model.empty() ? spec.model : task.model;
        req.kind = engine::PromptKind::chat;
        if (task.messages.empty()) {
          if (!spec.system.empty()) req.messages.push_back({"system", render_template(spec.system, task.vars)});
          req.messages.push_back({"user", render_template(spec.template_text, task.vars)});
        } else {
          for (const auto& m : task.messages) req.messages.push_back({m.role, m.content});
        }
        for (const auto& m : task.history) req.messages.push_back({m.role, m.content});
        req.continue_final_message = task.continue_final && !req.messages.empty() &&
                                     req.messages.back().role == "assistant";
        req.sampling = spec.sampling;
        // Steps are token-exact training data: ask for the ids (and, where a
        // backend gives them cheaply, the sampled tokens' logprobs); what a
        // server does not return is recorded as unavailable.
        req.return_token_ids = true;
        req.sampling.n = task.n > 0 ? task.n : spec.sampling.n;
        if (task.max_tokens > 0 && task.max_tokens < req.sampling.max_tokens)
          req.sampling.max_tokens = static_cast<int>(task.max_tokens);
        for (const auto& s : task.stop) req.sampling.stop.push_back(s);
        if (task.temperature) req.sampling.temperature = task.temperature;
        if (task.seed) req.sampling.seed = task.seed;
        RoleOutput& out = call->out;
        out.role = spec.name;
        for (const auto& m : req.messages) out.prompt.push_back({m.role, m.content});
        out.backend = spec.backend_label;
        out.sampling_json = sampling_json(req.sampling);
        call->task = std::move(task);
        ask(self, call);
        return call->promise;
      },
  };
}

}  // namespace

std::string render_template(const std::string& text, const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      size_t close = text.find('}', i + 1);
      if (close != std::string::npos) {
        auto it = vars.find(text.substr(i + 1, close - i - 1));
        if (it != vars.end()) {
          out += it->second;
          i = close + 1;
          continue;
        }
      }
    }
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

RoleSpec default_role_spec(const std::string& name) {
  RoleSpec spec;
  spec.name = name;
  spec.sampling.max_tokens = 1024;
  if (name == "solver") {
    spec.kind = RoleKind::solver;
    spec.template_text =
        "Solve the following problem. Reason step by step, then give the final answer as "
        "\\boxed{ANSWER}.\n\nProblem: {question}";
    spec.sampling.temperature = 0.7;
  } else if (name == "verifier") {
    spec.kind = RoleKind::verifier;
    spec.template_text =
        "You are checking a proposed solution to a problem.\n\nProblem: {question}\n\n"
        "Proposed solution:\n{solution}\n\nCheck every step. Then end with exactly one line: "
        "'Verdict: Yes' if the solution and its final answer are correct, or 'Verdict: No' if not.";
    spec.sampling.temperature = 0.0;
  }
  return spec;
}

role_actor spawn_role(caf::actor_system& sys, RoleSpec spec, engine_gateway gateway) {
  return sys.spawn(role, std::move(spec), std::move(gateway));
}

}  // namespace troupe::actors
