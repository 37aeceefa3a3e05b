// IAD — Iterative Agent Decoding (Chakraborty et al., arXiv 2504.01931), as
// specified in pipelines.md §3, plus the two baselines the paper compares
// against: the no-feedback sequential ablation (§3(d)) and Best-of-N at
// matched compute (§3(b)).
//
//   mode iad          rounds 0..T: the solver samples N candidates; the
//                     verifier scores each; the pool keeps every scored
//                     candidate; the next round's prompt carries feedback
//                     built from the best and worst so far (and, with
//                     critique on, the critic's critique of the best).
//   mode no_feedback  the same loop and calls, without the feedback block.
//   mode best_of_n    the same N*(T+1) solver samples (T+1 calls of n=N,
//                     issued at once, no feedback, no early stop), scored
//                     by the same verifier; answer = argmax.
// Every mode answers with argmax over the pool (ties to the earliest).
#include "workflows/iad/iad.hpp"
#include "common/hash.hpp"

#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "actors/roles.hpp"
#include "scoring/score.hpp"
#include "workflows/pipelines.hpp"

namespace troupe::workflows {
namespace {

using actors::RoleOutput;
using actors::RoleTask;
using actors::RunContext;
using actors::StepInfo;

// A candidate and what the verifier made of it.
struct Scored {
  int round = 0;
  int index = 0;  // within its round
  uint64_t candidate_step = 0;
  std::string text;
  std::string answer;  // the solver's extracted final answer ("" = none)
  double score = 0;
};

// One round's candidates while their scores come in.
struct Round {
  int round = 0;
  std::vector<Scored> candidates;
  std::vector<bool> scored;
};


class Iad : public actors::Pipeline {
 public:
  explicit Iad(IadParams p) : p_(std::move(p)) {}

  void start(RunContext& ctx) override {
    ctx_ = &ctx;
    if (p_.verifier == IadVerifier::exact && !ctx.input().gold)
      return ctx.fail(Error{ErrorCode::invalid_argument,
                            "IAD item '" + ctx.input().item_id +
                                "': verifier 'exact' needs a gold answer (the input's \"answer\" field); "
                                "use verifier: judge or verifier: command for inputs without one"});
    if (p_.mode == IadMode::best_of_n) {
      // §3(b) baseline: all N*(T+1) samples at once, no feedback.
      for (int r = 0; r <= p_.rounds; ++r) generate(r, "", {});
    } else {
      // §3(a) step 1: the task alone, N candidates.
      generate(0, "", {});
    }
  }

 private:
  // The solver seed of round r: derived from the seed param and the item
  // id, so rounds differ and a replay repeats them.
  int64_t round_seed(int r) const {
    using hash::splitmix64;
    uint64_t h = splitmix64(hash::fnv1a64(ctx_->input().item_id) ^ splitmix64(static_cast<uint64_t>(p_.seed)));
    return static_cast<int64_t>(splitmix64(h + static_cast<uint64_t>(r)) & 0x7fffffffULL);
  }

  // §3(a) steps 1 and 5: N candidates for round r, conditioned on
  // `feedback` (the rendered block, "" for none); `parents` are the steps
  // the feedback was built from.
  void generate(int r, const std::string& feedback, std::vector<uint64_t> parents) {
    RoleTask task;
    task.vars["question"] = ctx_->input().question;
    task.vars["feedback"] = feedback;
    task.n = p_.candidates;
    task.seed = round_seed(r);
    ctx_->call("solver", task, StepInfo{"candidate", std::move(parents)},
               [this, r](const RoleOutput& out, const std::vector<uint64_t>& steps) {
                 if (!out.ok || out.candidates.empty()) {
                   note_stop(out.ok ? Error{ErrorCode::internal, "solver: returned no candidates"}
                                    : Error{static_cast<ErrorCode>(out.error_code), "solver: " + out.error});
                   return round_done();
                 }
                 // The task prompt: round 0's (in best_of_n every batch's is the same).
                 if (r == 0 || task_prompt_.empty()) task_prompt_ = out.prompt;
                 prompts_[r] = out.prompt;
                 auto round = std::make_shared<Round>();
                 round->round = r;
                 for (size_t i = 0; i < out.candidates.size(); ++i) {
                   Scored c;
                   c.round = r;
                   c.index = static_cast<int>(i);
                   c.candidate_step = steps.at(i);
                   c.text = out.candidates[i].text;
                   c.answer = out.candidates[i].answer;
                   round->candidates.push_back(std::move(c));
                 }
                 round->scored.assign(round->candidates.size(), false);
                 score(round);
               });
  }

  // §3(a) step 2: the verifier scores each candidate (one score step whose
  // parent is the candidate). A judge's reply without a readable score is
  // asked again up to judge_retries times, then scores 0.
  void score(std::shared_ptr<Round> round) {
    std::vector<actors::RoleCall> calls;
    for (size_t i = 0; i < round->candidates.size(); ++i) {
      const Scored& c = round->candidates[i];
      actors::RoleCall call{"verifier", score_task(c, 0), StepInfo{"score", {c.candidate_step}}, nullptr};
      call.reask = [this, c](const actors::RoleReply& reply, int reasks) -> std::optional<RoleTask> {
        if (p_.verifier != IadVerifier::judge || !reply.out.ok || reply.out.candidates.empty()) return std::nullopt;
        if (scoring::parse_score(reply.out.candidates[0].text, p_.judge_scale) || reasks >= p_.judge_retries)
          return std::nullopt;
        return score_task(c, reasks + 1);
      };
      calls.push_back(std::move(call));
    }
    ctx_->call_all(
        std::move(calls), [this, round](std::vector<actors::RoleReply>&) { scored(round); },
        [this, round](size_t i, const actors::RoleReply& reply) {
          const RoleOutput& out = reply.out;
          if (!out.ok || out.candidates.empty()) {
            note_stop(out.ok ? Error{ErrorCode::internal, "verifier: returned no score"}
                             : Error{static_cast<ErrorCode>(out.error_code), "verifier: " + out.error});
            return;
          }
          std::optional<double> s;
          switch (p_.verifier) {
            case IadVerifier::judge:
              s = scoring::parse_score(out.candidates[0].text, p_.judge_scale);
              break;
            case IadVerifier::exact:
            case IadVerifier::command: {
              // The tool writes the score as the candidate's answer.
              const std::string& a = out.candidates[0].answer;
              char* end = nullptr;
              double v = std::strtod(a.c_str(), &end);
              if (!a.empty() && end == a.c_str() + a.size()) s = v;
              break;
            }
          }
          round->candidates[i].score = s.value_or(0.0);  // unparsable after retries: 0
          round->scored[i] = true;
        });
  }

  RoleTask score_task(const Scored& c, int attempt) const {
    RoleTask task;
    task.vars["question"] = ctx_->input().question;
    task.vars["solution"] = c.text;
    task.vars["answer"] = c.answer;
    task.vars["gold"] = ctx_->input().gold.value_or("");
    task.vars["scale"] = iad_format_score(p_.judge_scale);
    if (attempt > 0) task.seed = round_seed(p_.rounds + 1) + attempt;  // a fresh sample on a re-ask
    return task;
  }

  void scored(const std::shared_ptr<Round>& round) {
    if (p_.mode == IadMode::best_of_n) {
      batches_[round->round] = round;  // pooled in round order once all are in
    } else {
      add_to_pool(*round);
    }
    round_done();
  }

  // §3(a) steps 3 and 5: every scored candidate joins the pool, in order.
  void add_to_pool(const Round& round) {
    for (size_t i = 0; i < round.candidates.size(); ++i) {
      if (round.scored[i]) {
        pool_.push_back(round.candidates[i]);
        by_round_[round.round].push_back(pool_.size() - 1);
      } else {
        unscored_.push_back(round.candidates[i]);
      }
    }
  }

  void round_done() {
    if (p_.mode == IadMode::best_of_n) {
      if (++rounds_done_ <= p_.rounds) return;  // wait for every batch
      for (const auto& [r, round] : batches_) add_to_pool(*round);
      if (stop_) return stop_early();
      return conclude();
    }
    if (stop_) return stop_early();
    int r = rounds_done_++;
    // §3(d): early stop when the verifier's maximum is reached ...
    if (p_.early_stop && !pool_.empty() && pool_[best()].score >= p_.max_score) return conclude();
    // ... else a fixed number of rounds.
    if (r >= p_.rounds) return conclude();
    if (p_.mode == IadMode::no_feedback) return generate(r + 1, "", {});  // §3(d) ablation
    if (pool_.empty()) return generate(r + 1, "", {});  // nothing scored yet to give feedback on
    if (p_.critique) return critique([this, r] { next_round(r + 1); });
    next_round(r + 1);
  }

  // §3(a) step 4: the feedback block — y_best and y_worst with their
  // scores, the critique when there is one — and round r's candidates.
  void next_round(int r) {
    const Scored& b = pool_[best()];
    const Scored& w = pool_[worst()];
    std::map<std::string, std::string> vars = {{"best", b.text},
                                               {"best_score", iad_format_score(b.score)},
                                               {"worst", w.text},
                                               {"worst_score", iad_format_score(w.score)},
                                               {"critique", ""}};
    std::vector<uint64_t> parents = {b.candidate_step};
    if (w.candidate_step != b.candidate_step) parents.push_back(w.candidate_step);
    if (critique_step_) {
      vars["critique"] = actors::render_template(p_.critique_template, {{"critique", critique_text_}});
      parents.push_back(*critique_step_);
    }
    generate(r, actors::render_template(p_.feedback_template, vars), std::move(parents));
  }

  // §3(a) step 4, v4 option: the critic's critique of y_best. A best that
  // was already critiqued keeps its critique (no new call).
  void critique(std::function<void()> then) {
    const Scored& b = pool_[best()];
    if (critique_step_ && critiqued_ == b.candidate_step) return then();
    RoleTask task;
    task.vars["question"] = ctx_->input().question;
    task.vars["solution"] = b.text;
    task.vars["score"] = iad_format_score(b.score);
    uint64_t target = b.candidate_step;
    ctx_->call("critic", task, StepInfo{"critique", {target}},
               [this, target, then](const RoleOutput& out, const std::vector<uint64_t>& steps) {
                 if (!out.ok || out.candidates.empty()) {
                   note_stop(out.ok ? Error{ErrorCode::internal, "critic: returned no critique"}
                                    : Error{static_cast<ErrorCode>(out.error_code), "critic: " + out.error});
                   return stop_early();
                 }
                 critique_step_ = steps.at(0);
                 critiqued_ = target;
                 critique_text_ = out.candidates[0].text;
                 then();
               });
  }

  // argmax over the pool, ties to the earliest (§3(a) step 6).
  size_t best() const {
    size_t b = 0;
    for (size_t i = 1; i < pool_.size(); ++i)
      if (pool_[i].score > pool_[b].score) b = i;
    return b;
  }

  // argmin over the pool, ties to the earliest, other than the best when
  // the pool has more than one candidate.
  size_t worst() const {
    size_t b = best();
    std::optional<size_t> w;
    for (size_t i = 0; i < pool_.size(); ++i) {
      if (i == b && pool_.size() > 1) continue;
      if (!w || pool_[i].score < pool_[*w].score) w = i;
    }
    return *w;
  }

  // The first thing that stopped the run (a refused or failed call).
  void note_stop(Error e) {
    if (!stop_) stop_ = std::move(e);
  }

  // A budget ran out or the run was cancelled: answer with the best so far
  // (or, when nothing was scored, the first candidate). Other failures
  // fail the run.
  void stop_early() {
    bool budget = stop_->code == ErrorCode::budget_exhausted || stop_->code == ErrorCode::cancelled;
    if (budget && !pool_.empty()) return conclude();
    if (budget && !unscored_.empty()) {
      const Scored& c = unscored_.front();
      return ctx_->finish(c.answer.empty() ? c.text : c.answer);
    }
    ctx_->fail(*stop_);
  }

  // §3(a) step 6: argmax over the pool. §3(e): labels and preference pairs.
  void conclude() {
    if (pool_.empty()) return ctx_->fail(Error{ErrorCode::internal, "IAD: no candidate was scored"});
    const Scored& b = pool_[best()];
    const Scored& w = pool_[worst()];
    // Labels: a candidate at the verifier's maximum is good, one scored 0 bad.
    for (const auto& c : pool_) {
      if (c.score >= p_.max_score) ctx_->label_step(c.candidate_step, true);
      else if (c.score <= 0) ctx_->label_step(c.candidate_step, false);
    }
    // (y_best chosen, y_worst rejected) over the task prompt.
    if (b.score > w.score)
      ctx_->add_pair(task_prompt_, b.candidate_step, w.candidate_step,
                     "iad: best over worst by verifier score (" + iad_format_score(b.score) + " vs " +
                         iad_format_score(w.score) + ")",
                     b.score - w.score);
    // Improvement pairs: round t's best chosen over round t-1's best when
    // its score is higher, over round t's prompt (sequential modes only).
    if (p_.mode != IadMode::best_of_n) {
      for (int t = 1; t <= p_.rounds; ++t) {
        auto prev = round_best(t - 1), cur = round_best(t);
        if (!prev || !cur || cur->score <= prev->score) continue;
        ctx_->add_pair(prompts_[t], cur->candidate_step, prev->candidate_step,
                       "iad: round " + std::to_string(t) + " improved on round " + std::to_string(t - 1) + " (" +
                           iad_format_score(cur->score) + " vs " + iad_format_score(prev->score) + ")",
                       cur->score - prev->score);
      }
    }
    ctx_->finish(b.answer.empty() ? b.text : b.answer);
  }

  const Scored* round_best(int r) const {
    auto it = by_round_.find(r);
    if (it == by_round_.end() || it->second.empty()) return nullptr;
    const Scored* b = &pool_[it->second.front()];
    for (size_t i : it->second)
      if (pool_[i].score > b->score) b = &pool_[i];
    return b;
  }

  IadParams p_;
  RunContext* ctx_ = nullptr;
  std::vector<Scored> pool_;                 // every scored candidate, in (round, index) order
  std::map<int, std::vector<size_t>> by_round_;  // pool indices per round
  std::vector<Scored> unscored_;             // candidates whose score call was refused
  std::vector<memory::Message> task_prompt_;  // round 0's prompt: the task alone
  std::map<int, std::vector<memory::Message>> prompts_;
  std::map<int, std::shared_ptr<Round>> batches_;  // best_of_n: scored batches by round
  int rounds_done_ = 0;
  std::optional<Error> stop_;
  std::optional<uint64_t> critique_step_;
  uint64_t critiqued_ = 0;
  std::string critique_text_;
};

// "file:line:col: " for a param, or "file: " when it was not written.
std::string where(const Workflow& wf, const std::string& key) {
  auto it = wf.params.find(key);
  if (it == wf.params.end()) return wf.file + ": ";
  return wf.file + ":" + std::to_string(it->second.line) + ":" + std::to_string(it->second.col) + ": ";
}

Error bad(const Workflow& wf, const std::string& key, const std::string& what) {
  return Error{ErrorCode::invalid_argument, where(wf, key) + "params." + key + ": " + what};
}

}  // namespace

Result<IadParams> iad_params(const Workflow& wf) {
  auto read = read_iad_params(wf);
  if (!read.ok()) return read.error();
  IadParams p = *read;
  if (p.verifier == IadVerifier::command && p.verifier_command.empty())
    return bad(wf, "verifier", "verifier 'command' needs params.verifier_command (a shell command)");
  auto v = wf.roles.find("verifier");
  if (v != wf.roles.end()) p.judge_retries = v->second.parse_retries;
  if (p.critique && p.mode != IadMode::iad)
    return bad(wf, "critique",
               "the critique is part of the feedback block, so it needs mode iad (mode is " +
                   kIadModeNames.at(static_cast<size_t>(p.mode)) + ")");
  // The feedback reaches the solver through {feedback} in its template.
  auto s = wf.roles.find("solver");
  if (p.mode == IadMode::iad && s != wf.roles.end() && !s->second.template_text.empty() &&
      s->second.template_text.find("{feedback}") == std::string::npos)
    return Error{ErrorCode::invalid_argument,
                 wf.file + ": roles.solver.template has no {feedback} placeholder, so mode iad could not show the "
                           "solver its feedback; add {feedback} (it is empty in the first round)"};
  return p;
}

actors::RoleSpec iad_role_spec(const std::string& role) {
  actors::RoleSpec spec = actors::default_role_spec(role);
  if (role == "solver") {
    // The task, then the feedback block ("" in the first round; §3(c)).
    spec.template_text =
        "Solve the following problem. Reason step by step, then give the final answer as "
        "\\boxed{ANSWER}.\n\nProblem: {question}{feedback}";
  } else if (role == "verifier") {
    // The LLM judge (verifier: judge); scores are parsed by the pipeline.
    spec.kind = actors::RoleKind::plain;
    spec.template_text =
        "You are grading a response to a task.\n\nTask: {question}\n\nResponse:\n{solution}\n\n"
        "Judge how well the response solves the task: correctness first, then completeness. "
        "End with exactly one line 'Score: X/{scale}', where X is a whole number from 0 (useless) "
        "to {scale} (fully correct).";
    spec.sampling.temperature = 0.0;
    spec.sampling.max_tokens = 512;
  } else if (role == "critic") {
    spec.kind = actors::RoleKind::plain;
    spec.template_text =
        "A response to the task below was scored {score} by a verifier (0 = worst, 1 = best).\n\n"
        "Task: {question}\n\nResponse:\n{solution}\n\n"
        "Write a short critique of the response: what is wrong or missing, and how it could be improved. "
        "Do not write a new response.";
    spec.sampling.temperature = 0.0;
    spec.sampling.max_tokens = 512;
  }
  return spec;
}

namespace {

std::optional<actors::ToolFn> iad_tool_role(const Workflow& wf, const std::string& role) {
  if (role != "verifier") return std::nullopt;
  auto p = iad_params(wf);
  if (!p.ok()) return std::nullopt;  // the factory reports the error
  IadParams params = *p;
  switch (params.verifier) {
    case IadVerifier::judge:
      return std::nullopt;  // a model
    case IadVerifier::exact:
      return actors::ToolFn([params](const RoleTask& task) { return iad_exact_check(task, params.max_score); });
    case IadVerifier::command:
      return actors::ToolFn([params](const RoleTask& task) {
        return iad_command_check(task, params.verifier_command, params.verifier_timeout_s, params.max_score,
                                 iad_command_sandbox(params));
      });
  }
  return std::nullopt;
}

}  // namespace

const PipelineDescriptor& iad_pipeline() {
  static const PipelineDescriptor d{&iad_rules(),
                                    factory_from<Iad>(&iad_params),
                                    &iad_role_spec, &iad_tool_role, nullptr};
  return d;
}

}  // namespace troupe::workflows
