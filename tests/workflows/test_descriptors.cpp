// The registry's two halves agree (workflows/pipeline_list.hpp): every
// pipeline the loader knows has a runtime descriptor over the same rules,
// and its factory refuses, naming the key, a value the table refuses even
// when the Workflow did not come through the loader.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "workflows/pipeline_rules.hpp"
#include "workflows/pipelines.hpp"

using namespace troupe;
using namespace troupe::workflows;

TEST_CASE("every registered pipeline has one descriptor over the loader's rules, in the same order",
          "[workflows][descriptors]") {
  const auto& rules = registered_pipeline_rules();
  const auto& descriptors = pipeline_descriptors();
  REQUIRE(descriptors.size() == rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    INFO(rules[i]->name);
    CHECK(descriptors[i]->rules == rules[i]);
    CHECK(descriptors[i]->factory);
    CHECK(find_pipeline(rules[i]->name) == descriptors[i]);
  }
  CHECK(find_pipeline("no_such_pipeline") == nullptr);
  Workflow unknown;
  unknown.file = "w.yaml";
  unknown.pipeline = "no_such_pipeline";
  auto f = make_pipeline_factory(unknown);
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().message.find("no_such_pipeline") != std::string::npos);
}

TEST_CASE("each pipeline's factory refuses an out-of-bounds param, naming it, without the loader",
          "[workflows][descriptors]") {
  for (const PipelineDescriptor* d : pipeline_descriptors()) {
    size_t checked = 0;
    for (const ParamRule& rule : d->rules->params) {
      if (rule.kind != ParamKind::integer || !std::isfinite(rule.bounds.min)) continue;
      INFO(d->rules->name << " params." << rule.name);
      Workflow wf;
      wf.file = "w.yaml";
      wf.pipeline = d->rules->name;
      wf.params[rule.name] = ParamValue{format_number(rule.bounds.min - 1), 6, 12};
      auto f = make_pipeline_factory(wf);
      REQUIRE_FALSE(f.ok());
      CHECK(f.error().message.rfind("w.yaml:6:12: params." + rule.name + ": ", 0) == 0);
      ++checked;
    }
    INFO(d->rules->name);
    CHECK(checked > 0);
  }
}
