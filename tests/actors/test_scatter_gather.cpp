// RunContext::call_all and RunContext::gather (actors/pipeline.hpp) over a
// context whose replies the test delivers by hand, in any order.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "actors/pipeline.hpp"

using namespace troupe;
using namespace troupe::actors;

namespace {

// Records every call; the test answers them when and in what order it likes.
class HandContext : public RunContext {
 public:
  struct Made {
    std::string role;
    RoleTask task;
    StepInfo info;
    RoleThen then;
  };
  std::vector<Made> made;
  RunInput in;
  std::string id = "run-1";

  const std::string& run_id() const override { return id; }
  const RunInput& input() const override { return in; }
  bool has_role(const std::string&) const override { return true; }
  void call(const std::string& role, RoleTask task, StepInfo info, RoleThen then) override {
    made.push_back({role, std::move(task), std::move(info), std::move(then)});
  }
  const memory::StepRecord* step(uint64_t) const override { return nullptr; }
  void label_step(uint64_t, bool) override {}
  void add_pair(std::vector<memory::Message>, uint64_t, uint64_t, std::string, double) override {}
  void finish(std::string) override {}
  void fail(Error) override {}

  // Answers call k with text `text` (ok) or an error, as step `seq`.
  void reply(size_t k, const std::string& text, uint64_t seq, bool ok = true) {
    RoleOutput out;
    out.ok = ok;
    out.role = made.at(k).role;
    if (ok) {
      Candidate c;
      c.text = text;
      out.candidates.push_back(c);
    } else {
      out.error = text;
      out.error_code = static_cast<int>(ErrorCode::budget_exhausted);
    }
    made.at(k).then(out, ok ? std::vector<uint64_t>{seq} : std::vector<uint64_t>{});
  }
};

RoleCall make_call(const std::string& role, const std::string& x, std::vector<uint64_t> parents) {
  RoleTask task;
  task.vars["x"] = x;
  return RoleCall{role, std::move(task), StepInfo{"kind-" + x, std::move(parents)}, nullptr};
}

}  // namespace

TEST_CASE("call_all makes the calls in task order and gathers the outputs in task order, errors included",
          "[scatter_gather]") {
  HandContext ctx;
  std::vector<size_t> arrivals;
  std::vector<RoleReply> gathered;
  int all_runs = 0;
  ctx.call_all({make_call("solver", "a", {}), make_call("verifier", "b", {7}), make_call("solver", "c", {8, 9})},
               [&](std::vector<RoleReply>& replies) {
                 ++all_runs;
                 gathered = replies;
               },
               [&](size_t i, const RoleReply&) { arrivals.push_back(i); });
  // Made at once, in order, with their roles, tasks and step info.
  REQUIRE(ctx.made.size() == 3);
  CHECK(ctx.made[0].role == "solver");
  CHECK(ctx.made[1].role == "verifier");
  CHECK(ctx.made[1].task.vars.at("x") == "b");
  CHECK(ctx.made[1].info.kind == "kind-b");
  CHECK(ctx.made[1].info.parents == std::vector<uint64_t>{7});
  CHECK(ctx.made[2].info.parents == std::vector<uint64_t>{8, 9});

  // Replies arrive out of order; the middle one failed.
  ctx.reply(2, "third", 30);
  CHECK(all_runs == 0);
  ctx.reply(1, "budget gone", 0, /*ok=*/false);
  CHECK(all_runs == 0);
  ctx.reply(0, "first", 10);
  CHECK(all_runs == 1);
  CHECK(arrivals == std::vector<size_t>{2, 1, 0});
  REQUIRE(gathered.size() == 3);
  CHECK(gathered[0].out.ok);
  CHECK(gathered[0].out.candidates.at(0).text == "first");
  CHECK(gathered[0].step_seqs == std::vector<uint64_t>{10});
  CHECK_FALSE(gathered[1].out.ok);
  CHECK(gathered[1].out.error == "budget gone");
  CHECK(gathered[1].out.role == "verifier");
  CHECK(gathered[1].step_seqs.empty());
  CHECK(gathered[2].out.candidates.at(0).text == "third");
  CHECK(gathered[2].step_seqs == std::vector<uint64_t>{30});
}

TEST_CASE("call_all re-asks a task from its reply and keeps the last reply in its slot", "[scatter_gather]") {
  HandContext ctx;
  std::vector<RoleReply> gathered;
  int all_runs = 0;
  RoleCall judged = make_call("judge", "a", {3});
  judged.reask = [](const RoleReply& reply, int reasks) -> std::optional<RoleTask> {
    if (reply.out.candidates.at(0).text != "unreadable" || reasks >= 2) return std::nullopt;
    RoleTask again;
    again.vars["x"] = "again";
    again.seed = reasks + 1;
    return again;
  };
  ctx.call_all({std::move(judged), make_call("solver", "b", {})}, [&](std::vector<RoleReply>& replies) {
    ++all_runs;
    gathered = replies;
  });
  REQUIRE(ctx.made.size() == 2);
  ctx.reply(0, "unreadable", 1);
  // The re-ask is made at once, same role and step info, with the new task.
  REQUIRE(ctx.made.size() == 3);
  CHECK(ctx.made[2].role == "judge");
  CHECK(ctx.made[2].info.parents == std::vector<uint64_t>{3});
  CHECK(ctx.made[2].task.vars.at("x") == "again");
  CHECK(ctx.made[2].task.seed == 1);
  ctx.reply(1, "b done", 2);
  CHECK(all_runs == 0);  // task 0 is still out
  ctx.reply(2, "Score: 7/10", 4);
  CHECK(all_runs == 1);
  CHECK(gathered[0].out.candidates.at(0).text == "Score: 7/10");
  CHECK(gathered[0].step_seqs == std::vector<uint64_t>{4});
  CHECK(gathered[1].out.candidates.at(0).text == "b done");
}

TEST_CASE("call_all with no calls continues at once", "[scatter_gather]") {
  HandContext ctx;
  int all_runs = 0;
  ctx.call_all({}, [&](std::vector<RoleReply>& replies) {
    CHECK(replies.empty());
    ++all_runs;
  });
  CHECK(all_runs == 1);
  CHECK(ctx.made.empty());
}

TEST_CASE("gather starts every task in order and continues once, after the last done", "[scatter_gather]") {
  HandContext ctx;
  std::vector<std::function<void()>> dones;
  std::vector<size_t> started;
  int all_runs = 0;
  ctx.gather(
      3,
      [&](size_t i, std::function<void()> done) {
        started.push_back(i);
        dones.push_back(std::move(done));
      },
      [&] { ++all_runs; });
  CHECK(started == std::vector<size_t>{0, 1, 2});
  dones[1]();
  dones[1]();  // a second done of the same task counts nothing
  dones[0]();
  CHECK(all_runs == 0);
  dones[2]();
  CHECK(all_runs == 1);
  dones[2]();
  CHECK(all_runs == 1);

  int empty_runs = 0;
  ctx.gather(0, [](size_t, std::function<void()>) { FAIL("no task to start"); }, [&] { ++empty_runs; });
  CHECK(empty_runs == 1);
}
