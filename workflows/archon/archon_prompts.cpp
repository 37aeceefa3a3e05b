// Archon's roles (pipelines.md §4(a)): one per component type, with
// built-in prompts in the structure the spec describes (our own wording).
// Template variables the pipeline fills in (docs/archon.md lists them):
//   {question}      the input's question, never altered by unit tests
//   {unit_tests}    generator: "" or a block listing the unit tests
//   {candidates}    critic/ranker/fuser: "[1] ...\n\n[2] ..." with
//                   "Critique: ..." after each when critiques are shown
//   {count}         how many candidates are listed
//   {candidate}     verifier, unit_test_evaluator: the one response
//   {reasoning}     verifier verdict prompt: the reasoning call's output
//   {unit_test_list} unit_test_evaluator: "1. ...\n2. ..."
//   {unit_test_cap} unit_test_generator: how many tests to write
//   {length_note}   fuser: "" or the length_control sentence
#include "workflows/archon/archon.hpp"
#include "workflows/pipelines.hpp"

namespace troupe::workflows {

extern const char* const kArchonVerifierReasoning;
const char* const kArchonVerifierReasoning =
    "Query:\n{question}\n\nResponse:\n{candidate}\n\n"
    "Argue carefully why this response is an accurate and complete answer to the query: check each claim "
    "and each step, and say plainly where an argument fails.";

actors::RoleSpec archon_role_spec(const std::string& role) {
  actors::RoleSpec spec = actors::default_role_spec(role);
  spec.kind = actors::RoleKind::plain;
  spec.parse_retries = 0;  // the pipeline re-asks itself, one recorded step per attempt
  spec.sampling.temperature = 0.7;  // Archon's configs: 0.7 throughout
  spec.sampling.max_tokens = 8192;  // a component's max_tokens lowers it
  if (role == "generator") {
    spec.kind = actors::RoleKind::solver;  // answers are extracted for scoring
    spec.sampling.max_tokens = 2048;
    spec.system = "You are a helpful assistant.";
    spec.template_text = "{question}{unit_tests}";
  } else if (role == "critic") {
    spec.system =
        "You are a critical evaluator. You read several responses to one query and state the strengths and "
        "weaknesses of each.";
    spec.template_text =
        "Query:\n{question}\n\nResponses:\n{candidates}\n\n"
        "For each of the {count} responses, in order, write its number in brackets on a line of its own, then "
        "'Strengths:' followed by bullet points, then 'Weaknesses:' followed by bullet points. Cover every "
        "response from [1] to [{count}]. Write nothing before the first response and nothing after the last.\n\n"
        "Format:\n[1]\nStrengths:\n- ...\nWeaknesses:\n- ...\n[2]\nStrengths:\n- ...\nWeaknesses:\n- ...";
  } else if (role == "ranker") {
    spec.system = "You are a ranking assistant. You rank multiple answers to one query from best to worst.";
    spec.template_text =
        "Query:\n{question}\n\nResponses:\n{candidates}\n\n"
        "Rank the {count} responses above from best to worst by how accurately, completely and helpfully they "
        "answer the query. Start your reply with 'Answer:' on the first line, followed by the ranking written "
        "with the bracketed numbers, for example: Answer: [2] > [1] > [3]. Then explain the ranking.";
  } else if (role == "fuser") {
    spec.kind = actors::RoleKind::solver;
    spec.system = "You fuse multiple answers into one better answer.";
    spec.template_text =
        "You have been given {count} responses to the query below. Synthesize them into one high-quality "
        "response. Some of them may be wrong or biased: evaluate them critically instead of copying them, and "
        "do not simply repeat one of them. Make the response accurate, complete and well structured.{length_note}"
        "\n\nQuery:\n{question}\n\nResponses:\n{candidates}";
  } else if (role == "verifier") {
    spec.system =
        "You are a verification expert. You judge whether a response answers a query accurately and completely.";
    spec.template_text =
        "Query:\n{question}\n\nResponse:\n{candidate}\n\nReasoning about the response:\n{reasoning}\n\n"
        "Based on this reasoning, is the response correct and complete? Answer briefly, and end your reply with "
        "exactly one of [Correct] or [Incorrect] on its last line.";
  } else if (role == "unit_test_generator") {
    spec.system = "You write unit tests that a good response to a query must pass.";
    spec.template_text =
        "Query:\n{question}\n\n"
        "Write {unit_test_cap} unit tests that a correct and complete response to this query must pass. Each test "
        "is one sentence in natural language that can be checked by reading a response, such as \"The response "
        "mentions ...\" or \"The final answer is ...\". Return only a Python list of strings, for example: "
        "[\"The response ...\", \"The response ...\"]";
  } else if (role == "unit_test_evaluator") {
    spec.system = "You check responses against unit tests.";
    spec.template_text =
        "Query:\n{question}\n\nResponse:\n{candidate}\n\nUnit tests:\n{unit_test_list}\n\n"
        "Decide for each unit test whether the response passes it. Explain briefly, then end with one line per "
        "test, in order, written exactly like this:\nUnit Test #1: [Passed]\nUnit Test #2: [Failed]";
  }
  return spec;
}

std::optional<actors::ToolFn> archon_tool_role(const Workflow&, const std::string& role) {
  if (role != "orchestrator") return std::nullopt;
  // The orchestrator is not a model: it records the layer states and the
  // final choice the pipeline made, as steps (vars "record" and "answer").
  return actors::ToolFn([](const actors::RoleTask& task) {
    actors::RoleOutput out;
    actors::Candidate c;
    auto r = task.vars.find("record");
    auto a = task.vars.find("answer");
    c.text = r == task.vars.end() ? "" : r->second;
    c.answer = a == task.vars.end() ? "" : a->second;
    c.finish = "stop";
    out.candidates.push_back(std::move(c));
    return out;
  });
}

}  // namespace troupe::workflows
