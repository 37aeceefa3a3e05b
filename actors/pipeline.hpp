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

// One call's result: its output (ok=false for a refused or failed call) and
// the steps it was recorded as.
struct RoleReply {
  RoleOutput out;
  std::vector<uint64_t> step_seqs;
};

// One task of a scatter/gather (RunContext::call_all): a call, and
// optionally when to ask again. `reask`, given a reply and how many re-asks
// came before it (0 for the first reply), returns the task of a new call
// of the same role and StepInfo, made at once; the task's slot holds the
// last reply. Empty: one call.
struct RoleCall {
  std::string role;
  RoleTask task;
  StepInfo info;
  std::function<std::optional<RoleTask>(const RoleReply& reply, int reasks)> reask;
};
using EachThen = std::function<void(size_t index, const RoleReply& reply)>;
using AllThen = std::function<void(std::vector<RoleReply>& replies)>;

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

  // Scatter/gather: makes every call at once, in the given order, exactly as
  // that sequence of call()s would (so steps, their parents, their recording
  // order and durable replay keys are the same; a re-ask is made when its
  // reply arrives, as a call() from that reply's continuation would be), then
  // runs `all` once, after every task's last reply, with the replies in task
  // order: a failed or refused call holds its ok=false output in its slot.
  // `each`, when given, runs for every task's last reply as it arrives
  // (arrival order), before `all`. With no calls, `all` runs at once. As
  // with call(), nothing runs after the run ended.
  void call_all(std::vector<RoleCall> calls, AllThen all, EachThen each = nullptr);
  // Scatter/gather over n tasks that make calls of their own (a component
  // with follow-up calls): starts run_task(i, done) for i = 0..n-1 in order;
  // task i calls done() when it is over (a second done() counts nothing), and
  // `all` runs once, after the last task's done(). With n = 0, at once.
  void gather(size_t n, std::function<void(size_t i, std::function<void()> done)> run_task,
              std::function<void()> all);

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

inline void RunContext::call_all(std::vector<RoleCall> calls, AllThen all, EachThen each) {
  struct Gather {
    std::vector<RoleReply> replies;
    size_t left = 0;
    AllThen all;
    EachThen each;
  };
  auto g = std::make_shared<Gather>();
  g->replies.resize(calls.size());
  g->left = calls.size();
  g->all = std::move(all);
  g->each = std::move(each);
  if (calls.empty()) {
    g->all(g->replies);
    return;
  }
  // One task: its call, and its re-asks from the reply's continuation.
  struct Task {
    static void run(RunContext* ctx, std::shared_ptr<Gather> g, size_t i, std::shared_ptr<RoleCall> c, RoleTask task,
                    int reasks) {
      ctx->call(c->role, std::move(task), c->info,
                [ctx, g, i, c, reasks](const RoleOutput& out, const std::vector<uint64_t>& step_seqs) {
                  g->replies[i] = RoleReply{out, step_seqs};
                  if (c->reask) {
                    if (auto again = c->reask(g->replies[i], reasks))
                      return run(ctx, g, i, c, std::move(*again), reasks + 1);
                  }
                  if (g->each) g->each(i, g->replies[i]);
                  if (--g->left == 0) g->all(g->replies);
                });
    }
  };
  for (size_t i = 0; i < calls.size(); ++i) {
    auto c = std::make_shared<RoleCall>(std::move(calls[i]));
    RoleTask task = std::move(c->task);
    Task::run(this, g, i, std::move(c), std::move(task), 0);
  }
}

inline void RunContext::gather(size_t n, std::function<void(size_t i, std::function<void()> done)> run_task,
                               std::function<void()> all) {
  struct Join {
    std::vector<bool> over;
    size_t left = 0;
    std::function<void()> all;
  };
  auto join = std::make_shared<Join>();
  join->over.assign(n, false);
  join->left = n;
  join->all = std::move(all);
  if (n == 0) return join->all();
  for (size_t i = 0; i < n; ++i)
    run_task(i, [join, i] {
      if (join->over[i]) return;
      join->over[i] = true;
      if (--join->left == 0) join->all();
    });
}

class Pipeline {
 public:
  virtual ~Pipeline() = default;
  virtual void start(RunContext& ctx) = 0;
};

}  // namespace troupe::actors
