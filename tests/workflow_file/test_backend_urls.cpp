// backend.urls / replicas / routing: several endpoints behind one router
// (docs/routing.md), and the single-url form as before.
#include <catch2/catch.hpp>

#include <string>

#include "workflows/workflow.hpp"

using troupe::workflows::parse_workflow;

namespace {

std::string with_backend(const std::string& backend) { return "pipeline: spoc\nbackend:\n" + backend; }

// The error text of a workflow that must not load.
std::string refusal(const std::string& backend) {
  auto wf = parse_workflow(with_backend(backend), "w.yaml");
  REQUIRE_FALSE(wf.ok());
  return wf.error().message;
}

}  // namespace

TEST_CASE("backend.urls lists several servers, url then holds the first", "[workflow_file][routing]") {
  auto wf = parse_workflow(with_backend("  kind: http\n  model: m\n"
                                        "  urls: [\"http://127.0.0.1:8001\", \"http://127.0.0.1:8002/v1\"]\n"
                                        "  routing: {policy: round_robin, beta: 0.25, overload_ratio: 3,\n"
                                        "            eject_after: 2, health_interval_s: 0, health_timeout_s: 0.5}\n"),
                           "w.yaml");
  REQUIRE(wf.ok());
  const auto& b = wf->backend;
  REQUIRE(b.urls == std::vector<std::string>{"http://127.0.0.1:8001", "http://127.0.0.1:8002/v1"});
  CHECK(b.url == "http://127.0.0.1:8001");
  CHECK(b.routing.policy == "round_robin");
  CHECK(b.routing.beta == 0.25);
  CHECK(b.routing.overload_ratio == 3);
  CHECK(b.routing.eject_after == 2);
  CHECK(b.routing.health_interval_s == 0);
  CHECK(b.routing.health_timeout_s == 0.5);
}

TEST_CASE("backend.url alone still loads, with no endpoints list and default routing", "[workflow_file][routing]") {
  auto wf = parse_workflow(with_backend("  kind: http\n  url: http://127.0.0.1:8000\n  model: m\n"), "w.yaml");
  REQUIRE(wf.ok());
  CHECK(wf->backend.url == "http://127.0.0.1:8000");
  CHECK(wf->backend.urls.empty());
  CHECK(wf->backend.routing.policy == "affinity");
  CHECK(wf->backend.routing.beta == 0.5);
}

TEST_CASE("backend.replicas runs several local engines", "[workflow_file][routing]") {
  auto wf = parse_workflow(with_backend("  kind: local\n  model_file: m.gguf\n  replicas: 3\n"), "/tmp/w.yaml");
  REQUIRE(wf.ok());
  CHECK(wf->backend.replicas == 3);
}

TEST_CASE("invalid endpoint lists and routing values name the key", "[workflow_file][routing]") {
  CHECK_THAT(refusal("  kind: http\n  model: m\n  urls: []\n"),
             Catch::Contains("backend.urls: expected a non-empty list of URLs"));
  CHECK_THAT(refusal("  kind: http\n  model: m\n  urls: \"http://a:1\"\n"),
             Catch::Contains("backend.urls: expected a non-empty list of URLs"));
  CHECK_THAT(refusal("  kind: http\n  model: m\n  urls: [\"http://a:1\", \"ftp://b\"]\n"),
             Catch::Contains("backend.urls[1]: expected a URL starting with http:// or https://"));
  CHECK_THAT(refusal("  kind: http\n  model: m\n  urls: [\"http://a:1\", \"http://a:1\"]\n"),
             Catch::Contains("backend.urls[1]") && Catch::Contains("listed twice"));
  CHECK_THAT(refusal("  kind: http\n  model: m\n  url: http://a:1\n  urls: [\"http://b:1\"]\n"),
             Catch::Contains("backend.urls: give either url"));
  CHECK_THAT(refusal("  kind: http\n  model: m\n"), Catch::Contains("missing required key 'url'"));
  CHECK_THAT(refusal("  kind: http\n  model: m\n  urls: [\"http://a:1\"]\n  routing: {beta: -0.5}\n"),
             Catch::Contains("backend.routing.beta: must not be negative"));
  CHECK_THAT(refusal("  kind: http\n  model: m\n  urls: [\"http://a:1\"]\n  routing: {overload_ratio: 0.5}\n"),
             Catch::Contains("backend.routing.overload_ratio: must be at least 1"));
  CHECK_THAT(refusal("  kind: http\n  model: m\n  urls: [\"http://a:1\"]\n  routing: {eject_after: 0}\n"),
             Catch::Contains("backend.routing.eject_after: must be at least 1"));
  CHECK_THAT(refusal("  kind: http\n  model: m\n  urls: [\"http://a:1\"]\n  routing: {policy: random}\n"),
             Catch::Contains("backend.routing.policy"));
  CHECK_THAT(refusal("  kind: http\n  model: m\n  urls: [\"http://a:1\"]\n  routing: {betta: 1}\n"),
             Catch::Contains("unknown key 'betta' in backend.routing"));
  CHECK_THAT(refusal("  kind: local\n  model_file: m.gguf\n  replicas: 0\n"),
             Catch::Contains("backend.replicas: must be at least 1"));
  CHECK_THAT(refusal("  kind: http\n  model: m\n  url: http://a:1\n  replicas: 2\n"),
             Catch::Contains("backend.replicas: only kind local"));
  CHECK_THAT(refusal("  kind: local\n  model_file: m.gguf\n  urls: [\"http://a:1\"]\n"),
             Catch::Contains("backend.urls: only kind http lists servers"));
}
