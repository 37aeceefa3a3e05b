// The loader's structured and path params, as the archon pipeline uses
// them: `layers` (a YAML list) arrives as JSON text with its position;
// `config` arrives as an absolute path next to the workflow file.
#include <catch2/catch.hpp>

#include <filesystem>

#include "workflows/workflow.hpp"

using namespace troupe;
using namespace troupe::workflows;
namespace fs = std::filesystem;

namespace {

const char* kHead =
    "pipeline: archon\n"
    "backend: {kind: scripted, fixture: rules.yaml}\n";

}  // namespace

TEST_CASE("archon params.layers: a YAML list becomes JSON text, scalars typed as YAML reads them",
          "[workflow_file][archon]") {
  std::string text = std::string(kHead) +
                     "params:\n"
                     "  layers:\n"
                     "    - [{type: generator, model: \"Qwen/Qwen2-72B\", samples: 2, temperature: 0.7, "
                     "no_system: true, model_type: null}]\n"
                     "    - - type: ranker\n"
                     "        top_k: 5\n"
                     "        note: '12'\n"
                     "        max_tokens: 1e3\n";
  auto wf = parse_workflow(text, "dir/w.yaml");
  REQUIRE(wf.ok());
  const ParamValue& v = wf->params.at("layers");
  CHECK(v.text ==
        "[[{\"type\":\"generator\",\"model\":\"Qwen/Qwen2-72B\",\"samples\":2,\"temperature\":0.7,\"no_system\":true,"
        "\"model_type\":null}],[{\"type\":\"ranker\",\"top_k\":5,\"note\":\"12\",\"max_tokens\":1000}]]");
  CHECK(v.line == 5);
  CHECK(v.col == 5);
}

TEST_CASE("archon params.config: a path relative to the workflow file, made absolute", "[workflow_file][archon]") {
  auto wf = parse_workflow(std::string(kHead) + "params: {config: cfg/a.json, seed: 3}\n", "/tmp/wfdir/w.yaml");
  REQUIRE(wf.ok());
  CHECK(wf->params.at("config").text == "/tmp/wfdir/cfg/a.json");
  CHECK(wf->params.at("seed").text == "3");
  auto abs = parse_workflow(std::string(kHead) + "params: {config: /etc/archon.json}\n", "/tmp/wfdir/w.yaml");
  REQUIRE(abs.ok());
  CHECK(abs->params.at("config").text == "/etc/archon.json");
}

TEST_CASE("archon params: wrong shapes and unknown names are errors with file:line:col", "[workflow_file][archon]") {
  auto err = [](const std::string& params) {
    auto wf = parse_workflow(std::string(kHead) + params, "w.yaml");
    REQUIRE_FALSE(wf.ok());
    CHECK(wf.error().code == ErrorCode::parse);
    return wf.error().message;
  };
  CHECK(err("params: {layers: generator}\n") == "w.yaml:3:18: params.layers: expected a list or a map, got 'generator'");
  CHECK(err("params: {config: [a.json]}\n") == "w.yaml:3:18: params.config: expected a string, got a list");
  CHECK(err("params: {parse_retries: -1}\n") == "w.yaml:3:25: params.parse_retries: must be at least 0, got -1");
  std::string unknown = err("params: {layer: []}\n");
  CHECK(unknown.rfind("w.yaml:3:10: unknown key 'layer' in params (did you mean 'layers'?)", 0) == 0);
  // The orchestrator is a role of the pipeline (a tool); a typo is still caught.
  CHECK(err("roles: {fusr: {}}\n").find("did you mean 'fuser'?") != std::string::npos);
}
