// Command-line flags for the in-process engine, shared by `troupe
// generate` and `troupe serve MODEL`.
#pragma once

#include <CLI/CLI.hpp>

#include "engine/local/local_backend.hpp"

namespace troupe::cli {

struct LocalEngineFlags {
  engine::local::LocalEngineOptions options;
  int kv_mb = 256;

  void add_to(CLI::App& cmd) {
    cmd.add_option("--tokenizer", options.tokenizer_path, "Tokenizer file for a llama2.c checkpoint (tok512.bin)");
    cmd.add_option("--chat-template", options.chat_template,
                   "chatml | llama3 | llama2 (default: recognised from the model file)");
    cmd.add_option("--threads,-t", options.threads, "Compute threads (default: all cores)");
    cmd.add_option("--kv-mb", kv_mb, "KV cache budget in MiB")->capture_default_str();
    cmd.add_option("--block-size", options.block_size, "KV cache block size in tokens")->capture_default_str();
    cmd.add_option("--max-batch-tokens", options.max_step_tokens, "Prefill tokens per step (chunked prefill)")
        ->capture_default_str();
  }
  engine::local::LocalEngineOptions resolved() const {
    auto o = options;
    o.kv_budget_bytes = static_cast<size_t>(kv_mb) << 20;
    return o;
  }
};

}  // namespace troupe::cli
