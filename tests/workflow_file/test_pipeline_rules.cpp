// Every pipeline's parameter table (workflows/NAME/NAME_descriptor.hpp),
// table-driven: for each rule, a value just outside its bounds is refused
// by the loader with an error at the value naming the key, and the
// pipeline's typed reader (the generated params struct) refuses the same
// value with the same message; defaults and in-bounds values pass both.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "workflows/pipeline_rules.hpp"
#include "workflows/workflow.hpp"

using namespace troupe;
using namespace troupe::workflows;

namespace {

// Values a rule must refuse.
std::vector<std::string> out_of_bounds(const ParamRule& rule) {
  std::vector<std::string> out;
  const ParamBounds& b = rule.bounds;
  switch (rule.kind) {
    case ParamKind::integer:
      if (std::isfinite(b.min)) out.push_back(format_number(b.min - 1));
      if (std::isfinite(b.max)) out.push_back(format_number(b.max + 1));
      if (b.zero_forbidden) out.push_back("0");
      out.push_back("1.5");
      break;
    case ParamKind::number:
      if (std::isfinite(b.min)) out.push_back(format_number(b.min_exclusive ? b.min : b.min - 0.5));
      if (std::isfinite(b.max)) out.push_back(format_number(b.max + 0.5));
      out.push_back("many");
      break;
    case ParamKind::boolean:
      out.push_back("maybe");
      break;
    case ParamKind::choice:
      out.push_back("no_such_choice");
      break;
    case ParamKind::string:
    case ParamKind::program:
      if (b.non_empty) out.push_back("\"\"");
      break;
    case ParamKind::structured:
    case ParamKind::path:
      break;
  }
  return out;
}

// Values a rule must accept: its default, and its bounds themselves.
std::vector<std::string> in_bounds(const ParamRule& rule) {
  std::vector<std::string> out;
  const ParamBounds& b = rule.bounds;
  switch (rule.kind) {
    case ParamKind::integer:
    case ParamKind::number:
      out.push_back(rule.default_text);
      if (std::isfinite(b.min) && !b.min_exclusive && !(b.zero_forbidden && b.min == 0)) out.push_back(format_number(b.min));
      if (std::isfinite(b.max)) out.push_back(format_number(b.max));
      break;
    case ParamKind::boolean:
      out = {"true", "false"};
      break;
    case ParamKind::choice:
      out = rule.choices;
      break;
    case ParamKind::string:
    case ParamKind::program:
      out.push_back("some text");
      break;
    case ParamKind::structured:
    case ParamKind::path:
      break;
  }
  return out;
}

std::string workflow_text(const std::string& pipeline, const std::string& key, const std::string& value) {
  return "pipeline: " + pipeline + "\nbackend: {kind: scripted, fixture: rules.yaml}\nparams:\n  " + key + ": " +
         value + "\n";
}

// The text after "params.KEY: " (the problem itself).
std::string problem(const std::string& message, const std::string& key) {
  std::string marker = "params." + key + ": ";
  auto at = message.find(marker);
  return at == std::string::npos ? "<no " + marker + "in: " + message + ">" : message.substr(at + marker.size());
}

}  // namespace

TEST_CASE("every pipeline's table refuses out-of-bounds values in the loader and the typed reader alike",
          "[workflow_file][pipeline_rules]") {
  const auto& all = registered_pipeline_rules();
  REQUIRE(all.size() == 6);
  for (const PipelineRules* rules : all) {
    REQUIRE(rules->read_typed);
    size_t refused = 0;
    for (const ParamRule& rule : rules->params) {
      for (const std::string& value : out_of_bounds(rule)) {
        INFO(rules->name << " params." << rule.name << ": " << value);
        auto wf = parse_workflow(workflow_text(rules->name, rule.name, value), "w.yaml");
        REQUIRE_FALSE(wf.ok());
        CHECK(wf.error().code == ErrorCode::parse);
        // At the value, naming the key.
        std::string at = "w.yaml:4:" + std::to_string(3 + rule.name.size() + 2) + ": params." + rule.name + ": ";
        CHECK(wf.error().message.rfind(at, 0) == 0);
        // The typed reader, given the same value, says the same.
        Workflow by_hand;
        by_hand.file = "w.yaml";
        by_hand.pipeline = rules->name;
        by_hand.params[rule.name] = ParamValue{value == "\"\"" ? "" : value, 4, 9};
        auto typed = rules->read_typed(by_hand);
        REQUIRE(typed.has_value());
        CHECK(typed->message.rfind("w.yaml:4:9: params." + rule.name + ": ", 0) == 0);
        CHECK(problem(typed->message, rule.name) == problem(wf.error().message, rule.name));
        ++refused;
      }
    }
    INFO(rules->name);
    CHECK(refused > 0);
  }
}

TEST_CASE("every pipeline's defaults and in-bounds values pass the loader and the typed reader",
          "[workflow_file][pipeline_rules]") {
  for (const PipelineRules* rules : registered_pipeline_rules()) {
    Workflow empty;
    empty.file = "w.yaml";
    CHECK_FALSE(rules->read_typed(empty).has_value());  // every default
    for (const ParamRule& rule : rules->params) {
      for (const std::string& value : in_bounds(rule)) {
        INFO(rules->name << " params." << rule.name << ": " << value);
        auto wf = parse_workflow(workflow_text(rules->name, rule.name, "'" + value + "'"), "w.yaml");
        REQUIRE(wf.ok());
        auto typed = rules->read_typed(*wf);
        CHECK_FALSE(typed.has_value());
      }
    }
  }
}

TEST_CASE("a table's rules are well formed: bounds hold the default, choices name it", "[workflow_file][pipeline_rules]") {
  for (const PipelineRules* rules : registered_pipeline_rules()) {
    for (const ParamRule& rule : rules->params) {
      INFO(rules->name << " params." << rule.name);
      CHECK_FALSE(rule.doc.empty());
      if (rule.kind == ParamKind::structured || rule.kind == ParamKind::path) continue;
      CHECK_FALSE(check_param_text(rule, rule.default_text).has_value());
    }
    for (const std::string& tool : rules->tool_roles)
      CHECK(std::find(rules->roles.begin(), rules->roles.end(), tool) != rules->roles.end());
  }
}

TEST_CASE("the stricter bound of the two old schemas is the one kept", "[workflow_file][pipeline_rules]") {
  auto error_of = [](const std::string& pipeline, const std::string& params) {
    auto wf = parse_workflow("pipeline: " + pipeline + "\nbackend: {kind: scripted, fixture: r.yaml}\nparams: " + params +
                                 "\n",
                             "w.yaml");
    return wf.ok() ? std::string("accepted") : wf.error().message;
  };
  CHECK(error_of("iad", "{candidates: 1025}") == "w.yaml:3:22: params.candidates: must be between 1 and 1024, got 1025");
  CHECK(error_of("iad", "{judge_scale: 0}") == "w.yaml:3:23: params.judge_scale: must be greater than 0, got 0");
  CHECK(error_of("iad", "{max_score: 1.5}") == "w.yaml:3:21: params.max_score: must be in (0, 1], got 1.5");
  CHECK(error_of("leap", "{top_k: 0}").find("params.top_k: must not be 0") != std::string::npos);
  CHECK(error_of("coc", "{width: 1000001}") == "w.yaml:3:17: params.width: must be between 1 and 1000000, got 1000001");
  CHECK(error_of("coc", "{context_field: ''}") == "w.yaml:3:25: params.context_field: must not be empty");
}
