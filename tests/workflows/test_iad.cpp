// IAD traces on the scripted backend (pipelines.md §3): the feedback block
// a round is given, the pool and its argmax, early stop, the no-feedback
// ablation, Best-of-N at matched compute, budgets, parents, labels and
// preference pairs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <mutex>

#include "engine/scripted/scripted_backend.hpp"

#include "spoc_harness.hpp"

using troupe::memory::StepRecord;
using troupe::testing::Harness;
using troupe::testing::item;
using troupe::testing::read_file;

namespace {

const std::string kSource = TROUPE_SOURCE_DIR;

std::string workflow(const std::string& params, const std::string& extra = "") {
  return "name: iad-test\npipeline: iad\nbackend: {kind: scripted, fixture: FIXTURE}\nparams: {" + params +
         "}\nconcurrency: 1\n" + extra;
}

// An example workflow file, pointed at the harness's copy of its fixture.
std::string example(const std::string& file) {
  std::string text = read_file(kSource + "/examples/" + file);
  const std::string from = "fixture: fixtures/iad-arithmetic.yaml";
  auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  text.replace(pos, from.size(), "fixture: FIXTURE");
  return text;
}

std::string example_fixture() { return read_file(kSource + "/examples/fixtures/iad-arithmetic.yaml"); }

std::vector<troupe::actors::RunInput> arithmetic_items() {
  return {item("add-1", "What is 17 + 25?", "42"), item("mul-1", "What is 6 * 7?", "42"),
          item("mul-2", "What is 9 * 8?", "72"), item("sub-1", "What is 100 - 37?", "63")};
}

std::vector<StepRecord> of_kind(const std::vector<StepRecord>& steps, const std::string& kind) {
  std::vector<StepRecord> out;
  for (const auto& s : steps)
    if (s.kind == kind) out.push_back(s);
  return out;
}

const StepRecord& with_text(const std::vector<StepRecord>& steps, const std::string& prefix) {
  for (const auto& s : steps)
    if (s.completion.rfind(prefix, 0) == 0) return s;
  FAIL("no step starts with " << prefix);
  throw std::logic_error("unreachable");
}

// The score steps of a candidate, in order.
std::vector<StepRecord> scores_of(const std::vector<StepRecord>& steps, uint64_t candidate) {
  std::vector<StepRecord> out;
  for (const auto& s : steps)
    if (s.kind == "score" && s.parents == std::vector<uint64_t>{candidate}) out.push_back(s);
  return out;
}

std::string user_message(const StepRecord& s) {
  REQUIRE(!s.prompt.empty());
  return s.prompt.back().content;
}

// A judge, a critic and a solver: draft A/B in the first round, revised
// C/D after feedback. The critic's prompt also holds "Response:\n...", so
// its rule comes first.
const char* kJudgeFixture = R"(
rules:
  - {match: "Write a short critique", reply: "B never checks its carry."}
  - {match: "Response:\ndraft A", reply: "Weak.\nScore: 3/10"}
  - {match: "Response:\ndraft B", reply: "Better.\nScore: 6/10"}
  - {match: "Response:\nrevised C", reply: "Score: 9/10"}
  - {match: "Response:\nrevised D", reply: "Score: 2/10"}
  - {match: "Best response so far", replies: ["revised C \\boxed{4}", "revised D \\boxed{6}"]}
  - {match: "Problem:", replies: ["draft A \\boxed{3}", "draft B \\boxed{5}"]}
)";

const char* kSolverPrefix =
    "Solve the following problem. Reason step by step, then give the final answer as \\boxed{ANSWER}.\n\n"
    "Problem: What is 2 + 2?";

}  // namespace

TEST_CASE("IAD: round 2 is given the best and worst so far with their scores, and the critique", "[iad]") {
  Harness h;
  auto sum = h.run(workflow("candidates: 2, rounds: 1, critique: true"), kJudgeFixture,
                   {item("q", "What is 2 + 2?", "4")});
  REQUIRE(sum.ok());
  REQUIRE(h.outcome("q").status == "succeeded");
  auto steps = h.steps("q");
  auto candidates = of_kind(steps, "candidate");
  auto critiques = of_kind(steps, "critique");
  REQUIRE(candidates.size() == 4);
  REQUIRE(of_kind(steps, "score").size() == 4);
  REQUIRE(critiques.size() == 1);
  REQUIRE(steps.size() == 9);

  const auto& a = with_text(candidates, "draft A");
  const auto& b = with_text(candidates, "draft B");
  const auto& c = with_text(candidates, "revised C");
  const auto& d = with_text(candidates, "revised D");
  // Round 1: the task alone.
  CHECK(user_message(a) == kSolverPrefix);
  CHECK(a.parents.empty());
  CHECK(b.parents.empty());
  // The critic critiqued y_best (B, 0.6).
  CHECK(critiques[0].role == "critic");
  CHECK(critiques[0].parents == std::vector<uint64_t>{b.seq});
  CHECK(user_message(critiques[0]).find("scored 0.6") != std::string::npos);
  CHECK(user_message(critiques[0]).find("Response:\ndraft B \\boxed{5}") != std::string::npos);
  // Round 2: the task, then the feedback block, exactly.
  const std::string expected = std::string(kSolverPrefix) +
                               "\n\nEarlier responses to this task were scored by a verifier (0 = worst, 1 = best).\n\n"
                               "Best response so far (score 0.6):\ndraft B \\boxed{5}\n\n"
                               "Worst response so far (score 0.3):\ndraft A \\boxed{3}\n\n"
                               "A reviewer's critique of the best response:\nB never checks its carry.\n\n"
                               "Write a new response that surpasses the best response and avoids the mistakes of the worst one.";
  CHECK(user_message(c) == expected);
  CHECK(user_message(d) == expected);
  // Its parents are the feedback's inputs: best, worst, critique.
  CHECK(c.parents == std::vector<uint64_t>{b.seq, a.seq, critiques[0].seq});
  CHECK(d.parents == c.parents);
  // Every score step's parent is its candidate.
  for (const auto* x : {&a, &b, &c, &d}) {
    auto s = scores_of(steps, x->seq);
    REQUIRE(s.size() == 1);
    CHECK(s[0].role == "verifier");
  }
  CHECK(scores_of(steps, c.seq)[0].completion == "Score: 9/10");
  // argmax over the pool: C (0.9).
  CHECK(h.outcome("q").answer == "4");
  CHECK(h.outcome("q").correct == 1);
  CHECK(h.outcome("q").calls == 7);  // 2 solver + 4 judge + 1 critic
}

TEST_CASE("IAD: pairs are best over worst per prompt and each round's improvement", "[iad]") {
  Harness h;
  REQUIRE(h.run(workflow("candidates: 2, rounds: 1, critique: true"), kJudgeFixture, {item("q", "What is 2 + 2?")}).ok());
  auto steps = h.steps("q");
  auto candidates = of_kind(steps, "candidate");
  const auto& a = with_text(candidates, "draft A");
  const auto& b = with_text(candidates, "draft B");
  const auto& c = with_text(candidates, "revised C");
  const auto& d = with_text(candidates, "revised D");
  auto pairs = h.pairs_of("q");
  REQUIRE(pairs.size() == 2);
  std::sort(pairs.begin(), pairs.end(), [](const auto& x, const auto& y) { return x.reason < y.reason; });
  // y_best (C, 0.9) over y_worst (D, 0.2), on the task prompt.
  CHECK(pairs[0].source_steps == std::vector<uint64_t>{c.seq, d.seq});
  CHECK(pairs[0].reason == "iad: best over worst by verifier score (0.9 vs 0.2)");
  CHECK(pairs[0].margin == Approx(0.7));
  REQUIRE(pairs[0].prompt.size() == 1);
  CHECK(pairs[0].prompt[0].content == kSolverPrefix);
  // Round 1's best (C, 0.9) over round 0's best (B, 0.6), on round 1's prompt.
  CHECK(pairs[1].source_steps == std::vector<uint64_t>{c.seq, b.seq});
  CHECK(pairs[1].reason == "iad: round 1 improved on round 0 (0.9 vs 0.6)");
  CHECK(pairs[1].prompt.back().content == user_message(c));
  // No candidate reached the maximum or scored 0: nothing is labelled.
  for (const auto* x : {&a, &b, &c, &d}) CHECK_FALSE(x->label.has_value());
}

TEST_CASE("IAD with the exact verifier: early stop at the maximum score, labels and argmax", "[iad]") {
  Harness h;
  auto sum = h.run(example("iad.yaml"), example_fixture(), arithmetic_items());
  REQUIRE(sum.ok());
  CHECK(sum->succeeded == 4);
  CHECK(sum->correct == 3);  // sub-1 never finds 63

  // add-1: round 0 scores 0, 0; round 1 finds 42 (score 1) and stops.
  auto steps = h.steps("add-1");
  auto candidates = of_kind(steps, "candidate");
  REQUIRE(candidates.size() == 4);
  REQUIRE(of_kind(steps, "score").size() == 4);
  const auto& c41 = with_text(candidates, "17 + 25 = 41.");
  const auto& c43 = with_text(candidates, "17 + 25 = 43.");
  const auto& c42 = with_text(candidates, "Units:");
  const auto& c32 = with_text(candidates, "17 + 25 = 32.");
  CHECK(user_message(c42).find("Best response so far (score 0):\n17 + 25 = 41.\n\\boxed{41}\n\n"
                               "Worst response so far (score 0):\n17 + 25 = 43.\n\\boxed{43}\n\n"
                               "Write a new response") != std::string::npos);
  CHECK(c42.parents == std::vector<uint64_t>{c41.seq, c43.seq});
  auto s42 = scores_of(steps, c42.seq);
  REQUIRE(s42.size() == 1);
  CHECK(s42[0].role == "verifier");
  CHECK(s42[0].answer == "1");
  CHECK(s42[0].verdict == std::optional<bool>(true));
  CHECK(s42[0].completion == R"({"verifier":"exact","answer":"42","gold":"42","match":true,"score":1})");
  CHECK(scores_of(steps, c41.seq).at(0).verdict == std::optional<bool>(false));
  CHECK(c42.label == std::optional<bool>(true));
  for (const auto* x : {&c41, &c43, &c32}) CHECK(x->label == std::optional<bool>(false));
  CHECK(h.outcome("add-1").answer == "42");
  CHECK(h.outcome("add-1").calls == 2);  // two solver calls; the exact check is no model call

  // mul-1: 42 in the first round ends the run there.
  CHECK(of_kind(h.steps("mul-1"), "candidate").size() == 2);
  CHECK(h.outcome("mul-1").calls == 1);

  // sub-1: all rounds (3 solver calls), all scores 0: the earliest candidate wins.
  auto sub = h.steps("sub-1");
  CHECK(of_kind(sub, "candidate").size() == 6);
  CHECK(h.outcome("sub-1").answer == "64");
  CHECK(h.outcome("sub-1").calls == 3);
  CHECK(h.pairs_of("sub-1").empty());  // no score difference, nothing to prefer
}

TEST_CASE("IAD: ties in the pool go to the earliest candidate", "[iad]") {
  Harness h;
  const char* fixture = R"(
rules:
  - {match: "Response:\nfirst", reply: "Score: 7/10"}
  - {match: "Response:\nsecond", reply: "Score: 7/10"}
  - {match: "Response:\nthird", reply: "Score: 7/10"}
  - {match: "Best response so far", reply: "third \\boxed{3}"}
  - {match: "Problem:", replies: ["first \\boxed{1}", "second \\boxed{2}"]}
)";
  REQUIRE(h.run(workflow("candidates: 2, rounds: 1"), fixture, {item("q", "pick")}).ok());
  CHECK(h.outcome("q").answer == "1");
  // With all scores equal, the worst shown is the earliest other than the best.
  auto c = of_kind(h.steps("q"), "candidate");
  REQUIRE(c.size() == 4);
  CHECK(user_message(c[2]).find("Worst response so far (score 0.7):\nsecond") != std::string::npos);
  CHECK(h.pairs_of("q").empty());
}

TEST_CASE("IAD no_feedback: the same loop and calls, with no feedback block and no parents", "[iad]") {
  Harness h;
  std::string wf = example("iad.yaml");
  wf.replace(wf.find("mode: iad"), 9, "mode: no_feedback");
  REQUIRE(h.run(wf, example_fixture(), {item("add-1", "What is 17 + 25?", "42")}).ok());
  auto candidates = of_kind(h.steps("add-1"), "candidate");
  REQUIRE(candidates.size() == 6);  // 41/43, 43/41, 41/43: never 42, all 3 rounds
  for (const auto& c : candidates) {
    CHECK(c.parents.empty());
    CHECK(user_message(c) == user_message(candidates[0]));
    CHECK(user_message(c).find("Best response") == std::string::npos);
  }
  CHECK(h.outcome("add-1").calls == 3);
  CHECK(h.outcome("add-1").answer == "41");
}

TEST_CASE("Best-of-N makes the same N*(T+1) solver samples and verifier calls as IAD without early stop", "[iad]") {
  auto count = [](const std::string& wf) {
    Harness h;
    REQUIRE(h.run(wf, example_fixture(), {item("sub-1", "What is 100 - 37?", "63")}).ok());
    auto steps = h.steps("sub-1");
    struct {
      size_t candidates, scores, solver_calls;
      int64_t calls;
      bool feedback;
      std::string answer;
    } r{of_kind(steps, "candidate").size(), of_kind(steps, "score").size(), 0, h.outcome("sub-1").calls, false,
        h.outcome("sub-1").answer};
    for (const auto& s : of_kind(steps, "candidate")) {
      if (s.prompt_tokens > 0) ++r.solver_calls;  // the first candidate of each call carries the prompt
      if (user_message(s).find("Best response") != std::string::npos) r.feedback = true;
    }
    return r;
  };
  auto bon = count(example("iad-bon.yaml"));
  CHECK(bon.candidates == 6);  // N = 2, T = 2
  CHECK(bon.scores == 6);
  CHECK(bon.solver_calls == 3);
  CHECK(bon.calls == 3);
  CHECK_FALSE(bon.feedback);
  CHECK(bon.answer == "64");
  auto iad = count(example("iad.yaml"));  // sub-1 never reaches the maximum: no early stop
  CHECK(iad.candidates == bon.candidates);
  CHECK(iad.scores == bon.scores);
  CHECK(iad.solver_calls == bon.solver_calls);
  CHECK(iad.calls == bon.calls);
  CHECK(iad.feedback);
}

TEST_CASE("Best-of-N on the example: same budget, the argmax of independent samples", "[iad]") {
  Harness h;
  auto sum = h.run(example("iad-bon.yaml"), example_fixture(), arithmetic_items());
  REQUIRE(sum.ok());
  CHECK(sum->correct == 2);  // 42 for 6*7, and 72 among 9*8's six samples
  CHECK(h.outcome("mul-2").answer == "72");
  CHECK(h.outcome("add-1").answer == "41");
  for (const auto& s : h.steps("mul-2"))
    if (s.kind == "candidate") CHECK(s.parents.empty());
  // BoN draws every sample up front: no early stop for 6*7 either.
  CHECK(of_kind(h.steps("mul-1"), "candidate").size() == 6);
  // No improvement pairs in BoN; best over worst when scores differ.
  auto pairs = h.pairs_of("mul-2");
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].reason == "iad: best over worst by verifier score (1 vs 0)");
}

TEST_CASE("IAD: a call budget that runs out mid-round answers with the best scored so far", "[iad][budget]") {
  Harness h;
  // Round 0: solver + 2 judge calls; round 1's solver call is the 4th and
  // last; its candidates' judge calls are refused.
  auto sum = h.run(workflow("candidates: 2, rounds: 2", "budget: {max_calls: 4}\n"), kJudgeFixture,
                   {item("q", "What is 2 + 2?", "4")});
  REQUIRE(sum.ok());
  const auto& o = h.outcome("q");
  CHECK(o.status == "succeeded");
  CHECK(o.calls == 4);
  CHECK(o.answer == "5");  // B (0.6): C and D were never scored
  CHECK(o.correct == 0);
  auto steps = h.steps("q");
  CHECK(of_kind(steps, "candidate").size() == 4);
  CHECK(of_kind(steps, "score").size() == 2);
}

TEST_CASE("IAD: a budget that allows no score answers with the first candidate", "[iad][budget]") {
  Harness h;
  auto sum = h.run(workflow("candidates: 2, rounds: 2", "budget: {max_calls: 1}\n"), kJudgeFixture,
                   {item("q", "What is 2 + 2?")});
  REQUIRE(sum.ok());
  // The first solver call is made, the judges are refused: the first
  // candidate is the best answer there is.
  CHECK(h.outcome("q").status == "succeeded");
  CHECK(h.outcome("q").answer == "3");
}

namespace {

// The scripted backend, except that requests carrying IAD's feedback block
// never finish until the runtime cancels them.
class StallOnFeedback : public troupe::engine::Backend {
 public:
  explicit StallOnFeedback(const std::string& fixture)
      : inner_(troupe::engine::ScriptedBackend::parse_fixture(fixture, "fixture").value()) {}
  void submit(troupe::engine::GenerateRequest r, troupe::engine::GenerateCallback done) override {
    if (troupe::engine::ScriptedBackend::prompt_text(r, false).find("Best response so far") == std::string::npos)
      return inner_.submit(std::move(r), std::move(done));
    std::lock_guard<std::mutex> lock(mu_);
    pending_.emplace_back(r.id, std::move(done));
  }
  void cancel(const std::string& id) override {
    troupe::engine::GenerateCallback cb;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = pending_.begin(); it != pending_.end(); ++it)
        if (it->first == id) {
          cb = std::move(it->second);
          pending_.erase(it);
          ++cancelled_;
          break;
        }
    }
    if (cb) return cb(troupe::Error{troupe::ErrorCode::cancelled, "cancelled"});
    inner_.cancel(id);
  }
  troupe::engine::BackendInfo info() const override { return inner_.info(); }
  int cancelled() {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }

 private:
  troupe::engine::ScriptedBackend inner_;
  std::mutex mu_;
  std::vector<std::pair<std::string, troupe::engine::GenerateCallback>> pending_;
  int cancelled_ = 0;
};

}  // namespace

TEST_CASE("IAD: the wall-time budget cancels the round in flight, the answer is the best so far", "[iad][budget]") {
  Harness h;
  auto backend = std::make_shared<StallOnFeedback>(kJudgeFixture);
  auto sum = h.run(workflow("candidates: 2, rounds: 2", "budget: {wall_time_s: 0.5}\n"), kJudgeFixture,
                   {item("q", "What is 2 + 2?")}, backend);
  REQUIRE(sum.ok());
  CHECK(backend->cancelled() == 1);  // round 1's solver call
  const auto& o = h.outcome("q");
  CHECK(o.status == "succeeded");
  CHECK(o.answer == "5");  // B (0.6) from round 0
  auto steps = h.steps("q");
  CHECK(of_kind(steps, "candidate").size() == 2);
  CHECK(of_kind(steps, "score").size() == 2);
  auto run = h.store->get_run(o.run_id);
  REQUIRE(run.ok());
  REQUIRE(run->has_value());
  CHECK((*run)->metrics_json.find("\"stop\":\"wall_time\"") != std::string::npos);
}

TEST_CASE("IAD: a judge reply without a score is asked again, then scores 0", "[iad]") {
  Harness h;
  const char* fixture = R"(
rules:
  - {match: "Response:\ndraft A", replies: ["I cannot decide.", "Still unsure."]}
  - {match: "Response:\ndraft B", reply: "Score: 4/10"}
  - {match: "Problem:", replies: ["draft A \\boxed{3}", "draft B \\boxed{5}"]}
)";
  REQUIRE(h.run(workflow("candidates: 2, rounds: 0"), fixture, {item("q", "What is 2 + 2?")}).ok());
  auto steps = h.steps("q");
  auto candidates = of_kind(steps, "candidate");
  const auto& a = with_text(candidates, "draft A");
  auto sa = scores_of(steps, a.seq);
  REQUIRE(sa.size() == 2);  // parse_retries 1: one re-ask
  CHECK(sa[0].completion == "I cannot decide.");
  CHECK(sa[1].completion == "Still unsure.");
  CHECK(a.label == std::optional<bool>(false));  // scored 0
  CHECK(h.outcome("q").answer == "5");
  CHECK(h.outcome("q").calls == 4);
  auto pairs = h.pairs_of("q");
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].reason == "iad: best over worst by verifier score (0.4 vs 0)");
}

namespace {
const char* kCodeFixture = R"yaml(
rules:
  - {match: "Problem:", reply: "print(4)"}
)yaml";
}  // namespace

TEST_CASE("IAD with a command verifier: the score is the fraction of PASS lines", "[iad]") {
  Harness h;
  REQUIRE(h.run(workflow("candidates: 1, rounds: 0, verifier: command, "
                         "verifier_command: 'grep -q 4 && printf \"PASS\\nFAIL\\nPASS\\nPASS\\n\"'"),
                kCodeFixture, {item("q", "Write code")}).ok());
  auto steps = h.steps("q");
  auto s = of_kind(steps, "score");
  REQUIRE(s.size() == 1);
  CHECK(s[0].answer == "0.75");
  CHECK(s[0].completion.find("\"passed\":3,\"failed\":1") != std::string::npos);
  CHECK(h.outcome("q").answer == "print(4)");
}

TEST_CASE("IAD with a command verifier: exit status 0 scores 1, $1 is the answer, $2 the gold", "[iad]") {
  Harness h;
  REQUIRE(h.run(workflow("candidates: 1, rounds: 0, verifier: command, verifier_command: 'test \"$1\" = \"$2\"'"),
                "rules:\n  - {match: 'Problem:', reply: '\\boxed{4}'}\n", {item("q", "2+2", "4")}).ok());
  CHECK(of_kind(h.steps("q"), "score").at(0).answer == "1");
}

TEST_CASE("IAD with a command verifier: a hung command is killed at its timeout and scores 0", "[iad]") {
  Harness h;
  REQUIRE(h.run(workflow("candidates: 1, rounds: 0, verifier: command, verifier_command: 'sleep 5', "
                         "verifier_timeout_s: 0.2"),
                kCodeFixture, {item("q", "Write code")}).ok());
  auto s = of_kind(h.steps("q"), "score");
  REQUIRE(s.size() == 1);
  CHECK(s[0].answer == "0");
  CHECK(s[0].completion.find("\"timed_out\":true") != std::string::npos);
  CHECK(h.outcome("q").status == "succeeded");
}

TEST_CASE("IAD: bad params and a missing gold are clear errors", "[iad][errors]") {
  Harness h;
  auto r = h.run(workflow("mode: best_of_n, critique: true"), kJudgeFixture, {item("q", "x")});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("wf.yaml:4:") != std::string::npos);
  CHECK(r.error().message.find("params.critique: the critique is part of the feedback block") != std::string::npos);

  auto t = h.run(workflow("verifier: command"), kJudgeFixture, {item("q", "x")});
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message.find("needs params.verifier_command") != std::string::npos);

  std::string no_feedback = workflow("candidates: 2") + "roles:\n  solver: {template: 'Solve {question}'}\n";
  auto f = h.run(no_feedback, kJudgeFixture, {item("q", "x")});
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().message.find("roles.solver.template has no {feedback} placeholder") != std::string::npos);

  auto g = h.run(workflow("verifier: exact"), kJudgeFixture, {item("q", "What is 2 + 2?")});
  REQUIRE(g.ok());
  CHECK(h.outcome("q").status == "failed");
  CHECK(h.outcome("q").error.find("verifier 'exact' needs a gold answer") != std::string::npos);
}
