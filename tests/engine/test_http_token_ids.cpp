// Token ids over HTTP: HttpBackend asks vLLM for them (return_token_ids)
// and reads them from both endpoints' reply shapes; a server that does not
// return them leaves them empty, and a server listed as not taking the flag
// is not sent it.
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <future>

#include "engine/http/http_backend.hpp"
#include "engine/wire.hpp"
#include "support/fake_vllm.hpp"
#include "support/backend_call.hpp"

using namespace troupe;
using namespace troupe::engine;
using troupe::testing::FakeReply;
using troupe::testing::FakeVllm;

namespace {

HttpBackend::Config config_for(const FakeVllm& server, const std::string& api) {
  HttpBackend::Config c;
  c.base_url = server.base_url();
  c.model = "fake-model";
  c.api = api;
  c.timeout_s = 10;
  c.connect_timeout_s = 2;
  c.max_retries = 0;
  return c;
}

Result<GenerateResult> run(Backend& b, GenerateRequest r) {
  auto f = testing::submit_future(b, std::move(r));
  REQUIRE(f.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  return f.get();
}

GenerateRequest chat(bool want_ids) {
  GenerateRequest r;
  r.messages = {{"user", "2+2?"}};
  r.sampling.max_tokens = 8;
  r.return_token_ids = want_ids;
  return r;
}

// vLLM's chat reply with return_token_ids: the prompt's ids at the top
// level, each choice's sampled ids beside its message, logprobs as asked.
const char* kChatWithIds = R"({"id":"chatcmpl-1","object":"chat.completion","model":"fake-model",
 "prompt_token_ids":[151644,872,198,17,10,17,30],
 "choices":[{"index":0,"message":{"role":"assistant","content":"4."},"finish_reason":"stop","stop_reason":null,
   "token_ids":[19,13,151645],
   "logprobs":{"content":[{"token":"4","logprob":-0.25,"top_logprobs":[]},{"token":".","logprob":-0.5,"top_logprobs":[]},
                           {"token":"<|im_end|>","logprob":-0.125,"top_logprobs":[]}]}}],
 "usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}})";

// vLLM's completions reply: the prompt's ids per choice.
const char* kCompletionWithIds = R"({"id":"cmpl-1","object":"text_completion","model":"fake-model",
 "choices":[{"index":0,"text":" four","finish_reason":"length","prompt_token_ids":[1,2,3],"token_ids":[7,8]}],
 "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})";

bool body_flag(const std::string& body, const char* key) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  REQUIRE(p.parse(body).get(doc) == simdjson::SUCCESS);
  bool v = false;
  return doc[key].get(v) == simdjson::SUCCESS && v;
}

}  // namespace

TEST_CASE("the HTTP backend asks for token ids and reads vLLM's chat reply shape", "[engine][http][token_ids]") {
  FakeVllm server;
  server.push(FakeReply::http_status(200, kChatWithIds));
  auto b = HttpBackend::create(config_for(server, "chat"));
  REQUIRE(b.ok());
  auto res = run(**b, chat(true));
  INFO((res.ok() ? "" : res.error().describe()));
  REQUIRE(res.ok());
  CHECK(res->prompt_token_ids == std::vector<int32_t>{151644, 872, 198, 17, 10, 17, 30});
  REQUIRE(res->choices.size() == 1);
  CHECK(res->choices[0].token_ids == std::vector<int32_t>{19, 13, 151645});
  REQUIRE(res->choices[0].logprobs.size() == 3);
  CHECK(res->choices[0].logprobs[1].logprob == -0.5);
  auto bodies = server.bodies();
  REQUIRE(bodies.size() == 1);
  CHECK(body_flag(bodies[0], "return_token_ids"));
  CHECK(body_flag(bodies[0], "logprobs"));  // the sampled tokens' logprobs come with the ids
}

TEST_CASE("the HTTP backend reads token ids from vLLM's completions reply shape", "[engine][http][token_ids]") {
  FakeVllm server;
  server.push(FakeReply::http_status(200, kCompletionWithIds));
  auto b = HttpBackend::create(config_for(server, "completions"));
  REQUIRE(b.ok());
  GenerateRequest r;
  r.kind = PromptKind::text;
  r.prompt = "2+2 is";
  r.sampling.max_tokens = 2;
  r.return_token_ids = true;
  auto res = run(**b, r);
  REQUIRE(res.ok());
  CHECK(res->prompt_token_ids == std::vector<int32_t>{1, 2, 3});
  REQUIRE(res->choices.size() == 1);
  CHECK(res->choices[0].token_ids == std::vector<int32_t>{7, 8});
}

TEST_CASE("a server that returns no token ids leaves them empty, one listed as not taking the flag is not sent it",
          "[engine][http][token_ids]") {
  FakeVllm server;  // its default reply has no ids
  {
    auto b = HttpBackend::create(config_for(server, "chat"));
    REQUIRE(b.ok());
    auto res = run(**b, chat(true));
    REQUIRE(res.ok());
    CHECK(res->prompt_token_ids.empty());
    REQUIRE(res->choices.size() == 1);
    CHECK(res->choices[0].token_ids.empty());
    CHECK(!res->choices[0].text.empty());
  }
  {
    auto c = config_for(server, "chat");
    c.unsupported = {"return_token_ids", "logprobs"};
    auto b = HttpBackend::create(c);
    REQUIRE(b.ok());
    auto res = run(**b, chat(true));
    REQUIRE(res.ok());
  }
  {
    auto b = HttpBackend::create(config_for(server, "chat"));
    REQUIRE(b.ok());
    REQUIRE(run(**b, chat(false)).ok());
  }
  auto bodies = server.bodies();
  REQUIRE(bodies.size() == 3);
  CHECK(body_flag(bodies[0], "return_token_ids"));
  CHECK_FALSE(body_flag(bodies[1], "return_token_ids"));
  CHECK_FALSE(body_flag(bodies[1], "logprobs"));
  CHECK_FALSE(body_flag(bodies[2], "return_token_ids"));  // not asked, not sent
  CHECK_FALSE(body_flag(bodies[2], "logprobs"));
}

TEST_CASE("a token id array that is not ids is a parse error naming it", "[engine][wire][token_ids]") {
  auto r = wire::parse_response_body(
      R"({"choices":[{"index":0,"message":{"content":"x"},"finish_reason":"stop","token_ids":[1,-2]}]})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("choices[0].token_ids[1]") != std::string::npos);
  auto ok = wire::parse_response_body(
      R"({"prompt_token_ids":null,"choices":[{"index":0,"message":{"content":"x"},"finish_reason":"stop","token_ids":null}]})");
  REQUIRE(ok.ok());
  CHECK(ok->prompt_token_ids.empty());
}
