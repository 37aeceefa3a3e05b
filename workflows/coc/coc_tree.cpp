// Chain-of-Clarifications data generation (pipelines.md §6(a1)): a BFS tree
// of clarification rounds. The root answers q from the chunks the grounder
// keeps; every node up to `depth` is expanded into `width` children, one
// per clarifying question sampled in one shared-prefix call; each child is
// grounded, answered, self-checked and scored (ROUGE-L F1 against the gold
// answer by the judge tool). §6(e): the best and worst nodes give one pair
// per question, and every expanded node pairs its best child's question
// over its worst child's (same parent prefix).
#include <cstdio>

#include "actors/roles.hpp"
#include "scoring/verdict.hpp"
#include "workflows/coc/coc_internal.hpp"

namespace troupe::workflows {
namespace {

using namespace coc;

struct Node {
  int parent = -1;
  int depth = 1;                // root = 1 (§6(a1) step 3)
  Messages conv;                // training-format conversation, ending with the final answer
  std::string local_context;    // the retrieved text this node's question found
  std::string final_answer;
  double score = 0;
  int verdict = -1;             // the self-check (recorded, not used for pruning)
  uint64_t node_step = 0;       // the judge's record: prompt = conv minus the answer
  uint64_t clarify_step = 0;    // non-root: the step that asked this node's question
  std::string children_clarify; // the clarify prompt its children answered
  std::vector<int> children;
};

// One node's expansion in flight: each stage runs for all children at once.
struct Expansion {
  int node = 0;
  std::string clarify, termination;
  Messages prefix;  // [system] + the node's conversation after the root turns
  std::vector<std::string> questions, answers, finals;
  std::vector<uint64_t> clarify_steps, answer_steps, final_steps, check_steps, node_steps;
  std::vector<Grounding> grounding;
  std::vector<int> verdicts;
  std::vector<double> scores;
};

class CocTree : public CocBase {
 public:
  using CocBase::CocBase;

  // §6(a1) step 1: root grounding of q over every chunk.
  void start(RunContext& ctx) override {
    if (!setup(ctx)) return;
    ground({question()}, {{}}, [this](std::vector<Grounding> g) { root_answer(std::move(g.at(0))); });
  }

 private:
  // §6(a1) step 2: the base answer from the retrieved chunks, its
  // termination check, and its score; the root conversation.
  void root_answer(Grounding g) {
    RoleTask task;
    task.messages = {{"user", g.retrieved + "\n" + question()}};
    call("solver", std::move(task), StepInfo{"answer", g.steps},
         [this, g](const RoleOutput& out, const std::vector<uint64_t>& steps) {
           base_answer_ = trim(out.candidates[0].text);
           uint64_t answer_step = steps[0];
           Messages check = with_system({{"user", question()}, {"assistant", *base_answer_}, {"user", termination_prompt()}});
           self_check(std::move(check), {answer_step}, [this, g, answer_step](SelfCheck c) {
             Messages prompt = with_system({{"user", marked_ + "\n\n" + question()}});
             score(prompt, *base_answer_, c.verdict, {answer_step, c.step},
                   [this, g, prompt, c](double s, uint64_t node_step) {
                     Node root;
                     root.conv = prompt;
                     root.conv.push_back({"assistant", *base_answer_});
                     root.local_context = g.retrieved;
                     root.final_answer = *base_answer_;
                     root.score = s;
                     root.verdict = c.verdict;
                     root.node_step = node_step;
                     add_node(std::move(root));
                     expand_next();
                   });
           });
         });
  }

  // §6(a1) step 3: BFS; nodes deeper than `depth` are leaves.
  void expand_next() {
    while (next_ < nodes_.size()) {
      int id = static_cast<int>(next_++);
      if (nodes_[id].depth <= p_.depth) return expand(id);
    }
    conclude();
  }

  // §6(a1) step 3.1: `width` clarifying questions in one call, asked with
  // the node's local context and its conversation after the root turns.
  void expand(int id) {
    auto x = std::make_shared<Expansion>();
    x->node = id;
    x->clarify = clarify_prompt();
    x->termination = termination_prompt();
    nodes_[id].children_clarify = x->clarify;
    const Messages& conv = nodes_[id].conv;
    x->prefix = with_system(Messages(conv.begin() + std::min<size_t>(3, conv.size()), conv.end()));
    RoleTask task;
    task.messages = x->prefix;
    task.messages.push_back({"user", nodes_[id].local_context + "\n" + x->clarify});
    task.n = p_.width;
    call("clarifier", std::move(task), StepInfo{"clarify", {nodes_[id].node_step}},
         [this, x](const RoleOutput& out, const std::vector<uint64_t>& steps) {
           std::vector<std::vector<uint64_t>> parents;
           for (size_t i = 0; i < out.candidates.size(); ++i) {
             x->questions.push_back(trim(out.candidates[i].text));
             x->clarify_steps.push_back(steps[i]);
             parents.push_back({steps[i]});
           }
           // §6(a1) step 3.2: every question x chunk.
           ground(x->questions, parents, [this, x](std::vector<Grounding> g) {
             x->grounding = std::move(g);
             answer(x);
           });
         });
  }

  Messages asked(const Expansion& x, size_t i) const {
    Messages m = x.prefix;
    m.push_back({"user", std::string(kOmitted) + "\n" + x.clarify});
    m.push_back({"assistant", x.questions[i]});
    return m;
  }

  // §6(a1) step 3.3: each question answered from its retrieved text.
  void answer(std::shared_ptr<Expansion> x) {
    size_t k = x->questions.size();
    x->answers.assign(k, "");
    x->answer_steps.assign(k, 0);
    std::vector<actors::RoleCall> calls;
    for (size_t i = 0; i < k; ++i) {
      RoleTask task;
      task.messages = asked(*x, i);
      task.messages.push_back({"user", std::string(kAnswerWithContext) + x->grounding[i].retrieved});
      calls.push_back({"solver", std::move(task), StepInfo{"clarification_answer", x->grounding[i].steps}, nullptr});
    }
    call_all(
        std::move(calls),
        [x](size_t i, const RoleOutput& out, const std::vector<uint64_t>& steps) {
          x->answers[i] = trim(out.candidates[0].text);
          x->answer_steps[i] = steps[0];
        },
        [this, x] { final_answers(x); });
  }

  Messages final_prompt(const Expansion& x, size_t i) const {
    Messages m = asked(x, i);
    m.push_back({"user", std::string(kRelatedContext) + x.grounding[i].retrieved});
    m.push_back({"assistant", x.answers[i]});
    m.push_back({"user", actors::render_template(p_.final_template, {{"question", question()}})});
    return m;
  }

  // §6(a1) step 3.4: the final answer to q after each clarification.
  void final_answers(std::shared_ptr<Expansion> x) {
    size_t k = x->questions.size();
    x->finals.assign(k, "");
    x->final_steps.assign(k, 0);
    std::vector<actors::RoleCall> calls;
    for (size_t i = 0; i < k; ++i) {
      RoleTask task;
      task.messages = final_prompt(*x, i);
      calls.push_back({"solver", std::move(task), StepInfo{"final_answer", {x->answer_steps[i]}}, nullptr});
    }
    call_all(
        std::move(calls),
        [x](size_t i, const RoleOutput& out, const std::vector<uint64_t>& steps) {
          x->finals[i] = trim(out.candidates[0].text);
          x->final_steps[i] = steps[0];
        },
        [this, x] { checks(x); });
  }

  // §6(a1) step 3.5: the termination self-check (recorded only).
  void checks(std::shared_ptr<Expansion> x) {
    size_t k = x->questions.size();
    x->verdicts.assign(k, -1);
    x->check_steps.assign(k, 0);
    ctx_->gather(
        k,
        [this, x](size_t i, std::function<void()> done) {
          Messages m = final_prompt(*x, i);
          m.push_back({"assistant", x->finals[i]});
          m.push_back({"user", x->termination});
          self_check(std::move(m), {x->final_steps[i]}, [x, i, done](SelfCheck c) {
            x->verdicts[i] = c.verdict;
            x->check_steps[i] = c.step;
            done();
          });
        },
        [this, x] { score_children(x); });
  }

  // §6(a1) steps 3.6-3.7: each child's training-format conversation is
  // recorded and scored by the judge.
  void score_children(std::shared_ptr<Expansion> x) {
    size_t k = x->questions.size();
    x->scores.assign(k, 0);
    x->node_steps.assign(k, 0);
    ctx_->gather(
        k,
        [this, x](size_t i, std::function<void()> done) {
          score(training_prompt(*x, i), x->finals[i], x->verdicts[i], {x->final_steps[i], x->check_steps[i]},
                [x, i, done](double s, uint64_t step) {
                  x->scores[i] = s;
                  x->node_steps[i] = step;
                  done();
                });
        },
        [this, x] { add_children(x); });
  }

  // §6(a1) step 7: parent conversation + [user: clarify, assistant:
  // question, user: help, assistant: pointback, user: based, assistant:
  // answer, user: final question]; the final answer completes it.
  Messages training_prompt(const Expansion& x, size_t i) const {
    Messages m = nodes_[x.node].conv;
    m.push_back({"user", x.clarify});
    m.push_back({"assistant", x.questions[i]});
    m.push_back({"user", kHelpPrompt});
    m.push_back({"assistant", x.grounding[i].pointback});
    m.push_back({"user", kBasedPrompt});
    m.push_back({"assistant", x.answers[i]});
    m.push_back({"user", actors::render_template(p_.final_template, {{"question", question()}})});
    return m;
  }

  void add_children(std::shared_ptr<Expansion> x) {
    for (size_t i = 0; i < x->questions.size(); ++i) {
      Node c;
      c.parent = x->node;
      c.depth = nodes_[x->node].depth + 1;
      c.conv = training_prompt(*x, i);
      c.conv.push_back({"assistant", x->finals[i]});
      c.local_context = x->grounding[i].retrieved;
      c.final_answer = x->finals[i];
      c.score = x->scores[i];
      c.verdict = x->verdicts[i];
      c.node_step = x->node_steps[i];
      c.clarify_step = x->clarify_steps[i];
      int id = add_node(std::move(c));
      nodes_[x->node].children.push_back(id);
    }
    expand_next();
  }

  // §6(a1) step 6: the judge records the node and scores it: ROUGE-L F1
  // against gold (+1 when judge_bonus and the verifier says the answer is
  // right); without gold, the self-check verdict (1 Yes, else 0).
  void score(Messages prompt, const std::string& prediction, int verdict, std::vector<uint64_t> parents,
             std::function<void(double, uint64_t)> done) {
    const std::optional<std::string>& gold = ctx_->input().gold;
    auto record = [this, prompt, prediction, verdict, parents, done](std::optional<int> bonus) {
      RoleTask task;
      task.messages = prompt;
      task.vars["prediction"] = prediction;
      if (const auto& g = ctx_->input().gold) {
        task.vars["gold"] = *g;
        if (bonus) task.vars["bonus"] = std::to_string(*bonus);
      } else {
        task.vars["fallback"] = verdict == 1 ? "1" : "0";
      }
      call("judge", std::move(task), StepInfo{"node", parents},
           [done](const RoleOutput& out, const std::vector<uint64_t>& steps) {
             done(std::stod(out.candidates[0].answer), steps[0]);
           });
    };
    if (!p_.judge_bonus || !gold) return record(std::nullopt);
    RoleTask task;
    task.messages = {{"user", actors::render_template(kJudgeTemplate, {{"question", question()},
                                                                         {"gold", *gold},
                                                                         {"prediction", prediction}})}};
    call("verifier", std::move(task), StepInfo{"judge", parents},
         [record](const RoleOutput& out, const std::vector<uint64_t>&) {
           record(scoring::parse_verdict(out.candidates[0].text) == scoring::Verdict::yes ? 1 : 0);
         });
  }

  int add_node(Node n) {
    nodes_.push_back(std::move(n));
    return static_cast<int>(nodes_.size()) - 1;
  }

  // First of the highest / lowest score among `ids` (BFS order breaks ties).
  int best_of(const std::vector<int>& ids, bool highest) const {
    int pick = -1;
    for (int id : ids)
      if (pick < 0 || (highest ? nodes_[id].score > nodes_[pick].score : nodes_[id].score < nodes_[pick].score))
        pick = id;
    return pick;
  }

  // §6(a1) step 4 and §6(e).
  void write_pairs() {
    if (nodes_.empty()) return;
    std::vector<int> non_root;
    for (size_t i = 1; i < nodes_.size(); ++i) non_root.push_back(static_cast<int>(i));
    int best = best_of(non_root, true), worst = best_of(non_root, false);
    if (best >= 0 && nodes_[best].score > nodes_[worst].score) {
      // The pair's prompt is what every path shares: the marked context and q.
      Messages prompt(nodes_[0].conv.begin(), nodes_[0].conv.begin() + 2);
      ctx_->add_pair(prompt, nodes_[best].node_step, nodes_[worst].node_step,
                     "best path (score " + format(nodes_[best].score) + ") over worst path (score " +
                         format(nodes_[worst].score) + "); the whole conversations are these steps' prompts",
                     nodes_[best].score - nodes_[worst].score);
      ctx_->label_step(nodes_[best].node_step, true);
      ctx_->label_step(nodes_[worst].node_step, false);
    }
    if (!p_.node_pairs) return;
    for (const Node& n : nodes_) {
      int b = best_of(n.children, true), w = best_of(n.children, false);
      if (b < 0 || nodes_[b].score <= nodes_[w].score) continue;
      // Best child over worst child, sharing the parent prefix: the prompt
      // is the parent's conversation and the clarify prompt both answered.
      Messages prompt = n.conv;
      prompt.push_back({"user", n.children_clarify});
      ctx_->add_pair(prompt, nodes_[b].clarify_step, nodes_[w].clarify_step,
                     "per node: the question whose answer scored " + format(nodes_[b].score) +
                         " over the one that scored " + format(nodes_[w].score),
                     nodes_[b].score - nodes_[w].score);
    }
  }

  static std::string format(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
  }

  void conclude() {
    stopped_ = true;
    write_pairs();
    if (auto best = best_answer()) return ctx_->finish(*best);
    ctx_->fail(Error{ErrorCode::internal, "CoC tree: no node was completed"});
  }

  void before_budget_finish() override { write_pairs(); }

  // The best-scoring node's final answer (the earliest on ties), else the
  // root's base answer if it was written but not yet scored.
  std::optional<std::string> best_answer() override {
    std::vector<int> all;
    for (size_t i = 0; i < nodes_.size(); ++i) all.push_back(static_cast<int>(i));
    int best = best_of(all, true);
    if (best >= 0) return nodes_[best].final_answer;
    return base_answer_;
  }

  std::vector<Node> nodes_;  // BFS order: the root, then each expansion's children
  size_t next_ = 0;          // the next node to consider for expansion
  std::optional<std::string> base_answer_;
};

}  // namespace

std::shared_ptr<actors::Pipeline> make_coc_tree(CocParams p) { return std::make_shared<CocTree>(std::move(p)); }

}  // namespace troupe::workflows
