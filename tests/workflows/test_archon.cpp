// Archon traces on the scripted backend: the exact role calls of each layer
// and their order, what each prompt shows (critiques, unit tests), how the
// state flows (critique invalidation and permutation, ranker repair,
// verifier and unit-test filtering), the steps, pairs and the final choice.
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <filesystem>
#include <algorithm>
#include <random>
#include <set>

#include "archon_gate.hpp"
#include "engine/scripted/scripted_backend.hpp"
#include "spoc_harness.hpp"
#include "workflows/archon/archon.hpp"
#include "workflows/archon/archon_parse.hpp"
#include "workflows/pipelines.hpp"

using troupe::memory::StepRecord;
using troupe::testing::Harness;
using troupe::testing::item;
using troupe::testing::read_file;
using namespace troupe::workflows;
namespace fs = std::filesystem;

namespace {

// A workflow over inline layers (YAML flow style).
std::string workflow(const std::string& layers, const std::string& extra = "") {
  return "name: archon-test\npipeline: archon\nbackend: {kind: scripted, fixture: FIXTURE}\n"
         "params:\n  layers: " + layers + "\n" + extra + "concurrency: 1\n";
}

std::vector<StepRecord> of_kind(const std::vector<StepRecord>& steps, const std::string& kind) {
  std::vector<StepRecord> out;
  for (const auto& s : steps)
    if (s.kind == kind) out.push_back(s);
  return out;
}

const std::string& user_message(const StepRecord& s) {
  REQUIRE_FALSE(s.prompt.empty());
  REQUIRE(s.prompt.back().role == "user");
  return s.prompt.back().content;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

bool same_prompt(const std::vector<troupe::memory::Message>& a, const std::vector<troupe::memory::Message>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].role != b[i].role || a[i].content != b[i].content) return false;
  return true;
}

// The notes of every orchestrator "layer" record, in order.
std::vector<std::string> notes(const std::vector<StepRecord>& steps) {
  std::vector<std::string> out;
  simdjson::dom::parser parser;
  for (const auto& s : of_kind(steps, "layer")) {
    simdjson::dom::element rec = parser.parse(s.completion);
    for (auto n : rec["notes"].get_array()) out.emplace_back(std::string_view(n.get_string()));
  }
  return out;
}

bool any_note(const std::vector<StepRecord>& steps, const std::string& part) {
  for (const auto& n : notes(steps))
    if (contains(n, part)) return true;
  return false;
}

// The role of a request, from its system prompt (built-in prompts).
std::string role_of(const troupe::engine::GenerateRequest& r) {
  std::string sys = r.messages.empty() ? "" : r.messages.front().content;
  if (contains(sys, "helpful assistant")) return "generator";
  if (contains(sys, "fuse multiple")) return "fuser";
  if (contains(sys, "critical evaluator")) return "critic";
  if (contains(sys, "ranking assistant")) return "ranker";
  if (contains(sys, "verification expert")) return "verifier";
  if (contains(sys, "write unit tests")) return "unit_test_generator";
  if (contains(sys, "check responses against unit tests")) return "unit_test_evaluator";
  return "?";
}

}  // namespace

// ---------------------------------------------------------------------------
// Parallel layers.

TEST_CASE("Archon: every call of a layer is issued before any returns, outputs merge in component order",
          "[archon]") {
  const char* fixture = R"(
rules:
  - {match: "fuse multiple answers", reply: "fused"}
  - {match: "helpful assistant", replies: ["one", "two", "three", "four"]}
)";
  Harness h;
  troupe::testing::write_file(h.dir.file("rules.yaml"), fixture);
  auto fx = troupe::engine::ScriptedBackend::load_fixture(h.dir.file("rules.yaml"));
  REQUIRE(fx.ok());
  auto inner = std::make_shared<troupe::engine::ScriptedBackend>(std::move(fx.value()));
  // Layer 1: three calls (a generator with 1 sample, one with 2, one with 1); layer 2: one.
  auto gate = std::make_shared<troupe::testing::GateBackend>(
      inner, std::vector<size_t>{3, 1}, [](const troupe::engine::GenerateRequest& r) {
        return role_of(r) + " " + (r.model.empty() ? "default" : r.model) + " n=" + std::to_string(r.sampling.n);
      });
  auto sum = h.run(workflow("[[{type: generator, model: m1}, {type: generator, model: m2, samples: 2}, "
                            "{type: generator, model: m3}], [{type: fuser}]]"),
                   fixture, {item("q", "Name a colour.")}, gate);
  REQUIRE(sum.ok());
  REQUIRE(h.outcome("q").status == "succeeded");
  // Each component asks its own model; the fuser asks the backend's default.
  CHECK(gate->log() == std::vector<std::string>{"ask generator m1 n=1", "ask generator m2 n=2", "ask generator m3 n=1",
                                                "reply generator m1 n=1", "reply generator m2 n=2",
                                                "reply generator m3 n=1", "ask fuser default n=1",
                                                "reply fuser default n=1"});
  auto steps = h.steps("q");
  auto gens = of_kind(steps, "generator");
  REQUIRE(gens.size() == 4);
  // The fuser lists the candidates in component order (m1, m2 x2, m3),
  // whatever order the replies were recorded in.
  auto fuser = of_kind(steps, "fuser");
  REQUIRE(fuser.size() == 1);
  const std::string& prompt = user_message(fuser[0]);
  auto at = [&](const std::string& s) { return prompt.find(s); };
  REQUIRE(at("[1] one") != std::string::npos);
  CHECK(at("[1] one") < at("[2] two"));
  CHECK(at("[2] two") < at("[3] three"));
  CHECK(at("[3] three") < at("[4] four"));
  CHECK(h.outcome("q").answer == "fused");
}

// ---------------------------------------------------------------------------
// Critiques: permuted by a ranker, dropped when a fuser rewrites candidates.

TEST_CASE("Archon: a ranker permutes critiques with the candidates, a fuser's output drops them", "[archon]") {
  const char* fixture = R"(
rules:
  - match: "critical evaluator"
    reply: "[1]\nStrengths:\n- crit-alpha\nWeaknesses:\n- none\n[2]\nStrengths:\n- crit-beta, better than [1]\nWeaknesses:\n- slow\n[3]\nStrengths:\n- crit-gamma\nWeaknesses:\n- long"
  - {match: "ranking assistant[\\s\\S]*Critique:", regex: true, reply: "Answer: [3] > [1] > [2]\nGamma is best."}
  - {match: "ranking assistant", reply: "Answer: [2] > [1]"}
  - {match: "fuse multiple answers", replies: ["fused-one", "fused-two"]}
  - {match: "helpful assistant", replies: ["alpha", "beta", "gamma"]}
)";
  Harness h;
  auto sum = h.run(workflow("[[{type: generator, samples: 3}], [{type: critic}], [{type: ranker, top_k: 2}], "
                            "[{type: fuser, samples: 2}], [{type: ranker, top_k: 1}]]"),
                   fixture, {item("q", "Pick a letter.")});
  REQUIRE(sum.ok());
  REQUIRE(h.outcome("q").status == "succeeded");
  auto steps = h.steps("q");
  std::vector<std::string> kinds;
  for (const auto& s : steps) kinds.push_back(s.kind);
  CHECK(kinds == std::vector<std::string>{"generator", "generator", "generator", "layer", "critic", "layer", "ranker",
                                          "layer", "fuser", "fuser", "layer", "ranker", "layer", "final"});
  // The critic saw the three candidates.
  CHECK(contains(user_message(steps[4]), "[1] alpha\n\n[2] beta\n\n[3] gamma"));
  CHECK(steps[4].parents == std::vector<uint64_t>{0, 1, 2});
  // The first ranker saw each candidate with its critique; a "[1]" inside a
  // critique stayed in that critique.
  const std::string& r1 = user_message(steps[6]);
  CHECK(contains(r1, "[1] alpha\nCritique: Strengths:\n- crit-alpha"));
  CHECK(contains(r1, "[2] beta\nCritique: Strengths:\n- crit-beta, better than [1]\nWeaknesses:\n- slow"));
  CHECK(steps[6].parents == std::vector<uint64_t>{0, 1, 2, 4});
  // The fuser got the top 2 in ranked order (gamma, alpha), each still with its own critique.
  const std::string& f = user_message(steps[8]);
  CHECK(contains(f, "[1] gamma\nCritique: Strengths:\n- crit-gamma"));
  CHECK(contains(f, "[2] alpha\nCritique: Strengths:\n- crit-alpha"));
  CHECK_FALSE(contains(f, "beta"));
  CHECK(steps[8].parents == std::vector<uint64_t>{2, 0, 4});
  // After the fuser the critiques were of candidates that are gone: the
  // second ranker sees the fused candidates and no critique at all.
  const std::string& r2 = user_message(steps[11]);
  CHECK(contains(r2, "[1] fused-one\n\n[2] fused-two"));
  CHECK_FALSE(contains(r2, "Critique:"));
  CHECK(steps[11].parents == std::vector<uint64_t>{8, 9});
  CHECK(any_note(steps, "critiques dropped: the candidates were rewritten by fuser"));
  CHECK(h.outcome("q").answer == "fused-two");
  // Ranker pairs: kept over dropped (gamma, alpha over beta), then fused-two over fused-one.
  auto pairs = h.pairs_of("q");
  std::set<std::pair<uint64_t, uint64_t>> got;
  for (const auto& p : pairs) got.insert({p.source_steps[0], p.source_steps[1]});
  CHECK(got == std::set<std::pair<uint64_t, uint64_t>>{{2, 1}, {0, 1}, {9, 8}});
}

TEST_CASE("Archon: a critic whose critiques do not match the candidates is asked again", "[archon]") {
  const char* fixture = R"(
rules:
  - match: "critical evaluator"
    replies: ["[1]\nStrengths:\n- only one\nWeaknesses:\n- x", "[1]\nStrengths:\n- a\nWeaknesses:\n- b\n[2]\nStrengths:\n- c\nWeaknesses:\n- d"]
  - {match: "fuse multiple answers", reply: "fused"}
  - {match: "helpful assistant", replies: ["alpha", "beta"]}
)";
  Harness h;
  REQUIRE(h.run(workflow("[[{type: generator, samples: 2}], [{type: critic}], [{type: fuser}]]"), fixture,
                {item("q", "Q?")})
              .ok());
  auto steps = h.steps("q");
  auto critic = of_kind(steps, "critic");
  REQUIRE(critic.size() == 2);
  CHECK(same_prompt(critic[0].prompt, critic[1].prompt));
  auto fuser = of_kind(steps, "fuser");
  REQUIRE(fuser.size() == 1);
  CHECK(contains(user_message(fuser[0]), "[1] alpha\nCritique: Strengths:\n- a\nWeaknesses:\n- b\n\n[2] beta\nCritique: Strengths:\n- c"));
}

TEST_CASE("Archon: critic retries are capped by parse_retries, then the critiques are left unwritten", "[archon]") {
  const char* fixture = R"(
rules:
  - {match: "critical evaluator", reply: "no brackets here"}
  - {match: "fuse multiple answers", reply: "fused"}
  - {match: "helpful assistant", replies: ["alpha", "beta"]}
)";
  Harness h;
  REQUIRE(h.run(workflow("[[{type: generator, samples: 2}], [{type: critic}], [{type: fuser}]]",
                         "  parse_retries: 2\n"),
                fixture, {item("q", "Q?")})
              .ok());
  auto steps = h.steps("q");
  CHECK(of_kind(steps, "critic").size() == 3);
  CHECK_FALSE(contains(user_message(of_kind(steps, "fuser").at(0)), "Critique:"));
  CHECK(any_note(steps, "found 0 critiques for 2 candidates after 3 attempts"));
}

// ---------------------------------------------------------------------------
// Ranker repair.

TEST_CASE("Archon ranker output is repaired: ranges, repeats, out-of-range and missing indices", "[archon]") {
  using troupe::workflows::archon::parse_ranking;
  auto order = [](const char* text, size_t n) { return parse_ranking(text, n).order; };
  using V = std::vector<size_t>;
  CHECK(order("Answer: [4] > [2] > [1] > [3]", 4) == V{3, 1, 0, 2});
  CHECK(order("Answer: [1]-[3] > [5]", 5) == V{0, 1, 2, 4, 3});
  CHECK(order("Answer: [1-3]", 4) == V{0, 1, 2, 3});
  CHECK(order("Answer: [3-1] > [4]", 4) == V{2, 1, 0, 3});
  CHECK(order("Answer: [2] > [2] > [9] > [0] > [1]", 3) == V{1, 0, 2});
  CHECK(order("Answer: [2]", 4) == V{1, 0, 2, 3});
  // The first line holding an index decides; later lines are explanation.
  CHECK(order("Here is my ranking.\nAnswer: [2] > [1]\nbecause [1] is wrong", 2) == V{1, 0});
  auto none = parse_ranking("I cannot rank these.", 3);
  CHECK_FALSE(none.parsed);
  CHECK(none.order == V{0, 1, 2});
  CHECK(none.repairs.empty());
  auto fixed = parse_ranking("Answer: [2] > [2] > [7]", 3);
  CHECK(fixed.repairs == std::vector<std::string>{"dropped repeated [2]", "dropped out-of-range [7]",
                                                  "appended missing [1]", "appended missing [3]"});
  // "->" is an arrow, not a range.
  CHECK(order("Answer: [3] -> [1] -> [2]", 3) == V{2, 0, 1});
}

TEST_CASE("Archon: a repaired ranking orders the next layer and is noted", "[archon]") {
  const char* fixture = R"(
rules:
  - {match: "ranking assistant", reply: "Answer: [3-2] > [3] > [9]\nexplanation"}
  - {match: "fuse multiple answers", reply: "fused"}
  - {match: "helpful assistant", replies: ["a1", "a2", "a3", "a4"]}
)";
  Harness h;
  REQUIRE(h.run(workflow("[[{type: generator, samples: 4}], [{type: ranker}], [{type: fuser}]]"), fixture,
                {item("q", "Q?")})
              .ok());
  auto steps = h.steps("q");
  CHECK(contains(user_message(of_kind(steps, "fuser").at(0)), "[1] a3\n\n[2] a2\n\n[3] a1\n\n[4] a4"));
  CHECK(any_note(steps, "ranking repaired: expanded range [3-2]; dropped repeated [3]; dropped out-of-range [9]; "
                        "appended missing [1]; appended missing [4]"));
}

// ---------------------------------------------------------------------------
// Verifier.

namespace {
const char* kVerifierRules = R"(
  - {match: "Reasoning about the response:[\\s\\S]*reasoning-bad", regex: true, replies: ["hmm, unsure", "It is wrong.\n[Incorrect]"]}
  - {match: "Reasoning about the response:[\\s\\S]*reasoning-good", regex: true, reply: "It holds.\n[Correct]"}
  - {match: "Response:\nbad", reply: "reasoning-bad"}
  - {match: "Response:\ngood", reply: "reasoning-good"}
  - {match: "fuse multiple answers", reply: "fused"}
)";
}

TEST_CASE("Archon verifier: reasoning then verdict per candidate, [Correct] ones are kept", "[archon]") {
  std::string fixture = std::string("rules:") + kVerifierRules +
                        "  - {match: \"helpful assistant\", replies: [\"good A\", \"bad B\", \"good C\"]}\n";
  Harness h;
  REQUIRE(h.run(workflow("[[{type: generator, samples: 3}], [{type: verifier}], [{type: fuser}]]"), fixture,
                {item("q", "Q?")})
              .ok());
  auto steps = h.steps("q");
  auto reasoning = of_kind(steps, "verifier_reasoning");
  auto verdicts = of_kind(steps, "verifier");
  REQUIRE(reasoning.size() == 3);
  REQUIRE(verdicts.size() == 4);  // "bad B"'s verdict had no tag and was asked again
  for (size_t i = 0; i < 3; ++i) CHECK(reasoning[i].parents == std::vector<uint64_t>{i});
  for (const auto& v : verdicts) {
    REQUIRE(v.parents.size() == 2);
    const StepRecord& r = steps.at(v.parents[1]);
    CHECK(r.kind == "verifier_reasoning");
    CHECK(r.parents == std::vector<uint64_t>{v.parents[0]});
    CHECK(contains(user_message(v), "Reasoning about the response:\n" + r.completion));
  }
  CHECK(contains(reasoning[0].prompt.front().content, "verification expert"));
  const std::string f = user_message(of_kind(steps, "fuser").at(0));
  CHECK(contains(f, "[1] good A\n\n[2] good C"));
  CHECK_FALSE(contains(f, "bad B"));
  // [Correct] over [Incorrect], as pairs over the generator's prompt.
  auto pairs = h.pairs_of("q");
  std::set<std::pair<uint64_t, uint64_t>> got;
  for (const auto& p : pairs) {
    got.insert({p.source_steps[0], p.source_steps[1]});
    CHECK(same_prompt(p.prompt, steps[0].prompt));
  }
  CHECK(got == std::set<std::pair<uint64_t, uint64_t>>{{0, 1}, {2, 1}});
}

TEST_CASE("Archon verifier: when none passes, all candidates pass through with a note", "[archon]") {
  std::string fixture = std::string("rules:") + kVerifierRules +
                        "  - {match: \"helpful assistant\", replies: [\"bad A\", \"bad B\"]}\n";
  Harness h;
  REQUIRE(h.run(workflow("[[{type: generator, samples: 2}], [{type: verifier}], [{type: fuser}]]"), fixture,
                {item("q", "Q?")})
              .ok());
  auto steps = h.steps("q");
  CHECK(contains(user_message(of_kind(steps, "fuser").at(0)), "[1] bad A\n\n[2] bad B"));
  CHECK(any_note(steps, "no candidate was judged [Correct]; all 2 pass through"));
  CHECK(h.pairs_of("q").empty());
}

TEST_CASE("Archon verifier: first_k checks candidates in order and stops after k pass", "[archon]") {
  std::string fixture = std::string("rules:") + kVerifierRules +
                        "  - {match: \"helpful assistant\", replies: [\"bad A\", \"good B\", \"good C\"]}\n";
  Harness h;
  REQUIRE(h.run(workflow("[[{type: generator, samples: 3}], [{type: verifier, first_k: 1}], [{type: fuser}]]"),
                fixture, {item("q", "Q?")})
              .ok());
  auto steps = h.steps("q");
  auto reasoning = of_kind(steps, "verifier_reasoning");
  REQUIRE(reasoning.size() == 2);  // bad A (rejected), good B (passes: stop)
  CHECK(reasoning[0].parents == std::vector<uint64_t>{0});
  CHECK(reasoning[1].parents == std::vector<uint64_t>{1});
  const std::string f = user_message(of_kind(steps, "fuser").at(0));
  CHECK(contains(f, "[1] good B"));
  CHECK_FALSE(contains(f, "good C"));
  CHECK(h.outcome("q").answer == "fused");
}

// ---------------------------------------------------------------------------
// Unit tests.

TEST_CASE("Archon unit tests reach generators per call, the question itself is never altered", "[archon]") {
  const char* fixture = R"(
rules:
  - {match: "write unit tests", reply: "Here: [\"The response names a prime\", 'The response is one word', \"Extra\"]"}
  - {match: "Response:\n7", reply: "Both hold.\nUnit Test #1: [Passed]\nUnit Test #2: [Passed]"}
  - {match: "Response:\nnine", reply: "Unit Test #1: [Failed]\nUnit Test #2: [Passed]"}
  - {match: "helpful assistant", replies: ["nine", "7"]}
)";
  Harness h;
  REQUIRE(h.run(workflow("[[{type: unit_test_generator, unit_test_cap: 2}], [{type: generator, samples: 2}], "
                         "[{type: unit_test_evaluator, top_k: 1}]]"),
                fixture, {item("q", "Name a prime.")})
              .ok());
  auto steps = h.steps("q");
  auto utg = of_kind(steps, "unit_test_generator");
  REQUIRE(utg.size() == 1);
  auto gens = of_kind(steps, "generator");
  REQUIRE(gens.size() == 2);
  CHECK(user_message(gens[0]) ==
        "Name a prime.\n\nYour response should pass the following unit tests:\n- The response names a prime\n"
        "- The response is one word");
  CHECK(gens[0].parents == std::vector<uint64_t>{utg[0].seq});
  auto evals = of_kind(steps, "unit_test_evaluator");
  REQUIRE(evals.size() == 2);
  for (const auto& e : evals) {
    // The query is the question as given: the tests are listed once, on their own.
    CHECK(user_message(e).rfind("Query:\nName a prime.\n\nResponse:\n", 0) == 0);
    CHECK(contains(user_message(e), "Unit tests:\n1. The response names a prime\n2. The response is one word\n"));
  }
  CHECK(evals[0].parents == std::vector<uint64_t>{gens[0].seq, utg[0].seq});
  CHECK(any_note(steps, "kept the first 2 of 3 unit tests"));
  CHECK(any_note(steps, "unit tests passed: [1] 1/2, [2] 2/2"));
  CHECK(h.outcome("q").answer == "7");
}

TEST_CASE("Archon unit_test_evaluator: missing results are asked again, first_pass stops at the first full pass",
          "[archon]") {
  const char* fixture = R"(
rules:
  - {match: "write unit tests", replies: ["no list", "[\"T1\", \"T2\"]"]}
  - {match: "Response:\nr1", reply: "Unit Test #1: [Passed]\nUnit Test #2: [Failed]"}
  - {match: "Response:\nr2", replies: ["Unit Test #1: [Passed]", "Unit Test #1: [Passed]\nUnit Test #2: [Passed]"]}
  - {match: "Response:\nr3", reply: "Unit Test #1: [Passed]\nUnit Test #2: [Passed]"}
  - {match: "helpful assistant", replies: ["r1", "r2", "r3"]}
)";
  Harness h;
  REQUIRE(h.run(workflow("[[{type: unit_test_generator}], [{type: generator, samples: 3}], "
                         "[{type: unit_test_evaluator, first_pass: true}]]"),
                fixture, {item("q", "Q?")})
              .ok());
  auto steps = h.steps("q");
  CHECK(of_kind(steps, "unit_test_generator").size() == 2);
  auto evals = of_kind(steps, "unit_test_evaluator");
  REQUIRE(evals.size() == 3);  // r1, r2 (asked twice); r3 never checked
  CHECK(evals[0].parents.front() == of_kind(steps, "generator")[0].seq);
  CHECK(same_prompt(evals[1].prompt, evals[2].prompt));
  CHECK(h.outcome("q").answer == "r2");
}

// ---------------------------------------------------------------------------
// The final choice, budgets, errors.

TEST_CASE("Archon: several final candidates -> a seeded choice, the same on every replay, recorded", "[archon]") {
  const char* fixture = R"(
rules:
  - {match: "helpful assistant", replies: ["c1", "c2", "c3", "c4"]}
)";
  std::string wf = workflow("[[{type: generator, samples: 4}]]", "  seed: 7\n");
  std::vector<troupe::actors::RunInput> items;
  for (const char* id : {"a", "b", "c", "d", "e", "f", "g", "h"}) items.push_back(item(id, "Q?"));
  Harness h1, h2;
  REQUIRE(h1.run(wf, fixture, items).ok());
  REQUIRE(h2.run(wf, fixture, items).ok());
  std::set<std::string> answers;
  simdjson::dom::parser parser;
  for (const auto& in : items) {
    CHECK(h1.outcome(in.item_id).answer == h2.outcome(in.item_id).answer);
    answers.insert(h1.outcome(in.item_id).answer);
    auto steps = h1.steps(in.item_id);
    auto final = of_kind(steps, "final");
    REQUIRE(final.size() == 1);
    simdjson::dom::element rec = parser.parse(final[0].completion);
    CHECK(int64_t(rec["seed"]) == 7);
    CHECK(uint64_t(rec["candidates"]) == 4);
    uint64_t chosen_step = rec["chosen_step"];
    CHECK(final[0].parents == std::vector<uint64_t>{chosen_step});
    CHECK(steps[chosen_step].completion == h1.outcome(in.item_id).answer);
    CHECK(final[0].answer == h1.outcome(in.item_id).answer);
  }
  CHECK(answers.size() > 1);  // the choice depends on the item, not a constant
}

TEST_CASE("Archon: more than warn_candidates candidates is noted", "[archon]") {
  const char* fixture = "rules:\n  - {match: \"helpful assistant\", reply: \"x\"}\n";
  Harness h;
  REQUIRE(h.run(workflow("[[{type: generator, samples: 3}]]", "  warn_candidates: 2\n"), fixture, {item("q", "Q?")})
              .ok());
  CHECK(any_note(h.steps("q"), "warning: 3 candidates (more than 2)"));
}

TEST_CASE("Archon: a call budget ends the run with a candidate of the last complete layer", "[archon][budget]") {
  const char* fixture = R"(
rules:
  - {match: "critical evaluator", reply: "[1]\nStrengths:\n- a\nWeaknesses:\n- b"}
  - {match: "helpful assistant", reply: "only"}
)";
  Harness h;
  REQUIRE(h.run(workflow("[[{type: generator}], [{type: critic}], [{type: fuser}]]") + "budget: {max_calls: 2}\n",
                fixture, {item("q", "Q?")})
              .ok());
  CHECK(h.outcome("q").status == "succeeded");
  CHECK(h.outcome("q").answer == "only");
  CHECK(of_kind(h.steps("q"), "fuser").empty());
}

TEST_CASE("Archon: a backend error fails the run with the role named", "[archon][errors]") {
  const char* fixture = R"(
rules:
  - {match: "fuse multiple answers", error: {status: 503, message: "fuser model is down"}}
  - {match: "helpful assistant", reply: "x"}
)";
  Harness h;
  REQUIRE(h.run(workflow("[[{type: generator}], [{type: fuser}]]"), fixture, {item("q", "Q?")}).ok());
  CHECK(h.outcome("q").status == "failed");
  CHECK(contains(h.outcome("q").error, "fuser model is down"));
}

// ---------------------------------------------------------------------------
// Config parsing.

namespace {
std::string config_error(const std::string& json) {
  auto c = parse_archon_json(json, "cfg.json");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == troupe::ErrorCode::parse);
  return c.error().message;
}
}  // namespace

TEST_CASE("Archon JSON config errors name the layer, component and key", "[archon]") {
  CHECK(config_error("{\"layers\": [[{\"type\": \"generator\"}], [{\"type\": \"ranker\", \"top_k\": \"five\"}]]}") ==
        "cfg.json: layer 2, component 1 (ranker), key 'top_k': expected an integer, got \"five\"");
  CHECK(config_error("{\"layers\": [[{\"type\": \"generator\"}, {\"type\": \"fuserr\"}]]}") ==
        "cfg.json: layer 1, component 2, key 'type': unknown component type \"fuserr\"; known: generator, critic, "
        "ranker, fuser, verifier, unit_test_generator, unit_test_evaluator");
  CHECK(config_error("{\"layers\": [[{\"type\": \"generator\", \"samples\": 0}]]}") ==
        "cfg.json: layer 1, component 1 (generator), key 'samples': must be at least 1, got 0");
  CHECK(config_error("{\"layers\": [[{\"type\": \"generator\", \"temperature\": -1}]]}") ==
        "cfg.json: layer 1, component 1 (generator), key 'temperature': must not be negative, got -1");
  CHECK(config_error("{\"layers\": [[{\"type\": \"generator\", \"no_system\": \"yes\"}]]}") ==
        "cfg.json: layer 1, component 1 (generator), key 'no_system': expected true or false, got \"yes\"");
  CHECK(config_error("{\"layers\": [[{\"model\": \"m\"}]]}") ==
        "cfg.json: layer 1, component 1: missing key 'type' (one of generator, critic, ranker, fuser, verifier, "
        "unit_test_generator, unit_test_evaluator)");
  CHECK(config_error("{\"layers\": [[{\"type\": \"generator\"}], []]}") ==
        "cfg.json: layer 2: a layer needs at least one component");
  CHECK(config_error("{\"layers\": [{\"type\": \"generator\"}]}") ==
        "cfg.json: layer 1: expected a list of components, got an object");
  CHECK(config_error("{\"name\": \"x\"}") ==
        "cfg.json: missing key 'layers' (a list of layers, each a list of components)");
  CHECK(config_error("{\"layers\": [[{\"type\": \"critic\"}]]}") ==
        "cfg.json: layer 1, component 1 (critic): has no candidates to read: put a generator in an earlier layer");
  CHECK(config_error("[[{\"type\": \"generator\"}], [{\"type\": \"unit_test_evaluator\"}]]") ==
        "cfg.json: layer 2, component 1 (unit_test_evaluator): has no unit tests to check: put a unit_test_generator "
        "in an earlier layer");
  CHECK(contains(config_error("{\"layers\": [[{\"type\": \"generator\"}]"), "cfg.json: not valid JSON"));
  // Unknown keys are ignored, as Archon does; a bare list of layers is accepted.
  auto ok = parse_archon_json("[[{\"type\": \"generator\", \"ranker_batch_size\": 16}]]", "cfg.json");
  REQUIRE(ok.ok());
  CHECK(ok->layers.size() == 1);
}

TEST_CASE("Archon JSON config round-trips through archon_config_json", "[archon]") {
  ArchonConfig c;
  c.name = "every field";
  ArchonComponent g;
  g.type = "generator";
  g.model = "m \"quoted\"";
  g.model_type = "vLLM";
  g.temperature = 0.7;
  g.max_tokens = 2048;
  g.samples = 3;
  g.no_system = true;
  ArchonComponent u;
  u.type = "unit_test_generator";
  u.unit_test_cap = 10;
  ArchonComponent e;
  e.type = "unit_test_evaluator";
  e.top_k = 2;
  e.first_k = 1;
  e.first_pass = true;
  e.remove_unit_tests_from_prompt = true;
  e.temperature = 0.0;
  ArchonComponent f;
  f.type = "fuser";
  f.length_control = true;
  f.use_critiques = false;
  c.layers = {{u, g}, {e}, {f}};
  auto back = parse_archon_json(archon_config_json(c), "round trip");
  REQUIRE(back.ok());
  CHECK(*back == c);
  // And every reference layout: parse -> write -> parse is the identity.
  for (const auto& entry : fs::directory_iterator(std::string(TROUPE_SOURCE_DIR) + "/examples/archon")) {
    INFO(entry.path());
    auto first = parse_archon_json(read_file(entry.path().string()), entry.path().string());
    REQUIRE(first.ok());
    auto second = parse_archon_json(archon_config_json(*first), "again");
    REQUIRE(second.ok());
    CHECK(*second == *first);
  }
}

TEST_CASE("Archon workflow params: config or layers, with errors naming the file and key", "[archon]") {
  Harness h;
  const char* fixture = "rules:\n  - {match: \"x\", reply: \"x\"}\n";
  auto err = [&](const std::string& wf) {
    auto r = h.run(wf, fixture, {});
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  };
  CHECK(contains(err("pipeline: archon\nbackend: {kind: scripted, fixture: FIXTURE}\n"),
                 "pipeline 'archon' needs params.config (an Archon JSON file) or params.layers (inline)"));
  std::string bad = err(workflow("[[{type: generator}], [{type: ranker, top_k: -1}]]"));
  CHECK(contains(bad, "wf.yaml:5:11: params.layers: layer 2, component 1 (ranker), key 'top_k': must be at least 0"));
  CHECK(contains(err("pipeline: archon\nbackend: {kind: scripted, fixture: FIXTURE}\nparams: {config: nope.json}\n"),
                 "params.config: cannot open "));
  CHECK(contains(err(workflow("[[{type: generator}]]") + "roles: {orchestrator: {system: hi}}\n"),
                 "roles.orchestrator: the orchestrator is not a model"));
  CHECK(contains(err(workflow("[[{type: unit_test_generator}], [{type: generator}]]") +
                     "roles: {generator: {template: \"{question}\"}}\n"),
                 "roles.generator.template has no {unit_tests}, but the config has a unit_test_generator"));
  troupe::testing::write_file(h.dir.file("bad.json"), "{\"layers\": [[{\"type\": \"generator\", \"samples\": 1.5}]]}");
  CHECK(contains(err("pipeline: archon\nbackend: {kind: scripted, fixture: FIXTURE}\nparams: {config: bad.json}\n"),
                 "bad.json: layer 1, component 1 (generator), key 'samples': expected an integer, got 1.5"));
}

// ---------------------------------------------------------------------------
// The reference layouts (examples/archon/*.json) run end to end.

TEST_CASE("Archon: the reference layouts load and run on the scripted backend", "[archon]") {
  // One rule per role, in the shapes the parsers expect; the critic answers
  // for 5 candidates (70Bx8, after the top-5 ranker) or 10 (quickstart).
  std::string crit5, crit10;
  for (int i = 1; i <= 10; ++i) {
    std::string c = "[" + std::to_string(i) + "]\\nStrengths:\\n- s\\nWeaknesses:\\n- w\\n";
    if (i <= 5) crit5 += c;
    crit10 += c;
  }
  std::string fixture = "rules:\n"
                        "  - {match: \"critical evaluator[\\\\s\\\\S]*\\\\[10\\\\] \", regex: true, reply: \"" + crit10 + "\"}\n"
                        "  - {match: \"critical evaluator\", reply: \"" + crit5 + "\"}\n"
                        "  - {match: \"ranking assistant\", reply: \"Answer: [2] > [1]\"}\n"
                        "  - {match: \"fuse multiple answers\", reply: \"fused\"}\n"
                        "  - {match: \"Reasoning about the response\", reply: \"ok\\n[Correct]\"}\n"
                        "  - {match: \"verification expert\", reply: \"reasons\"}\n"
                        "  - {match: \"write unit tests\", reply: \"['a', 'b', 'c', 'd', 'e']\"}\n"
                        "  - {match: \"check responses against unit tests\", reply: \"Unit Test #1: [Passed]\\nUnit Test #2: [Passed]\\nUnit Test #3: [Passed]\\nUnit Test #4: [Passed]\\nUnit Test #5: [Failed]\"}\n"
                        "  - {match: \"helpful assistant\", replies: [\"g1\", \"g2\", \"g3\"]}\n";
  struct Layout {
    const char* file;
    std::map<std::string, size_t> steps;  // by kind
    std::string answer;
  };
  std::vector<Layout> layouts = {
      {"70Bx8-rank-critic-fuser.json",
       {{"generator", 8}, {"ranker", 1}, {"critic", 1}, {"fuser", 1}, {"layer", 4}, {"final", 1}}, "fused"},
      {"moa-6-6-6-1.json", {{"generator", 6}, {"fuser", 13}, {"layer", 4}, {"final", 1}}, "fused"},
      {"code-unit-tests.json",
       {{"unit_test_generator", 1}, {"generator", 6}, {"unit_test_evaluator", 6}, {"layer", 3}, {"final", 1}}, "g1"},
      {"verifier-fuser.json",
       {{"generator", 8}, {"verifier_reasoning", 8}, {"verifier", 8}, {"fuser", 1}, {"layer", 3}, {"final", 1}},
       "fused"},
      {"quickstart-advanced.json",
       {{"generator", 10}, {"critic", 1}, {"fuser", 11}, {"ranker", 1}, {"layer", 5}, {"final", 1}}, "fused"},
  };
  for (const auto& layout : layouts) {
    INFO(layout.file);
    Harness h;
    std::string wf = "name: ref\npipeline: archon\nbackend: {kind: scripted, fixture: FIXTURE}\nparams: {config: " +
                     std::string(TROUPE_SOURCE_DIR) + "/examples/archon/" + layout.file + "}\n";
    auto sum = h.run(wf, fixture, {item("q", "Write a haiku.")});
    REQUIRE(sum.ok());
    REQUIRE(h.outcome("q").status == "succeeded");
    auto steps = h.steps("q");
    std::map<std::string, size_t> kinds;
    for (const auto& s : steps) kinds[s.kind] += 1;
    CHECK(kinds == layout.steps);
    CHECK(h.outcome("q").answer == layout.answer);
    CHECK(notes(steps).size() <= 3);  // no retries or drops beyond the expected ranker repair
    for (const auto& n : notes(steps)) CHECK((contains(n, "ranking repaired") || contains(n, "unit tests passed") ||
                                             contains(n, "critiques dropped")));
  }
}

TEST_CASE("examples/archon.yaml loads and runs on its scripted fixture", "[archon]") {
  auto wf = load_workflow(std::string(TROUPE_SOURCE_DIR) + "/examples/archon.yaml");
  REQUIRE(wf.ok());
  auto factory = make_pipeline_factory(*wf);
  REQUIRE(factory.ok());
  Harness h;
  troupe::workflows::RunnerOptions opts;
  opts.store = h.store;
  auto runner = troupe::workflows::Runner::create(std::move(wf.value()), opts);
  REQUIRE(runner.ok());
  troupe::workflows::VectorInputs inputs({item("p", "What is 6 * 7?", "42")});
  std::vector<troupe::actors::RunOutcome> outs;
  auto sum = (*runner)->run(inputs, [&](const troupe::actors::RunOutcome& o, const troupe::workflows::RunSummary&) {
    outs.push_back(o);
  });
  REQUIRE(sum.ok());
  REQUIRE(outs.size() == 1);
  CHECK(outs[0].status == "succeeded");
  CHECK(outs[0].answer == "42");
  CHECK(outs[0].correct == 1);
}

// ---------------------------------------------------------------------------
// Properties of the readers over arbitrary text (a fixed-seed generator of
// the characters they care about).

TEST_CASE("Archon readers: any text gives a full ranking, critiques with strengths, one result per test",
          "[archon]") {
  using namespace troupe::workflows::archon;
  const std::vector<std::string> atoms = {"[", "]", "-", " > ", "1", "2", "3", "9", "10", "\n", "Answer: ",
                                          "Strengths:", "Weaknesses:", "Unit Test #", ": ", "[Passed]", "[Failed]",
                                          "[Correct]", "[Incorrect]", "'", "\"", "\\", "x"};
  std::mt19937 rng(1234);
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    int len = static_cast<int>(rng() % 40);
    for (int k = 0; k < len; ++k) text += atoms[rng() % atoms.size()];
    INFO(text);
    size_t n = rng() % 12;
    auto r = parse_ranking(text, n);
    std::vector<size_t> sorted = r.order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<size_t> all(n);
    for (size_t k = 0; k < n; ++k) all[k] = k;
    REQUIRE(sorted == all);
    for (const auto& c : split_critiques(text)) {
      std::string lower = c;
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      REQUIRE(lower.find("strengths:") != std::string::npos);
    }
    REQUIRE(parse_unit_test_results(text, n).size() == n);
    int v = parse_verdict_tag(text);
    REQUIRE((v >= -1 && v <= 1));
    for (const auto& t : parse_unit_tests(text)) REQUIRE_FALSE(t.empty());
  }
}

TEST_CASE("Archon JSON: damaged configs are errors naming the source, never crashes", "[archon]") {
  std::string good = read_file(std::string(TROUPE_SOURCE_DIR) + "/examples/archon/quickstart-advanced.json");
  std::mt19937 rng(99);
  const std::string noise = "[]{}\":,0-1.5etrufalsn x";
  for (int round = 0; round < 500; ++round) {
    std::string text = good;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      size_t at = rng() % text.size();
      if (rng() % 2) text[at] = noise[rng() % noise.size()];
      else text.erase(at, 1 + rng() % 8);
    }
    auto c = parse_archon_json(text, "cfg.json");
    if (!c.ok()) REQUIRE(c.error().message.rfind("cfg.json: ", 0) == 0);
    else REQUIRE(parse_archon_json(archon_config_json(*c), "again").ok());
  }
}
