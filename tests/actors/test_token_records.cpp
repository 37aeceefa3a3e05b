// What a run records of each model call's tokens: the ids a vLLM-shaped
// server returned, stored as given; a server that returns none is recorded
// as such (tokens_unavailable), never filled in by tokenizing the text.
#include <catch2/catch.hpp>

#include "actors/engine_gateway.hpp"
#include "actors/roles.hpp"
#include "actors/run_director.hpp"
#include "actors/store_writer.hpp"
#include "engine/http/http_backend.hpp"
#include "support/fake_vllm.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::actors;
using troupe::testing::FakeReply;
using troupe::testing::FakeVllm;

namespace {

class OneCall : public Pipeline {
 public:
  void start(RunContext& ctx) override {
    RoleTask task;
    task.vars["question"] = ctx.input().question;
    ctx.call("solver", task, {"solution", {}}, [&ctx](const RoleOutput& out, const std::vector<uint64_t>&) {
      if (!out.ok) return ctx.fail(Error{static_cast<ErrorCode>(out.error_code), out.error});
      ctx.finish(out.candidates.at(0).answer);
    });
  }
};

const char* kReplyWithIds = R"({"id":"chatcmpl-1","object":"chat.completion","model":"m",
 "prompt_token_ids":[10,11,12],
 "choices":[{"index":0,"message":{"role":"assistant","content":"\\boxed{42}"},"finish_reason":"stop",
   "token_ids":[7,8,9],
   "logprobs":{"content":[{"token":"\\boxed{","logprob":-0.5,"top_logprobs":[]},{"token":"42","logprob":-0.25,"top_logprobs":[]},
                          {"token":"}","logprob":-0.125,"top_logprobs":[]}]}}],
 "usage":{"prompt_tokens":3,"completion_tokens":3}})";

std::vector<memory::StepRecord> run_against(FakeVllm& server, const std::string& run_id) {
  testing::TempDir dir;
  auto opened = memory::Store::open(dir.file("db"));
  REQUIRE(opened.ok());
  std::shared_ptr<memory::Store> store(std::move(opened.value()));
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  engine::HttpBackend::Config hc;
  hc.base_url = server.base_url();
  hc.model = "m";
  hc.max_retries = 0;
  auto backend = engine::HttpBackend::create(hc);
  REQUIRE(backend.ok());
  auto gw = spawn_engine_gateway(sys, std::shared_ptr<engine::Backend>(std::move(backend.value())));
  auto writer = spawn_store_writer(sys, store);
  auto solver = spawn_role(sys, default_role_spec("solver"), gw);
  DirectorConfig dc;
  dc.run_id = run_id;
  dc.workflow = "test";
  dc.pipeline_name = "test";
  dc.input.item_id = run_id;
  dc.input.question = "What is 6 * 7?";
  dc.roles["solver"] = solver;
  dc.gateway = gw;
  dc.writer = writer;
  dc.pipeline = std::make_shared<OneCall>();
  auto d = spawn_run_director(sys, dc);
  caf::scoped_actor self{sys};
  RunOutcome out;
  self->request(d, caf::infinite, start_atom_v).receive([&](RunOutcome& o) { out = o; },
                                                         [&](caf::error& e) { FAIL(sys.render(e)); });
  CHECK(out.status == "succeeded");
  for (auto a : {caf::actor_cast<caf::actor>(gw), caf::actor_cast<caf::actor>(writer), caf::actor_cast<caf::actor>(solver)})
    self->send_exit(a, caf::exit_reason::user_shutdown);
  auto steps = store->read_steps(run_id);
  REQUIRE(steps.ok());
  return *steps;
}

}  // namespace

TEST_CASE("a step records the token ids and logprobs the server returned", "[actors][token_ids]") {
  FakeVllm server;
  server.push(FakeReply::http_status(200, kReplyWithIds));
  auto steps = run_against(server, "run-ids");
  REQUIRE(steps.size() == 1);
  const auto& s = steps[0];
  CHECK(s.prompt_token_ids == std::vector<int32_t>{10, 11, 12});
  CHECK(s.completion_token_ids == std::vector<int32_t>{7, 8, 9});
  CHECK(s.token_logprobs == std::vector<double>{-0.5, -0.25, -0.125});
  CHECK(s.tokens_unavailable.empty());
  CHECK(s.finish_reason == "stop");
  CHECK(s.sampling_json.find("max_tokens") != std::string::npos);
}

TEST_CASE("a step records which token fields a server did not return", "[actors][token_ids]") {
  FakeVllm server;
  server.set_default(FakeReply::text({"\\boxed{42}"}));
  auto steps = run_against(server, "run-no-ids");
  REQUIRE(steps.size() == 1);
  const auto& s = steps[0];
  CHECK(s.completion == "\\boxed{42}");
  CHECK(s.prompt_token_ids.empty());
  CHECK(s.completion_token_ids.empty());
  CHECK(s.tokens_unavailable ==
        std::vector<std::string>{"prompt_token_ids", "completion_token_ids", "logprobs"});
}
