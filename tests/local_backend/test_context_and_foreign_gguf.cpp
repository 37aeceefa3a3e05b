// The local engine on GGUF files written by other tools, and its context
// length: the model's own, overridden by LocalEngineOptions::context_length
// (`--context`, a backend's `context:`), reported as finish_reason length
// with a reason when a request runs into it.
#include <catch2/catch.hpp>

#include <fstream>
#include <future>

#include <httplib.h>

#include "engine/local/local_backend.hpp"
#include "engine/serve/openai_server.hpp"
#include "engine/local/model_random.hpp"
#include "support/backend_call.hpp"
#include "support/gguf_edit.hpp"
#include "support/log_capture.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::engine;
using namespace troupe::engine::local;

namespace {

Result<GenerateResult> generate(Backend& b, const std::string& prompt, int max_tokens) {
  GenerateRequest r;
  r.kind = PromptKind::text;
  r.prompt = prompt;
  r.sampling.max_tokens = max_tokens;
  r.sampling.temperature = 0.0;
  return testing::generate_now(b, std::move(r));
}

// mkmodel-style random model with a 64-token context. Greedy decoding of
// this seed does not produce an end-of-generation token within 200 tokens,
// so only the limits end it.
std::string small_model(testing::TempDir& dir, int context = 64) {
  const std::string path = dir.file("ctx" + std::to_string(context) + ".gguf");
  REQUIRE(testing::write_tiny_model(path, 11, context).ok());
  return path;
}

LocalEngineOptions options(const std::string& path, int context = 0) {
  LocalEngineOptions o;
  o.model_path = path;
  o.threads = 1;
  o.kv_budget_bytes = size_t{4} << 20;
  o.context_length = context;
  return o;
}

}  // namespace

TEST_CASE("a GGUF with padding and separator ids of 0xFFFFFFFF loads with a warning and generates",
          "[local_backend][other_tools]") {
  testing::TempDir dir;
  const std::string path = dir.file("llamacpp-style.gguf");
  REQUIRE(testing::copy_gguf_with(small_model(dir), path, [](GgufWriter& w) {
            w.set_u32("tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);
            w.set_u32("tokenizer.ggml.seperator_token_id", 0xFFFFFFFFu);
          }).ok());
  testing::LogCapture log;
  auto b = make_local_backend(options(path));
  INFO((b.ok() ? "" : b.error().message));
  REQUIRE(b.ok());
  CHECK_THAT(log.text(), Catch::Contains("tokenizer.ggml.padding_token_id = 4294967295 is outside the vocabulary"));
  auto r = generate(**b, "hello", 8);
  REQUIRE(r.ok());
  CHECK(r->choices[0].token_ids.size() == 8);
  CHECK(r->choices[0].finish == FinishReason::length);
  CHECK(r->choices[0].finish_detail.empty());  // max_tokens, not the context
}

TEST_CASE("a bad tokenizer key names the model file exactly once", "[local_backend][other_tools]") {
  testing::TempDir dir;
  const std::string path = dir.file("bad-pad.gguf");
  REQUIRE(testing::copy_gguf_with(small_model(dir), path, [](GgufWriter& w) {
            w.set_string("tokenizer.ggml.padding_token_id", "none");
          }).ok());
  auto b = make_local_backend(options(path));
  REQUIRE_FALSE(b.ok());
  CHECK_THAT(b.error().message, Catch::Contains("tokenizer.ggml.padding_token_id"));
  CHECK(testing::count_occurrences(b.error().message, "bad-pad.gguf") == 1);
}

TEST_CASE("the third-party llama-2-tiny-random.gguf loads in the engine and generates", "[local_backend][shared]") {
  const std::string path = std::string(TROUPE_SHARED_DIR) + "/models/third-party/llama-2-tiny-random.gguf";
  if (!std::ifstream(path)) {
    WARN("skipped: " + path + " is absent (../shared is not checked out)");
    return;
  }
  auto b = make_local_backend(options(path));
  INFO((b.ok() ? "" : b.error().message));
  REQUIRE(b.ok());
  auto r = generate(**b, "Once upon a time", 6);
  INFO((r.ok() ? "" : r.error().message));
  REQUIRE(r.ok());
  CHECK(r->usage.prompt_tokens >= 2);  // BOS + the text
  CHECK(r->choices[0].finish != FinishReason::error);
}

TEST_CASE("a request that runs into the model's context ends with finish_reason length and the reason",
          "[local_backend][context]") {
  testing::TempDir dir;
  testing::LogCapture log;
  auto b = make_local_backend(options(small_model(dir, 64)));
  REQUIRE(b.ok());
  auto r = generate(**b, "hello", 200);
  INFO((r.ok() ? "" : r.error().message));
  REQUIRE(r.ok());
  const Choice& c = r->choices[0];
  CHECK(c.finish == FinishReason::length);
  CHECK(r->usage.prompt_tokens + r->usage.completion_tokens == 64);
  CHECK_THAT(c.finish_detail, Catch::Contains("the model's context of 64 tokens is full (" +
                                              std::to_string(r->usage.prompt_tokens) + " prompt + " +
                                              std::to_string(r->usage.completion_tokens) +
                                              " generated) before max_tokens 200"));
  CHECK_THAT(c.finish_detail, Catch::Contains("--context"));
  CHECK_THAT(log.text(), Catch::Contains("stopped at the context length"));
}

TEST_CASE("context_length overrides the model's, below and above its trained length", "[local_backend][context]") {
  testing::TempDir dir;
  const std::string path = small_model(dir, 64);
  SECTION("smaller") {
    auto b = make_local_backend(options(path, 32));
    REQUIRE(b.ok());
    auto r = generate(**b, "hello", 200);
    REQUIRE(r.ok());
    CHECK(r->usage.prompt_tokens + r->usage.completion_tokens == 32);
    CHECK_THAT(r->choices[0].finish_detail, Catch::Contains("context of 32 tokens"));
  }
  SECTION("larger: allowed with a warning, and generation goes past the trained length") {
    testing::LogCapture log;
    auto b = make_local_backend(options(path, 128));
    REQUIRE(b.ok());
    CHECK_THAT(log.text(), Catch::Contains("context length 128 is above the 64 tokens the model was trained with"));
    auto r = generate(**b, "hello", 100);
    REQUIRE(r.ok());
    CHECK(r->usage.completion_tokens == 100);
    CHECK(r->usage.prompt_tokens + r->usage.completion_tokens > 64);
    CHECK(r->choices[0].finish == FinishReason::length);
    CHECK(r->choices[0].finish_detail.empty());
  }
  SECTION("larger than the KV budget holds: a warning at load") {
    testing::LogCapture log;
    auto o = options(path, 1 << 20);
    o.kv_budget_bytes = size_t{1} << 20;
    auto b = make_local_backend(o);
    REQUIRE(b.ok());
    CHECK_THAT(log.text(), Catch::Contains("fewer than the context length 1048576"));
  }
  SECTION("negative is an error") {
    auto b = make_local_backend(options(path, -5));
    REQUIRE_FALSE(b.ok());
    CHECK_THAT(b.error().message, Catch::Contains("context length -5 must be positive"));
  }
}

TEST_CASE("a prompt that fills the context is an error naming both lengths", "[local_backend][context]") {
  testing::TempDir dir;
  auto b = make_local_backend(options(small_model(dir, 64), 8));
  REQUIRE(b.ok());
  auto r = generate(**b, "the quick brown fox jumps over the lazy dog and runs away", 4);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK_THAT(r.error().message, Catch::Matches(".*the prompt has \\d+ tokens but the model's context holds 8.*"));
}

TEST_CASE("the OpenAI server answers finish_reason length, not an error, when the context is full",
          "[local_backend][context][serve]") {
  testing::TempDir dir;
  auto b = make_local_backend(options(small_model(dir, 64)));
  REQUIRE(b.ok());
  std::shared_ptr<Backend> backend(std::move(b.value()));
  OpenAIServer::Options so;
  so.model = "ctx64";
  OpenAIServer server(backend, so);
  REQUIRE(server.start().ok());
  httplib::Client client("127.0.0.1", server.port());
  testing::LogCapture log;
  auto full = client.Post("/v1/completions", R"({"model":"ctx64","prompt":"hello","max_tokens":200,"temperature":0})",
                          "application/json");
  REQUIRE(full);
  INFO(full->body);
  CHECK(full->status == 200);
  CHECK_THAT(full->body, Catch::Contains(R"("finish_reason":"length")"));
  CHECK_THAT(full->body, Catch::Contains(R"("total_tokens":64)"));
  CHECK_THAT(log.text(), Catch::Contains("stopped at the context length"));

  const std::string long_prompt(400, 'x');
  auto too_long = client.Post("/v1/completions", R"({"model":"ctx64","prompt":")" + long_prompt + R"(","max_tokens":4})",
                              "application/json");
  REQUIRE(too_long);
  INFO(too_long->body);
  CHECK(too_long->status == 400);
  CHECK_THAT(too_long->body, Catch::Contains("tokens but the model's context holds 64"));
}
