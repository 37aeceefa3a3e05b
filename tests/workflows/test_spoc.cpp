// SPOC traces on the scripted backend: the exact sequence of solver and
// verifier messages, verdicts, parent links, labels and preference pairs.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

#include "spoc_harness.hpp"

using troupe::testing::Harness;
using troupe::testing::item;
using troupe::testing::read_file;

namespace {

const char* kWorkflow = R"(
name: spoc-test
pipeline: spoc
backend: {kind: scripted, fixture: FIXTURE}
params: {max_turns: 3}
concurrency: 3
)";

std::string example_fixture() {
  return read_file(std::string(TROUPE_SOURCE_DIR) + "/examples/fixtures/spoc-arithmetic.yaml");
}

std::vector<troupe::actors::RunInput> arithmetic_items() {
  return {item("add-1", "What is 17 + 25?", "42"), item("mul-1", "What is 6 * 7?", "42"),
          item("mul-2", "What is 9 * 8?", "72"), item("sub-1", "What is 100 - 37?", "63")};
}

}  // namespace

TEST_CASE("SPOC: a rejected attempt leads to a new one, and a Yes ends the run", "[spoc]") {
  Harness h;
  auto sum = h.run(kWorkflow, example_fixture(), arithmetic_items());
  REQUIRE(sum.ok());
  CHECK(sum->items == 4);
  CHECK(sum->succeeded == 4);
  CHECK(sum->with_gold == 4);
  CHECK(sum->correct == 3);  // mul-2: the verifier accepted a wrong 81

  auto steps = h.steps("add-1");
  REQUIRE(steps.size() == 4);
  CHECK(steps[0].role == "solver");
  CHECK(steps[0].kind == "solution");
  CHECK(steps[0].parents.empty());
  CHECK(steps[0].answer == "41");
  CHECK(steps[1].role == "verifier");
  CHECK(steps[1].parents == std::vector<uint64_t>{0});
  REQUIRE(steps[1].verdict.has_value());
  CHECK(*steps[1].verdict == false);
  CHECK(steps[2].role == "solver");
  CHECK(steps[2].parents == std::vector<uint64_t>{1});
  CHECK(steps[2].answer == "42");
  // The second attempt saw the first one and the verifier's feedback.
  REQUIRE(steps[2].prompt.size() == 3);
  CHECK(steps[2].prompt[1].role == "assistant");
  CHECK(steps[2].prompt[1].content == steps[0].completion);
  CHECK(steps[2].prompt[2].content.find(steps[1].completion) != std::string::npos);
  CHECK(steps[3].role == "verifier");
  CHECK(steps[3].parents == std::vector<uint64_t>{2});
  CHECK(*steps[3].verdict == true);
  for (size_t i = 0; i < steps.size(); ++i) CHECK(steps[i].seq == i);
  CHECK(h.outcome("add-1").answer == "42");
  CHECK(h.outcome("add-1").correct == 1);
}

TEST_CASE("SPOC with gold: accepted-and-correct attempts are chosen over incorrect ones", "[spoc]") {
  Harness h;
  REQUIRE(h.run(kWorkflow, example_fixture(), arithmetic_items()).ok());
  auto steps = h.steps("add-1");
  REQUIRE(steps.size() == 4);
  // Labels: wrong solution bad, its correct "No" good, right solution good, its "Yes" good.
  CHECK(steps[0].label == std::optional<bool>(false));
  CHECK(steps[1].label == std::optional<bool>(true));
  CHECK(steps[2].label == std::optional<bool>(true));
  CHECK(steps[3].label == std::optional<bool>(true));
  auto pairs = h.pairs_of("add-1");
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].chosen == steps[2].completion);
  CHECK(pairs[0].rejected == steps[0].completion);
  CHECK(pairs[0].source_steps == std::vector<uint64_t>{2, 0});
  REQUIRE(pairs[0].prompt.size() == 1);
  CHECK(pairs[0].prompt[0].content.find("What is 17 + 25?") != std::string::npos);

  // mul-2: the verifier accepted 81; the solution is labelled bad and the
  // verification (a wrong Yes) is labelled bad too; nothing to pair.
  auto wrong = h.steps("mul-2");
  REQUIRE(wrong.size() == 2);
  CHECK(wrong[0].label == std::optional<bool>(false));
  CHECK(wrong[1].label == std::optional<bool>(false));
  CHECK(h.pairs_of("mul-2").empty());
  CHECK(h.outcome("mul-2").correct == 0);
}

TEST_CASE("SPOC: a verification without a verdict is asked again", "[spoc]") {
  Harness h;
  REQUIRE(h.run(kWorkflow, example_fixture(), {item("sub-1", "What is 100 - 37?", "63")}).ok());
  auto steps = h.steps("sub-1");
  REQUIRE(steps.size() == 4);
  CHECK(steps[1].verdict == std::optional<bool>(false));
  CHECK(steps[1].completion.find("63, not 64") != std::string::npos);
  CHECK(steps[1].meta_json.find("\"calls\":2") != std::string::npos);
  CHECK(h.outcome("sub-1").calls == 5);  // solver, verifier x2, solver, verifier
  CHECK(h.outcome("sub-1").answer == "63");
}

TEST_CASE("SPOC stops at the turn cap and answers with the last attempt", "[spoc]") {
  Harness h;
  const char* fixture = R"(
rules:
  - {match: "Proposed solution", reply: "Wrong.\nVerdict: No"}
  - {match: "judged it incorrect", replies: ["try 2 \\boxed{2}", "try 3 \\boxed{3}"]}
  - {match: "Problem", reply: "first \\boxed{1}"}
)";
  std::string wf = std::string(kWorkflow);
  wf.replace(wf.find("max_turns: 3"), 12, "max_turns: 2");
  REQUIRE(h.run(wf, fixture, {item("q", "pick a number", std::nullopt)}).ok());
  auto steps = h.steps("q");
  REQUIRE(steps.size() == 4);
  CHECK(h.outcome("q").answer == "2");
  CHECK(h.outcome("q").correct == -1);
  // Without gold and without an accepted attempt there is nothing to prefer.
  CHECK(h.pairs_of("q").empty());
  CHECK(steps[0].label == std::optional<bool>(false));
  CHECK(steps[2].label == std::optional<bool>(false));
}

TEST_CASE("SPOC without gold: verifier-accepted attempts are chosen over rejected ones", "[spoc]") {
  Harness h;
  REQUIRE(h.run(kWorkflow, example_fixture(), {item("add-1", "What is 17 + 25?")}).ok());
  auto pairs = h.pairs_of("add-1");
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0].reason.find("verifier") != std::string::npos);
  CHECK(pairs[0].source_steps == std::vector<uint64_t>{2, 0});
  CHECK(h.outcome("add-1").correct == -1);
}

TEST_CASE("SPOC: a call budget ends the loop with the last attempt's answer", "[spoc][budget]") {
  Harness h;
  std::string wf = std::string(kWorkflow) + "budget: {max_calls: 3}\n";
  REQUIRE(h.run(wf, example_fixture(), {item("add-1", "What is 17 + 25?", "42")}).ok());
  auto steps = h.steps("add-1");
  REQUIRE(steps.size() == 3);  // solution, verification, solution; the 4th call is refused
  CHECK(h.outcome("add-1").status == "succeeded");
  CHECK(h.outcome("add-1").answer == "42");
  CHECK(h.outcome("add-1").calls == 3);
  auto run = h.store->get_run(h.outcome("add-1").run_id);
  REQUIRE(run.ok());
  REQUIRE(run->has_value());
  CHECK((*run)->metrics_json.find("\"calls\":3") != std::string::npos);
}

TEST_CASE("SPOC: a backend error fails the run, keeps its steps and records why", "[spoc][errors]") {
  Harness h;
  const char* fixture = R"(
rules:
  - {match: "Proposed solution", error: {status: 503, message: "verifier model is down"}}
  - {match: "Problem", reply: "\\boxed{5}"}
)";
  auto sum = h.run(kWorkflow, fixture, {item("q", "2 + 3", "5")});
  REQUIRE(sum.ok());
  CHECK(sum->failed == 1);
  const auto& o = h.outcome("q");
  CHECK(o.status == "failed");
  CHECK(o.error.find("verifier model is down") != std::string::npos);
  auto steps = h.steps("q");
  REQUIRE(steps.size() == 1);
  CHECK(steps[0].role == "solver");
  auto run = h.store->get_run(o.run_id);
  REQUIRE(run.ok());
  CHECK((*run)->status == troupe::memory::RunStatus::failed);
  CHECK((*run)->error.find("verifier model is down") != std::string::npos);
}

namespace {

// A backend whose requests never finish until cancelled.
class StallingBackend : public troupe::engine::Backend {
 public:
  void submit(troupe::engine::GenerateRequest r, troupe::engine::GenerateCallback done) override {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.emplace_back(r.id, std::move(done));
    cv_.notify_all();
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
    if (cb) cb(troupe::Error{troupe::ErrorCode::cancelled, "cancelled"});
  }
  troupe::engine::BackendInfo info() const override { return {"stalling", "none", ""}; }
  int cancelled() {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, troupe::engine::GenerateCallback>> pending_;
  int cancelled_ = 0;
};

}  // namespace

TEST_CASE("SPOC: the wall-time budget cancels in-flight generation in the backend", "[spoc][budget]") {
  Harness h;
  auto backend = std::make_shared<StallingBackend>();
  std::string wf = std::string(kWorkflow) + "budget: {wall_time_s: 0.2}\n";
  auto sum = h.run(wf, example_fixture(), {item("q", "What is 6 * 7?", "42")}, backend);
  REQUIRE(sum.ok());
  CHECK(backend->cancelled() == 1);
  const auto& o = h.outcome("q");
  CHECK(o.status == "failed");
  CHECK(o.error.find("wall-time budget") != std::string::npos);
}

TEST_CASE("An invalid input line stops new runs, earlier runs are complete in the store", "[inputs]") {
  Harness h;
  troupe::testing::write_file(h.dir.file("fixture.yaml"), example_fixture());
  std::string text = kWorkflow;
  text.replace(text.find("FIXTURE"), 7, h.dir.file("fixture.yaml"));
  text.replace(text.find("concurrency: 3"), 14, "concurrency: 1");
  troupe::testing::write_file(h.dir.file("wf.yaml"), text);
  troupe::testing::write_file(h.dir.file("in.jsonl"),
                              "{\"id\":\"a\",\"question\":\"What is 6 * 7?\",\"answer\":42}\n\n"
                              "{\"id\":\"b\",\"question\":\"What is 17 + 25?\"}\n"
                              "{\"id\":\"c\",\"questio\":\"typo\"}\n"
                              "{\"id\":\"d\",\"question\":\"What is 9 * 8?\"}\n");
  auto wf = troupe::workflows::load_workflow(h.dir.file("wf.yaml"));
  REQUIRE(wf.ok());
  troupe::workflows::RunnerOptions opts;
  opts.store = h.store;
  auto runner = troupe::workflows::Runner::create(std::move(wf.value()), opts);
  REQUIRE(runner.ok());
  auto inputs = troupe::workflows::JsonlInputs::open(h.dir.file("in.jsonl"));
  REQUIRE(inputs.ok());
  int finished = 0;
  auto r = (*runner)->run(**inputs, [&](const troupe::actors::RunOutcome&, const troupe::workflows::RunSummary&) {
    ++finished;
  });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("in.jsonl:4:") != std::string::npos);
  CHECK(r.error().message.find("question") != std::string::npos);
  CHECK(finished == 2);
  int runs = 0;
  (void)h.store->for_each_run(troupe::memory::RunStatus::succeeded, [&](const troupe::memory::RunRecord& rec) {
    ++runs;
    auto steps = h.store->read_steps(rec.id);
    CHECK(steps.ok());
    CHECK(steps->size() >= 2);
    return true;
  });
  CHECK(runs == 2);
}
