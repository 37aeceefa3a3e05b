// Tool roles: C++ functions behind the role contract.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "actors/tool_role.hpp"

using namespace troupe;
using namespace troupe::actors;

namespace {

RoleOutput ask(caf::actor_system& sys, const role_actor& role, RoleTask task) {
  caf::scoped_actor self{sys};
  RoleOutput out;
  self->request(role, caf::infinite, std::move(task))
      .receive([&](RoleOutput& o) { out = std::move(o); },
               [&](caf::error& e) { FAIL("role failed: " << sys.render(e)); });
  return out;
}

}  // namespace

TEST_CASE("a tool role answers with its function's output, named and marked as no model call", "[actors][tool_role]") {
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  int seen = 0;
  auto role = spawn_tool_role(sys, "peer", [&seen](const RoleTask& t) {
    ++seen;
    RoleOutput out;
    Candidate c;
    c.text = "routed " + t.vars.at("receiver");
    c.answer = t.vars.at("receiver");
    out.candidates.push_back(c);
    return out;
  });
  RoleTask t;
  t.vars["receiver"] = "2";
  RoleOutput out = ask(sys, role, t);
  CHECK(out.ok);
  CHECK(out.role == "peer");
  CHECK(out.backend == "tool/peer");
  CHECK(out.calls == 0);
  REQUIRE(out.candidates.size() == 1);
  CHECK(out.candidates[0].text == "routed 2");
  CHECK(seen == 1);
  caf::anon_send_exit(role, caf::exit_reason::user_shutdown);
}

TEST_CASE("a tool function that throws gives ok=false with the reason, and the tool keeps serving", "[actors][tool_role]") {
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  auto role = spawn_tool_role(sys, "verifier", [](const RoleTask& t) -> RoleOutput {
    if (t.vars.count("boom")) throw std::runtime_error("no gold answer for this item");
    RoleOutput out;
    Candidate fine;
    fine.text = "fine";
    fine.verdict = 1;
    fine.finish = "stop";
    out.candidates.push_back(std::move(fine));
    return out;
  });
  RoleTask bad;
  bad.vars["boom"] = "1";
  RoleOutput out = ask(sys, role, bad);
  CHECK_FALSE(out.ok);
  CHECK(out.error_code == static_cast<int>(ErrorCode::internal));
  CHECK(out.error == "tool verifier: no gold answer for this item");
  CHECK(out.role == "verifier");
  RoleOutput good = ask(sys, role, RoleTask{});
  CHECK(good.ok);
  REQUIRE(good.candidates.size() == 1);
  CHECK(good.candidates[0].verdict == 1);
  caf::anon_send_exit(role, caf::exit_reason::user_shutdown);
}
