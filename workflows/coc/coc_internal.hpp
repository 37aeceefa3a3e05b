// Chain-of-Clarifications internals shared by the inference loop
// (workflows/coc.cpp) and the data-generation tree (workflows/coc_tree.cpp):
// the validated parameters and a base class holding the per-run setup
// (context chunks, system prompt, seeded RNG) and the two batched steps
// both modes use, grounding and the self-check. Not a public header.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "actors/pipeline.hpp"
#include "actors/roles.hpp"
#include "workflows/coc/coc_descriptor.hpp"
#include "workflows/coc/coc_text.hpp"
#include "workflows/workflow.hpp"

namespace troupe::workflows {

// The table's params (coc_descriptor.hpp) and what coc_params() derives
// from the roles.
struct CocParams : CocTableParams {
  std::string clarify_template;      // "" = drawn from coc::clarify_prompts()
  std::string relevance_template;    // grounder prompt
  std::string final_template;        // solver's final-question prompt
  std::string termination_template;  // "" = drawn from coc::termination_prompts()
  int self_check_retries = 1;        // re-asks when the self-check does not parse
  std::optional<double> solver_temperature;  // inference: 0.6 (§6(a2)) unless the workflow sets one
};

namespace coc {

using actors::RoleOutput;
using actors::RoleTask;
using actors::RunContext;
using actors::StepInfo;
using Messages = std::vector<memory::Message>;

// One question's grounding: the kept chunks and the texts built from them.
struct Grounding {
  std::vector<size_t> kept;
  std::vector<uint64_t> steps;  // relevance steps, chunk order
  std::string pointback;
  std::string retrieved;
};

struct SelfCheck {
  int verdict = -1;  // 1 yes, 0 no, -1 unreadable after retries
  uint64_t step = 0;
};

class CocBase : public actors::Pipeline {
 public:
  explicit CocBase(CocParams p) : p_(std::move(p)) {}

 protected:
  // Reads the context, chunks it, draws the system prompt. False (and the
  // run failed) when the input has no usable context.
  bool setup(RunContext& ctx);

  std::string draw(const std::vector<std::string>& pool);
  std::string clarify_prompt();
  std::string termination_prompt();
  const std::string& question() const { return ctx_->input().question; }

  // A call whose failure (budget, cancellation, backend error, no output)
  // ends the run through stop(); `then` runs only on success and never
  // after the run stopped.
  void call(const std::string& role, RoleTask task, StepInfo info,
            std::function<void(const RoleOutput&, const std::vector<uint64_t>&)> then);
  // Scatter/gather (RunContext::call_all) with call()'s failure handling:
  // `each` runs for every successful reply (arrival order), `all` once every
  // reply is back; neither after the run stopped.
  void call_all(std::vector<actors::RoleCall> calls,
                std::function<void(size_t, const RoleOutput&, const std::vector<uint64_t>&)> each,
                std::function<void()> all);

  // §6(a1) steps 1 and 3.2: one grounder call per question x chunk, all at
  // once (question-major); `done` gets one Grounding per question.
  void ground(const std::vector<std::string>& questions, const std::vector<std::vector<uint64_t>>& parents,
              std::function<void(std::vector<Grounding>)> done);

  // §6(a1) step 3.5: the termination check on `messages`, re-asked up to
  // self_check_retries times while it does not parse.
  void self_check(Messages messages, std::vector<uint64_t> parents, std::function<void(SelfCheck)> done);
  void self_check_attempt(std::shared_ptr<const Messages> messages, std::vector<uint64_t> parents, int retries_left,
                          std::function<void(SelfCheck)> done);

  // A failed call: finish with best_answer() when a budget ran out and
  // there is one, else fail the run.
  void stop(const RoleOutput& out);
  virtual std::optional<std::string> best_answer() = 0;
  // Called once before a budget finish (tree mode writes its pairs).
  virtual void before_budget_finish() {}

  Messages with_system(Messages rest) const;

  CocParams p_;
  RunContext* ctx_ = nullptr;
  bool stopped_ = false;
  std::vector<std::string> chunks_;
  std::string marked_;
  std::string system_;
  std::mt19937_64 rng_;
};

}  // namespace coc

// Reads and checks the params (and the roles' template overrides) of a
// coc workflow; errors name the file, line and column.
Result<CocParams> coc_params(const Workflow& wf);
std::shared_ptr<actors::Pipeline> make_coc_inference(CocParams p);
std::shared_ptr<actors::Pipeline> make_coc_tree(CocParams p);
// The model roles' built-in prompts and sampling (§6(b)).
actors::RoleSpec coc_role_spec(const std::string& role);

}  // namespace troupe::workflows
