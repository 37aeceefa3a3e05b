// The contract between the runtime and a pipeline. A Pipeline is the
// paper's algorithm and nothing else: it asks roles for outputs, labels
// steps, proposes preference pairs and names the final answer through a
// RunContext. The runtime (the run director) does the mechanics behind
// that context: it records every role output as a trajectory step in the
// store BEFORE the pipeline sees it, enforces the run's budgets (calls,
// tokens, wall time), cancels in-flight generation, and turns exceptions
// and actor failures into a failed run with the reason recorded.
//
// Threading: every Pipeline method and every continuation runs inside the
// director actor, one at a time; a pipeline needs no locks. Continuations
// may run after a budget ran out or the run was cancelled: `out.ok` is then
// false with error_code budget_exhausted or cancelled, and the pipeline
// decides what answer, if any, to give (finish) or fails the run (fail).
// A run ends at the first finish() or fail(); later calls are ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "common/error.hpp"

namespace troupe::actors {

// One input item.
struct RunInput {
  std::string item_id;
  std::string question;
  std::optional<std::string> gold;  // the input's `answer`, if given
  std::string raw_json;             // the input line as given
};

// How a role call is recorded: one step per candidate with this kind and
// these parent steps.
struct StepInfo {
  std::string kind;
  std::vector<uint64_t> parents;
};

using RoleThen = std::function<void(const RoleOutput& out, const std::vector<uint64_t>& step_seqs)>;

class RunContext {
 public:
  virtual ~RunContext() = default;
  virtual const std::string& run_id() const = 0;
  virtual const RunInput& input() const = 0;
  virtual bool has_role(const std::string& role) const = 0;

  // Asks `role` for task.n candidates. Each candidate becomes a step
  // (role, info.kind, info.parents, prompt, text, answer, verdict, tokens),
  // committed to the store before `then` runs with the output and the new
  // steps' sequence numbers (one per candidate, in order). If the budget
  // does not allow the call, `then` runs with ok=false, budget_exhausted,
  // and no step.
  virtual void call(const std::string& role, RoleTask task, StepInfo info, RoleThen then) = 0;

  // A recorded step (nullptr for an unknown seq).
  virtual const memory::StepRecord* step(uint64_t seq) const = 0;
  // Marks a step good or bad for SFT/KTO export (written when the run ends).
  virtual void label_step(uint64_t seq, bool good) = 0;
  // A preference pair over one prompt (written when the run ends).
  virtual void add_pair(std::vector<memory::Message> prompt, uint64_t chosen_seq, uint64_t rejected_seq,
                        std::string reason, double margin = 1.0) = 0;
  // Ends the run with an answer; `correct` is judged against the gold
  // answer by the runtime when there is one.
  virtual void finish(std::string answer) = 0;
  virtual void fail(Error error) = 0;
};

class Pipeline {
 public:
  virtual ~Pipeline() = default;
  virtual void start(RunContext& ctx) = 0;
};

}  // namespace troupe::actors
