// LINC traces on the scripted backend with the real E prover: K
// translations, a prover step per translation (parse result, both SZS
// statuses, label), the majority vote, labels and preference pairs; and a
// prover that is missing or hangs.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>

#include "prover_bridge/prover.hpp"
#include "spoc_harness.hpp"

using troupe::testing::Harness;
using troupe::testing::read_file;

namespace {

const char* kWorkflow = R"(
name: linc-test
pipeline: linc
backend: {kind: scripted, fixture: FIXTURE}
params: {samples: 5, cpu_limit_s: 1, prover_jobs: 2, prover: PROVER}
concurrency: 4
)";

std::string workflow(const std::string& prover = "eprover") {
  std::string text = kWorkflow;
  text.replace(text.find("PROVER"), 6, prover);
  return text;
}

std::string fixture() { return read_file(std::string(TROUPE_SOURCE_DIR) + "/examples/fixtures/linc-demo.yaml"); }

troupe::actors::RunInput linc_item(std::string id, std::string premises_json, std::string conclusion, std::string gold) {
  troupe::actors::RunInput in;
  in.item_id = id;
  in.question = conclusion;
  in.gold = gold;
  in.raw_json = "{\"id\":\"" + id + "\",\"premises\":" + premises_json + "}";
  return in;
}

std::vector<troupe::actors::RunInput> demo_items() {
  return {linc_item("birds", R"(["All birds that are not injured can fly.", "Tweety is a bird.", "Tweety is not injured."])",
                    "Tweety can fly.", "True"),
          linc_item("penguin", R"(["No penguin can fly.", "Pingu is a penguin."])", "Pingu can fly.", "False"),
          linc_item("chess",
                    R"(["Every member of the chess club is a student.", "Some students play the piano.", "Lena is a member of the chess club."])",
                    "Lena plays the piano.", "Uncertain"),
          linc_item("moon", R"(["The moon orbits the earth."])", "The moon is made of cheese.", "False")};
}

bool have_eprover() { return troupe::prover::check_eprover("eprover").ok(); }

#define REQUIRE_EPROVER()                                                   \
  if (!have_eprover()) {                                                    \
    WARN("eprover not installed: skipped (sudo apt-get install eprover)"); \
    return;                                                                 \
  }

}  // namespace

TEST_CASE("LINC: majority over non-Error labels, ties to the first seen, all Error -> Error", "[linc][eprover]") {
  REQUIRE_EPROVER();
  Harness h;
  auto sum = h.run(workflow(), fixture(), demo_items());
  REQUIRE(sum.ok());
  CHECK(sum->items == 4);
  CHECK(sum->succeeded == 4);
  CHECK(h.outcome("birds").answer == "True");       // True x4 (one after a repaired bracket slip), Uncertain
  CHECK(h.outcome("penguin").answer == "False");    // False x5
  CHECK(h.outcome("chess").answer == "Uncertain");  // Uncertain x2, True x2, Error: the first seen wins
  CHECK(h.outcome("moon").answer == "Error");       // no FOL at all
  CHECK(h.outcome("birds").correct == 1);
  CHECK(h.outcome("chess").correct == 1);
  CHECK(h.outcome("moon").correct == 0);
  CHECK(sum->correct == 3);
}

TEST_CASE("LINC trajectory: every translation, then its parse result, both SZS statuses and its label", "[linc][eprover]") {
  REQUIRE_EPROVER();
  Harness h;
  REQUIRE(h.run(workflow(), fixture(), demo_items()).ok());
  auto steps = h.steps("birds");
  REQUIRE(steps.size() == 10);
  for (size_t i = 0; i < 5; ++i) {
    CHECK(steps[i].role == "translator");
    CHECK(steps[i].kind == "translation");
    CHECK(steps[i].prompt.back().content.find("<PREMISES>\nAll birds that are not injured can fly.") != std::string::npos);
  }
  CHECK(steps[0].completion.find("FOL:\tCanFly(Tweety)") != std::string::npos);
  std::map<uint64_t, const troupe::memory::StepRecord*> proof_of;
  for (size_t i = 5; i < 10; ++i) {
    CHECK(steps[i].role == "prover");
    CHECK(steps[i].kind == "proof");
    REQUIRE(steps[i].parents.size() == 1);
    proof_of[steps[i].parents[0]] = &steps[i];
  }
  REQUIRE(proof_of.size() == 5);
  // Sample 0: parsed, proved.
  CHECK(proof_of[0]->answer == "True");
  CHECK(proof_of[0]->prompt.at(0).content == steps[0].completion);
  CHECK(proof_of[0]->completion.find("\"conclusion\":\"CanFly(Tweety)\"") != std::string::npos);
  CHECK(proof_of[0]->completion.find("\"szs\":[\"Theorem\",\"CounterSatisfiable\"]") != std::string::npos);
  CHECK(proof_of[0]->completion.find("fof(goal, conjecture, canFly(tweety))") != std::string::npos);
  // Sample 2: a bracket slip at the end, repaired and recorded; the FOL as
  // the model wrote it stays in "fol".
  CHECK(proof_of[2]->answer == "True");
  CHECK(proof_of[2]->completion.find("\"premises\":[\"all x. (Bird(x) & -Injured(x) -> CanFly(x)\",") != std::string::npos);
  CHECK(proof_of[2]->completion.find("\"repairs\":[{\"kind\":\"parens\",\"symbol\":\"\",\"where\":\"premise 1\","
                                     "\"detail\":\"1 missing ')' appended at the end\"}]") != std::string::npos);
  CHECK(proof_of[2]->completion.find("\"repaired\":{\"premises\":[\"all x. (Bird(x) & -Injured(x) -> CanFly(x))\",") !=
        std::string::npos);
  CHECK(proof_of[0]->completion.find("\"repairs\"") == std::string::npos);  // clean: nothing repaired
  // Sample 3: a premise left out.
  CHECK(proof_of[3]->answer == "Uncertain");
  CHECK(proof_of[3]->completion.find("\"szs\":[\"CounterSatisfiable\",\"CounterSatisfiable\"]") != std::string::npos);
  // The moon: no FOL lines.
  auto moon = h.steps("moon");
  REQUIRE(moon.size() == 10);
  for (size_t i = 5; i < 10; ++i) {
    CHECK(moon[i].answer == "Error");
    CHECK(moon[i].completion.find("the translation has no 'FOL:' line") != std::string::npos);
  }
}

TEST_CASE("LINC with gold: translations whose label matches gold are chosen over wrong or errored ones", "[linc][eprover]") {
  REQUIRE_EPROVER();
  Harness h;
  REQUIRE(h.run(workflow(), fixture(), demo_items()).ok());
  auto steps = h.steps("birds");
  REQUIRE(steps.size() == 10);
  CHECK(steps[0].label == std::optional<bool>(true));
  CHECK(steps[1].label == std::optional<bool>(true));
  CHECK(steps[2].label == std::optional<bool>(true));  // its bracket slip was repaired
  CHECK(steps[3].label == std::optional<bool>(false));
  CHECK(steps[4].label == std::optional<bool>(true));
  auto pairs = h.pairs_of("birds");
  REQUIRE(pairs.size() == 4);  // {0, 1, 2, 4} x {3}
  for (const auto& p : pairs) {
    REQUIRE(p.source_steps.size() == 2);
    CHECK(p.source_steps[0] != 3);
    CHECK(p.source_steps[1] == 3);
    CHECK(p.chosen == steps[p.source_steps[0]].completion);
    CHECK((p.prompt.size() == steps[0].prompt.size() && p.prompt.back().content == steps[0].prompt.back().content));
    CHECK(p.reason == "gold True: proved label matches gold over Uncertain");
  }
  // chess (gold Uncertain): Uncertain, True, True, Error (prose), Uncertain.
  auto chess_pairs = h.pairs_of("chess");
  REQUIRE(chess_pairs.size() == 6);  // {0, 4} x {1, 2, 3}
  int errored = 0;
  for (const auto& p : chess_pairs)
    if (p.reason.find("errored") != std::string::npos) ++errored;
  CHECK(errored == 2);
  CHECK(h.pairs_of("penguin").empty());  // all five right: nothing to prefer
  CHECK(h.pairs_of("moon").empty());     // all five errored: nothing chosen
}

TEST_CASE("LINC: a missing eprover is a clear error at start", "[linc]") {
  Harness h;
  auto sum = h.run(workflow("/nonexistent/eprover"), fixture(), demo_items());
  REQUIRE(!sum.ok());
  CHECK(sum.error().message.find("the prover role: the E prover '/nonexistent/eprover' was not found") != std::string::npos);
  CHECK(sum.error().message.find("apt-get install eprover") != std::string::npos);
  CHECK(h.outcomes.empty());
}

TEST_CASE("LINC: a prover that hangs gives Error labels, and the run still ends", "[linc]") {
  Harness h;
  std::string hang = h.dir.file("hang-prover");
  std::ofstream(hang) << "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'E 2.6 fake'; exit 0; fi\nexec sleep 30\n";
  ::chmod(hang.c_str(), 0755);
  std::string wf = workflow(hang);
  wf.replace(wf.find("cpu_limit_s: 1"), 14, "cpu_limit_s: 1, prover_timeout_s: 0.5, prover_jobs: 8");
  wf.replace(wf.find(", prover_jobs: 2"), 16, "");
  auto sum = h.run(wf, fixture(), {demo_items()[1]});
  REQUIRE(sum.ok());
  CHECK(h.outcome("penguin").status == "succeeded");
  CHECK(h.outcome("penguin").answer == "Error");
  auto steps = h.steps("penguin");
  REQUIRE(steps.size() == 10);
  CHECK(steps[9].completion.find("did not finish within 0.5 s and was killed") != std::string::npos);
  CHECK(steps[9].completion.find("\"szs\":[\"Timeout\",\"Timeout\"]") != std::string::npos);
}

TEST_CASE("LINC: an input without premises fails its run with the reason", "[linc]") {
  Harness h;
  auto bad = demo_items()[0];
  bad.raw_json = "{\"question\":\"Tweety can fly.\"}";
  auto sum = h.run(workflow(), fixture(), {bad});
  if (!sum.ok()) {
    // Without eprover the runner stops at start; that case has its own test.
    CHECK(sum.error().message.find("eprover") != std::string::npos);
    return;
  }
  CHECK(h.outcome("birds").status == "failed");
  CHECK(h.outcome("birds").error.find("missing \"premises\"") != std::string::npos);
}

namespace {

// A translator whose samples each make one slip that models make: curly
// quotes, an argument list written as a list, one name used with two
// arities and as a predicate and a constant, a bracket whose place is not
// known (not repairable), and a surplus ')' at the end.
const char* kSlipFixture = R"(rules:
  - match: "<PREMISES>\nLena Ng is a member of the chess club."
    replies:
      - "TEXT:\tLena Ng is a member of the chess club.\nFOL:\tMember(“Lena Ng”, ChessClub)\nTEXT:\tEvery member of the chess club is a student.\nFOL:\tall x. (Member(x, ChessClub) -> Student(x))\nTEXT:\tLena Ng is a student.\nFOL:\tStudent(\"Lena Ng\")\n"
      - "TEXT:\tLena Ng is a member of the chess club.\nFOL:\tMember([LenaNg, ChessClub])\nTEXT:\tEvery member of the chess club is a student.\nFOL:\tall x. (Member(x, ChessClub) -> Student(x))\nTEXT:\tLena Ng is a student.\nFOL:\tStudent(LenaNg)\n"
      - "TEXT:\tLena Ng is a member of the chess club.\nFOL:\tMember(LenaNg, ChessClub)\nTEXT:\tEvery member of the chess club is a student.\nFOL:\tall x. (Member(x, ChessClub) -> Student(x))\nTEXT:\tThe chess club is a member.\nFOL:\tMember(ChessClub)\nTEXT:\tLena likes students.\nFOL:\tLikes(LenaNg, Student)\nTEXT:\tLena Ng is a student.\nFOL:\tStudent(LenaNg)\n"
      - "TEXT:\tLena Ng is a member of the chess club.\nFOL:\tMember(LenaNg, ChessClub)\nTEXT:\tEvery member of the chess club is a student.\nFOL:\tall x. (Member(x, ChessClub -> Student(x))\nTEXT:\tLena Ng is a student.\nFOL:\tStudent(LenaNg)\n"
      - "TEXT:\tLena Ng is a member of the chess club.\nFOL:\tMember(LenaNg, ChessClub))\nTEXT:\tEvery member of the chess club is a student.\nFOL:\tall x. (Member(x, ChessClub) -> Student(x))\nTEXT:\tLena Ng is a student.\nFOL:\tStudent(LenaNg)\n"
)";

}  // namespace

TEST_CASE("LINC: translations with a repairable slip vote, each repair recorded in the proof step, an ambiguous one stays Error",
          "[linc][eprover]") {
  REQUIRE_EPROVER();
  Harness h;
  auto item = linc_item("club", R"(["Lena Ng is a member of the chess club.", "Every member of the chess club is a student."])",
                        "Lena Ng is a student.", "True");
  REQUIRE(h.run(workflow(), kSlipFixture, {item}).ok());
  CHECK(h.outcome("club").answer == "True");
  auto steps = h.steps("club");
  REQUIRE(steps.size() == 10);
  std::map<uint64_t, const troupe::memory::StepRecord*> proof_of;
  for (size_t i = 5; i < 10; ++i) {
    REQUIRE(steps[i].parents.size() == 1);
    proof_of[steps[i].parents[0]] = &steps[i];
  }
  REQUIRE(proof_of.size() == 5);
  // Every sample but the ambiguous one votes True.
  CHECK(proof_of[0]->answer == "True");
  CHECK(proof_of[1]->answer == "True");
  CHECK(proof_of[2]->answer == "True");
  CHECK(proof_of[3]->answer == "Error");
  CHECK(proof_of[4]->answer == "True");
  int right = 0;
  for (size_t i = 0; i < 5; ++i) right += steps[i].label == std::optional<bool>(true);
  CHECK(right == 4);
  // Curly quotes: read as a quoted constant, then one identifier everywhere.
  const std::string& quotes = proof_of[0]->completion;
  CHECK(quotes.find("\"premises\":[\"Member(“Lena Ng”, ChessClub)\",") != std::string::npos);  // as the model wrote it
  CHECK(quotes.find("{\"kind\":\"quotes\",\"symbol\":\"Lena Ng\",\"where\":\"premise 1\",") != std::string::npos);
  CHECK(quotes.find("{\"kind\":\"constant\",\"symbol\":\"Lena Ng\",\"where\":\"premise 1\","
                    "\"detail\":\"the constant \\\"Lena Ng\\\" written Lena_Ng in every formula\"}") != std::string::npos);
  CHECK(quotes.find("\"repaired\":{\"premises\":[\"Member(Lena_Ng, ChessClub)\",") != std::string::npos);
  // The list: spliced into the argument list.
  CHECK(proof_of[1]->completion.find("{\"kind\":\"list\",\"symbol\":\"Member\",\"where\":\"premise 1\",\"detail\":\"Member([LenaNg, "
                                     "ChessClub]) read as Member(LenaNg, ChessClub): the list is the whole argument list\"}") !=
        std::string::npos);
  // Two arities and a predicate used as a constant: distinct symbols, named.
  const std::string& names = proof_of[2]->completion;
  CHECK(names.find("{\"kind\":\"arity\",\"symbol\":\"Member\",\"where\":\"premise 1\",\"detail\":\"Member/2 (premise 1, column 1) "
                   "and Member/1 (premise 3, column 1) renamed Member_2, Member_1\"}") != std::string::npos);
  CHECK(names.find("{\"kind\":\"predicate_as_constant\",\"symbol\":\"Student\",") != std::string::npos);
  CHECK(names.find("fof(premise_4, axiom, likes(lenaNg, student_c))") != std::string::npos);
  // A bracket whose place is not known: Error, with the position and why.
  CHECK(proof_of[3]->finish_reason == "error");
  CHECK(proof_of[3]->completion.find("\"szs\":[null,null]") != std::string::npos);
  CHECK(proof_of[3]->completion.find("premise 2: column 29: expected ',' or ')' in the arguments of 'Member'") != std::string::npos);
  CHECK(proof_of[3]->completion.find("not repaired: a '(' is never closed") != std::string::npos);
  CHECK(proof_of[4]->completion.find("\"detail\":\"1 surplus ')' dropped at the end\"") != std::string::npos);
}
