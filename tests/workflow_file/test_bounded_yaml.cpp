// Reading YAML from outside is bounded (common/yaml_read.hpp): aliases are
// counted as if expanded, nesting and size are capped, and each limit is an
// error at FILE:LINE:COL that says which limit was crossed. The workflow
// loader reads through it, so a "billion laughs" workflow file or a deeply
// nested one is refused with a clear message instead of exhausting memory
// or failing with yaml-cpp's "bad file".
#include <catch2/catch.hpp>
#include <sys/resource.h>

#include <string>

#include "common/yaml_read.hpp"
#include "workflows/workflow.hpp"

using namespace troupe;
using namespace troupe::workflows;

namespace {

// Archon's `layers` param is turned into JSON by walking the YAML tree: the
// place where unexpanded aliases used to blow up (10^9 nodes from ~1 KB).
std::string billion_laughs_workflow() {
  std::string text =
      "pipeline: archon\n"
      "backend: {kind: scripted, fixture: rules.yaml}\n"
      "params:\n"
      "  layers:\n"
      "    - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";  // line 5
  const std::string names = "abcdefghi";
  for (size_t i = 1; i < names.size(); ++i) {  // lines 6..13
    std::string prev = std::string("*") + names[i - 1];
    text += "    - &" + std::string(1, names[i]) + " [" + prev;
    for (int k = 1; k < 10; ++k) text += ", " + prev;
    text += "]\n";
  }
  return text;
}

long max_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

std::string nested_flow_lists(int depth) {
  return std::string(static_cast<size_t>(depth), '[') + std::string(static_cast<size_t>(depth), ']');
}

}  // namespace

TEST_CASE("a billion-laughs workflow file is refused at the alias that crosses the node limit, in bounded memory",
          "[workflow_file][limits]") {
  const std::string text = billion_laughs_workflow();
  REQUIRE(text.size() < 1500);
  long before = max_rss_kb();
  auto wf = parse_workflow(text, "w.yaml");
  REQUIRE_FALSE(wf.ok());
  CHECK(wf.error().code == ErrorCode::parse);
  // a..d hold 10 + 100 + 1000 + 10000 lists and scalars; the alias list
  // &e (line 9) crosses 100000 at its ninth *d (11111 nodes each).
  CHECK(wf.error().message.rfind("w.yaml:9:", 0) == 0);
  CHECK_THAT(wf.error().message, Catch::Contains("alias expansion exceeds 100000 nodes (alias *d here)"));
  // Expanded, this file is 10^9 scalars; refused, it costs next to nothing.
  CHECK(max_rss_kb() - before < 64 * 1024);
}

TEST_CASE("a billion-laughs anchor that is never used by the loader is refused all the same",
          "[workflow_file][limits]") {
  std::string text = billion_laughs_workflow();
  text.replace(text.find("params:\n  layers:\n"), 18, "laughs:\n  list:\n");
  auto wf = parse_workflow(text, "w.yaml");
  REQUIRE_FALSE(wf.ok());
  CHECK_THAT(wf.error().message, Catch::StartsWith("w.yaml:9:") && Catch::Contains("alias expansion exceeds 100000 nodes"));
}

TEST_CASE("600 levels of nesting name the depth limit and the line and column where it is crossed",
          "[workflow_file][limits]") {
  std::string flow = "pipeline: spoc\nbackend: {kind: scripted, fixture: rules.yaml}\nparams: " + nested_flow_lists(600) + "\n";
  auto wf = parse_workflow(flow, "w.yaml");
  REQUIRE_FALSE(wf.ok());
  // The top-level map is level 1; the lists open at column 9 of line 3, so
  // level 65 is the 64th '[' (column 72).
  CHECK_THAT(wf.error().message, Catch::StartsWith("w.yaml:3:72: nesting deeper than 64 levels"));

  std::string block = "pipeline: spoc\nbackend: {kind: scripted, fixture: rules.yaml}\nparams:\n";
  for (int level = 1; level <= 600; ++level) block += std::string(static_cast<size_t>(2 * level), ' ') + "k:\n";
  auto wf2 = parse_workflow(block, "w.yaml");
  REQUIRE_FALSE(wf2.ok());
  CHECK_THAT(wf2.error().message, Catch::Contains("nesting deeper than 64 levels") &&
                                      Catch::Contains("level 65") && !Catch::Contains("bad file"));
}

TEST_CASE("an alias inside the node it names is refused instead of looping", "[workflow_file][limits]") {
  auto wf = parse_workflow("pipeline: archon\nbackend: {kind: scripted, fixture: rules.yaml}\n"
                           "params:\n  layers: &loop [a, *loop]\n",
                           "w.yaml");
  REQUIRE_FALSE(wf.ok());
  CHECK_THAT(wf.error().message,
             Catch::StartsWith("w.yaml:4:21: alias *loop refers to a map or list that contains it"));
}

TEST_CASE("read_yaml counts scalar bytes with aliases expanded, across documents", "[workflow_file][limits]") {
  YamlLimits small;
  small.max_scalar_bytes = 100;
  auto ok = read_yaml("a: &x '" + std::string(40, 'z') + "'\nb: *x\n", "s.yaml", small);
  REQUIRE(ok.ok());
  CHECK((*ok)["b"].as<std::string>() == std::string(40, 'z'));

  auto over = read_yaml("a: &x '" + std::string(40, 'z') + "'\nb: *x\nc: *x\n", "s.yaml", small);
  REQUIRE_FALSE(over.ok());
  CHECK_THAT(over.error().message, Catch::StartsWith("s.yaml:3:4: alias expansion exceeds 100 bytes of text"));

  auto docs = read_yaml_documents("'" + std::string(60, 'y') + "'\n---\n'" + std::string(60, 'y') + "'\n", "d.yaml", small);
  REQUIRE_FALSE(docs.ok());
  CHECK_THAT(docs.error().message, Catch::StartsWith("d.yaml:3:1: more than 100 bytes of scalar text"));
}

TEST_CASE("read_yaml refuses text over max_bytes before parsing it, and keeps yaml-cpp's syntax errors",
          "[workflow_file][limits]") {
  YamlLimits small;
  small.max_bytes = 10;
  auto big = read_yaml("key: 12345678901\n", "b.yaml", small);
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().message == "b.yaml:1:1: the text is 17 bytes; troupe reads at most 10 bytes of YAML");

  auto bad = read_yaml("a: [1, 2\n", "x.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::StartsWith("x.yaml:") && Catch::Contains("YAML syntax error"));

  auto empty = read_yaml("", "e.yaml");
  REQUIRE(empty.ok());
  CHECK(empty->IsNull());
}

TEST_CASE("nesting exactly at the depth limit reads, one more level does not", "[workflow_file][limits]") {
  YamlLimits limits;
  limits.max_depth = 5;
  CHECK(read_yaml(nested_flow_lists(5), "n.yaml", limits).ok());
  auto deeper = read_yaml(nested_flow_lists(6), "n.yaml", limits);
  REQUIRE_FALSE(deeper.ok());
  CHECK_THAT(deeper.error().message, Catch::StartsWith("n.yaml:1:6: nesting deeper than 5 levels"));
}

TEST_CASE("text on which yaml-cpp would start empty documents forever is refused", "[workflow_file][limits]") {
  // Found by fuzz_workflow_file: yaml-cpp 0.7 loops at position 0 on it.
  const std::string text("\x2c--\x08\x00\x00\x00 {pipeline: spoc}\n---- {pipeline: spoc}\n--- {pipelin {pipeiel n:leap}\n",
                         77);
  auto wf = parse_workflow(text, "w.yaml");
  REQUIRE_FALSE(wf.ok());
  CHECK_THAT(wf.error().message, Catch::StartsWith("w.yaml:1:1: YAML syntax error: the parser cannot go on from here"));
}
