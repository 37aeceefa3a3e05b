// troupe serve MODEL | --scripted FIXTURE: an OpenAI-compatible server over
// the local engine, or over the scripted test backend.
#include "cli/commands.hpp"
#include "cli/serve.hpp"

namespace troupe::cli {


void add_serve_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model (or the scripted test backend) as an OpenAI-compatible server");
  cmd->add_option("model", a->model, "Model file (.gguf, or llama2.c .bin with --tokenizer)");
  cmd->add_option("--scripted", a->scripted,
                  "Serve the scripted TEST backend from this rules file instead of a model");
  cmd->add_option("--model-name", a->model_name, "Model name the server reports (default: the file name)");
  cmd->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port,-p", a->port, "Port (0 = any free port)")->capture_default_str();
  cmd->add_option("--token-env", a->token_env,
                  "Require 'Authorization: Bearer' with the value of this environment variable");
  cmd->add_option("--max-connections", a->limits.max_connections,
                  "Connections open at once; past it, 503 (the longest-waiting unfinished header is dropped first)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--http-threads", a->limits.workers, "Requests served at once (more wait for a thread)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--header-timeout", a->limits.header_timeout_s,
                  "Seconds a connection may take to send its request header (then 408)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--read-timeout", a->limits.read_timeout_s,
                  "Seconds a request body may take to arrive after its header")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  a->engine.add_to(*cmd);
  cmd->callback([a, &action] { action = [a] { return serve_main(*a); }; });
}

}  // namespace troupe::cli
