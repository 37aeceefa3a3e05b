// Chain-of-Clarifications traces on the scripted backend (pipelines.md §6):
// chunking into <para i>, the clarifier's one call with n samples, grounder
// calls per question x chunk and the pointback text, the self-check loop,
// the BFS tree with its scores and preference pairs, budgets.
#include <catch2/catch.hpp>

#include <set>

#include "actors/roles.hpp"
#include "spoc_harness.hpp"
#include "workflows/coc/coc_text.hpp"

using troupe::actors::RunInput;
using troupe::memory::Message;
using troupe::memory::StepRecord;
using troupe::testing::Harness;
namespace coc = troupe::workflows::coc;

namespace {

// Three sentences of five word pieces each: chunk_tokens 5 makes one chunk
// of each.
const char* kContext = "Alice lives in Paris.  Bob lives in Oslo.\nCarol likes green tea.";
const char* kMarked =
    "<para 0> Alice lives in Paris. </para 0>\n<para 1> Bob lives in Oslo. </para 1>\n"
    "<para 2> Carol likes green tea. </para 2>";
const char* kSystem = "You read long texts.";
const char* kQuestion = "Where does Bob live?";

RunInput bob(std::optional<std::string> gold = std::string("Oslo"), const char* context = kContext,
             std::string id = "bob") {
  RunInput in;
  in.item_id = std::move(id);
  in.question = kQuestion;
  in.gold = std::move(gold);
  in.raw_json = std::string("{\"question\": \"Where does Bob live?\", \"context\": \"") + context + "\"}";
  std::string& j = in.raw_json;
  for (size_t p = j.find('\n'); p != std::string::npos; p = j.find('\n', p)) j.replace(p, 1, "\\n");
  return in;
}

const char* kInference = R"(
name: coc-test
pipeline: coc
backend: {kind: scripted, fixture: FIXTURE}
roles:
  clarifier: {template: "CLARIFY: what would help answer {question}?"}
  verifier: {template: "SELF-CHECK: is your answer right? Reply in JSON."}
params: {chunk_tokens: 5, max_rounds: 3, system_prompt: "You read long texts."}
)";

// Grounder: chunk 0 irrelevant, chunk 1 relevant, chunk 2 "not sure" (kept:
// the word "no" does not occur). Round 1 answers Rome, the self-check is
// unreadable and then No; round 2 answers Oslo and the self-check says Yes.
const char* kInferenceFixture = R"(
rules:
  - {match: "Context: Alice lives in Paris.", where: last, reply: "This is about Alice, not Bob. Answer: no"}
  - {match: "Context: Bob lives in Oslo.", where: last, reply: "It says where Bob lives. Answer: yes"}
  - {match: "Context: Carol likes green tea.", where: last, reply: "I know nothing of Bob here. Answer: not sure"}
  - {match: "CLARIFY", where: last, replies: ["Which city is Bob in?", "Who is Bob?"]}
  - {match: 'assistant: Oslo\nuser: SELF-CHECK', regex: true, reply: "```json\n{\"explanations\": \"Oslo is stated\", \"answer\": \"Yes\"}\n```"}
  - {match: "SELF-CHECK", where: last, replies: ["hmm, hard to say", "{\"explanations\": \"Rome is not in the text\", \"answer\": \"No\"}"]}
  - {match: "Based on the relevant context", where: last, reply: "Bob lives in Oslo."}
  - {match: 'final question[\s\S]*final question', regex: true, reply: "Oslo"}
  - {match: "final question", where: last, reply: "Rome"}
)";

std::vector<Message> msgs(std::initializer_list<std::pair<const char*, std::string>> list) {
  std::vector<Message> out;
  for (const auto& [role, content] : list) out.push_back({role, content});
  return out;
}

// "" when the message lists are equal, else the first difference.
std::string diff(const std::vector<Message>& got, const std::vector<Message>& want) {
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i)
    if (got[i].role != want[i].role || got[i].content != want[i].content)
      return "message " + std::to_string(i) + ": got " + got[i].role + ": [" + got[i].content + "], want " +
             want[i].role + ": [" + want[i].content + "]";
  if (got.size() != want.size())
    return "got " + std::to_string(got.size()) + " messages, want " + std::to_string(want.size());
  return "";
}

void check_step(const StepRecord& s, const std::string& role, const std::string& kind, std::vector<uint64_t> parents) {
  INFO("step " << s.seq << " " << s.role << "/" << s.kind);
  CHECK(s.role == role);
  CHECK(s.kind == kind);
  CHECK(s.parents == parents);
}

}  // namespace

TEST_CASE("CoC chunks the context by approximate token count and marks it <para i>", "[coc]") {
  // Word pieces: runs of letters/digits cut every 6 bytes, punctuation alone.
  CHECK(coc::approx_tokens("Bob lives in Oslo.") == 5);
  CHECK(coc::approx_tokens("international relations!") == 6);  // intern|ationa|l relati|ons !
  CHECK(coc::approx_tokens("caf\xc3\xa9 \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9") == 3);  // no cut inside a character
  CHECK(coc::approx_tokens("  \n ") == 0);
  CHECK(coc::split_chunks(kContext, 5) ==
        std::vector<std::string>{"Alice lives in Paris.", "Bob lives in Oslo.", "Carol likes green tea."});
  CHECK(coc::split_chunks(kContext, 8) ==
        std::vector<std::string>{"Alice lives in Paris.  Bob lives in", "Oslo.\nCarol likes green tea."});
  CHECK(coc::split_chunks(kContext, 1000) == std::vector<std::string>{kContext});
  // A long word is not cut in two when a chunk can end before it ...
  CHECK(coc::split_chunks("a international b", 3) == std::vector<std::string>{"a", "international", "b"});
  // ... and is when it alone is longer than a chunk.
  CHECK(coc::split_chunks("international", 2) == std::vector<std::string>{"internationa", "l"});
  CHECK(coc::split_chunks(" \n", 5).empty());
  CHECK(coc::mark_context(coc::split_chunks(kContext, 5)) == kMarked);
}

TEST_CASE("CoC relevance: only the WORD no after the last 'answer:' drops a chunk", "[coc]") {
  CHECK_FALSE(coc::relevant("Not related. Answer: no"));
  CHECK_FALSE(coc::relevant("answer: No."));
  CHECK_FALSE(coc::relevant("ANSWER: (no)"));
  CHECK_FALSE(coc::relevant("no"));  // no "answer:": the whole text counts
  // The reference's substring test dropped all of these (§6(g) caveat 2).
  CHECK(coc::relevant("Answer: not sure"));
  CHECK(coc::relevant("I know the city. Answer: yes"));
  CHECK(coc::relevant("Answer: none of it contradicts; maybe"));
  CHECK(coc::relevant("Answer: know"));
  // Only the text after the LAST "answer:" decides.
  CHECK(coc::relevant("Answer: no... wait. Answer: maybe"));
  CHECK_FALSE(coc::relevant("Answer: yes? Answer: no"));
}

TEST_CASE("CoC pointback and retrieved text list the kept chunks", "[coc]") {
  std::vector<std::string> chunks{"A.", "B.", "C."};
  CHECK(coc::pointback({0, 2}) ==
        "The following pieces of context were found to be helpful for the question:\n<para 0> <para 2>");
  CHECK(coc::pointback({}) == "No context was found to be helpful for the question.");
  CHECK(coc::retrieved_text(chunks, {0, 2}) == "A....\n\n...C.");
  CHECK(coc::retrieved_text(chunks, {}) == "No context was found to be helpful for the question.");
}

TEST_CASE("CoC self-check verdicts are read from JSON, loosely written JSON, or a verdict line", "[coc]") {
  CHECK(coc::parse_self_check("{\"explanations\": \"ok\", \"answer\": \"Yes\"}") == 1);
  CHECK(coc::parse_self_check("Sure!\n```json\n{\"explanations\": \"x\", \"answer\": \"No\"}\n```") == 0);
  CHECK(coc::parse_self_check("{\"answer\": \"no, Rome is wrong\"}") == 0);
  CHECK(coc::parse_self_check("{explanations: 'unquoted', answer: yes}") == 1);  // not JSON, still readable
  CHECK(coc::parse_self_check("I checked it.\nVerdict: Yes") == 1);
  CHECK(coc::parse_self_check("{\"explanations\": \"the answer is unclear\"}") == -1);
  CHECK(coc::parse_self_check("hmm, hard to say") == -1);
  CHECK(coc::parse_self_check("") == -1);
  // Loosely written: quotes, '=', spaces and case; the last answer counts;
  // yes/no must be whole words.
  CHECK(coc::parse_self_check("'Answer' = \"NO\"") == 0);
  CHECK(coc::parse_self_check("answer: no ... on reflection, answer:yes") == 1);
  CHECK(coc::parse_self_check("answer: nothing to add") == -1);
  CHECK(coc::parse_self_check("answer: yes_or_no") == -1);
  CHECK(coc::parse_self_check("the answers: yes") == -1);
}

TEST_CASE("CoC self-check reads a verdict after a million spaces without deep recursion", "[coc]") {
  // std::regex recursed once per character here and overflowed the stack.
  CHECK(coc::parse_self_check("answer:" + std::string(1000000, ' ') + "yes") == 1);
  CHECK(coc::parse_self_check("{answer =" + std::string(1000000, '\n') + "'no'}") == 0);
}

TEST_CASE("CoC inference: clarify, ground per chunk, point back, answer, and loop until the self-check says Yes",
          "[coc]") {
  Harness h;
  auto sum = h.run(kInference, kInferenceFixture, {bob()});
  REQUIRE(sum.ok());
  const auto& o = h.outcome("bob");
  INFO(o.error);
  REQUIRE(o.status == "succeeded");
  CHECK(o.answer == "Oslo");
  CHECK(o.correct == 1);

  auto steps = h.steps("bob");
  REQUIRE(steps.size() == 15);
  for (size_t i = 0; i < steps.size(); ++i) CHECK(steps[i].seq == i);
  // Round 1.
  check_step(steps[0], "clarifier", "clarify", {});
  for (uint64_t i = 1; i <= 3; ++i) check_step(steps[i], "grounder", "relevance", {0});
  check_step(steps[4], "solver", "clarification_answer", {1, 2, 3});
  check_step(steps[5], "solver", "final_answer", {4});
  check_step(steps[6], "verifier", "self_check", {5});
  check_step(steps[7], "verifier", "self_check", {6});  // the unreadable check was asked again
  // Round 2 follows the "No".
  check_step(steps[8], "clarifier", "clarify", {7});
  for (uint64_t i = 9; i <= 11; ++i) check_step(steps[i], "grounder", "relevance", {8});
  check_step(steps[12], "solver", "clarification_answer", {9, 10, 11});
  check_step(steps[13], "solver", "final_answer", {12});
  check_step(steps[14], "verifier", "self_check", {13});

  const std::string opening = std::string(kMarked) + "\n\nWhere does Bob live?";
  const std::string clarify = "CLARIFY: what would help answer Where does Bob live??";
  const std::string pointback =
      "The following pieces of context were found to be helpful for the question:\n<para 1> <para 2>";
  CHECK(diff(steps[0].prompt, msgs({{"system", kSystem}, {"user", opening}, {"user", clarify}})) == "");
  CHECK(steps[0].completion == "Which city is Bob in?");
  CHECK(steps[0].sampling_json.find("\"n\":1") != std::string::npos);
  // One grounder call per chunk, each with the question and that chunk only.
  const char* chunk_text[] = {"Alice lives in Paris.", "Bob lives in Oslo.", "Carol likes green tea."};
  for (int c = 0; c < 3; ++c)
    CHECK(diff(steps[1 + c].prompt,
          msgs({{"system", kSystem},
                {"user", std::string("Question: Which city is Bob in?\n\nContext: ") + chunk_text[c] +
                             "\n\nDoes the given piece of context help answer the question in any way? Follow the "
                             "format: [reasoning] + Answer: (yes/maybe/no). Be concise."}})) == "");
  // The clarification is answered from the retrieved text; the chat holds
  // the pointers.
  auto chat = msgs({{"system", kSystem},
                    {"user", opening},
                    {"user", clarify},
                    {"assistant", "Which city is Bob in?"},
                    {"user", "Help me find relevant context to answer the previous clarifying question."},
                    {"assistant", pointback}});
  auto answer_prompt = chat;
  answer_prompt.push_back({"user",
                           "Based on the relevant context, answer the previous clarifying question.\n\nRelevant "
                           "context:\nBob lives in Oslo....\n\n...Carol likes green tea."});
  CHECK(diff(steps[4].prompt, answer_prompt) == "");
  CHECK(steps[4].sampling_json.find("\"temperature\":0.6") != std::string::npos);  // §6(a2)
  chat.push_back({"user", "Based on the relevant context, answer the previous clarifying question."});
  chat.push_back({"assistant", "Bob lives in Oslo."});
  chat.push_back({"user", "Now, let's answer the final question, be concise in your answer. Where does Bob live?"});
  CHECK(diff(steps[5].prompt, chat) == "");
  CHECK(steps[5].completion == "Rome");
  chat.push_back({"assistant", "Rome"});
  chat.push_back({"user", "SELF-CHECK: is your answer right? Reply in JSON."});
  CHECK(diff(steps[6].prompt, chat) == "");
  CHECK(diff(steps[7].prompt, chat) == "");
  CHECK(steps[7].completion.find("\"No\"") != std::string::npos);
  // Round 2 continues the same chat.
  auto round2 = chat;
  round2.pop_back();
  round2.push_back({"user", clarify});
  REQUIRE(steps[8].prompt.size() == round2.size());
  CHECK(diff(steps[8].prompt, round2) == "");
  CHECK(steps[13].completion == "Oslo");
  CHECK(steps[14].completion.find("\"Yes\"") != std::string::npos);
  CHECK(o.calls == 15);
  CHECK(h.pairs_of("bob").empty());  // pairs come from tree mode
}

TEST_CASE("CoC inference: n questions come from ONE clarifier call, grounding is per question x chunk, max_rounds stops",
          "[coc]") {
  Harness h;
  std::string wf = kInference;
  wf.replace(wf.find("max_rounds: 3"), 13, "max_rounds: 2, questions: 2");
  std::string fixture = kInferenceFixture;
  // A self-check that never says Yes.
  fixture.replace(fixture.find("  - {match: 'assistant: Oslo"), 0,
                  "  - {match: \"SELF-CHECK\", where: last, reply: \"{\\\"explanations\\\": \\\"-\\\", \\\"answer\\\": "
                  "\\\"No\\\"}\"}\n");
  REQUIRE(h.run(wf, fixture, {bob()}).ok());
  const auto& o = h.outcome("bob");
  INFO(o.error);
  REQUIRE(o.status == "succeeded");
  CHECK(o.answer == "Oslo");  // round 2's answer: the cap ends the loop
  // Per round: 1 clarifier call (2 samples), 2 x 3 grounder calls, 2 solver calls, 1 self-check.
  CHECK(o.calls == 20);
  auto steps = h.steps("bob");
  REQUIRE(steps.size() == 22);
  for (size_t round = 0; round < 2; ++round) {
    uint64_t b = round * 11;
    INFO("round " << round + 1);
    check_step(steps[b], "clarifier", "clarify", round ? std::vector<uint64_t>{b - 1} : std::vector<uint64_t>{});
    check_step(steps[b + 1], "clarifier", "clarify", round ? std::vector<uint64_t>{b - 1} : std::vector<uint64_t>{});
    CHECK(diff(steps[b].prompt, steps[b + 1].prompt) == "");  // one call, shared prefix
    CHECK(steps[b].sampling_json.find("\"n\":2") != std::string::npos);
    CHECK(steps[b].completion == "Which city is Bob in?");
    CHECK(steps[b + 1].completion == "Who is Bob?");
    // Question-major: 3 chunks for question 1, then 3 for question 2.
    for (uint64_t i = 0; i < 6; ++i) {
      check_step(steps[b + 2 + i], "grounder", "relevance", {b + i / 3});
      CHECK(steps[b + 2 + i].prompt.back().content.find(i < 3 ? "Question: Which city is Bob in?" : "Question: Who is Bob?") == 0);
    }
    check_step(steps[b + 8], "solver", "clarification_answer", {b + 2, b + 3, b + 4, b + 5, b + 6, b + 7});
    // Both questions are asked in the chat; the pointback is the union.
    const auto& p = steps[b + 8].prompt;
    REQUIRE(p.size() >= 3);
    CHECK(p[p.size() - 4].content == "1. Which city is Bob in?\n2. Who is Bob?");
    CHECK(p[p.size() - 2].content ==
          "The following pieces of context were found to be helpful for the question:\n<para 1> <para 2>");
    check_step(steps[b + 9], "solver", "final_answer", {b + 8});
    check_step(steps[b + 10], "verifier", "self_check", {b + 9});
  }
}

TEST_CASE("CoC inference: a call budget finishes with the best answer so far, or fails before there is one",
          "[coc][budget]") {
  {
    Harness h;
    std::string wf = std::string(kInference) + "budget: {max_calls: 6}\n";
    REQUIRE(h.run(wf, kInferenceFixture, {bob()}).ok());
    const auto& o = h.outcome("bob");
    CHECK(o.status == "succeeded");
    CHECK(o.answer == "Rome");  // the self-check was refused; round 1's answer stands
    auto steps = h.steps("bob");
    REQUIRE(steps.size() == 6);
    CHECK(steps.back().kind == "final_answer");
  }
  {
    Harness h;
    std::string wf = std::string(kInference) + "budget: {max_calls: 3}\n";
    REQUIRE(h.run(wf, kInferenceFixture, {bob()}).ok());
    const auto& o = h.outcome("bob");
    CHECK(o.status == "failed");
    CHECK(o.error.find("call budget") != std::string::npos);
    // The three grounder calls went out together after one call had been
    // made, so all were allowed; the clarification answer was refused.
    CHECK(h.steps("bob").size() == 4);
  }
}

TEST_CASE("CoC: an input without a context fails its run naming the field", "[coc][errors]") {
  Harness h;
  RunInput in = bob();
  in.raw_json = "{\"question\": \"Where does Bob live?\", \"contxt\": \"typo\"}";
  RunInput empty = bob(std::string("Oslo"), " ", "empty");
  REQUIRE(h.run(kInference, kInferenceFixture, {in, empty}).ok());
  CHECK(h.outcome("bob").status == "failed");
  CHECK(h.outcome("bob").error.find("missing \"context\"") != std::string::npos);
  CHECK(h.outcome("empty").status == "failed");
  CHECK(h.outcome("empty").error.find("\"context\" is empty") != std::string::npos);
  CHECK(h.steps("bob").empty());
}

TEST_CASE("CoC: bad params are load errors naming file, line and column", "[coc][errors]") {
  Harness h;
  std::string wf = kInference;
  wf.replace(wf.find("chunk_tokens: 5"), 15, "chunk_tokens: 0");
  auto r = h.run(wf, kInferenceFixture, {bob()});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("wf.yaml:8:") != std::string::npos);
  CHECK(r.error().message.find("chunk_tokens") != std::string::npos);
  std::string mode = kInference;
  mode.replace(mode.find("chunk_tokens: 5"), 15, "mode: forest");
  auto m = h.run(mode, kInferenceFixture, {bob()});
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().message.find("forest") != std::string::npos);
}

TEST_CASE("CoC prompt paraphrases are drawn by a seeded RNG: same seed and item, same prompts", "[coc]") {
  // No clarifier/verifier templates and no system prompt: all three come
  // from the paraphrase pools.
  const char* wf = R"(
name: coc-pools
pipeline: coc
backend: {kind: scripted, fixture: FIXTURE}
params: {chunk_tokens: 5, max_rounds: 1, seed: 7}
)";
  const char* fixture = R"(
rules:
  - {match: "Does the given piece of context help", where: last, reply: "Answer: yes"}
default: "{\"explanations\": \"-\", \"answer\": \"Yes\"}"
)";
  std::vector<RunInput> items;
  for (int i = 0; i < 6; ++i) items.push_back(bob(std::nullopt, kContext, "item-" + std::to_string(i)));
  Harness a, b;
  REQUIRE(a.run(wf, fixture, items).ok());
  REQUIRE(b.run(wf, fixture, items).ok());
  std::set<std::string> systems, clarifies;
  for (const auto& it : items) {
    auto sa = a.steps(it.item_id), sb = b.steps(it.item_id);
    REQUIRE(sa.size() == sb.size());
    REQUIRE(sa.size() == 7);  // clarify, 3 relevance, answer, final, self-check
    for (size_t i = 0; i < sa.size(); ++i) CHECK(diff(sa[i].prompt, sb[i].prompt) == "");
    systems.insert(sa[0].prompt.front().content);
    clarifies.insert(sa[0].prompt.back().content);
    // Drawn from the pools, with the question filled in.
    bool from_pool = false;
    for (const auto& p : coc::clarify_prompts())
      from_pool |= sa[0].prompt.back().content == troupe::actors::render_template(p, {{"question", kQuestion}});
    CHECK(from_pool);
    bool termination = false;
    for (const auto& p : coc::termination_prompts()) termination |= sa[6].prompt.back().content == p;
    CHECK(termination);
  }
  // Items draw independently.
  CHECK(systems.size() > 1);
  CHECK(clarifies.size() > 1);
}

namespace {

const char* kTree = R"(
name: coc-tree-test
pipeline: coc
backend: {kind: scripted, fixture: FIXTURE}
roles:
  clarifier: {template: "CLARIFY: what would help answer {question}?"}
  verifier: {template: "SELF-CHECK: is your answer right? Reply in JSON."}
params: {mode: tree, width: 2, depth: 2, chunk_tokens: 5, system_prompt: "You read long texts."}
)";

// Two chunks; every node asks "Where is Bob?" and "What does Carol drink?".
// Final answers: a Bob question at depth 2 -> "He lives in Oslo" (ROUGE-L
// F1 0.4 against "Oslo"), at depth 3 -> "Oslo" (1.0); a Carol question ->
// "Tea" (0); the root's base answer "Somewhere in Europe" (0).
const char* kTreeFixture = R"(
rules:
  - {match: 'Carol drink\?\n\nContext: Bob', regex: true, where: last, reply: "Not about Carol. Answer: no"}
  - {match: "Context: Bob lives in Oslo.", where: last, reply: "Answer: yes"}
  - {match: "Context: Carol likes green tea.", where: last, reply: "Unrelated. Answer: no"}
  - {match: "CLARIFY", where: last, replies: ["Where is Bob?", "What does Carol drink?"]}
  - {match: "SELF-CHECK", where: last, reply: "{\"explanations\": \"fine\", \"answer\": \"Yes\"}"}
  - {match: "Answer the question you asked", where: last, reply: "Bob lives in Oslo."}
  - {match: 'Help me find[\s\S]*Where is Bob\?\nuser: Related', regex: true, reply: "Oslo"}
  - {match: 'Where is Bob\?\nuser: Related', regex: true, reply: "He lives in Oslo"}
  - {match: 'Carol drink\?\nuser: Related', regex: true, reply: "Tea"}
  - {match: "Where does Bob live?", where: last, reply: "Somewhere in Europe"}
)";

const char* kTwoChunks = "Bob lives in Oslo. Carol likes green tea.";

// The 14 steps of one node's expansion, from seq b: 2 clarify, 2x2
// relevance, 2 answers, 2 finals, 2 self-checks, 2 node records.
void check_expansion(const std::vector<StepRecord>& s, uint64_t b, uint64_t parent_node_step) {
  INFO("expansion from step " << b);
  check_step(s[b], "clarifier", "clarify", {parent_node_step});
  check_step(s[b + 1], "clarifier", "clarify", {parent_node_step});
  CHECK(s[b].sampling_json.find("\"n\":2") != std::string::npos);
  for (uint64_t i = 0; i < 4; ++i) check_step(s[b + 2 + i], "grounder", "relevance", {b + i / 2});
  check_step(s[b + 6], "solver", "clarification_answer", {b + 2, b + 3});
  check_step(s[b + 7], "solver", "clarification_answer", {b + 4, b + 5});
  check_step(s[b + 8], "solver", "final_answer", {b + 6});
  check_step(s[b + 9], "solver", "final_answer", {b + 7});
  check_step(s[b + 10], "verifier", "self_check", {b + 8});
  check_step(s[b + 11], "verifier", "self_check", {b + 9});
  check_step(s[b + 12], "judge", "node", {b + 8, b + 10});
  check_step(s[b + 13], "judge", "node", {b + 9, b + 11});
}

}  // namespace

TEST_CASE("CoC tree: BFS expansion, width^d nodes per level, scores against gold, path and per-node pairs",
          "[coc][tree]") {
  Harness h;
  REQUIRE(h.run(kTree, kTreeFixture, {bob(std::string("Oslo"), kTwoChunks)}).ok());
  const auto& o = h.outcome("bob");
  INFO(o.error);
  REQUIRE(o.status == "succeeded");
  CHECK(o.answer == "Oslo");  // the best node's final answer
  CHECK(o.correct == 1);

  auto s = h.steps("bob");
  // Root: 2 relevance, answer, self-check, node. Then 3 expansions of 14
  // steps: the root (depth 1) and its 2 children (depth 2); the 4
  // grandchildren (depth 3) are leaves.
  REQUIRE(s.size() == 5 + 3 * 14);
  check_step(s[0], "grounder", "relevance", {});
  check_step(s[1], "grounder", "relevance", {});
  check_step(s[2], "solver", "answer", {0, 1});
  CHECK(diff(s[2].prompt, msgs({{"user", "Bob lives in Oslo.\nWhere does Bob live?"}})) == "");  // retrieved chunk + q
  check_step(s[3], "verifier", "self_check", {2});
  check_step(s[4], "judge", "node", {2, 3});
  CHECK(s[4].completion == "Somewhere in Europe");
  CHECK(std::stod(s[4].answer) == 0.0);
  // BFS: the root, then child A (Bob question, node step 17), then child B (18).
  check_expansion(s, 5, 4);
  check_expansion(s, 19, 17);
  check_expansion(s, 33, 18);
  CHECK(s[5].completion == "Where is Bob?");
  CHECK(s[6].completion == "What does Carol drink?");
  // The clarifier sees the node's local context (the chunks its question found).
  CHECK(diff(s[5].prompt, msgs({{"system", kSystem},
                              {"user", "Bob lives in Oslo.\nCLARIFY: what would help answer Where does Bob live??"}})) == "");
  // Scores: ROUGE-L F1 of each final answer against "Oslo".
  CHECK(std::stod(s[17].answer) == Approx(0.4));  // "He lives in Oslo": P 1/4, R 1
  CHECK(std::stod(s[18].answer) == 0.0);           // "Tea"
  CHECK(std::stod(s[31].answer) == Approx(1.0));  // depth 3 under A: "Oslo"
  CHECK(std::stod(s[32].answer) == 0.0);
  CHECK(std::stod(s[45].answer) == Approx(1.0));
  CHECK(std::stod(s[46].answer) == 0.0);

  // A node records its training-format conversation (§6(a1) step 7): the
  // parent's conversation and seven new turns; the final answer completes it.
  const std::string clarify = "CLARIFY: what would help answer Where does Bob live??";
  const std::string final_q = "Now, let's answer the final question, be concise in your answer. Where does Bob live?";
  auto child_a = msgs({{"system", kSystem},
                       {"user", "<para 0> Bob lives in Oslo. </para 0>\n<para 1> Carol likes green tea. </para 1>\n\n"
                                "Where does Bob live?"},
                       {"assistant", "Somewhere in Europe"},
                       {"user", clarify},
                       {"assistant", "Where is Bob?"},
                       {"user", "Help me find relevant context to answer the previous clarifying question."},
                       {"assistant", "The following pieces of context were found to be helpful for the question:\n<para 0>"},
                       {"user", "Based on the relevant context, answer the previous clarifying question."},
                       {"assistant", "Bob lives in Oslo."},
                       {"user", final_q}});
  CHECK(diff(s[17].prompt, child_a) == "");
  CHECK(s[17].completion == "He lives in Oslo");
  auto grandchild = child_a;
  grandchild.push_back({"assistant", "He lives in Oslo"});
  grandchild.push_back({"user", clarify});
  grandchild.push_back({"assistant", "Where is Bob?"});
  grandchild.push_back({"user", "Help me find relevant context to answer the previous clarifying question."});
  grandchild.push_back({"assistant", "The following pieces of context were found to be helpful for the question:\n<para 0>"});
  grandchild.push_back({"user", "Based on the relevant context, answer the previous clarifying question."});
  grandchild.push_back({"assistant", "Bob lives in Oslo."});
  grandchild.push_back({"user", final_q});
  CHECK(diff(s[31].prompt, grandchild) == "");
  CHECK(s[31].completion == "Oslo");
  // Carol's question found no chunk.
  CHECK(s[18].prompt[6].content == "No context was found to be helpful for the question.");
  // At generation time the clarification is answered from the retrieved
  // text, the full context left out (the reference's data generator).
  CHECK(diff(s[25].prompt, msgs({{"system", kSystem},
                               {"user", clarify},
                               {"assistant", "Where is Bob?"},
                               {"user", "Help me find relevant context to answer the previous clarifying question."},
                               {"assistant", "The following pieces of context were found to be helpful for the question:\n<para 0>"},
                               {"user", "Based on the relevant context, answer the previous clarifying question."},
                               {"assistant", "Bob lives in Oslo."},
                               {"user", final_q},
                               {"assistant", "He lives in Oslo"},
                               {"user", "[Omitted context that you have seen]\n" + clarify},
                               {"assistant", "Where is Bob?"},
                               {"user", "Answer the question you asked with the given context, and summarize your "
                                        "findings as well.\n\nContext:\nBob lives in Oslo."}})) == "");

  // §6(e): the best and the worst node (first in BFS order on ties) ...
  auto pairs = h.pairs_of("bob");
  REQUIRE(pairs.size() == 4);
  const auto* path = &pairs[0];
  for (const auto& p : pairs)
    if (p.reason.find("best path") == 0) path = &p;
  CHECK(path->source_steps == std::vector<uint64_t>{31, 18});
  CHECK(path->chosen == "Oslo");
  CHECK(path->rejected == "Tea");
  CHECK(path->margin == Approx(1.0));
  CHECK(diff(path->prompt, std::vector<Message>(child_a.begin(), child_a.begin() + 2)) == "");
  CHECK(s[31].label == std::optional<bool>(true));
  CHECK(s[18].label == std::optional<bool>(false));
  // ... and per node, the best child's question over the worst child's,
  // sharing the parent's conversation and the clarify prompt.
  std::map<std::vector<uint64_t>, const troupe::memory::PairRecord*> by_source;
  for (const auto& p : pairs) by_source[p.source_steps] = &p;
  REQUIRE(by_source.count({5, 6}));
  REQUIRE(by_source.count({19, 20}));
  REQUIRE(by_source.count({33, 34}));
  const auto& root_pair = *by_source[{5, 6}];
  CHECK(diff(root_pair.prompt, std::vector<Message>(child_a.begin(), child_a.begin() + 4)) == "");
  CHECK(root_pair.chosen == "Where is Bob?");
  CHECK(root_pair.rejected == "What does Carol drink?");
  CHECK(root_pair.margin == Approx(0.4));
  auto a_prompt = child_a;
  a_prompt.push_back({"assistant", "He lives in Oslo"});
  a_prompt.push_back({"user", clarify});
  CHECK(diff(by_source[{19, 20}]->prompt, a_prompt) == "");
  CHECK(by_source[{19, 20}]->margin == Approx(1.0));
}

TEST_CASE("CoC tree: a call budget stops expansion and answers with the best node so far", "[coc][tree][budget]") {
  Harness h;
  // 4 calls for the root, 11 for its expansion, the 16th asks A's questions;
  // A's grounding is refused.
  std::string wf = std::string(kTree) + "budget: {max_calls: 16}\n";
  REQUIRE(h.run(wf, kTreeFixture, {bob(std::string("Oslo"), kTwoChunks)}).ok());
  const auto& o = h.outcome("bob");
  INFO(o.error);
  CHECK(o.status == "succeeded");
  CHECK(o.answer == "He lives in Oslo");
  auto s = h.steps("bob");
  REQUIRE(s.size() == 21);
  check_step(s[19], "clarifier", "clarify", {17});
  auto pairs = h.pairs_of("bob");
  REQUIRE(pairs.size() == 2);  // best/worst path (A over B) and the root's per-node pair
  std::set<std::vector<uint64_t>> sources;
  for (const auto& p : pairs) sources.insert(p.source_steps);
  CHECK(sources == std::set<std::vector<uint64_t>>{{17, 18}, {5, 6}});
}

TEST_CASE("CoC tree without gold scores nodes by their self-check verdict", "[coc][tree]") {
  Harness h;
  std::string wf = kTree;
  wf.replace(wf.find("depth: 2"), 8, "depth: 1");
  std::string fixture = kTreeFixture;
  // Carol's answers fail their self-check.
  fixture.replace(fixture.find("  - {match: \"SELF-CHECK\""), 0,
                  "  - {match: 'Tea\\nuser: SELF-CHECK', regex: true, reply: \"{\\\"answer\\\": \\\"No\\\"}\"}\n");
  REQUIRE(h.run(wf, fixture, {bob(std::nullopt, kTwoChunks)}).ok());
  const auto& o = h.outcome("bob");
  INFO(o.error);
  REQUIRE(o.status == "succeeded");
  auto s = h.steps("bob");
  REQUIRE(s.size() == 5 + 14);
  CHECK(std::stod(s[4].answer) == 1.0);   // the root's check said Yes
  CHECK(std::stod(s[17].answer) == 1.0);
  CHECK(std::stod(s[18].answer) == 0.0);  // "Tea": No
  CHECK(o.answer == "Somewhere in Europe");  // ties go to the first node in BFS order
  auto pairs = h.pairs_of("bob");
  REQUIRE(pairs.size() == 2);
}

namespace {

// Runs an example workflow as shipped (its fixture path is relative to it).
std::vector<troupe::actors::RunOutcome> run_example(Harness& h, const std::string& name) {
  auto wf = troupe::workflows::load_workflow(std::string(TROUPE_SOURCE_DIR) + "/examples/" + name);
  REQUIRE(wf.ok());
  troupe::workflows::RunnerOptions opts;
  opts.store = h.store;
  auto runner = troupe::workflows::Runner::create(std::move(wf.value()), opts);
  REQUIRE(runner.ok());
  auto inputs = troupe::workflows::JsonlInputs::open(std::string(TROUPE_SOURCE_DIR) + "/examples/data/coc-lighthouse.jsonl");
  REQUIRE(inputs.ok());
  std::vector<troupe::actors::RunOutcome> out;
  auto r = (*runner)->run(**inputs, [&](const troupe::actors::RunOutcome& o, const troupe::workflows::RunSummary&) {
    out.push_back(o);
    h.outcomes.push_back(o);
  });
  REQUIRE(r.ok());
  return out;
}

}  // namespace

TEST_CASE("examples/coc.yaml: the second round's answer passes the self-check", "[coc][examples]") {
  Harness h;
  auto out = run_example(h, "coc.yaml");
  REQUIRE(out.size() == 2);
  for (const auto& o : out) {
    INFO(o.item_id << ": " << o.error);
    CHECK(o.status == "succeeded");
  }
  CHECK(h.outcome("gull-1").answer == "She left to find her brother and bring him home.");
  CHECK(h.outcome("gull-2").answer == "A winter storm cracked two panes.");
  auto steps = h.steps("gull-1");
  size_t clarify = 0;
  for (const auto& s : steps) clarify += s.kind == "clarify";
  CHECK(clarify == 2);  // two rounds
}

TEST_CASE("examples/coc-tree.yaml: a depth-2 tree of width 3 with pairs", "[coc][examples][tree]") {
  Harness h;
  auto out = run_example(h, "coc-tree.yaml");
  REQUIRE(out.size() == 2);
  for (const auto& o : out) {
    INFO(o.item_id << ": " << o.error);
    CHECK(o.status == "succeeded");
  }
  auto steps = h.steps("gull-1");
  size_t nodes = 0;
  for (const auto& s : steps) nodes += s.kind == "node";
  CHECK(nodes == 1 + 3 + 9);
  CHECK(h.outcome("gull-1").answer == "She left to find her brother and bring him home.");
  // The path pair, and one per expanded node (the brother question's child
  // beats the others everywhere): 1 + 1 + 3.
  CHECK(h.pairs_of("gull-1").size() == 5);
}

TEST_CASE("CoC tree with judge_bonus: the verifier's judgement against gold adds 1 to ROUGE-L", "[coc][tree]") {
  Harness h;
  std::string wf = kTree;
  wf.replace(wf.find("depth: 2"), 8, "depth: 1, judge_bonus: true");
  std::string fixture = kTreeFixture;
  fixture.replace(fixture.find("  - {match: \"SELF-CHECK\""), 0,
                  "  - {match: \"Prediction: 'He lives in Oslo'\", where: last, reply: \"Same meaning.\\nVerdict: Yes\"}\n"
                  "  - {match: \"Ground truth\", where: last, reply: \"Verdict: No\"}\n");
  REQUIRE(h.run(wf, fixture, {bob(std::string("Oslo"), kTwoChunks)}).ok());
  const auto& o = h.outcome("bob");
  INFO(o.error);
  REQUIRE(o.status == "succeeded");
  auto s = h.steps("bob");
  // Root: 2 relevance, answer, self-check, judge, node; the expansion adds
  // 2 judge calls before its 2 node records.
  REQUIRE(s.size() == 6 + 16);
  check_step(s[4], "verifier", "judge", {2, 3});
  CHECK(s[4].prompt.back().content.find("Ground truth: 'Oslo'. Prediction: 'Somewhere in Europe'") != std::string::npos);
  check_step(s[5], "judge", "node", {2, 3});
  CHECK(std::stod(s[5].answer) == 0.0);
  check_step(s[18], "verifier", "judge", {14, 16});
  check_step(s[19], "verifier", "judge", {15, 17});
  check_step(s[20], "judge", "node", {14, 16});
  CHECK(std::stod(s[20].answer) == Approx(1.4));  // 0.4 + 1
  CHECK(std::stod(s[21].answer) == 0.0);
  CHECK(o.answer == "He lives in Oslo");
}
