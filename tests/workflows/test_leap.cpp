// LeaP traces on the scripted backend: the messages each path sends, the
// summaries, the routing decisions (receiver, peers, similarities) under
// every routing mode, the comment blocks each path receives, finished paths
// leaving the routing, the forced answer and the vote, LeaP-T, budgets, and
// the steps, parents, labels and pairs recorded. Expected peers are worked
// out by hand from the summaries in each fixture (see the comments).
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <algorithm>
#include <map>
#include <regex>

#include "spoc_harness.hpp"
#include "workflows/leap/leap.hpp"
#include "workflows/pipelines.hpp"

using troupe::memory::StepRecord;
using troupe::testing::Harness;
using troupe::testing::item;

namespace {

struct Route {
  int receiver = 0;
  std::vector<int> peers;
  std::vector<double> similarities;
  std::string mode;
};

Route parse_route(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(json);
  Route r;
  r.receiver = static_cast<int>(int64_t(doc["receiver"]));
  for (auto p : doc["peers"].get_array()) r.peers.push_back(static_cast<int>(int64_t(p)));
  for (auto s : doc["similarities"].get_array()) r.similarities.push_back(double(s));
  r.mode = std::string(std::string_view(doc["mode"]));
  return r;
}

std::vector<StepRecord> of_kind(const std::vector<StepRecord>& steps, const std::string& kind) {
  std::vector<StepRecord> out;
  for (const auto& s : steps)
    if (s.kind == kind) out.push_back(s);
  return out;
}

// The assistant message a step continued ("" when there was none).
std::string partial(const StepRecord& s) {
  if (s.prompt.empty() || s.prompt.back().role != "assistant") return "";
  return s.prompt.back().content;
}

// The step of `kind` whose continued text mentions `marker` (the k-th one).
const StepRecord& find_step(const std::vector<StepRecord>& steps, const std::string& kind, const std::string& marker,
                            int k = 0) {
  for (const auto& s : steps)
    if (s.kind == kind && partial(s).find(marker) != std::string::npos && k-- == 0) return s;
  FAIL("no " << kind << " step continuing a text with '" << marker << "'");
  throw std::logic_error("unreachable");
}

std::map<int, Route> routes_of(const std::vector<StepRecord>& steps) {
  std::map<int, Route> out;
  for (const auto& s : of_kind(steps, "route")) {
    Route r = parse_route(s.completion);
    out[r.receiver] = r;
  }
  return out;
}

std::string reflection() { return troupe::workflows::leap_reflection(); }

// LeaP-T, 4 paths, 2 segments: each path opens <summarize> itself, so its
// summary is exactly the scripted text. Summaries (hand-computed ratios,
// LCS = longest common subsequence, ratio = 2 LCS / lensum):
//   S1 = a x10, S2 = a x8 b x2, S3 = a x5 b x5, S4 = c x10
//   r12 = 16/20 = 0.8   r13 = 10/20 = 0.5   r23 = 14/20 = 0.7 (LCS a5 b2)
//   r14 = r24 = r34 = 0
const char* kRouteFixture = R"(
rules:
  - match: 'boxed\{\}\.$'
    regex: true
    replies:
      - "Path one starts.\n\nStill going <summarize> tail"
      - "Path two starts.\n\nStill going <summarize> tail"
      - "Path three starts.\n\nStill going <summarize> tail"
      - "Path four starts.\n\nStill going <summarize> tail"
  - {match: 'Path one[\s\S]*<summarize>$', regex: true, reply: " aaaaaaaaaa </summarize> more"}
  - {match: 'Path two[\s\S]*<summarize>$', regex: true, reply: " aaaaaaaabb </summarize>"}
  - {match: 'Path three[\s\S]*<summarize>$', regex: true, reply: " aaaaabbbbb </summarize>"}
  - {match: 'Path four[\s\S]*<summarize>$', regex: true, reply: " cccccccccc </summarize>"}
  - {match: 'Path one[\s\S]*continue\.$', regex: true, reply: "One ends \\boxed{5}</think> ignored"}
  - {match: 'Path two[\s\S]*continue\.$', regex: true, reply: "Two ends \\boxed{5}</think>"}
  - {match: 'Path three[\s\S]*continue\.$', regex: true, reply: "Three ends \\boxed{7}</think>"}
  - {match: 'Path four[\s\S]*continue\.$', regex: true, reply: "Four ends \\boxed{7}</think>"}
)";

std::string route_workflow(const std::string& router, int top_k, int seed = 0) {
  return "name: leap-route\npipeline: leap\nbackend: {kind: scripted, fixture: FIXTURE}\n"
         "params: {mode: leap_t, paths: 4, max_turns: 2, segment_tokens: 40, summary_tokens: 20, top_k: " +
         std::to_string(top_k) + ", router: " + router + ", seed: " + std::to_string(seed) + "}\n";
}

std::map<int, Route> run_routes(const std::string& router, int top_k, int seed = 0) {
  Harness h;
  auto sum = h.run(route_workflow(router, top_k, seed), kRouteFixture, {item("q", "route-test", "5")});
  REQUIRE(sum.ok());
  REQUIRE(h.outcome("q").status == "succeeded");
  return routes_of(h.steps("q"));
}

std::vector<int> ids(std::initializer_list<int> v) { return v; }

}  // namespace

TEST_CASE("LeaP routing, dispersed: each path gets the k least similar summaries", "[leap]") {
  auto r = run_routes("dispersed", 2);
  REQUIRE(r.size() == 4);
  CHECK(r[1].peers == ids({4, 3}));
  CHECK(r[1].similarities == std::vector<double>{0.0, 0.5});
  CHECK(r[2].peers == ids({4, 3}));
  CHECK(r[2].similarities[1] == Approx(0.7));
  CHECK(r[3].peers == ids({4, 1}));
  CHECK(r[4].peers == ids({1, 2}));  // three ties at 0: lower ids first
  for (auto& [id, route] : r) CHECK(route.mode == "dispersed");
}

TEST_CASE("LeaP routing, clustered: each path gets the k most similar summaries", "[leap]") {
  auto r = run_routes("clustered", 2);
  CHECK(r[1].peers == ids({2, 3}));
  CHECK(r[1].similarities[0] == Approx(0.8));
  CHECK(r[2].peers == ids({1, 3}));
  CHECK(r[3].peers == ids({2, 1}));
  CHECK(r[4].peers == ids({1, 2}));
}

TEST_CASE("LeaP routing, hybrid: floor(k/2) least similar, then the most similar of the rest", "[leap]") {
  auto r = run_routes("hybrid", 2);
  CHECK(r[1].peers == ids({4, 2}));
  CHECK(r[2].peers == ids({4, 1}));
  CHECK(r[3].peers == ids({4, 2}));
  CHECK(r[4].peers == ids({1, 2}));
  // k = 3: one low, two high, no peer twice.
  auto r3 = run_routes("hybrid", 3);
  CHECK(r3[1].peers == ids({4, 2, 3}));
  CHECK(r3[3].peers == ids({4, 2, 1}));
}

TEST_CASE("LeaP routing, top_k -1: every other active path, in path order", "[leap]") {
  auto r = run_routes("dispersed", -1);
  CHECK(r[1].peers == ids({2, 3, 4}));
  CHECK(r[1].similarities[0] == Approx(0.8));
  CHECK(r[3].peers == ids({1, 2, 4}));
  CHECK(r[4].peers == ids({1, 2, 3}));
  CHECK(r[2].mode == "all");
}

TEST_CASE("LeaP routing, random: k distinct peers from the seed, replayed identically", "[leap]") {
  auto a = run_routes("random", 2, 11);
  auto b = run_routes("random", 2, 11);
  REQUIRE(a.size() == 4);
  bool differs_from_other_seed = false;
  auto c = run_routes("random", 2, 12);
  for (int id = 1; id <= 4; ++id) {
    CHECK(a[id].peers == b[id].peers);
    CHECK(a[id].mode == "random");
    REQUIRE(a[id].peers.size() == 2);
    CHECK(a[id].peers[0] != a[id].peers[1]);
    for (int p : a[id].peers) {
      CHECK(p != id);
      CHECK(p >= 1);
      CHECK(p <= 4);
    }
    if (a[id].peers != c[id].peers) differs_from_other_seed = true;
  }
  CHECK(differs_from_other_seed);
}

TEST_CASE("LeaP-T: the model opens <summarize>, its summary and the comment block it receives", "[leap]") {
  Harness h;
  REQUIRE(h.run(route_workflow("dispersed", 2), kRouteFixture, {item("q", "route-test", "5")}).ok());
  auto steps = h.steps("q");
  // segment 1 (one call, 4 candidates), 4 summaries, 4 routes, 4 segments, 4 transcripts.
  REQUIRE(steps.size() == 20);
  auto seg1 = of_kind(steps, "segment");
  REQUIRE(seg1.size() == 8);
  // LeaP-T: a plain chain-of-thought prompt, no prefill, <summarize> stops a segment.
  CHECK(seg1[0].prompt.size() == 1);
  CHECK(seg1[0].prompt[0].content == "route-test\n\nPlease reason step by step, and put your final answer within \\boxed{}.");
  CHECK(seg1[0].sampling_json.find("\"stop\":[\"</think>\",\"<summarize>\"]") != std::string::npos);
  // The summary call continues the path right after the <summarize> the model wrote.
  const auto& sum1 = find_step(steps, "summary", "Path one");
  CHECK(partial(sum1) == "Path one starts.\n\nStill going <summarize>");
  CHECK(sum1.sampling_json.find("\"stop\":[\"</summarize>\",\"</think>\"]") != std::string::npos);
  CHECK(sum1.sampling_json.find("\"max_tokens\":20") != std::string::npos);
  // Path 1 got peers 4 and 3 (dispersed), renumbered 1..k, then the reflection.
  const auto& seg2 = find_step(steps, "segment", "Path one");
  CHECK(partial(seg2) ==
        "Path one starts.\n\nStill going <summarize> aaaaaaaaaa </summarize> <comment> Peer 1: \"cccccccccc\"\n"
        "Peer 2: \"aaaaabbbbb\" </comment>\n\n" + reflection());
  const auto& seg2b = find_step(steps, "segment", "Path three", 0);
  CHECK(partial(seg2b).find("<comment> Peer 1: \"cccccccccc\"\nPeer 2: \"aaaaaaaaaa\" </comment>") != std::string::npos);
  // Two paths say 5, two say 7: the tie goes to the answer seen first (path 1).
  CHECK(h.outcome("q").answer == "5");
  CHECK(h.outcome("q").correct == 1);
}

TEST_CASE("LeaP-T: a segment that runs out of tokens gets a trigger instead", "[leap]") {
  Harness h;
  const char* fixture = R"(
rules:
  - match: 'boxed\{\}\.$'
    regex: true
    replies: ["Path one opens <summarize>", "Path two rambles\n\non and on and on and on"]
  - {match: 'Path one[\s\S]*<summarize>$', regex: true, reply: "one sum</summarize>"}
  - {match: 'Path two[\s\S]*<summarize>[^<]*$', regex: true, reply: "two sum</summarize>"}
  - {match: 'continue\.$', regex: true, reply: "done \\boxed{1}</think>"}
)";
  std::string wf = "name: lt\npipeline: leap\nbackend: {kind: scripted, fixture: FIXTURE}\n"
                   "params: {mode: leap_t, paths: 2, max_turns: 2, segment_tokens: 4, seed: 3}\n";
  REQUIRE(h.run(wf, fixture, {item("q", "lt-test")}).ok());
  auto steps = h.steps("q");
  const auto& s2 = find_step(steps, "summary", "Path two");
  // "Path two rambles\n\non and" was cut at 4 words; its last paragraph is
  // dropped and a recap + <summarize> opener appended.
  std::string text = partial(s2);
  REQUIRE(text.rfind("Path two rambles\n\n", 0) == 0);
  std::string trigger = text.substr(std::string("Path two rambles\n\n").size());
  const auto& recaps = troupe::workflows::leap_recaps();
  const auto& openers = troupe::workflows::leap_openers();
  bool known = false;
  for (const auto& r : recaps)
    for (const auto& o : openers)
      if (trigger == r + o) known = true;
  CHECK(known);
  CHECK(partial(find_step(steps, "summary", "Path one")) == "Path one opens <summarize>");
  CHECK(h.outcome("q").answer == "1");
}

namespace {

// LeaP (untrained-model mode), 3 paths, 3 segments, top_k 1, dispersed.
// Path 2 finishes in segment 1; path 3 in segment 2; path 1 is forced to
// answer. Summaries carry a random opener, so the cores are long and built
// from letters no opener uses (X, Y, Z): LCS(S1, S3) = 0 and
// LCS(S1, S3) << LCS(S1, S2), whatever the openers add.
const char* kLeapFixture = R"(
rules:
  - match: "original problem.\n\n$"
    regex: true
    replies:
      - "Path one: setting up.\n\nhalf a thought"
      - "Path two: quick. \\boxed{9}</think>"
      - "Path three: setting up.\n\nhalf a thought"
  - {match: 'Path one[\s\S]*<summarize>[^<]*$', regex: true, reply: " XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX</summarize>"}
  - {match: 'Path three[\s\S]*<summarize>[^<]*$', regex: true, reply: " ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"}
  - {match: 'Path one[\s\S]*No comments[\s\S]*reasoning\.$', regex: true, reply: "Alone now, I think it is 7."}
  - {match: 'Path one[\s\S]*continue\.$', regex: true, reply: "Path one keeps going, maybe \\boxed{8}.\n\nmore"}
  - {match: 'Path three[\s\S]*continue\.$', regex: true, reply: "Path three agrees: \\boxed{7}</think>"}
  - {match: 'boxed\{$', regex: true, reply: "7}"}
)";

const char* kLeapWorkflow = R"(
name: leap-test
pipeline: leap
backend: {kind: scripted, fixture: FIXTURE}
params: {paths: 3, max_turns: 3, segment_tokens: 64, summary_tokens: 64, top_k: 1, router: dispersed, seed: 5}
)";

}  // namespace

TEST_CASE("LeaP: prompt, prefill, summaries, comment blocks, finished paths leave the routing", "[leap]") {
  Harness h;
  REQUIRE(h.run(kLeapWorkflow, kLeapFixture, {item("q", "What is 3 + 4?", "7")}).ok());
  auto steps = h.steps("q");
  // §2(a) step 1: the question, the LeaP block, and the prefilled recap.
  auto segs = of_kind(steps, "segment");
  REQUIRE(segs.size() == 3 + 2 + 1);
  CHECK(segs[0].prompt.size() == 2);
  CHECK(segs[0].prompt[0].content == "What is 3 + 4?" + troupe::workflows::leap_instruction());
  CHECK(partial(segs[0]) == troupe::workflows::leap_prefill());
  CHECK(segs[0].sampling_json.find("\"n\":3") != std::string::npos);
  CHECK(segs[0].sampling_json.find("\"max_tokens\":64") != std::string::npos);
  CHECK(segs[0].sampling_json.find("\"stop\":[\"</think>\"]") != std::string::npos);
  CHECK(segs[0].sampling_json.find("\"temperature\":0.6") != std::string::npos);

  // Block 1: path 2 finished (</think>), so only paths 1 and 3 summarize and route.
  auto sums = of_kind(steps, "summary");
  REQUIRE(sums.size() == 2 + 1);  // block 2: path 1 alone
  for (const auto& s : sums) CHECK(partial(s).find("Path two") == std::string::npos);
  // The last paragraph ("half a thought") was dropped before the trigger.
  const auto& sum1 = find_step(steps, "summary", "Path one");
  CHECK(std::regex_search(partial(sum1), std::regex("Path one: setting up\\.\\n\\n[^\\n]+ <summarize>[^<]*$")));
  CHECK(partial(sum1).find("half a thought") == std::string::npos);

  // Routes: block 1 for receivers 1 and 3, block 2 for path 1 alone.
  auto routes = of_kind(steps, "route");
  REQUIRE(routes.size() == 3);
  Route r1 = parse_route(routes[0].completion), r3 = parse_route(routes[1].completion);
  if (r1.receiver != 1) std::swap(r1, r3);
  CHECK(r1.receiver == 1);
  CHECK(r1.peers == ids({3}));
  CHECK(r3.peers == ids({1}));
  REQUIRE(r1.similarities.size() == 1);
  CHECK(r1.similarities[0] < 0.5);
  CHECK(routes[0].role == "peer");

  // Path 1 received path 3's summary (the Z core), renumbered as Peer 1.
  // Path 3's summary had no </summarize>: it was forced with "... </summarize>".
  const auto& seg2 = find_step(steps, "segment", "Path one", 0);
  CHECK(std::regex_search(partial(seg2), std::regex(" <comment> Peer 1: \"[^\"<]*Z{59}\\.\\.\\.\" </comment>\\n\\n")));
  CHECK(partial(seg2).size() > reflection().size());
  CHECK(partial(seg2).substr(partial(seg2).size() - reflection().size()) == reflection());
  const auto& seg2b = find_step(steps, "segment", "Path three", 0);
  CHECK(partial(seg2b).find("Z... </summarize> <comment> Peer 1: \"") != std::string::npos);
  CHECK(std::regex_search(partial(seg2b), std::regex(" <comment> Peer 1: \"[^\"<]*X{59}\" </comment>\\n\\n")));

  // Block 2: path 3 finished in segment 2, so path 1 is alone: the stub.
  Route alone = parse_route(routes[2].completion);
  CHECK(alone.receiver == 1);
  CHECK(alone.peers.empty());
  CHECK(alone.mode == "none");
  CHECK(routes[2].parents.size() == 1);
  const auto& seg3 = find_step(steps, "segment", "Path one", 1);
  std::string stub = troupe::workflows::leap_no_comments();
  CHECK(partial(seg3).substr(partial(seg3).size() - stub.size()) == stub);
}

TEST_CASE("LeaP: forced answer after M segments, majority vote, steps and parents", "[leap]") {
  Harness h;
  REQUIRE(h.run(kLeapWorkflow, kLeapFixture, {item("q", "What is 3 + 4?", "7")}).ok());
  auto steps = h.steps("q");
  // The stages in order: segment 1 (one call, 3 paths); block 1 over paths
  // 1 and 3 (path 2 finished); segment 2; block 2 for path 1 alone (path 3
  // finished); segment 3; the forced answer; the three transcripts.
  std::vector<std::string> kinds;
  for (const auto& s : steps) kinds.push_back(s.role + "/" + s.kind);
  CHECK(kinds == std::vector<std::string>{
                     "solver/segment", "solver/segment", "solver/segment",   // segment 1
                     "solver/summary", "solver/summary", "peer/route", "peer/route",
                     "solver/segment", "solver/segment",                     // segment 2
                     "solver/summary", "peer/route", "solver/segment",       // block 2, segment 3
                     "solver/answer", "peer/path", "peer/path", "peer/path"});
  CHECK(h.outcome("q").calls == 1 + 2 + 2 + 1 + 1 + 1);  // routing and transcripts are not model calls
  // §2(a) step 7: path 1, unfinished after 3 segments, gets the answer prefix.
  auto answers = of_kind(steps, "answer");
  REQUIRE(answers.size() == 1);
  CHECK(partial(answers[0]).find("Path one") != std::string::npos);
  std::string prefix = troupe::workflows::leap_math_answer_prefix();
  CHECK(partial(answers[0]).substr(partial(answers[0]).size() - prefix.size()) == prefix);
  CHECK(answers[0].sampling_json.find("\"max_tokens\":256") != std::string::npos);
  // Answers: path 1 -> 7 (forced), path 2 -> 9, path 3 -> 7: the vote says 7.
  CHECK(h.outcome("q").answer == "7");
  CHECK(h.outcome("q").correct == 1);

  // Parents: segment k+1 <- [own summary, own route]; summary <- its
  // segment; route <- [own summary, compared summaries]; answer <- last step.
  std::map<uint64_t, StepRecord> by_seq;
  for (const auto& s : steps) by_seq[s.seq] = s;
  for (const auto& s : steps) {
    if (s.kind == "segment" && !s.parents.empty()) {
      REQUIRE(s.parents.size() == 2);
      CHECK(by_seq[s.parents[0]].kind == "summary");
      CHECK(by_seq[s.parents[1]].kind == "route");
      // The route decided for this path continued this path's own summary.
      CHECK(by_seq[s.parents[1]].parents.at(0) == s.parents[0]);
      CHECK(partial(s).rfind(partial(by_seq[s.parents[0]]), 0) == 0);
    }
    if (s.kind == "summary") {
      REQUIRE(s.parents.size() == 1);
      CHECK(by_seq[s.parents[0]].kind == "segment");
    }
    if (s.kind == "route") {
      for (auto p : s.parents) CHECK(by_seq[p].kind == "summary");
    }
  }
  const StepRecord block1_route1 = of_kind(steps, "route")[0];
  CHECK(block1_route1.parents.size() == 2);  // receiver's summary + the other active path's
  CHECK(answers[0].parents.size() == 1);
  CHECK(by_seq[answers[0].parents[0]].kind == "segment");
  // Segment 1 is one call: three sibling steps with no parents.
  auto segs = of_kind(steps, "segment");
  for (int i = 0; i < 3; ++i) CHECK(segs[i].parents.empty());
}

TEST_CASE("LeaP with gold: path transcripts, labels and preference pairs", "[leap]") {
  Harness h;
  REQUIRE(h.run(kLeapWorkflow, kLeapFixture, {item("q", "What is 3 + 4?", "7")}).ok());
  auto steps = h.steps("q");
  auto paths = of_kind(steps, "path");
  REQUIRE(paths.size() == 3);
  std::map<std::string, StepRecord> by_path;
  for (const auto& p : paths) {
    CHECK(p.role == "peer");
    REQUIRE(p.prompt.size() == 1);
    CHECK(p.prompt[0].role == "user");
    CHECK(p.completion.rfind(troupe::workflows::leap_prefill(), 0) == 0);
    by_path[p.completion.substr(troupe::workflows::leap_prefill().size(), 10)] = p;
  }
  const auto& p1 = by_path.at("Path one: ");
  const auto& p2 = by_path.at("Path two: ");
  const auto& p3 = by_path.at("Path three");
  CHECK(p1.answer == "7");
  CHECK(p2.answer == "9");
  CHECK(p3.answer == "7");
  CHECK(p1.completion.find("**Final Answer** \\boxed{7}") != std::string::npos);
  CHECK(p2.completion.find("</think>") != std::string::npos);
  CHECK(p1.label == std::optional<bool>(true));
  CHECK(p2.label == std::optional<bool>(false));
  CHECK(p3.label == std::optional<bool>(true));

  // Path 1 held \boxed{8} after segment 2 (wrong) and 7 after segment 3
  // (its last, so its final answer): learned after block 2 -> segment 3 good.
  // Path 3 had no answer after segment 1 and 7 after segment 2: good too.
  const auto& seg3 = find_step(steps, "segment", "Path one", 1);
  CHECK(seg3.label == std::optional<bool>(true));
  const auto& seg2_3 = find_step(steps, "segment", "Path three", 0);
  CHECK(seg2_3.label == std::optional<bool>(true));
  const auto& seg2_1 = find_step(steps, "segment", "Path one", 0);
  CHECK_FALSE(seg2_1.label.has_value());  // wrong (none) before block 1, wrong (8) after: no label

  // Correct transcripts over the incorrect one, over the shared user prompt.
  auto pairs = h.pairs_of("q");
  REQUIRE(pairs.size() == 2);
  for (const auto& pr : pairs) {
    CHECK(pr.rejected == p2.completion);
    CHECK((pr.chosen == p1.completion || pr.chosen == p3.completion));
    REQUIRE(pr.prompt.size() == 1);
    CHECK(pr.prompt[0].content.rfind("What is 3 + 4?", 0) == 0);
  }
}

TEST_CASE("LeaP: right before a block and wrong after it labels the next segment bad", "[leap]") {
  Harness h;
  const char* fixture = R"(
rules:
  - match: "original problem.\n\n$"
    regex: true
    replies: ["Path one: it is \\boxed{7}.\n\ncut", "Path two: it is \\boxed{6}.\n\ncut"]
  - {match: '<summarize>[^<]*$', regex: true, reply: " summary</summarize>"}
  - {match: 'Path one[\s\S]*continue\.$', regex: true, reply: "Peers say 6, so \\boxed{6}</think>"}
  - {match: 'Path two[\s\S]*continue\.$', regex: true, reply: "Still \\boxed{6}</think>"}
)";
  std::string wf = "name: flip\npipeline: leap\nbackend: {kind: scripted, fixture: FIXTURE}\n"
                   "params: {paths: 2, max_turns: 2, segment_tokens: 64}\n";
  REQUIRE(h.run(wf, fixture, {item("q", "flip", "7")}).ok());
  auto steps = h.steps("q");
  CHECK(find_step(steps, "segment", "Path one", 0).label == std::optional<bool>(false));
  CHECK_FALSE(find_step(steps, "segment", "Path two", 0).label.has_value());  // wrong, then wrong
  CHECK(h.outcome("q").answer == "6");
  CHECK(h.outcome("q").correct == 0);
  CHECK(h.pairs_of("q").empty());  // no correct path to prefer
}

TEST_CASE("LeaP: a budget that runs out mid-run finishes with the answers so far", "[leap]") {
  Harness h;
  const char* fixture = R"(
rules:
  - match: "original problem.\n\n$"
    regex: true
    replies: ["Path one: \\boxed{4}.\n\ncut", "Path two: \\boxed{4}.\n\ncut", "Path three: \\boxed{5}.\n\ncut"]
  - {match: '<summarize>[^<]*$', regex: true, reply: " s</summarize>"}
  - {match: 'continue\.$', regex: true, reply: "still thinking"}
)";
  // Calls: segment 1 (1) + 3 summaries = 4. The budget is then spent, so
  // the routing (a tool call, refused like any call) does not run.
  std::string wf = "name: budget\npipeline: leap\nbackend: {kind: scripted, fixture: FIXTURE}\n"
                   "params: {paths: 3, max_turns: 4, segment_tokens: 64}\nbudget: {max_calls: 4}\n";
  REQUIRE(h.run(wf, fixture, {item("q", "budget", "4")}).ok());
  CHECK(h.outcome("q").status == "succeeded");
  CHECK(h.outcome("q").answer == "4");  // 4, 4, 5 in the texts so far
  CHECK(h.outcome("q").correct == 1);
  CHECK(h.outcome("q").calls == 4);
  auto steps = h.steps("q");
  CHECK(of_kind(steps, "segment").size() == 3);
  CHECK(of_kind(steps, "summary").size() == 3);
  CHECK(of_kind(steps, "route").empty());
  CHECK(of_kind(steps, "answer").empty());
  CHECK(of_kind(steps, "path").empty());

  // Nothing to answer with: the run fails with the budget named.
  Harness h2;
  const char* empty = R"(
rules:
  - {match: "original problem.\n\n$", regex: true, reply: "thinking\n\nmore"}
  - {match: '<summarize>[^<]*$', regex: true, reply: " s</summarize>"}
)";
  REQUIRE(h2.run(wf, empty, {item("q", "budget")}).ok());
  CHECK(h2.outcome("q").status == "failed");
  CHECK(h2.outcome("q").error.find("budget") != std::string::npos);
}

TEST_CASE("LeaP params: defaults, and bad values named with file:line:col", "[leap]") {
  troupe::testing::TempDir dir;
  auto load = [&](const std::string& params) {
    troupe::testing::write_file(dir.file("f.yaml"), "rules: []\ndefault: x\n");
    troupe::testing::write_file(dir.file("w.yaml"), "pipeline: leap\nbackend: {kind: scripted, fixture: f.yaml}\n" + params);
    return troupe::workflows::load_workflow(dir.file("w.yaml"));
  };
  auto wf = load("");
  REQUIRE(wf.ok());
  auto p = troupe::workflows::leap_params(*wf);
  REQUIRE(p.ok());
  CHECK(p->paths == 4);
  CHECK(p->segment_tokens == 2048);
  CHECK(p->max_turns == 5);
  CHECK(p->summary_tokens == 256);
  CHECK(p->top_k == 2);
  CHECK(p->router == troupe::workflows::LeapRouter::dispersed);
  CHECK(p->mode == troupe::workflows::LeapMode::leap);
  auto spec = troupe::workflows::leap_role_spec("solver");
  CHECK(spec.sampling.temperature == std::optional<double>(0.6));
  CHECK(spec.sampling.top_p == std::optional<double>(0.95));
  CHECK(spec.sampling.min_p == 0.05);
  CHECK(spec.sampling.top_k == 40);
  CHECK(spec.sampling.max_tokens >= 2048);

  // top_k 0: refused by the loader now (the table's bound), at the value.
  auto e = load("params:\n  top_k: 0\n");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message.find("w.yaml:4:") != std::string::npos);
  CHECK(e.error().message.find("params.top_k: must not be 0") != std::string::npos);
  auto bad_router = load("params: {router: spread}\n");
  REQUIRE_FALSE(bad_router.ok());
  CHECK(bad_router.error().message.find("spread") != std::string::npos);
  auto small = load("roles:\n  solver:\n    sampling: {max_tokens: 100}\nparams: {segment_tokens: 512}\n");
  REQUIRE(small.ok());
  auto e2 = troupe::workflows::leap_params(*small);
  REQUIRE_FALSE(e2.ok());
  CHECK(e2.error().message.find("roles.solver.sampling.max_tokens is 100") != std::string::npos);
}

TEST_CASE("LeaP text helpers: paragraph cut, summary normalization, comment block", "[leap]") {
  using namespace troupe::workflows;
  CHECK(leap_cut_last_paragraph("a\n\nb\n\nhalf") == "a\n\nb\n\n");
  CHECK(leap_cut_last_paragraph("a\n\n") == "a\n\n");
  CHECK(leap_cut_last_paragraph("no break") == "no break\n\n");
  CHECK(leap_normalize_summary(" x ", "</summarize>") == " x </summarize>");
  CHECK(leap_normalize_summary(" x </summ", "") == " x </summarize>");
  CHECK(leap_normalize_summary(" x", "") == " x... </summarize>");
  CHECK(leap_normalize_summary(" x</think>", "</think>") == " x... </summarize>");
  CHECK(leap_last_summary("<summarize> old </summarize> b <summarize> new one </summarize>") == "new one");
  CHECK(leap_comment_block({"s1", "s2"}) == " <comment> Peer 1: \"s1\"\nPeer 2: \"s2\" </comment>\n\n" + leap_reflection());
  CHECK(leap_comment_block({}) == leap_no_comments());
  CHECK(leap_no_comments().rfind(" <comment> No comments </comment>\n\n", 0) == 0);
  CHECK(leap_recaps().size() == 7);
  REQUIRE(leap_openers().size() == 6);
  for (const auto& o : leap_openers()) CHECK(o.rfind(" <summarize>", 0) == 0);
  // The trigger draw depends on the seed, the item, the block and the path only.
  CHECK(leap_seed_for(1, "a", 1, 1, "trigger") == leap_seed_for(1, "a", 1, 1, "trigger"));
  CHECK(leap_seed_for(1, "a", 1, 1, "trigger") != leap_seed_for(1, "b", 1, 1, "trigger"));
  CHECK(leap_seed_for(1, "a", 1, 1, "trigger") != leap_seed_for(2, "a", 1, 1, "trigger"));
}

TEST_CASE("LeaP router unit: hand-computed choices for every mode", "[leap]") {
  using troupe::workflows::leap_route;
  // Ratios to S1 = "kitten": "sitting" LCS "ittn" 4 -> 8/13; "kitchen"
  // LCS "kiten" 5 -> 10/13; "zzz" 0.
  std::vector<std::pair<int, std::string>> s = {{1, "kitten"}, {2, "sitting"}, {3, "kitchen"}, {4, "zzz"}};
  auto d = leap_route(1, s, troupe::workflows::LeapRouter::dispersed, 2, 0);
  CHECK(d.peers == ids({4, 2}));
  CHECK(d.similarities[1] == Approx(8.0 / 13.0));
  CHECK(leap_route(1, s, troupe::workflows::LeapRouter::clustered, 2, 0).peers == ids({3, 2}));
  CHECK(leap_route(1, s, troupe::workflows::LeapRouter::clustered, 1, 0).similarities[0] == Approx(10.0 / 13.0));
  CHECK(leap_route(1, s, troupe::workflows::LeapRouter::hybrid, 2, 0).peers == ids({4, 3}));
  CHECK(leap_route(1, s, troupe::workflows::LeapRouter::hybrid, 1, 0).peers == ids({3}));  // floor(1/2) = 0 low, 1 high
  CHECK(leap_route(1, s, troupe::workflows::LeapRouter::dispersed, 9, 0).peers.size() == 3);
  CHECK(leap_route(1, s, troupe::workflows::LeapRouter::dispersed, -1, 0).peers == ids({2, 3, 4}));
  CHECK(leap_route(1, {{1, "x"}}, troupe::workflows::LeapRouter::dispersed, 2, 0).mode == "none");
  // Random: only the other ids, no repeats, same seed same draw.
  auto r1 = leap_route(2, s, troupe::workflows::LeapRouter::random, 3, 42);
  std::vector<int> sorted = r1.peers;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == ids({1, 3, 4}));
  CHECK(leap_route(2, s, troupe::workflows::LeapRouter::random, 2, 42).peers == leap_route(2, s, troupe::workflows::LeapRouter::random, 2, 42).peers);
}

TEST_CASE("LeaP: a failed model call fails the run, naming the stage and the path", "[leap]") {
  Harness h;
  const char* fixture = R"(
rules:
  - {match: "original problem.\n\n$", regex: true, replies: ["Path one: \\boxed{4}.\n\ncut", "Path two: x.\n\ncut"]}
  - {match: 'Path two[\s\S]*<summarize>[^<]*$', regex: true, error: {status: 400, message: "context too long"}}
  - {match: '<summarize>[^<]*$', regex: true, reply: " s</summarize>"}
)";
  std::string wf = "name: err\npipeline: leap\nbackend: {kind: scripted, fixture: FIXTURE}\n"
                   "params: {paths: 2, max_turns: 3, segment_tokens: 64}\n";
  REQUIRE(h.run(wf, fixture, {item("q", "err", "4")}).ok());
  CHECK(h.outcome("q").status == "failed");
  CHECK(h.outcome("q").error.find("summary of path 2") != std::string::npos);
  CHECK(h.outcome("q").error.find("context too long") != std::string::npos);
}
