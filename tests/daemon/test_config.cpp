// troupe.yaml: backend sections in either YAML style, errors at the value.
#include <catch2/catch.hpp>

#include <filesystem>

#include "daemon/config.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;

TEST_CASE("daemon config: a backend written in block style loads like the flow style", "[daemon][config]") {
  const std::string block =
      "workflows_dir: wf\n"
      "backends:\n"
      "  demo:\n"
      "    kind: scripted\n"
      "    fixture: rules.yaml\n"
      "  vllm:\n"
      "    kind: http\n"
      "    url: http://127.0.0.1:8000\n"
      "    model: m\n"
      "    unsupported:\n"
      "      - n\n";
  const std::string flow =
      "workflows_dir: wf\n"
      "backends:\n"
      "  demo: {kind: scripted, fixture: rules.yaml}\n"
      "  vllm: {kind: http, url: \"http://127.0.0.1:8000\", model: m, unsupported: [n]}\n";
  testing::TempDir dir;
  std::filesystem::create_directories(dir.file("wf"));
  auto a = daemon::parse_daemon_config(block, dir.file("troupe.yaml"));
  auto b = daemon::parse_daemon_config(flow, dir.file("troupe.yaml"));
  INFO((a.ok() ? std::string() : a.error().message));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(a->backends.size() == 2);
  REQUIRE(b->backends.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(a->backends[i].name == b->backends[i].name);
    CHECK(a->backends[i].config.kind == b->backends[i].config.kind);
    CHECK(a->backends[i].config.fixture == b->backends[i].config.fixture);
    CHECK(a->backends[i].config.url == b->backends[i].config.url);
    CHECK(a->backends[i].config.unsupported == b->backends[i].config.unsupported);
  }
  CHECK(a->backends[0].config.fixture == dir.file("rules.yaml"));
  CHECK(a->backends[1].config.unsupported == std::vector<std::string>{"n"});
}

TEST_CASE("daemon config: a bad backend key is reported under backends.NAME", "[daemon][config]") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.file("wf"));
  auto r = daemon::parse_daemon_config("workflows_dir: wf\nbackends:\n  demo:\n    kind: scripted\n    fixtur: x.yaml\n",
                                       dir.file("troupe.yaml"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("backends.demo") != std::string::npos);
  CHECK(r.error().message.find("fixtur") != std::string::npos);
}
