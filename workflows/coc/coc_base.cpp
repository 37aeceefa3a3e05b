// CocBase: per-run setup and the grounding / self-check steps shared by
// both Chain-of-Clarifications modes (see coc_internal.hpp).
#include <simdjson.h>

#include "actors/roles.hpp"
#include "workflows/coc/coc_internal.hpp"

namespace troupe::workflows::coc {

bool CocBase::setup(RunContext& ctx) {
  ctx_ = &ctx;
  const auto& in = ctx.input();
  rng_.seed(item_seed(p_.seed, in.item_id));
  std::string where = "CoC input " + in.item_id + ": ";
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(in.raw_json).get(doc) || !doc.is_object()) {
    ctx.fail(Error{ErrorCode::invalid_argument, where + "not a JSON object"});
    return false;
  }
  simdjson::dom::element c;
  if (doc[p_.context_field].get(c)) {
    ctx.fail(Error{ErrorCode::invalid_argument, where + "missing \"" + p_.context_field +
                                                    "\" (the long text the question is about; params.context_field names the field)"});
    return false;
  }
  std::string_view text;
  if (c.get_string().get(text)) {
    ctx.fail(Error{ErrorCode::invalid_argument, where + "\"" + p_.context_field + "\" must be a string"});
    return false;
  }
  chunks_ = split_chunks(text, p_.chunk_tokens);
  if (chunks_.empty()) {
    ctx.fail(Error{ErrorCode::invalid_argument, where + "\"" + p_.context_field + "\" is empty"});
    return false;
  }
  marked_ = mark_context(chunks_);
  // One system prompt per item (the reference draws one per call; a fixed
  // one keeps the conversation's prefix shared across calls).
  system_ = p_.system_prompt.empty() ? draw(system_prompts()) : p_.system_prompt;
  return true;
}

std::string CocBase::draw(const std::vector<std::string>& pool) {
  uint64_t r = rng_();
  return pool[static_cast<size_t>(r % pool.size())];
}

std::string CocBase::clarify_prompt() {
  std::string t = p_.clarify_template.empty() ? draw(clarify_prompts()) : p_.clarify_template;
  return actors::render_template(t, {{"question", question()}});
}

std::string CocBase::termination_prompt() {
  std::string t = p_.termination_template.empty() ? draw(termination_prompts()) : p_.termination_template;
  return actors::render_template(t, {{"question", question()}});
}

Messages CocBase::with_system(Messages rest) const {
  Messages out;
  out.push_back({"system", system_});
  for (auto& m : rest) out.push_back(std::move(m));
  return out;
}

void CocBase::call(const std::string& role, RoleTask task, StepInfo info,
                   std::function<void(const RoleOutput&, const std::vector<uint64_t>&)> then) {
  if (stopped_) return;
  ctx_->call(role, std::move(task), std::move(info),
             [this, then](const RoleOutput& out, const std::vector<uint64_t>& steps) {
               if (stopped_) return;
               if (!out.ok || out.candidates.empty() || steps.size() < out.candidates.size()) return stop(out);
               then(out, steps);
             });
}

void CocBase::call_all(std::vector<actors::RoleCall> calls,
                       std::function<void(size_t, const RoleOutput&, const std::vector<uint64_t>&)> each,
                       std::function<void()> all) {
  if (stopped_) return;
  ctx_->call_all(
      std::move(calls),
      [this, all](std::vector<actors::RoleReply>&) {
        if (!stopped_) all();
      },
      [this, each](size_t i, const actors::RoleReply& r) {
        if (stopped_) return;
        if (!r.out.ok || r.out.candidates.empty() || r.step_seqs.size() < r.out.candidates.size()) return stop(r.out);
        each(i, r.out, r.step_seqs);
      });
}

void CocBase::stop(const RoleOutput& out) {
  if (stopped_) return;
  stopped_ = true;
  if (out.ok) {
    ctx_->fail(Error{ErrorCode::internal, out.role + ": the model returned no output"});
    return;
  }
  if (out.error_code == static_cast<int>(ErrorCode::budget_exhausted)) {
    if (auto best = best_answer()) {
      before_budget_finish();
      ctx_->finish(*best);
      return;
    }
  }
  ctx_->fail(Error{static_cast<ErrorCode>(out.error_code), out.role + ": " + out.error});
}

void CocBase::ground(const std::vector<std::string>& questions, const std::vector<std::vector<uint64_t>>& parents,
                     std::function<void(std::vector<Grounding>)> done) {
  struct State {
    std::vector<std::vector<int>> relevant;  // [question][chunk]: 1 kept, 0 dropped, -1 pending
    std::vector<std::vector<uint64_t>> steps;
  };
  auto st = std::make_shared<State>();
  size_t nq = questions.size(), nc = chunks_.size();
  st->relevant.assign(nq, std::vector<int>(nc, -1));
  st->steps.assign(nq, std::vector<uint64_t>(nc, 0));
  auto finish = [this, st, nq, nc, done] {
    std::vector<Grounding> out(nq);
    for (size_t q = 0; q < nq; ++q) {
      for (size_t c = 0; c < nc; ++c)
        if (st->relevant[q][c] == 1) out[q].kept.push_back(c);
      out[q].steps = st->steps[q];
      out[q].pointback = pointback(out[q].kept);
      out[q].retrieved = retrieved_text(chunks_, out[q].kept);
    }
    done(std::move(out));
  };
  if (nq * nc == 0) return finish();
  std::vector<actors::RoleCall> calls;
  for (size_t q = 0; q < nq; ++q)
    for (size_t c = 0; c < nc; ++c) {
      RoleTask task;
      task.messages = with_system(
          {{"user", actors::render_template(p_.relevance_template, {{"question", questions[q]}, {"chunk", chunks_[c]}})}});
      StepInfo info{"relevance", q < parents.size() ? parents[q] : std::vector<uint64_t>{}};
      calls.push_back({"grounder", std::move(task), std::move(info), nullptr});
    }
  call_all(std::move(calls), [st, nc](size_t i, const RoleOutput& out, const std::vector<uint64_t>& steps) {
    st->relevant[i / nc][i % nc] = relevant(out.candidates[0].text) ? 1 : 0;
    st->steps[i / nc][i % nc] = steps[0];
  }, finish);
}

void CocBase::self_check(Messages messages, std::vector<uint64_t> parents, std::function<void(SelfCheck)> done) {
  self_check_attempt(std::make_shared<const Messages>(std::move(messages)), std::move(parents), p_.self_check_retries,
                     std::move(done));
}

void CocBase::self_check_attempt(std::shared_ptr<const Messages> messages, std::vector<uint64_t> parents,
                                 int retries_left, std::function<void(SelfCheck)> done) {
  RoleTask task;
  task.messages = *messages;
  call("verifier", std::move(task), StepInfo{"self_check", std::move(parents)},
       [this, messages, retries_left, done](const RoleOutput& out, const std::vector<uint64_t>& steps) {
         int v = parse_self_check(out.candidates[0].text);
         // Unreadable: ask again, the new step following the unreadable one.
         if (v < 0 && retries_left > 0) return self_check_attempt(messages, {steps[0]}, retries_left - 1, done);
         done(SelfCheck{v, steps[0]});
       });
}

}  // namespace troupe::workflows::coc
