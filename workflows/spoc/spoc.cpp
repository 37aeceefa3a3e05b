// SPOC — Spontaneous Self-Correction (Zhao et al., arXiv 2506.06923), as
// specified in pipelines.md §1, run as an explicit loop for models not
// trained for it: the solver proposes, the verifier judges with a Yes/No
// verdict, and the loop repeats until a "Yes" or the turn cap.
#include <optional>

#include "actors/roles.hpp"
#include "scoring/answer.hpp"
#include "workflows/pipelines.hpp"
#include "workflows/spoc/spoc_descriptor.hpp"

namespace troupe::workflows {
namespace {

using actors::RoleOutput;
using actors::RoleTask;
using actors::RunContext;
using actors::StepInfo;

struct Attempt {
  uint64_t solution_step = 0;
  std::optional<uint64_t> verification_step;
  std::string solution;
  std::string verification;
  std::string answer;
  int verdict = -1;  // 1 yes, 0 no, -1 none
};

class Spoc : public actors::Pipeline {
 public:
  explicit Spoc(SpocParams p) : p_(std::move(p)) {}

  // §1(a) step 1: the question goes to the solver.
  void start(RunContext& ctx) override {
    ctx_ = &ctx;
    propose();
  }

 private:
  // §1(a) steps 2 and 5: the solver writes attempt s_k, seeing its earlier
  // attempts and their verifications as conversation history.
  void propose() {
    RoleTask task;
    task.vars["question"] = ctx_->input().question;
    task.history = history_;
    StepInfo info{"solution", {}};
    if (!attempts_.empty() && attempts_.back().verification_step)
      info.parents.push_back(*attempts_.back().verification_step);
    ctx_->call("solver", task, info, [this](const RoleOutput& out, const std::vector<uint64_t>& steps) {
      if (!out.ok || out.candidates.empty()) return stop_early(out);
      Attempt a;
      a.solution_step = steps.at(0);
      a.solution = out.candidates[0].text;
      a.answer = out.candidates[0].answer;
      attempts_.push_back(std::move(a));
      verify();
    });
  }

  // §1(a) step 3: the verifier checks s_k and gives a verdict.
  void verify() {
    RoleTask task;
    task.vars["question"] = ctx_->input().question;
    task.vars["solution"] = attempts_.back().solution;
    StepInfo info{"verification", {attempts_.back().solution_step}};
    ctx_->call("verifier", task, info, [this](const RoleOutput& out, const std::vector<uint64_t>& steps) {
      if (!out.ok || out.candidates.empty()) return stop_early(out);
      Attempt& a = attempts_.back();
      a.verification_step = steps.at(0);
      a.verification = out.candidates[0].text;
      a.verdict = out.candidates[0].verdict;  // no verdict after retries counts as "No"
      // §1(a) step 4: a positive verdict ends the run.
      if (a.verdict == 1) return conclude();
      // §1(d): otherwise stop at the turn cap ...
      if (static_cast<int>(attempts_.size()) >= p_.max_turns) return conclude();
      // ... or §1(a) step 5: a new attempt, conditioned on the verification.
      history_.push_back({"assistant", a.solution});
      history_.push_back({"user", actors::render_template(p_.feedback_template, {{"verification", a.verification}})});
      propose();
    });
  }

  // A budget ran out or a call failed: answer with what we have, if anything.
  void stop_early(const RoleOutput& out) {
    bool budget = out.error_code == static_cast<int>(ErrorCode::budget_exhausted);
    if (budget && !attempts_.empty()) return conclude();
    ctx_->fail(Error{static_cast<ErrorCode>(out.error_code), out.role + ": " + out.error});
  }

  // §1(a) step 6: the accepted attempt's answer, else the last attempt's.
  // §1(e): labels and preference pairs.
  void conclude() {
    const Attempt* final = &attempts_.back();
    for (const auto& a : attempts_)
      if (a.verdict == 1) final = &a;
    const auto* first = ctx_->step(attempts_.front().solution_step);
    std::vector<memory::Message> prompt = first ? first->prompt : std::vector<memory::Message>{};
    const auto& gold = ctx_->input().gold;
    if (gold) {
      // With gold: a solution is good when its answer is correct; a
      // verification is good when its verdict matches that truth. Accepted
      // and correct attempts are chosen over incorrect ones.
      std::vector<const Attempt*> good, bad;
      for (const auto& a : attempts_) {
        bool correct = !a.answer.empty() && scoring::answers_match(a.answer, *gold);
        ctx_->label_step(a.solution_step, correct);
        if (a.verification_step && a.verdict >= 0) ctx_->label_step(*a.verification_step, (a.verdict == 1) == correct);
        if (correct && a.verdict == 1) good.push_back(&a);
        if (!correct) bad.push_back(&a);
      }
      for (const auto* g : good)
        for (const auto* b : bad)
          ctx_->add_pair(prompt, g->solution_step, b->solution_step,
                         b->verdict == 1 ? "gold: accepted and correct over accepted but incorrect"
                                         : "gold: accepted and correct over incorrect");
    } else {
      // Without gold: verifier-accepted over verifier-rejected.
      std::vector<const Attempt*> accepted, rejected;
      for (const auto& a : attempts_) {
        if (a.verdict == 1) accepted.push_back(&a);
        if (a.verdict == 0 || a.verdict == -1) rejected.push_back(&a);
        if (a.verdict >= 0) ctx_->label_step(a.solution_step, a.verdict == 1);
      }
      for (const auto* g : accepted)
        for (const auto* b : rejected)
          ctx_->add_pair(prompt, g->solution_step, b->solution_step, "verifier: accepted over rejected");
    }
    ctx_->finish(final->answer);
  }

  SpocParams p_;
  RunContext* ctx_ = nullptr;
  std::vector<Attempt> attempts_;
  std::vector<memory::Message> history_;
};

// The table's values, and the one mode that runs today.
Result<SpocParams> spoc_params(const Workflow& wf) {
  auto p = read_spoc_params(wf);
  if (!p.ok()) return p.error();
  switch (p->mode) {
    case SpocMode::explicit_turns:
      return p;
    case SpocMode::single_pass:
      break;
  }
  return Error{ErrorCode::unsupported,
               param_location(wf, "mode") +
                   "SPOC mode 'single_pass' is not available yet (only 'explicit'; 'single_pass' needs a SPOC-trained "
                   "model and the local engine)"};
}

}  // namespace

const PipelineDescriptor& spoc_pipeline() {
  static const PipelineDescriptor d{&spoc_rules(),
                                    factory_from<Spoc>(&spoc_params),
                                    nullptr, nullptr, nullptr};
  return d;
}

}  // namespace troupe::workflows
