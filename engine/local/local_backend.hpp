// The in-process engine as a Backend: a model file (GGUF, or a llama2.c
// checkpoint with its tokenizer file), its tokenizer and chat template, the
// CPU kernels, the paged KV cache and the continuous-batching scheduler
// (see scheduler.hpp for the scheduling contract).
//
// make_local_backend() loads and checks everything up front and returns a
// clear error naming the file, key or tensor that is wrong. A model whose
// file has no recognisable chat template serves chat requests only when
// options.chat_template names one (chatml, llama3, llama2); text
// completions work regardless. Errors name the model file once.
//
// Context length: a sequence (prompt + generated tokens) holds at most
// options.context_length tokens, or the model file's own
// `<arch>.context_length` when that is 0. A request that reaches it ends
// with FinishReason::length and a Choice::finish_detail saying so (and an
// info log line); a prompt that leaves no room to generate is an
// invalid_argument error naming both lengths. A context above the model's
// trained length is allowed with a warning (RoPE is positional, so it runs;
// quality past the trained length is the model's affair), as llama.cpp
// does. The context does not size the KV cache: kv_budget_bytes does,
// shared by all running sequences; a context longer than the budget holds
// for one sequence is warned about at load, and a lone sequence that
// outgrows the budget fails with the KV budget error.
#pragma once

#include <memory>
#include <string>

#include "common/error.hpp"
#include "engine/local/device.hpp"
#include "engine/local/kernels.hpp"
#include "engine/local/scheduler.hpp"

namespace troupe::engine::local {

struct LocalEngineOptions {
  std::string model_path;      // .gguf or llama2.c .bin
  std::string tokenizer_path;  // llama2.c checkpoints: the tok*.bin file
  std::string chat_template;   // "" = from the file; else chatml | llama3 | llama2
  int threads = 0;             // 0 = all cores
  size_t kv_budget_bytes = size_t{256} << 20;
  int block_size = 16;
  int max_step_tokens = 256;
  int max_running = 64;
  std::string model_name;      // "" = the file name without extension
  int context_length = 0;      // tokens per sequence; 0 = the model file's; < 0 is an error
  KvType kv_type = KvType::f32;  // f16 or bf16 halves the KV bytes per token (rounding K and V to 16 bits)
  Device device;               // cpu (default), or cuda:N (an error when this build or machine has none)
};

Result<std::unique_ptr<Scheduler>> make_local_backend(const LocalEngineOptions& options);

}  // namespace troupe::engine::local
