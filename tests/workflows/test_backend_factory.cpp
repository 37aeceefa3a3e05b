// make_backend: a workflow's `backend` section becomes the Backend it
// describes, with every key taking effect.
#include <catch2/catch.hpp>

#include <future>

#include "engine/local/device.hpp"
#include "engine/local/model_random.hpp"
#include "support/temp_dir.hpp"
#include "workflows/runner.hpp"
#include "workflows/workflow.hpp"

using namespace troupe;

TEST_CASE("a local backend's `context` key overrides the model's context length", "[workflows][backend]") {
  testing::TempDir dir;
  engine::local::RandomModelOptions m;
  m.dim = 32;
  m.n_layers = 1;
  m.n_heads = 2;
  m.n_kv_heads = 2;
  m.ffn_dim = 64;
  m.vocab_size = 300;
  m.context_length = 64;
  m.seed = 11;  // greedy output has no end-of-generation token within 200 tokens
  const std::string model = dir.file("m.gguf");
  REQUIRE(engine::local::write_random_model(m, model).ok());
  testing::write_file(dir.file("flow.yaml"), "pipeline: spoc\nbackend:\n  kind: local\n  model_file: m.gguf\n"
                                             "  threads: 1\n  kv_mb: 4\n  context: 32\n");
  auto wf = workflows::load_workflow(dir.file("flow.yaml"));
  INFO((wf.ok() ? "" : wf.error().message));
  REQUIRE(wf.ok());
  auto backend = workflows::make_backend(wf->backend);
  INFO((backend.ok() ? "" : backend.error().message));
  REQUIRE(backend.ok());
  engine::GenerateRequest r;
  r.kind = engine::PromptKind::text;
  r.prompt = "hello";
  r.sampling.max_tokens = 200;
  r.sampling.temperature = 0.0;
  std::promise<Result<engine::GenerateResult>> p;
  auto f = p.get_future();
  (*backend)->submit(std::move(r), [&p](Result<engine::GenerateResult> res) { p.set_value(std::move(res)); });
  auto res = f.get();
  REQUIRE(res.ok());
  CHECK(res->usage.prompt_tokens + res->usage.completion_tokens == 32);
  CHECK(res->choices[0].finish == engine::FinishReason::length);
  CHECK_THAT(res->choices[0].finish_detail, Catch::Contains("context of 32 tokens"));
}

TEST_CASE("a local backend's `kv_type: f16` or `bf16` halves the KV bytes per token: the same kv_mb holds twice "
          "the tokens",
          "[workflows][backend]") {
  testing::TempDir dir;
  engine::local::RandomModelOptions m;
  m.dim = 256;
  m.n_layers = 8;
  m.n_heads = 4;
  m.n_kv_heads = 4;
  m.ffn_dim = 64;
  m.vocab_size = 300;
  m.context_length = 100;
  m.seed = 11;
  const std::string model = dir.file("m.gguf");
  REQUIRE(engine::local::write_random_model(m, model).ok());
  // K and V of 8 layers x 256 floats: 16 KiB per token in f32, so kv_mb 1
  // holds 64 tokens; in f16 or bf16 it holds 128, more than the context of 100. The
  // prompt alone is longer than 64 tokens, so the f32 run fails whether or
  // not the random model would stop early.
  std::vector<Result<engine::GenerateResult>> results;
  for (const char* kv_type : {"f32", "f16", "bf16"}) {
    testing::write_file(dir.file("flow.yaml"), std::string("pipeline: spoc\nbackend:\n  kind: local\n  model_file: m.gguf\n"
                                                           "  threads: 1\n  kv_mb: 1\n  kv_type: ") +
                                                   kv_type + "\n");
    auto wf = workflows::load_workflow(dir.file("flow.yaml"));
    REQUIRE(wf.ok());
    auto backend = workflows::make_backend(wf->backend);
    REQUIRE(backend.ok());
    engine::GenerateRequest r;
    r.kind = engine::PromptKind::text;
    r.prompt.clear();
    for (int i = 0; i < 16; ++i) r.prompt += "hello ";  // about 80 tokens
    r.sampling.max_tokens = 200;
    r.sampling.temperature = 0.0;
    std::promise<Result<engine::GenerateResult>> p;
    auto f = p.get_future();
    (*backend)->submit(std::move(r), [&p](Result<engine::GenerateResult> res) { p.set_value(std::move(res)); });
    results.push_back(f.get());
  }
  for (size_t i : {1, 2}) {
    INFO((i == 1 ? "f16: " : "bf16: ") << (results[i].ok() ? std::string("ok") : results[i].error().message));
    REQUIRE(results[i].ok());  // the whole context fits
    REQUIRE(results[i]->usage.prompt_tokens > 64);
    CHECK(results[i]->usage.prompt_tokens + results[i]->usage.completion_tokens <= 100);
  }
  REQUIRE_FALSE(results[0].ok());  // f32: the prompt outgrows the 64-token budget
  CHECK_THAT(results[0].error().message, Catch::Contains("KV"));
}

TEST_CASE("a local backend's `device` key reaches the engine: a GPU this build or machine lacks is a clear error",
          "[workflows][backend]") {
  testing::TempDir dir;
  engine::local::RandomModelOptions m;
  m.dim = 32;
  m.n_layers = 1;
  m.n_heads = 2;
  m.n_kv_heads = 2;
  m.ffn_dim = 64;
  m.vocab_size = 300;
  REQUIRE(engine::local::write_random_model(m, dir.file("m.gguf")).ok());
  for (const char* device : {"cpu", "cuda:0"}) {
    INFO(device);
    testing::write_file(dir.file("flow.yaml"), std::string("pipeline: spoc\nbackend:\n  kind: local\n  model_file: m.gguf\n"
                                                           "  threads: 1\n  kv_mb: 4\n  device: ") +
                                                   device + "\n");
    auto wf = workflows::load_workflow(dir.file("flow.yaml"));
    REQUIRE(wf.ok());
    auto backend = workflows::make_backend(wf->backend);
    if (std::string(device) == "cpu") {
      CHECK(backend.ok());
      continue;
    }
    auto kernels = engine::local::make_kernels(engine::local::Device{engine::local::Device::Kind::cuda, 0}, 1);
    if (kernels.ok()) {  // a machine with a GPU and a CUDA build
      CHECK(backend.ok());
      continue;
    }
    REQUIRE_FALSE(backend.ok());
    CHECK_THAT(backend.error().message, Catch::Contains("device cuda:0") || Catch::Contains("CUDA"));
  }
}

TEST_CASE("a local backend config with a KV type the loader would refuse is an error naming it", "[workflows][backend]") {
  // make_backend reads kv_type through engine::local::parse_kv_type too, so
  // a config built in code (not by the loader) cannot pass a bad type on.
  workflows::BackendConfig cfg;
  cfg.kind = workflows::BackendKind::local;
  cfg.model_file = "unused.gguf";
  cfg.kv_type = "f8";
  auto backend = workflows::make_backend(cfg);
  REQUIRE_FALSE(backend.ok());
  CHECK(backend.error().code == ErrorCode::invalid_argument);
  CHECK_THAT(backend.error().message, Catch::Contains("'f8'") && Catch::Contains("expected f32, f16 or bf16"));
}
