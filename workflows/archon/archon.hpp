// Archon (pipelines.md §4): a system is an ordered list of layers, each a
// list of components (generator, critic, ranker, fuser, verifier,
// unit_test_generator, unit_test_evaluator), in the shape of Archon's JSON
// configs. Callers may rely on: parse_archon_json() accepting the reference
// repository's config files as they are (unknown keys ignored, as Archon
// does) and naming the layer, component and key of any problem;
// archon_config_json() round-tripping through parse_archon_json(); and
// make_archon() running one config as a Pipeline on the workflow's roles
// (component `type` = role name; `model` = the backend model to ask).
//
// In a workflow file, `pipeline: archon` takes either
//   params: { config: path/to/archon.json }   # relative to the workflow file
// or the layers inline in YAML, in the same shape as the JSON:
//   params: { layers: [[{type: generator, samples: 2}], [{type: fuser}]] }
// Inline layers reach the pipeline as JSON text in params["layers"].text.
//
// A run also asks the `orchestrator` role, when the workflow has it (a tool
// role, archon_tool_role(), not a model), to record each layer's state and
// the final choice as steps of kind "layer" and "final"; without it the
// run is the same minus those steps. docs/archon.md has the semantics.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/pipeline.hpp"
#include "actors/roles.hpp"
#include "actors/tool_role.hpp"
#include "common/error.hpp"
#include "workflows/workflow.hpp"

namespace troupe::workflows {

struct ArchonComponent {
  std::string type;        // generator | critic | ranker | fuser | verifier | unit_test_generator | unit_test_evaluator
  std::string model;       // backend model name ("" = the backend's default)
  std::string model_type;  // Archon's provider name; recorded, not used
  std::optional<double> temperature;  // unset = the role's
  int max_tokens = 0;      // 0 = the role's
  int samples = 1;         // generator, fuser: outputs appended
  int top_k = 0;           // ranker, unit_test_evaluator: keep this many (0 = all)
  int first_k = 0;         // verifier, unit_test_evaluator: stop once this many pass (0 = off)
  bool first_pass = false; // unit_test_evaluator
  bool use_critiques = true;   // ranker, fuser: show critiques when present and aligned
  bool length_control = false; // fuser: cap at the longest candidate
  int unit_test_cap = 5;       // unit_test_generator
  bool remove_unit_tests_from_prompt = false;  // unit_test_evaluator
  bool no_system = false;      // generator
};

struct ArchonConfig {
  std::string name;
  std::vector<std::vector<ArchonComponent>> layers;
};

// Archon's JSON: {"name": ..., "layers": [[{component}, ...], ...]}. A bare
// layers array is accepted too. `source` names the text in errors.
Result<ArchonConfig> parse_archon_json(std::string_view text, const std::string& source);
// The config in Archon's JSON shape.
std::string archon_config_json(const ArchonConfig& config);
// The pipeline for one config.
std::shared_ptr<actors::Pipeline> make_archon(ArchonConfig config);

// Equality of every field (round-trip checks).
bool operator==(const ArchonComponent& a, const ArchonComponent& b);
bool operator==(const ArchonConfig& a, const ArchonConfig& b);

// The seven component types, in the order docs list them.
const std::vector<std::string>& archon_component_types();

// Run settings besides the config (workflow params; see docs/archon.md).
struct ArchonOptions {
  int64_t seed = 0;        // the final choice among several candidates: seed + item id
  int parse_retries = 10;  // critic, verifier verdict, unit-test roles: re-asks on unparsable output (§4(d))
  int warn_candidates = 32;  // a layer's output above this many candidates is noted (context-window risk)
  // The verifier's first ("reasoning") prompt; "" = the built-in one.
  // {question} and {candidate} are filled in; it is sent with the verifier
  // role's system prompt (`verifier_system`, "" = built-in).
  std::string verifier_reasoning_template;
  std::string verifier_system;
  // The generator role's template, used to build the prompt itself for
  // components with no_system ("" = built-in).
  std::string generator_template;
};
std::shared_ptr<actors::Pipeline> make_archon(ArchonConfig config, ArchonOptions options);

// The roles' built-in prompts and sampling, and the orchestrator tool role
// (archon_prompts.cpp).
actors::RoleSpec archon_role_spec(const std::string& role);
std::optional<actors::ToolFn> archon_tool_role(const Workflow& wf, const std::string& role);

}  // namespace troupe::workflows
