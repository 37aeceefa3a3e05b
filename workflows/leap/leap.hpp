// LeaP — Learning from Peers (Luo et al., arXiv 2505.07787), pipelines.md §2:
// the parts of the pipeline that callers and tests may use directly. The
// pipeline itself is made by make_leap(); the registry (pipelines.hpp)
// reaches it through leap_pipeline() (its descriptor: factory, role specs, the peer tool role).
//
// What callers may rely on:
// - leap_params() validates a workflow's params (defaults as in §2(b)) and
//   returns an Error naming the file, line and column of a bad value.
// - leap_route() is the router of §2(a) step 5: deterministic for given
//   inputs (ties broken by path id; random routing draws from `seed` only).
// - The text helpers are pure functions; the prompt pools are fixed, so a
//   run replays identically given its seed and item id.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/pipeline.hpp"
#include "actors/roles.hpp"
#include "common/error.hpp"
#include "workflows/leap/leap_descriptor.hpp"
#include "workflows/workflow.hpp"

namespace troupe::workflows {

// LeapParams (the parameter table) is in leap_descriptor.hpp. This adds the
// check across keys: roles.solver.sampling.max_tokens covers every call.
Result<LeapParams> leap_params(const Workflow& wf);
std::shared_ptr<actors::Pipeline> make_leap(LeapParams params);
// The solver's built-in prompt and sampling (§2(b)); other roles: the defaults.
actors::RoleSpec leap_role_spec(const std::string& role);

// One routing decision: the receiver, its peers in comment order and their
// Levenshtein ratios to the receiver's summary, and the mode that chose them
// ("all" when top_k = -1, "none" when no other path is active).
struct LeapRoute {
  int receiver = 0;
  std::vector<int> peers;
  std::vector<double> similarities;
  std::string mode;
};

// §2(a) step 5 for `receiver` over the still-active paths' (id, summary):
//   dispersed  the k lowest ratios (ascending; ties to the lower id)
//   clustered  the k highest (descending; ties to the lower id)
//   hybrid     floor(k/2) lowest, then k - floor(k/2) highest of the rest
//   random     k distinct peers drawn with a generator seeded by `seed`
//   top_k -1   every other path, in id order
LeapRoute leap_route(int receiver, const std::vector<std::pair<int, std::string>>& summaries,
                     LeapRouter router, int top_k, uint64_t seed);
std::string leap_route_json(const LeapRoute& route);
Result<LeapRoute> leap_parse_route(std::string_view json);

// The "peer" tool role (leap_router.cpp). task.vars["op"] is "route"
// (vars receiver, summaries = JSON [{path, summary}] of the active paths,
// seed) -> one candidate whose text is leap_route_json(); or "transcript"
// (vars text, answer; task.messages = the user prompt) -> one candidate
// echoing the path. Throws std::runtime_error on malformed vars (the tool
// role turns that into an error output).
actors::RoleOutput leap_peer_tool(const LeapParams& params, const actors::RoleTask& task);

// Prompt texts (leap_prompts.cpp).
const std::string& leap_instruction();      // the LeaP block after the question (§2(a) step 1)
const std::string& leap_cot_instruction();  // LeaP-T: a plain chain-of-thought request
const std::string& leap_prefill();          // the assistant's first-person recap of the protocol
const std::vector<std::string>& leap_recaps();   // 7 "let me recap" sentences
const std::vector<std::string>& leap_openers();  // 6 openers, each beginning " <summarize>"
const std::string& leap_reflection();       // after a comment block
const std::string& leap_no_comments();      // the single-active-path stub, with its sentence
const std::string& leap_math_answer_prefix();

// A seeded generator's draw for (seed, item, block, path, purpose).
uint64_t leap_seed_for(int64_t seed, const std::string& item_id, int block, int path, std::string_view purpose);
// recap + opener, chosen by `draw`.
std::string leap_trigger(uint64_t draw);
// Keeps `text` up to and including its last "\n\n" (the last paragraph,
// usually cut mid-sentence, is dropped); text without one gains "\n\n".
std::string leap_cut_last_paragraph(const std::string& text);
// §2(a) step 4: drops "</think>" and completes or forces "</summarize>".
std::string leap_normalize_summary(std::string text, const std::string& stop_string);
// The text of the last <summarize>...</summarize> span, trimmed.
std::string leap_last_summary(const std::string& path_text);
// " <comment> Peer 1: \"...\"\nPeer 2: \"...\" </comment>\n\n" + reflection;
// with no peers, the "No comments" stub.
std::string leap_comment_block(const std::vector<std::string>& peer_summaries);

}  // namespace troupe::workflows
