// Command-line flags for the in-process engine, shared by every command
// that loads a local model (`troupe generate`, `troupe serve MODEL`).
// Values are checked by CLI11 before the command runs: --context takes an
// integer 1..2^30 (0, negative and non-integer values are usage errors
// naming the flag); without it the model file's context length is used.
#pragma once

#include <CLI/CLI.hpp>

#include <stdexcept>
#include <string>

#include "engine/local/local_backend.hpp"

namespace troupe::cli {

// A token count for --context: a whole number from 1 to 2^30. CLI11's Range
// alone would call "abc" and "1.5" out of range; this names what is wrong.
inline CLI::Validator context_tokens_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        constexpr long long kMax = 1LL << 30;
        long long v = 0;
        size_t used = 0;
        try {
          v = std::stoll(text, &used, 10);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != text.size()) return "expected a whole number of tokens, got '" + text + "'";
        if (v < 1 || v > kMax)
          return "must be from 1 to " + std::to_string(kMax) + " tokens, got " + text;
        return {};
      },
      "TOKENS");
}

// --kv-type (generate, serve, bench): f32, f16 or bf16, checked by
// engine::local::parse_kv_type, whose error names the value and the choices.
inline CLI::Validator kv_type_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto t = engine::local::parse_kv_type(text);
        return t.ok() ? std::string() : t.error().message;
      },
      "f32|f16|bf16");
}

struct LocalEngineFlags {
  engine::local::LocalEngineOptions options;
  int kv_mb = 256;
  std::string kv_type = "f32";
  std::string device = "cpu";

  void add_to(CLI::App& cmd) {
    cmd.add_option("--tokenizer", options.tokenizer_path, "Tokenizer file for a llama2.c checkpoint (tok512.bin)");
    cmd.add_option("--chat-template", options.chat_template,
                   "chatml | llama3 | llama2 (default: recognised from the model file)");
    cmd.add_option("--threads,-t", options.threads, "Compute threads (default: all cores)");
    cmd.add_option("--kv-mb", kv_mb, "KV cache budget in MiB")->capture_default_str();
    cmd.add_option("--kv-type", kv_type,
                   "KV cache element type: f32, or f16 or bf16 (half the bytes per token; keys and values rounded "
                   "to 16 bits)")
        ->capture_default_str()
        ->check(kv_type_validator());
    cmd.add_option("--device", device, "Where the model computes: cpu, cuda or cuda:N (a GPU, in a build with CUDA)")
        ->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
              auto d = engine::local::parse_device(text);
              return d.ok() ? std::string() : d.error().message;
            },
            "DEVICE"));
    cmd.add_option("--block-size", options.block_size, "KV cache block size in tokens")->capture_default_str();
    cmd.add_option("--max-batch-tokens", options.max_step_tokens, "Prefill tokens per step (chunked prefill)")
        ->capture_default_str();
    cmd.add_option("--context", options.context_length,
                   "Context length in tokens per sequence, prompt included (default: the model file's; "
                   "more than the model was trained with is allowed, with a warning)")
        ->check(context_tokens_validator());
  }
  engine::local::LocalEngineOptions resolved() const {
    auto o = options;
    o.kv_budget_bytes = static_cast<size_t>(kv_mb) << 20;
    if (auto t = engine::local::parse_kv_type(kv_type); t.ok()) o.kv_type = *t;  // checked by --kv-type's validator
    if (auto d = engine::local::parse_device(device); d.ok()) o.device = *d;  // checked by --device's validator
    return o;
  }
};

}  // namespace troupe::cli
