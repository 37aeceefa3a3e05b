// Runs the daemon leaves `running` on purpose (it resumes them on its next
// start, docs/daemon.md) are not `troupe run`'s to mark interrupted: after
// the daemon is killed mid-run, `troupe run` on the same store leaves that
// run `running`, and `troupe doctor` names it as the daemon's, not a failure.
#include <catch2/catch.hpp>

#include <simdjson.h>

#include <filesystem>

#include "cli/cli_harness.hpp"
#include "daemon_harness.hpp"
#include "process_harness.hpp"

using namespace troupe;
using namespace troupe::testing;

TEST_CASE("troupe run does not mark a run the killed daemon left running, doctor says the daemon resumes it",
          "[daemon][process][interrupted]") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "workflows");
  write_file(dir.file("workflows/spoc.yaml"), kSpocWorkflow);
  write_file(dir.file("rules.yaml"), kFixture);
  write_file(dir.file("troupe.yaml"),
             "listen: {host: 127.0.0.1, port: 0}\ntoken: tok\nworkflows_dir: workflows\ndb: troupe.db\n"
             "shutdown_grace_s: 0\nbackends:\n  scripted: {kind: scripted, fixture: rules.yaml}\n");
  const std::string db = dir.file("troupe.db");
  std::string held_id;
  {
    DaemonProcess d({"--config", dir.file("troupe.yaml")});
    httplib::Client c("127.0.0.1", d.port());
    httplib::Headers auth = {{"Authorization", "Bearer tok"}};
    auto r = c.Post("/v1/runs", auth, R"({"workflow":"spoc","input":{"question":"PAUSE"}})", "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 202);
    simdjson::dom::parser p;
    held_id = std::string(std::string_view(p.parse(r->body)["run_ids"].at(0)));
    // The solver's step is committed and the verifier's call is held.
    std::string body;
    c.Get(("/v1/runs/" + held_id + "/events").c_str(), auth, [&](const char* data, size_t n) {
      body.append(data, n);
      return parse_sse(body).empty();
    });
    REQUIRE(parse_sse(body).size() == 1);
    d.stop(SIGKILL);
  }

  // A troupe run on the daemon's store, with a workflow of its own.
  write_file(dir.file("cli.yaml"), std::string(kSpocWorkflow) + "backend: {kind: scripted, fixture: rules.yaml}\n");
  auto run = run_troupe("run " + shell_quote(dir.file("cli.yaml")) + " --question '2+2' --db " + shell_quote(db));
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK_THAT(run.output, !Catch::Contains("interrupted"));

  memory::StoreOptions ro;
  ro.read_only = true;
  auto store = memory::Store::open(db, ro);
  REQUIRE(store.ok());
  auto held = (*store)->get_run(held_id);
  REQUIRE(held.ok());
  REQUIRE(*held);
  CHECK((*held)->status == memory::RunStatus::running);
  CHECK((*held)->origin.empty());
  auto steps = (*store)->read_steps(held_id);
  REQUIRE(steps.ok());
  CHECK(steps->size() == 1);
  store.value().reset();

  auto doctor = run_troupe("doctor --db " + shell_quote(db));
  INFO(doctor.output);
  CHECK(doctor.exit_code == 0);
  CHECK_THAT(doctor.output, Catch::Contains("1 daemon run(s) running; troupe daemon resumes them on its next start") &&
                                !Catch::Contains("left running by a troupe run"));
}
