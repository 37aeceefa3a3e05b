// `troupe prove` on its own, and `troupe run examples/linc.yaml`, as a user
// runs them: JSONL in, JSONL out in input order, Error lines with reasons,
// a clear error without eprover.
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <sstream>
#include <vector>

#include "cli_harness.hpp"
#include "prover_bridge/prover.hpp"
#include "support/temp_dir.hpp"

using troupe::testing::read_file;
using troupe::testing::run_troupe;
using troupe::testing::shell_quote;
using troupe::testing::TempDir;
using troupe::testing::write_file;

namespace {

bool have_eprover() { return troupe::prover::check_eprover("eprover").ok(); }

#define REQUIRE_EPROVER()                                                   \
  if (!have_eprover()) {                                                    \
    WARN("eprover not installed: skipped (sudo apt-get install eprover)"); \
    return;                                                                 \
  }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

const char* kProblems =
    R"J({"id": "tweety", "premises": ["all x. (Bird(x) & -Injured(x) -> Flies(x))", "Bird(Tweety)", "-Injured(Tweety)"], "conclusion": "Flies(Tweety)"})J"
    "\n"
    R"J({"id": 2, "premises": ["∀x (Penguin(x) → ¬Flies(x))", "Penguin(pingu)"], "conclusion": "Flies(pingu)"})J"
    "\n"
    R"J({"id": "open", "premises": ["Bird(Tweety)"], "conclusion": "Flies(Tweety)"})J"
    "\n"
    R"J({"id": "slip", "premises": ["all x. (Bird(x) -> Flies(x)"], "conclusion": "Flies(Tweety)"})J"
    "\n\n"
    R"J({"id": "nojson", "premises": )J"
    "\n"
    R"J({"id": "noconc", "premises": ["Bird(Tweety)"]})J"
    "\n";

}  // namespace

TEST_CASE("troupe prove: one output line per input line, in order, with labels, SZS and reasons", "[cli][prove][eprover]") {
  REQUIRE_EPROVER();
  TempDir dir;
  write_file(dir.file("in.jsonl"), kProblems);
  auto r = run_troupe("prove --in " + shell_quote(dir.file("in.jsonl")) + " --out " + shell_quote(dir.file("out.jsonl")) +
                      " --cpu-limit 1 --jobs 2");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("troupe prove: 6 problems: True 1, False 1, Uncertain 1, Error 3 (1 did not parse)") != std::string::npos);
  auto out = lines_of(read_file(dir.file("out.jsonl")));
  REQUIRE(out.size() == 6);
  simdjson::dom::parser parser;
  auto field = [&](const std::string& line, const char* key) {
    simdjson::dom::element doc = parser.parse(line);
    return simdjson::minify(doc[key]);
  };
  CHECK(field(out[0], "id") == "\"tweety\"");
  CHECK(field(out[0], "label") == "\"True\"");
  CHECK(field(out[0], "szs") == "[\"Theorem\",\"CounterSatisfiable\"]");
  CHECK(field(out[0], "error") == "null");
  CHECK(field(out[1], "id") == "2");
  CHECK(field(out[1], "label") == "\"False\"");
  CHECK(field(out[2], "label") == "\"Uncertain\"");
  CHECK(field(out[2], "szs") == "[\"CounterSatisfiable\",\"CounterSatisfiable\"]");
  CHECK(field(out[3], "label") == "\"Error\"");
  CHECK(field(out[3], "error") ==
        "\"parse: premise 1: column 28: expected ')' to close the '(' at column 8, found end of input\"");
  CHECK(field(out[3], "szs") == "[null,null]");
  CHECK(field(out[4], "id") == "6");  // no parsable id: the line number
  CHECK(field(out[4], "error").find("input line 6: not valid JSON") != std::string::npos);
  CHECK(field(out[5], "id") == "\"noconc\"");
  CHECK(field(out[5], "error") == "\"input line 7: missing \\\"conclusion\\\" (a FOL formula)\"");
  for (const auto& line : out) CHECK(field(line, "ms").size() > 0);
}

TEST_CASE("troupe prove reads stdin and writes stdout by default", "[cli][prove][eprover]") {
  REQUIRE_EPROVER();
  TempDir dir;
  write_file(dir.file("in.jsonl"), kProblems);
  std::string cmd = shell_quote(troupe::testing::troupe_binary()) + " prove --cpu-limit 1 --jobs 1 --tptp < " +
                    shell_quote(dir.file("in.jsonl")) + " 2>/dev/null";
  std::string text;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  CHECK(pclose(p) == 0);
  auto out = lines_of(text);
  REQUIRE(out.size() == 6);
  CHECK(out[0].find("\"label\":\"True\"") != std::string::npos);
  CHECK(out[0].find("\"tptp\":\"fof(premise_1, axiom,") != std::string::npos);
}

TEST_CASE("troupe prove without eprover says how to install it and exits 1", "[cli][prove]") {
  TempDir dir;
  write_file(dir.file("in.jsonl"), kProblems);
  auto r = run_troupe("prove --in " + shell_quote(dir.file("in.jsonl")) + " --prover /nonexistent/eprover");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("troupe: prove: the E prover '/nonexistent/eprover' was not found") != std::string::npos);
  CHECK(r.output.find("sudo apt-get install eprover") != std::string::npos);
  auto missing = run_troupe("prove --in " + shell_quote(dir.file("absent.jsonl")));
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find("cannot open input file") != std::string::npos);
}

TEST_CASE("troupe run examples/linc.yaml: the LINC example runs end to end", "[cli][linc][eprover]") {
  REQUIRE_EPROVER();
  TempDir dir;
  std::string src = TROUPE_SOURCE_DIR;
  auto r = run_troupe("run " + shell_quote(src + "/examples/linc.yaml") + " --input " +
                      shell_quote(src + "/examples/data/linc.jsonl") + " --db " + shell_quote(dir.file("db")) +
                      " --output " + shell_quote(dir.file("out.jsonl")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("3/4 (75.0%)") != std::string::npos);
  auto out = read_file(dir.file("out.jsonl"));
  CHECK(out.find("\"id\":\"birds\"") != std::string::npos);
  CHECK(out.find("\"answer\":\"Error\"") != std::string::npos);
}
