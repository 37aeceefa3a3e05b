// Marking runs that a stopped `troupe run` left `running` (memory/interrupted_runs.hpp):
// only cli runs that are running change, only their status, error and
// update time; steps, pairs and every other run stay as they were.
#include <catch2/catch.hpp>

#include "memory/interrupted_runs.hpp"
#include "memory/record_equality.hpp"
#include "memory/sample_records.hpp"
#include "memory/store.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::memory;
using namespace troupe::memory::test;
using troupe::testing::TempDir;

namespace {

RunRecord with(RunRecord r, RunStatus status, const char* origin) {
  r.status = status;
  r.origin = origin;
  r.answer.clear();
  r.correct.reset();
  return r;
}

}  // namespace

TEST_CASE("mark_interrupted_runs marks running cli runs only and keeps their steps") {
  TempDir dir;
  auto opened = Store::open(dir.file("db"));
  REQUIRE(opened.ok());
  Store& store = **opened;
  RunRecord cli_running = with(sample_run("run-a", "math", 1000), RunStatus::running, kRunOriginCli);
  RunRecord daemon_running = with(sample_run("run-b", "math", 2000), RunStatus::running, "");
  RunRecord cli_done = with(sample_run("run-c", "math", 3000), RunStatus::succeeded, kRunOriginCli);
  RunRecord cli_queued = with(sample_run("run-d", "math", 4000), RunStatus::queued, kRunOriginCli);
  std::vector<StepRecord> steps = {sample_step("run-a", 0), sample_step("run-a", 1)};
  REQUIRE(store.write(steps, {}, {cli_running, daemon_running, cli_done, cli_queued}).ok());

  auto running = find_running_runs(store);
  REQUIRE(running.ok());
  REQUIRE(running->cli.size() == 1);
  CHECK(running->cli[0].id == "run-a");
  REQUIRE(running->daemon.size() == 1);
  CHECK(running->daemon[0].id == "run-b");

  auto marked = mark_interrupted_runs(store, 9999);
  REQUIRE(marked.ok());
  REQUIRE(marked->size() == 1);
  CHECK((*marked)[0].id == "run-a");

  RunRecord expected = cli_running;
  expected.status = RunStatus::interrupted;
  expected.error = kInterruptedError;
  expected.updated_ms = 9999;
  check_same(**store.get_run("run-a"), expected);
  check_same(**store.get_run("run-b"), daemon_running);
  check_same(**store.get_run("run-c"), cli_done);
  check_same(**store.get_run("run-d"), cli_queued);
  auto kept = store.read_steps("run-a");
  REQUIRE(kept.ok());
  REQUIRE(kept->size() == 2);
  for (size_t i = 0; i < steps.size(); ++i) check_same((*kept)[i], steps[i]);

  // Nothing left to mark: a second open changes nothing.
  auto again = mark_interrupted_runs(store, 10000);
  REQUIRE(again.ok());
  CHECK(again->empty());
  CHECK((*store.get_run("run-a"))->updated_ms == 9999);
}
