// `troupe bench`: the llama-bench-shaped table for every (threads, test)
// combination, the extra lines (KV bytes per token, roofline), JSON/CSV
// output, and clear errors for bad input.
#include <catch2/catch.hpp>

#include <string>

#include "cli/cli_harness.hpp"
#include "support/temp_dir.hpp"

using troupe::testing::run_troupe;
using troupe::testing::shell_quote;

namespace {

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("troupe bench prints a llama-bench table for every thread count and test", "[cli][bench]") {
  troupe::testing::TempDir dir;
  const std::string model = dir.file("m.gguf");
  // dim 64, 2 layers, 2 kv heads of 16: K and V are 2 * 2 * 32 * 4 = 512 bytes per token in f32.
  auto made = run_troupe("mkmodel --arch llama --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 96 --vocab 300 "
                         "--context 256 --type q8_0 --seed 1 -o " + shell_quote(model));
  REQUIRE(made.exit_code == 0);
  const std::string common = "bench " + shell_quote(model) + " -p 16 -n 8 -t 1,2 -r 2 --samples 2 --samples-prompt 20 --samples-gen 4";
  auto md = run_troupe(common);
  INFO(md.output);
  REQUIRE(md.exit_code == 0);
  CHECK(md.output.find("| model | size | params | backend | threads | test | t/s |") != std::string::npos);
  for (const char* threads : {"| 1 |", "| 2 |"})
    for (const char* test : {" pp16 |", " tg8 |", " tg4@pp20x2 |"})
      CHECK(md.output.find(std::string(threads) + test) != std::string::npos);
  CHECK(md.output.find("llama ") != std::string::npos);
  CHECK(md.output.find("Q8_0") != std::string::npos);
  CHECK(md.output.find("KV cache: 512 bytes/token (f32)") != std::string::npos);
  CHECK(md.output.find("of roofline") != std::string::npos);
  CHECK(md.output.find("peak RSS") != std::string::npos);

  auto json = run_troupe(common + " --kv-type f16 -o json");
  INFO(json.output);
  REQUIRE(json.exit_code == 0);
  CHECK(count(json.output, "\"median_ts\":") == 6);
  CHECK(count(json.output, "\"kv_bytes_per_token\":256") == 6);
  CHECK(count(json.output, "\"test\":\"tg4@pp20x2\"") == 2);

  auto bf16 = run_troupe(common + " --kv-type bf16 -o json");
  INFO(bf16.output);
  REQUIRE(bf16.exit_code == 0);
  CHECK(count(bf16.output, "\"kv_bytes_per_token\":256") == 6);  // half of f32's 512
  CHECK(count(bf16.output, "\"type_kv\":\"bf16\"") == 6);

  auto csv = run_troupe("bench " + shell_quote(model) + " -p 8 -n 0 -t 1 -r 1 -o csv");
  REQUIRE(csv.exit_code == 0);
  CHECK(count(csv.output, "\n") == 2);  // header and one row
}

TEST_CASE("troupe bench names what is wrong with its input", "[cli][bench]") {
  troupe::testing::TempDir dir;
  auto missing = run_troupe("bench " + shell_quote(dir.file("none.gguf")));
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find("none.gguf") != std::string::npos);
  CHECK(run_troupe("bench m.gguf -o xml").exit_code == 2);
  CHECK(run_troupe("bench m.gguf -t 0").exit_code == 2);
  auto bad_kv = run_troupe("bench m.gguf --kv-type q8_0");
  CHECK(bad_kv.exit_code == 2);
  CHECK(bad_kv.output.find("--kv-type: KV type 'q8_0': expected f32, f16 or bf16") != std::string::npos);
  const std::string model = dir.file("m.gguf");
  REQUIRE(run_troupe("mkmodel --arch llama --dim 64 --layers 1 --heads 4 --kv-heads 4 --ffn 64 --vocab 300 "
                     "--context 32 --seed 1 -o " + shell_quote(model)).exit_code == 0);
  auto too_long = run_troupe("bench " + shell_quote(model) + " -p 64 -n 0 -t 1 -r 1");
  CHECK(too_long.exit_code == 1);
  CHECK(too_long.output.find("context of 32") != std::string::npos);
}
