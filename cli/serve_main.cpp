#include <semaphore.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/commands.hpp"
#include "cli/serve.hpp"
#include "engine/scripted/scripted_backend.hpp"
#include "engine/serve/openai_server.hpp"

namespace troupe::cli {


namespace {
sem_t g_stop;
void on_signal(int) { sem_post(&g_stop); }  // async-signal-safe

// Prometheus text for the local engine.
std::string engine_metrics(const engine::local::Scheduler& s) {
  auto st = s.stats();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, long long v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(v) + "\n";
  };
  metric("troupe_engine_requests_total", "counter", "Requests received.", st.requests);
  metric("troupe_engine_prompt_tokens_total", "counter", "Prompt tokens of all requests.", st.prompt_tokens);
  metric("troupe_engine_cached_prompt_tokens_total", "counter", "Prompt tokens served from the prefix cache.",
         st.cached_prompt_tokens);
  metric("troupe_engine_generated_tokens_total", "counter", "Tokens generated.", st.generated_tokens);
  metric("troupe_engine_preemptions_total", "counter", "Requests preempted for lack of KV cache.", st.preemptions);
  metric("troupe_engine_batch_size", "gauge", "Sequences in the last forward step.", st.last_batch_size);
  metric("troupe_engine_queue_depth", "gauge", "Requests waiting for admission.", st.queue_depth);
  metric("troupe_engine_kv_blocks_in_use", "gauge", "KV cache blocks referenced by running sequences.",
         st.kv_blocks_in_use);
  metric("troupe_engine_kv_blocks_total", "gauge", "KV cache blocks in the budget.", st.kv_blocks_total);
  return out;
}
}  // namespace

int serve_main(const ServeArgs& a) {
  if (a.model.empty() == a.scripted.empty()) {
    print_error("give a model file, or --scripted FIXTURE for the scripted test backend (not both)");
    return 2;
  }
  engine::OpenAIServer::Options o;
  o.host = a.host;
  o.port = a.port;
  o.limits = a.limits;
  if (!a.token_env.empty()) {
    const char* t = std::getenv(a.token_env.c_str());
    if (!t || !*t) {
      print_error("--token-env " + a.token_env + ": the environment variable is not set");
      return 2;
    }
    o.bearer_token = t;
  }
  if (o.bearer_token.empty() && !engine::is_loopback_host(a.host)) {
    print_error("refusing to listen on " + a.host + " without a token (--token-env)");
    return 2;
  }
  std::shared_ptr<engine::Backend> backend;
  std::string what;
  if (!a.scripted.empty()) {
    auto fx = engine::ScriptedBackend::load_fixture(a.scripted);
    if (!fx.ok()) {
      print_error(fx.error().message);
      return 1;
    }
    o.model = a.model_name.empty() ? "scripted" : a.model_name;
    backend = std::make_shared<engine::ScriptedBackend>(std::move(fx.value()), o.model);
    what = "SCRIPTED TEST BACKEND answering from " + a.scripted + ", not a language model";
  } else {
    auto opts = a.engine.resolved();
    opts.model_path = a.model;
    opts.model_name = a.model_name;
    auto local = engine::local::make_local_backend(opts);
    if (!local.ok()) {
      print_error(local.error().message);
      return 1;
    }
    std::shared_ptr<engine::local::Scheduler> sched(std::move(local.value()));
    o.model = sched->info().model;
    o.metrics = [sched] { return engine_metrics(*sched); };
    // A request without max_tokens generates until it stops or the context
    // is full, as OpenAI and vLLM do.
    o.default_max_tokens = sched->context_length();
    if (std::string why = sched->chat_unavailable(); !why.empty()) {
      o.chat_unavailable = "this server has no chat template, so it cannot answer chat requests (" + why +
                           "); restart troupe serve with --chat-template chatml|llama3|llama2, or use "
                           "/v1/completions with a raw prompt";
      std::fprintf(stderr,
                   "troupe serve: warning: %s: no usable chat template; /v1/chat/completions and /v1/responses "
                   "will answer 400 (start with --chat-template chatml|llama3|llama2); /v1/completions works\n",
                   why.c_str());
    }
    backend = sched;
    what = "local engine on " + a.model;
  }
  engine::OpenAIServer server(backend, o);
  sem_init(&g_stop, 0, 0);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Status s = server.start();
  if (!s.ok()) {
    print_error(s.error().message);
    return 1;
  }
  std::fprintf(stderr, "troupe serve: %s (model '%s') — %s\n", server.base_url().c_str(), o.model.c_str(),
               what.c_str());
  std::fflush(stderr);
  while (sem_wait(&g_stop) != 0) {
  }
  server.stop();
  std::fprintf(stderr, "troupe serve: stopped\n");
  return 0;
}

}  // namespace troupe::cli
