// `troupe search` end to end on the scripted TEST backend: the example space
// (examples/search/) plants one right layout — generators bad,good then a
// fuser asking "good" (the fixture's rules are keyed on model names) — and
// the search must find it, print the ranked table, record every evaluation
// run, stop at the budget, and write a workflow file that `troupe run`
// accepts and that scores like the search said.
#include <catch2/catch.hpp>

#include <map>
#include <regex>
#include <sstream>

#include "cli_harness.hpp"
#include "memory/store.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using troupe::testing::read_file;
using troupe::testing::run_troupe;
using troupe::testing::shell_quote;
using troupe::testing::TempDir;

namespace {

const std::string kExample = std::string(TROUPE_SOURCE_DIR) + "/examples/search/";
const std::string kBest = "search-demo@g2-s1-l0-f1-c0-r0-k5-ff1-good";

std::string search_args(const std::string& extra) {
  return "search " + shell_quote(kExample + "space.yaml") + " --dev " + shell_quote(kExample + "dev.jsonl") + " " +
         extra;
}

// The table rows: rank -> the whole line.
std::map<int, std::string> table_rows(const std::string& output) {
  std::map<int, std::string> rows;
  std::stringstream ss(output);
  std::string line;
  bool in_table = false;
  static const std::regex row(R"(^(\d+)\s+(-1|\d\.\d{3})\s+(\d+)\s+(\d+)\s+(.*)$)");
  while (std::getline(ss, line)) {
    if (line.rfind("rank ", 0) == 0) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    std::smatch m;
    if (!std::regex_match(line, m, row)) break;
    rows[std::stoi(m[1])] = line;
  }
  return rows;
}

std::unique_ptr<memory::Store> open_store(const std::string& path) {
  memory::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto s = memory::Store::open(path, o);
  REQUIRE(s.ok());
  return std::move(s.value());
}

}  // namespace

TEST_CASE("troupe search finds the planted layout and writes a workflow troupe run accepts", "[cli][search]") {
  TempDir dir;
  auto r = run_troupe(search_args("--budget 200 --out best.yaml --out-json best.json --db search.db"),
                      dir.path().string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  // The ranked table: 16 points (2 generators x 2 samples x 2 endings x 2
  // aggregators), 15 layouts (one generator of one sample without a fuser
  // needs no aggregator, so two points give "gen bad", run once); the
  // planted layout alone scores 1; the four with two generators of two
  // samples each make 5 calls per item, over the cap of 4.
  auto rows = table_rows(r.output);
  REQUIRE(rows.size() == 15);
  CHECK(std::regex_search(rows[1], std::regex(R"(^1\s+1\.000\s+3\s+\d+\s+gen bad,good > fuser good$)")));
  int over_cap = 0;
  int64_t calls = 0;
  for (const auto& [rank, line] : rows) {
    std::smatch m;
    REQUIRE(std::regex_match(line, m, std::regex(R"(^\d+\s+(\S+)\s+(\d+)\s+(\d+)\s+.*$)")));
    calls += std::stoll(m[3]);
    if (rank > 1) CHECK((m[1] == "0.000" || m[1] == "-1"));
    if (line.find("over the cap: 5 calls per item") != std::string::npos) {
      ++over_cap;
      CHECK(m[1] == "-1");
      CHECK(m[3] == "0");
    }
  }
  CHECK(over_cap == 4);
  CHECK(r.output.find("algorithm grid, 16 points, 11 layouts run, spent " + std::to_string(calls) +
                      " of 200 calls; search complete") != std::string::npos);
  CHECK(r.output.find("best: gen bad,good > fuser good (score 1.000) -> best.yaml") != std::string::npos);

  // Every evaluation run is in the store under its layout's workflow name;
  // only the planted layout's runs are correct.
  std::string best_hash;
  {
    auto store = open_store(dir.file("search.db"));
    int runs = 0, best_runs = 0;
    REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
      ++runs;
      CHECK(run.workflow.rfind("search-demo@g", 0) == 0);
      CHECK(run.pipeline == "archon");
      if (run.workflow == kBest) {
        ++best_runs;
        best_hash = run.workflow_hash;
        CHECK(run.correct == std::optional<bool>(true));
      } else {
        CHECK(run.correct != std::optional<bool>(true));
      }
      return true;
    }).ok());
    CHECK(runs == 11 * 3);  // 11 layouts under the cap, 3 dev items each
    CHECK(best_runs == 3);
  }

  // The written workflow runs with `troupe run` and scores 3/3, recorded
  // under the same workflow name and hash as the search's runs.
  std::string yaml = read_file(dir.file("best.yaml"));
  CHECK(yaml.find("pipeline: archon") != std::string::npos);
  CHECK(read_file(dir.file("best.json")).find("\"name\": \"" + kBest + "\"") != std::string::npos);
  auto run = run_troupe("run best.yaml --input " + shell_quote(kExample + "dev.jsonl") + " --db run.db",
                        dir.path().string());
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK(run.output.find("3/3 (100.0%)") != std::string::npos);
  auto store = open_store(dir.file("run.db"));
  REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& rec) {
    CHECK(rec.workflow == kBest);
    CHECK(rec.workflow_hash == best_hash);
    return true;
  }).ok());
}

TEST_CASE("troupe search with successive halving also ends on the planted layout", "[cli][search]") {
  TempDir dir;
  auto r = run_troupe(search_args("--budget 200 --algorithm halving --db s.db"), dir.path().string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto rows = table_rows(r.output);
  REQUIRE_FALSE(rows.empty());
  CHECK(std::regex_search(rows[1], std::regex(R"(^1\s+1\.000\s+3\s+\d+\s+gen bad,good > fuser good$)")));
  CHECK(r.output.find("algorithm halving") != std::string::npos);
}

TEST_CASE("troupe search scored by a judge model finds the planted layout and counts the judge's calls",
          "[cli][search]") {
  TempDir dir;
  std::string space = read_file(kExample + "space.yaml");
  auto at = space.find("fixture: fixture.yaml");
  REQUIRE(at != std::string::npos);
  space.replace(at, std::string("fixture: fixture.yaml").size(), "fixture: " + kExample + "fixture.yaml");
  at = space.find("scoring:\n  method: exact\n");
  REQUIRE(at != std::string::npos);
  space.replace(at, std::string::npos, "scoring:\n  method: judge\n  model: judge\n");
  testing::write_file(dir.file("space.yaml"), space);
  auto r = run_troupe("search space.yaml --dev " + shell_quote(kExample + "dev.jsonl") + " --budget 300 --db s.db",
                      dir.path().string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto rows = table_rows(r.output);
  REQUIRE(rows.size() == 15);
  CHECK(std::regex_search(rows[1], std::regex(R"(^1\s+1\.000\s+3\s+\d+\s+gen bad,good > fuser good$)")));
  for (const auto& [rank, line] : rows)
    if (rank > 1) CHECK(line.find(" 1.000 ") == std::string::npos);
  // One judge run per item of each of the 11 layouts run, all recorded;
  // the judge said Yes only to the planted layout's 3 answers.
  auto store = open_store(dir.file("s.db"));
  int judge_runs = 0, yes = 0;
  REQUIRE(store->for_each_run(std::nullopt, [&](const memory::RunRecord& run) {
    if (run.workflow != "search-demo@judge") return true;
    ++judge_runs;
    if (run.answer == "Yes") ++yes;
    return true;
  }).ok());
  CHECK(judge_runs == 11 * 3);
  CHECK(yes == 3);
}

TEST_CASE("troupe search stops before the evaluation that would exceed the budget", "[cli][search]") {
  TempDir dir;
  // Grid order: bad alone then fuser bad (2 calls per item, 6 calls), then
  // fuser good (6 more: 12 > 10) -- the search stops there.
  auto r = run_troupe(search_args("--budget 10 --db s.db --out b.yaml"), dir.path().string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto rows = table_rows(r.output);
  REQUIRE(rows.size() == 1);
  CHECK(std::regex_search(rows[1], std::regex(R"(^1\s+0\.000\s+3\s+6\s+gen bad > fuser bad$)")));
  CHECK(r.output.find("1 points, 1 layouts run, spent 6 of 10 calls; budget: the next evaluation") != std::string::npos);
  CHECK(r.output.find("would exceed 10 calls") != std::string::npos);
}

TEST_CASE("troupe search reports bad space files and bad arguments", "[cli][search]") {
  TempDir dir;
  testing::write_file(dir.file("space.yaml"),
                      "backend: {kind: scripted, fixture: " + kExample + "fixture.yaml}\nspace:\n  models: [a]\n"
                      "search: {algorithm: annealing}\n");
  testing::write_file(dir.file("dev.jsonl"), "{\"question\": \"q\", \"answer\": \"1\"}\n");
  auto r = run_troupe("search space.yaml --dev dev.jsonl --budget 10", dir.path().string());
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("space.yaml:4:21: search.algorithm: unknown algorithm 'annealing'") != std::string::npos);
  auto no_budget = run_troupe("search space.yaml --dev dev.jsonl", dir.path().string());
  CHECK(no_budget.exit_code == 2);
  auto zero = run_troupe(search_args("--budget 0"), dir.path().string());
  CHECK(zero.exit_code == 2);
  CHECK(zero.output.find("--budget must be a positive number of model calls") != std::string::npos);
}
