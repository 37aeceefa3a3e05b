// troupe generate MODEL --prompt TEXT: one completion from the local engine.
#include <cstdio>
#include <future>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/commands.hpp"
#include "cli/local_engine_flags.hpp"

namespace troupe::cli {
namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt;
  int max_tokens = 128;
  double temperature = 0.0;
  std::optional<int64_t> seed;
  int n = 1;
  bool chat = false;
  bool stream = true;
  std::vector<std::string> stop;
  LocalEngineFlags engine;
};

int do_generate(GenerateArgs& a) {
  // Engine warnings and notes go to stderr: stdout carries only the text.
  // (Info notes such as "stopped at the context length" are printed below.)
  auto log = spdlog::stderr_color_mt("troupe");
  log->set_level(spdlog::level::warn);
  spdlog::set_default_logger(log);
  auto opts = a.engine.resolved();
  opts.model_path = a.model;
  auto backend = engine::local::make_local_backend(opts);
  if (!backend.ok()) {
    print_error(backend.error().message);
    return 1;
  }
  engine::GenerateRequest req;
  if (a.chat) {
    req.kind = engine::PromptKind::chat;
    req.messages.push_back({"user", a.prompt});
  } else {
    req.kind = engine::PromptKind::text;
    req.prompt = a.prompt;
  }
  req.sampling.max_tokens = a.max_tokens;
  req.sampling.temperature = a.temperature;
  req.sampling.seed = a.seed;
  req.sampling.n = a.n;
  req.sampling.stop = a.stop;
  const bool live = a.stream && a.n == 1;
  if (live) {
    req.on_delta = [](int, const std::string& text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    };
  }
  std::promise<Result<engine::GenerateResult>> p;
  auto f = p.get_future();
  (*backend)->submit(std::move(req), [&p](Result<engine::GenerateResult> r) { p.set_value(std::move(r)); });
  auto r = f.get();
  if (!r.ok()) {
    print_error(r.error().message);
    return 1;
  }
  for (const auto& c : r->choices) {
    if (!live) {
      if (a.n > 1) std::printf("--- choice %d\n", c.index);
      std::fwrite(c.text.data(), 1, c.text.size(), stdout);
    }
    std::printf("\n");
  }
  std::fflush(stdout);
  // Say why a choice stopped when it was not EOS, a stop string or -n.
  for (const auto& c : r->choices) {
    if (c.finish_detail.empty()) continue;
    if (a.n > 1) std::fprintf(stderr, "troupe: choice %d: stopped (%s): %s\n", c.index, engine::to_string(c.finish),
                              c.finish_detail.c_str());
    else std::fprintf(stderr, "troupe: stopped (%s): %s\n", engine::to_string(c.finish), c.finish_detail.c_str());
  }
  auto stats = (*backend)->stats();
  std::fprintf(stderr, "troupe: %lld prompt tokens (%lld cached), %lld generated, %.0f ms\n",
               static_cast<long long>(r->usage.prompt_tokens), static_cast<long long>(r->usage.cached_prompt_tokens),
               static_cast<long long>(r->usage.completion_tokens), r->latency_ms);
  (void)stats;
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text with the local engine (GGUF or llama2.c model)");
  cmd->add_option("model", a->model, "Model file (.gguf, or llama2.c .bin with --tokenizer)")->required();
  cmd->add_option("--prompt,-p", a->prompt, "Prompt text")->required();
  cmd->add_option("--max-tokens,-n", a->max_tokens, "Tokens to generate at most")->capture_default_str();
  cmd->add_option("--temperature", a->temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Sampling seed");
  cmd->add_option("--samples", a->n, "Number of samples (n)")->capture_default_str();
  cmd->add_option("--stop", a->stop, "Stop string (repeatable)");
  cmd->add_flag("--chat", a->chat, "Send the prompt as a user chat message through the chat template");
  cmd->add_flag("!--no-stream", a->stream, "Print at the end rather than as tokens arrive");
  a->engine.add_to(*cmd);
  cmd->callback([a, &action] { action = [a] { return do_generate(*a); }; });
}

}  // namespace troupe::cli
