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

TEST_CASE("daemon config: connection limits load, and streams must leave threads for other requests",
          "[daemon][config]") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.file("wf"));
  const std::string base = "workflows_dir: wf\nbackends:\n  demo: {kind: scripted, fixture: rules.yaml}\n";
  auto d = daemon::parse_daemon_config(base, dir.file("troupe.yaml"));
  REQUIRE(d.ok());
  CHECK(d->max_connections == 256);
  CHECK(d->max_event_streams == 32);
  CHECK(d->max_event_streams < d->http_threads);
  auto c = daemon::parse_daemon_config(base + "http_threads: 8\nmax_connections: 20\nmax_event_streams: 3\n"
                                              "header_timeout_s: 2\nread_timeout_s: 4\nwrite_timeout_s: 6\n",
                                       dir.file("troupe.yaml"));
  INFO((c.ok() ? std::string() : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->max_connections == 20);
  CHECK(c->max_event_streams == 3);
  CHECK(c->header_timeout_s == 2);
  CHECK(c->read_timeout_s == 4);
  CHECK(c->write_timeout_s == 6);
  auto small = daemon::parse_daemon_config(base + "http_threads: 4\n", dir.file("troupe.yaml"));
  REQUIRE(small.ok());
  CHECK(small->max_event_streams == 2);  // by default half the threads
  auto bad = daemon::parse_daemon_config(base + "http_threads: 4\nmax_event_streams: 4\n", dir.file("troupe.yaml"));
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains(":5:"));
  CHECK_THAT(bad.error().message, Catch::Contains("max_event_streams: must be below http_threads (4)"));
  auto zero = daemon::parse_daemon_config(base + "header_timeout_s: 0\n", dir.file("troupe.yaml"));
  REQUIRE_FALSE(zero.ok());
  CHECK_THAT(zero.error().message, Catch::Contains("header_timeout_s: must be above 0"));
}

TEST_CASE("daemon config: only a loopback host may go without a token, the address parsed", "[daemon][config]") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.file("wf"));
  const std::string rest = "workflows_dir: wf\nbackends:\n  demo: {kind: scripted, fixture: rules.yaml}\n";
  for (const char* host : {"127.0.0.2", "::1", "localhost"}) {
    INFO(host);
    CHECK(daemon::parse_daemon_config("listen: {host: \"" + std::string(host) + "\"}\n" + rest, dir.file("t.yaml")).ok());
  }
  for (const char* host : {"127.evil.com", "0.0.0.0", "1127.0.0.1"}) {
    INFO(host);
    auto r = daemon::parse_daemon_config("listen: {host: \"" + std::string(host) + "\"}\n" + rest, dir.file("t.yaml"));
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("without a token"));
  }
}

TEST_CASE("daemon config: a local backend's kv_type takes f32, f16 or bf16, and another value is named at the value",
          "[daemon][config]") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.file("wf"));
  for (const char* type : {"f32", "f16", "bf16"}) {
    auto c = daemon::parse_daemon_config(std::string("workflows_dir: wf\nbackends:\n  gpu:\n    kind: local\n"
                                                     "    model_file: m.gguf\n    kv_type: ") +
                                             type + "\n",
                                         dir.file("troupe.yaml"));
    INFO(type << ": " << (c.ok() ? std::string("ok") : c.error().message));
    REQUIRE(c.ok());
    CHECK(c->backends[0].config.kv_type == type);
  }
  auto bad = daemon::parse_daemon_config(
      "workflows_dir: wf\nbackends:\n  gpu: {kind: local, model_file: m.gguf, kv_type: half}\n", dir.file("troupe.yaml"));
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("backends.gpu") && Catch::Contains("'half'") &&
                                      Catch::Contains("expected f32, f16 or bf16"));
}
