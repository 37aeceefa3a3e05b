// Runs whose `troupe run` process was killed: the next `troupe run` on the
// same store marks them interrupted (their steps kept), and `troupe doctor`
// reports them. Also: `troupe run` says runs are in the store only when
// some started. Each test starts the real binary (troupe_process.hpp).
#include <catch2/catch.hpp>

#include <signal.h>

#include "cli_harness.hpp"
#include "memory/store.hpp"
#include "support/temp_dir.hpp"
#include "troupe_process.hpp"

using namespace troupe;
using namespace troupe::testing;

namespace {

// SOLVE: HANG holds the solver's call until the process dies. The request
// log goes to stderr, so the harness is ready (no sleeps, no polling) when
// the backend has the held request: by then the run's `running` record is
// committed (the director waits for the store before calling a role).
const char* kHoldFixture = R"(request_log: /dev/stderr
rules:
  - match: "SOLVE: HANG"
    hold: true
  - match: "VERIFY"
    reply: "Checked. Verdict: Yes"
  - match: "SOLVE:"
    reply: "\\boxed{4}"
)";

std::string workflow(const std::string& fixture) {
  return "pipeline: spoc\nbackend: {kind: scripted, fixture: " + fixture +
         "}\nroles:\n  solver: {template: \"SOLVE: {question}\"}\n"
         "  verifier: {template: \"VERIFY {question} => {solution}\"}\nparams: {max_turns: 2}\n";
}

// A request-log line: "<request id>\t<sha256 hex>"; group 1 is only there
// because the harness reads one (a digit of the hash, not a port).
const char* kHeldRequest = "\t[a-f]*([0-9])";

std::vector<memory::RunRecord> all_runs(const std::string& db) {
  memory::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto s = memory::Store::open(db, o);
  REQUIRE(s.ok());
  std::vector<memory::RunRecord> out;
  REQUIRE((*s)->for_each_run(std::nullopt, [&](const memory::RunRecord& r) {
    out.push_back(r);
    return true;
  }).ok());
  return out;
}

}  // namespace

TEST_CASE("a troupe run killed mid-run: the next troupe run marks the run interrupted and doctor reports it",
          "[cli][interrupted]") {
  TempDir dir;
  write_file(dir.file("hold.yaml"), kHoldFixture);
  write_file(dir.file("answer.yaml"), "rules:\n  - match: \"VERIFY\"\n    reply: \"Verdict: Yes\"\n"
                                      "  - match: \"SOLVE:\"\n    reply: \"\\\\boxed{4}\"\n");
  write_file(dir.file("hold_wf.yaml"), workflow("hold.yaml"));
  write_file(dir.file("answer_wf.yaml"), workflow("answer.yaml"));
  const std::string db = dir.file("db");

  {
    TroupeProcess run("run", {dir.file("hold_wf.yaml"), "--question", "HANG", "--db", db}, kHeldRequest);
    CHECK(run.stop(SIGKILL) == -1);
  }
  auto left = all_runs(db);
  REQUIRE(left.size() == 1);
  const std::string killed = left[0].id;
  CHECK(left[0].status == memory::RunStatus::running);
  CHECK(left[0].origin == memory::kRunOriginCli);

  // doctor: nobody holds the store, so the running run is reported (exit 1).
  auto doctor = run_troupe("doctor --db " + shell_quote(db));
  INFO(doctor.output);
  CHECK(doctor.exit_code == 1);
  CHECK_THAT(doctor.output,
             Catch::Contains("1 run(s) left running by a troupe run process that stopped: " + killed));

  // The next troupe run on that store marks it, then runs its own item.
  auto next = run_troupe("run " + shell_quote(dir.file("answer_wf.yaml")) + " --question 'What is 2+2?' --db " +
                         shell_quote(db));
  INFO(next.output);
  CHECK(next.exit_code == 0);
  CHECK_THAT(next.output, Catch::Contains("marked 1 run(s) interrupted") && Catch::Contains(killed));
  auto runs = all_runs(db);
  REQUIRE(runs.size() == 2);
  for (const auto& r : runs) {
    if (r.id == killed) {
      CHECK(r.status == memory::RunStatus::interrupted);
      CHECK_THAT(r.error, Catch::StartsWith("interrupted:"));
      CHECK(r.created_ms == left[0].created_ms);
      CHECK(r.input_json == left[0].input_json);
    } else {
      CHECK(r.status == memory::RunStatus::succeeded);
    }
  }

  // Reported, no longer a failure; listed by status.
  auto after = run_troupe("doctor --db " + shell_quote(db));
  INFO(after.output);
  CHECK(after.exit_code == 0);
  CHECK_THAT(after.output, Catch::Contains("1 run(s) interrupted") && Catch::Contains(killed));
  auto listed = run_troupe("runs --status interrupted --db " + shell_quote(db));
  CHECK(listed.exit_code == 0);
  CHECK_THAT(listed.output, Catch::Contains(killed) && Catch::Contains("1 runs"));
}

TEST_CASE("troupe run says runs are in the store only when some started", "[cli][errors]") {
  TempDir dir;
  write_file(dir.file("answer.yaml"), "default: \"Verdict: Yes \\\\boxed{4}\"\n");
  write_file(dir.file("wf.yaml"), workflow("answer.yaml"));
  write_file(dir.file("bad_first.jsonl"), "{\"question\": oops}\n{\"question\":\"2+2\"}\n");
  auto none = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --input " +
                         shell_quote(dir.file("bad_first.jsonl")) + " --db " + shell_quote(dir.file("db")));
  INFO(none.output);
  CHECK(none.exit_code == 1);
  CHECK_THAT(none.output, Catch::Contains("bad_first.jsonl:1:") && Catch::Contains("no run was started") &&
                              !Catch::Contains("in the store"));

  write_file(dir.file("bad_second.jsonl"), "{\"question\":\"2+2\"}\n{\"question\": oops}\n");
  auto one = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --input " +
                        shell_quote(dir.file("bad_second.jsonl")) + " --db " + shell_quote(dir.file("db")) + " -j 1");
  INFO(one.output);
  CHECK(one.exit_code == 1);
  CHECK_THAT(one.output, Catch::Contains("bad_second.jsonl:2:") && Catch::Contains("the 1 run(s) started"));
}

TEST_CASE("troupe run reads a JSONL file that starts with a UTF-8 byte-order mark", "[cli]") {
  TempDir dir;
  write_file(dir.file("answer.yaml"), "default: \"Verdict: Yes \\\\boxed{4}\"\n");
  write_file(dir.file("wf.yaml"), workflow("answer.yaml"));
  write_file(dir.file("bom.jsonl"), "\xEF\xBB\xBF{\"id\":\"a\",\"question\":\"2+2\"}\n");
  auto r = run_troupe("run " + shell_quote(dir.file("wf.yaml")) + " --input " + shell_quote(dir.file("bom.jsonl")) +
                      " --db " + shell_quote(dir.file("db")));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  auto runs = all_runs(dir.file("db"));
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].item_id == "a");
}
