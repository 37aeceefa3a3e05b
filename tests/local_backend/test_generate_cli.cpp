// `troupe generate` as a user runs it: --context, the reason a generation
// stopped, and bad --context values.
#include <catch2/catch.hpp>

#include "cli/cli_harness.hpp"
#include "engine/local/model_random.hpp"
#include "support/gguf_edit.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::engine::local;
using testing::run_troupe;
using testing::shell_quote;

namespace {

std::string model_with_context_64(testing::TempDir& dir) {
  const std::string path = dir.file("ctx64.gguf");
  REQUIRE(testing::write_tiny_model(path, 11, 64).ok());  // greedy output has no end-of-generation token within 200 tokens
  return path;
}

}  // namespace

TEST_CASE("troupe generate says when the context stopped it, and --context raises it", "[local_backend][cli]") {
  testing::TempDir dir;
  const std::string model = shell_quote(model_with_context_64(dir));
  auto stopped = run_troupe("generate " + model + " -p hello -n 100 --threads 1 --kv-mb 4");
  INFO(stopped.output);
  REQUIRE(stopped.exit_code == 0);
  CHECK_THAT(stopped.output, Catch::Contains("troupe: stopped (length): the model's context of 64 tokens is full"));
  CHECK_THAT(stopped.output, Catch::Contains("before max_tokens 100"));

  auto raised = run_troupe("generate " + model + " -p hello -n 100 --threads 1 --kv-mb 4 --context 128");
  INFO(raised.output);
  REQUIRE(raised.exit_code == 0);
  CHECK_THAT(raised.output, Catch::Contains("100 generated"));
  CHECK_THAT(raised.output, Catch::Contains("context length 128 is above the 64 tokens the model was trained with"));
  CHECK_THAT(raised.output, !Catch::Contains("stopped (length)"));
}

TEST_CASE("troupe generate refuses --context 0, negative and non-integer values, naming the flag",
          "[local_backend][cli][bad]") {
  testing::TempDir dir;
  const std::string model = shell_quote(model_with_context_64(dir));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0", "--context: must be from 1 to 1073741824 tokens, got 0"},
      {"-5", "--context: must be from 1 to 1073741824 tokens, got -5"},
      {"2000000000", "--context: must be from 1 to 1073741824 tokens, got 2000000000"},
      {"1.5", "--context: expected a whole number of tokens, got '1.5'"},
      {"abc", "--context: expected a whole number of tokens, got 'abc'"},
  };
  for (const auto& [bad, says] : cases) {
    auto r = run_troupe("generate " + model + " -p hello -n 4 --context " + bad);
    INFO(bad << ": " << r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(says));
  }
}

TEST_CASE("troupe generate takes --kv-type f32, f16 and bf16, and names a bad one with the choices",
          "[local_backend][cli]") {
  testing::TempDir dir;
  const std::string model = shell_quote(model_with_context_64(dir));
  for (const char* type : {"f32", "f16", "bf16"}) {
    auto r = run_troupe("generate " + model + " -p hello -n 4 --threads 1 --kv-mb 4 --kv-type " + type);
    INFO(type << ": " << r.output);
    CHECK(r.exit_code == 0);
  }
  for (const char* bad : {"bf8", "BF16", "f64"}) {
    auto r = run_troupe("generate " + model + " -p hello -n 4 --kv-type " + bad);
    INFO(bad << ": " << r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(std::string("--kv-type: KV type '") + bad + "': expected f32, f16 or bf16"));
  }
}
