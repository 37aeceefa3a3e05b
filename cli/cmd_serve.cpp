// troupe serve: expose a backend as an OpenAI-compatible HTTP server.
// Until the local engine lands, the backend served is the scripted test
// backend (--scripted FIXTURE), which answers from rules, not a model.
#include "cli/commands.hpp"

namespace troupe::cli {
int serve_main(const std::string& fixture, const std::string& model, const std::string& host, int port,
               const std::string& token_env);

namespace {
struct ServeArgs {
  std::string scripted;
  std::string model = "scripted";
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string token_env;
};
}  // namespace

void add_serve_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a backend as an OpenAI-compatible HTTP server");
  cmd->add_option("--scripted", a->scripted, "Serve the scripted test backend from this fixture (answers from rules, not a model)")
      ->required();
  cmd->add_option("--model", a->model, "Model name the server reports")->capture_default_str();
  cmd->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port,-p", a->port, "Port (0 = any free port)")->capture_default_str();
  cmd->add_option("--token-env", a->token_env, "Require 'Authorization: Bearer' with the value of this environment variable");
  cmd->callback([a, &action] {
    action = [a] { return serve_main(a->scripted, a->model, a->host, a->port, a->token_env); };
  });
}

}  // namespace troupe::cli
