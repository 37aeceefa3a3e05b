#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <semaphore.h>

#include "cli/commands.hpp"
#include "engine/scripted/scripted_backend.hpp"
#include "engine/serve/openai_server.hpp"

namespace troupe::cli {
namespace {
sem_t g_stop;
void on_signal(int) { sem_post(&g_stop); }  // async-signal-safe
}  // namespace

int serve_main(const std::string& fixture, const std::string& model, const std::string& host, int port,
               const std::string& token_env) {
  auto fx = engine::ScriptedBackend::load_fixture(fixture);
  if (!fx.ok()) {
    print_error(fx.error().message);
    return 1;
  }
  engine::OpenAIServer::Options o;
  o.host = host;
  o.port = port;
  o.model = model;
  if (!token_env.empty()) {
    const char* t = std::getenv(token_env.c_str());
    if (!t || !*t) {
      print_error("--token-env " + token_env + ": the environment variable is not set");
      return 2;
    }
    o.bearer_token = t;
  }
  if (o.bearer_token.empty() && host != "127.0.0.1" && host != "localhost" && host != "::1") {
    print_error("refusing to listen on " + host + " without a token (--token-env)");
    return 2;
  }
  auto backend = std::make_shared<engine::ScriptedBackend>(std::move(fx.value()), model);
  engine::OpenAIServer server(backend, o);
  sem_init(&g_stop, 0, 0);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Status s = server.start();
  if (!s.ok()) {
    print_error(s.error().message);
    return 1;
  }
  std::fprintf(stderr,
               "troupe serve: %s (model '%s') — SCRIPTED TEST BACKEND answering from %s, not a language model\n",
               server.base_url().c_str(), model.c_str(), fixture.c_str());
  std::fflush(stderr);
  while (sem_wait(&g_stop) != 0) {
  }
  server.stop();
  std::fprintf(stderr, "troupe serve: stopped\n");
  return 0;
}

}  // namespace troupe::cli
